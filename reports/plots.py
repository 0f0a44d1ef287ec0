"""Seaborn figures: each function takes frames and returns a matplotlib Figure."""

from __future__ import annotations

import sys

import matplotlib

if "ipykernel" not in sys.modules:  # in Jupyter the figures show inline, with its own backend
    matplotlib.use("Agg")  # files only: reports run on servers and in CI with no display

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from matplotlib.lines import Line2D
from matplotlib.ticker import FixedFormatter, FixedLocator, MaxNLocator, NullLocator

from reports.stats import CHANCE

sns.set_theme(context="notebook", style="whitegrid")
CI = ("ci", 95)


def _placement_order(frame: pd.DataFrame) -> list[str]:
    names = sorted(frame["placement"].unique())
    return sorted(names, key=lambda n: n != "none")  # the baseline first, always the same colour


def _lr_axis(ax, lrs) -> None:
    """A log axis whose ticks are the grid's learning rates, written as on the command line."""
    ax.set_xscale("log")
    ticks = sorted(set(float(v) for v in lrs))
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(FixedFormatter([f"{v:g}" for v in ticks]))
    ax.xaxis.set_minor_locator(NullLocator())


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


def final_vs_lr(scored: pd.DataFrame, stable: pd.DataFrame) -> plt.Figure:
    """Final val_accuracy score against learning rate (log axis) per placement.

    Seeds are points, the mean has a 95% CI; diverged trials are crosses at chance (their
    score), and each placement's largest stable learning rate is a dotted vertical line.
    """
    fig, ax = plt.subplots(figsize=(8, 4.6), layout="constrained")
    order = _placement_order(scored)
    colours = dict(zip(order, sns.color_palette(n_colors=len(order)), strict=True))
    sns.lineplot(
        data=scored, x="lr", y="val_score", hue="placement", hue_order=order, palette=colours,
        errorbar=CI, marker="o", err_style="bars", ax=ax,
    )  # fmt: skip
    trained = scored[scored["status"] != "diverged"]
    sns.scatterplot(
        data=trained, x="lr", y="val_score", hue="placement", hue_order=order, palette=colours,
        alpha=0.35, legend=False, ax=ax,
    )  # fmt: skip
    diverged = scored[scored["status"] == "diverged"]
    for placement, group in diverged.groupby("placement"):
        ax.scatter(group["lr"], group["val_score"], marker="x", s=70, color=colours[placement])
    ax.axhline(CHANCE, color="grey", linestyle="--", linewidth=0.8)
    for _, row in stable.iterrows():
        if pd.notna(row["largest_stable_lr"]):
            ax.axvline(row["largest_stable_lr"], color=colours[row["placement"]], linestyle=":")
    handles, labels = ax.get_legend_handles_labels()
    handles += [
        Line2D([], [], marker="x", linestyle="", color="grey"),
        Line2D([], [], linestyle=":", color="grey"),
        Line2D([], [], linestyle="--", color="grey", linewidth=0.8),
    ]
    labels += ["diverged (scored at chance)", "largest stable lr", "chance"]
    ax.legend(handles, labels, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    _lr_axis(ax, scored["lr"])
    ax.set(xlabel="learning rate (log scale)", ylabel="final val_accuracy", ylim=(0, 1))
    ax.set_title("Final validation accuracy vs learning rate (points: seeds)")
    return fig


def gain_per_lr(comparisons: pd.DataFrame) -> plt.Figure:
    """Mean paired difference A - B in val_accuracy per learning rate, with 95% CIs.

    Left: every learning rate. Right: only the learning rates where both sides of a pair
    trained without diverging, on their own scale, where the small gains are visible.
    """
    stable = comparisons[
        (comparisons["outcome_a"] == "stable") & (comparisons["outcome_b"] == "stable")
    ]
    panels = [(comparisons, "every learning rate")]
    if 0 < len(stable) < len(comparisons):
        panels.append((stable, "where neither side diverged"))
    fig, axes = plt.subplots(
        1, len(panels), figsize=(6.2 * len(panels), 4.2), squeeze=False, layout="constrained"
    )
    pairs = comparisons[["placement_a", "placement_b"]].drop_duplicates()
    colours = sns.color_palette(n_colors=max(1, len(pairs)))
    for ax, (frame, title) in zip(axes[0], panels, strict=True):
        for colour, (_, pair) in zip(colours, pairs.iterrows(), strict=False):
            rows = frame[
                (frame["placement_a"] == pair["placement_a"])
                & (frame["placement_b"] == pair["placement_b"])
            ].sort_values("lr")
            low = (rows["mean_diff"] - rows["diff_ci_low"]).fillna(0)
            high = (rows["diff_ci_high"] - rows["mean_diff"]).fillna(0)
            ax.errorbar(
                rows["lr"], rows["mean_diff"], yerr=[low, high], marker="o", capsize=4,
                color=colour, label=f"{pair['placement_a']} - {pair['placement_b']}",
            )  # fmt: skip
        ax.axhline(0, color="grey", linewidth=0.8)
        _lr_axis(ax, frame["lr"])
        ax.set(xlabel="learning rate (log scale)", title=title)
        if frame is comparisons:
            ax.set_ylim(-1, 1)  # accuracy differences cannot leave [-1, 1]; CIs may
    axes[0][0].set_ylabel("difference in final val_accuracy")
    axes[0][-1].legend(loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    fig.suptitle("Gain of one placement over another, paired by seed (95% CI)")
    return fig


def accuracy_heatmap(summary: pd.DataFrame) -> plt.Figure:
    """Mean final val_accuracy, placement x learning rate; cells where every seed diverged say so."""
    table = summary.pivot_table(
        index="placement", columns="lr", values="final_val_accuracy_mean", aggfunc="mean"
    ).reindex(_placement_order(summary))
    outcome = summary.pivot_table(
        index="placement", columns="lr", values="outcome", aggfunc="first"
    ).reindex(index=table.index, columns=table.columns)
    labels = table.map(lambda v: f"{v:.3f}" if pd.notna(v) else "")
    labels = labels.where(outcome != "diverged", "diverged")
    label_width = 0.08 * max((len(str(name)) for name in table.index), default=10)
    fig, ax = plt.subplots(
        figsize=(1.6 + label_width + 1.3 * len(table.columns), 1.2 + 0.6 * len(table)),
        layout="constrained",
    )
    sns.heatmap(
        table, annot=labels, fmt="", cmap="viridis", cbar_kws={"label": "val_accuracy"}, ax=ax
    )
    ax.set(xlabel="learning rate", ylabel="placement")
    ax.set_title("Mean final validation accuracy")
    return fig


def cost(trials: pd.DataFrame) -> plt.Figure:
    """Seconds per epoch per placement, and parameter counts (trainable / non-trainable)."""
    fig, (time_ax, params_ax) = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
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
    return fig


def train_vs_validation_loss(history: pd.DataFrame, summary: pd.DataFrame) -> plt.Figure:
    """Train and validation loss for the best configuration of each placement."""
    best = (
        summary.sort_values("final_val_accuracy_mean", ascending=False).groupby("placement").head(1)
    )
    order = [p for p in _placement_order(summary) if p in set(best["placement"])]
    columns = min(len(order), 4)
    rows = -(-len(order) // columns)
    fig, axes = plt.subplots(
        rows, columns, figsize=(4 * columns, 3.5 * rows), squeeze=False, layout="constrained"
    )
    for ax in axes.flat[len(order) :]:
        ax.set_visible(False)
    for ax, placement in zip(axes.flat, order, strict=False):
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
    fig.suptitle("Train vs validation loss, best configuration per placement")
    return fig
