"""Seaborn figures: each function takes frames and returns a matplotlib Figure."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # files only: reports run on servers and in CI with no display

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from matplotlib.ticker import MaxNLocator

sns.set_theme(context="notebook", style="whitegrid")
CI = ("ci", 95)


def _placement_order(frame: pd.DataFrame) -> list[str]:
    names = sorted(frame["placement"].unique())
    return sorted(names, key=lambda n: n != "none")  # the baseline first, always the same colour


def learning_curves(history: pd.DataFrame) -> plt.Figure:
    """val_accuracy per epoch: mean and 95% CI band over seeds, hue = placement, panel per lr."""
    grid = sns.relplot(
        data=history,
        x="epoch",
        y="val_accuracy",
        hue="placement",
        hue_order=_placement_order(history),
        col="lr",
        kind="line",
        errorbar=CI,
        marker="o",
        height=3.4,
        aspect=1.1,
        facet_kws={"sharey": False},
    )
    grid.set_titles("lr = {col_name}")
    for ax in grid.axes.flat:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    grid.figure.suptitle("Validation accuracy per epoch (mean, 95% CI over seeds)", y=1.04)
    return grid.figure


def final_vs_lr(trials: pd.DataFrame) -> plt.Figure:
    """Final val_accuracy against learning rate (log axis): seeds as points, mean with 95% CI."""
    fig, ax = plt.subplots(figsize=(7, 4.2))
    order = _placement_order(trials)
    sns.lineplot(
        data=trials, x="lr", y="final_val_accuracy", hue="placement", hue_order=order,
        errorbar=CI, marker="o", err_style="bars", ax=ax,
    )  # fmt: skip
    sns.scatterplot(
        data=trials, x="lr", y="final_val_accuracy", hue="placement", hue_order=order,
        alpha=0.35, legend=False, ax=ax,
    )  # fmt: skip
    ax.set_xscale("log")
    ax.set(xlabel="learning rate (log scale)", ylabel="final val_accuracy")
    ax.set_title("Final validation accuracy vs learning rate (points: seeds)")
    fig.tight_layout()
    return fig


def accuracy_heatmap(summary: pd.DataFrame) -> plt.Figure:
    """Mean final val_accuracy, placement x learning rate."""
    table = summary.pivot_table(
        index="placement", columns="lr", values="final_val_accuracy_mean", aggfunc="mean"
    )
    table = table.reindex(_placement_order(summary))
    fig, ax = plt.subplots(figsize=(1.6 + 1.3 * len(table.columns), 1.2 + 0.6 * len(table)))
    sns.heatmap(
        table, annot=True, fmt=".3f", cmap="viridis", cbar_kws={"label": "val_accuracy"}, ax=ax
    )
    ax.set(xlabel="learning rate", ylabel="placement")
    ax.set_title("Mean final validation accuracy")
    fig.tight_layout()
    return fig


def cost(trials: pd.DataFrame) -> plt.Figure:
    """Seconds per epoch per placement, and parameter counts (trainable / non-trainable)."""
    fig, (time_ax, params_ax) = plt.subplots(1, 2, figsize=(10, 3.8))
    order = _placement_order(trials)
    sns.barplot(
        data=trials, x="placement", y="mean_epoch_seconds", order=order, errorbar=CI, ax=time_ax
    )
    time_ax.set(xlabel="", ylabel="seconds per epoch", title="Time per epoch (95% CI)")
    params = (
        trials.groupby("placement")[["params_trainable", "params_non_trainable"]]
        .first()
        .reindex(order)
        .rename(columns={"params_trainable": "trainable", "params_non_trainable": "non-trainable"})
    )
    params.plot(kind="bar", stacked=True, ax=params_ax, rot=0)
    params_ax.set(xlabel="", ylabel="parameters", title="Parameters")
    fig.tight_layout()
    return fig


def train_vs_validation_loss(history: pd.DataFrame, summary: pd.DataFrame) -> plt.Figure:
    """Train and validation loss for the best configuration of each placement."""
    best = (
        summary.sort_values("final_val_accuracy_mean", ascending=False).groupby("placement").head(1)
    )
    order = [p for p in _placement_order(summary) if p in set(best["placement"])]
    fig, axes = plt.subplots(1, len(order), figsize=(4 * len(order), 3.5), squeeze=False)
    for ax, placement in zip(axes[0], order, strict=True):
        row = best[best["placement"] == placement].iloc[0]
        mask = (history["placement"] == placement) & (history["lr"] == row["lr"])
        for key in ("batch_size", "optimizer", "hidden", "epochs"):
            mask &= history[key] == row[key]
        long = history[mask].melt(
            id_vars=["epoch"], value_vars=["loss", "val_loss"], var_name="split", value_name="value"
        )
        sns.lineplot(data=long, x="epoch", y="value", hue="split", errorbar=CI, marker="o", ax=ax)
        ax.set(title=f"{placement} (lr {row['lr']:g})", ylabel="loss")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.suptitle("Train vs validation loss, best configuration per placement", y=1.03)
    fig.tight_layout()
    return fig
