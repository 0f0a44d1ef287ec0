"""The report's figures, drawn with matplotlib from frames already aggregated.

Each function takes frames and returns a matplotlib Figure. Means and their 95% t intervals
over seeds come computed (`reports.figures`, with `reports.stats.mean_ci_by`): nothing here
resamples. Frames carry a `context` column, a label per setting of the other axes ('' when the
run has one); `contexts` lists the labels to draw, in order: a row of panels (or a group of
bars) each, in seaborn's whitegrid theme and deep palette; the heatmap is seaborn's.

Panels are placed in inches, not by a layout engine: constrained layout and a tight bounding
box each draw the whole figure once more to measure it, which was most of a figure's cost.
"""

from __future__ import annotations

import sys

import matplotlib

if "ipykernel" not in sys.modules:  # in Jupyter the figures show inline, with its own backend
    matplotlib.use("Agg")  # files only: reports run on servers and in CI with no display

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.colors import Normalize
from matplotlib.lines import Line2D
from matplotlib.ticker import FixedFormatter, FixedLocator, MaxNLocator, NullLocator

sns.set_theme(context="notebook", style="whitegrid")
PALETTE = sns.color_palette("deep")
# The page's text column is 1,068 px wide (templates/report.html): at 100 dpi a figure of this
# width is shown at its own size, its text as large as drawn.
WIDTH = 10.5
COLUMNS = 5  # panels per row, at most
BAND_ALPHA = 0.2
TITLE = 0.3  # inches: a panel's title
HEADING = 0.3  # a context's heading above its row of panels
LEGEND_ROW = 0.3  # a row of a legend below the panels


def _grid(rows, columns, panel, *, width=WIDTH, left=0.8, right=0.25, wspace=0.75,
          headings=False, titles=True, legend=0.0, xlabel=0.6):  # fmt: skip
    """A figure of `rows` x `columns` axes, `panel` inches high, placed in inches: the
    suptitle on top, each row's heading (`headings`) and titles, `legend` inches below."""
    head = (HEADING if headings else 0.0) + (TITLE if titles else 0.0)
    top = 0.45 + head
    gap = xlabel + head
    bottom = xlabel + legend
    height = top + rows * panel + (rows - 1) * gap + bottom
    panel_width = (width - left - right - (columns - 1) * wspace) / columns
    fig = plt.figure(figsize=(width, height))
    axes = np.empty((rows, columns), dtype=object)
    for r in range(rows):
        y = height - top - panel - r * (panel + gap)
        for c in range(columns):
            box = (left + c * (panel_width + wspace)) / width, y / height
            axes[r, c] = fig.add_axes((*box, panel_width / width, panel / height))
    return fig, axes


def _heading(fig, ax, text: str, titled: bool = True) -> None:
    """A context's name above its row of panels (and their titles), at its first panel."""
    if text:
        box = ax.get_position()
        y = box.y1 + (TITLE if titled else 0.05) / fig.get_figheight()
        fig.text(box.x0, y, text, fontsize=11, fontweight="bold", va="bottom")


def _title(ax, text: str, **kwargs) -> None:
    # At the panel's top, where matplotlib would place it: left to itself, it measures every
    # axis once more on each draw to see whether ticks on top are in the way (there are none).
    ax.set_title(text, y=1.0, **kwargs)


def _suptitle(fig, text: str) -> None:
    fig.suptitle(text, y=1 - 0.1 / fig.get_figheight(), va="top")


def _legend(fig, handles, labels, title: str | None = None, columns: int = 4) -> None:
    """One legend for the whole figure, below its panels."""
    fig.legend(
        handles, labels, title=title, loc="lower center", bbox_to_anchor=(0.5, 0),
        ncols=min(len(labels), columns), frameon=False,
    )  # fmt: skip


def _legend_height(entries: int, columns: int = 4, title: bool = True) -> float:
    return LEGEND_ROW * (-(-entries // columns) + title) + 0.1


def _placement_order(frame: pd.DataFrame, column: str = "placement") -> list[str]:
    names = sorted(frame[column].dropna().unique())
    return sorted(names, key=lambda n: n != "none")  # the baseline first, always the same colour


def _colours(names: list[str]) -> dict:
    return {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(names)}


def _handles(names: list[str], colours: dict, marker: str = "o") -> tuple[list, list]:
    handles = [Line2D([], [], color=colours[n], marker=marker, markersize=5) for n in names]
    return handles, list(names)


def _lr_axis(ax, lrs) -> None:
    """A log axis whose ticks are the grid's learning rates, written as on the command line."""
    ax.set_xscale("log")
    ticks = sorted(set(float(v) for v in lrs))
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(FixedFormatter([f"{v:g}" for v in ticks]))
    ax.xaxis.set_minor_locator(NullLocator())


def _epoch_axis(ax) -> None:
    # Few ticks: each is a few artists, and a figure of 20 panels was mostly ticks to draw.
    ax.xaxis.set_major_locator(MaxNLocator(nbins=5, integer=True))
    ax.yaxis.set_major_locator(MaxNLocator(nbins=4))
    ax.set_xlabel("epoch")


def _band(ax, rows: pd.DataFrame, x: str, colour, label: str) -> None:
    """A mean line with its 95% CI as a band (`rows`: x, mean, ci_low, ci_high)."""
    rows = rows.sort_values(x)
    ax.plot(rows[x], rows["mean"], marker="o", markersize=4, color=colour, label=label)
    ax.fill_between(
        rows[x], rows["ci_low"], rows["ci_high"], color=colour, alpha=BAND_ALPHA, linewidth=0
    )


def learning_curves(curves: pd.DataFrame, contexts: list[str]) -> plt.Figure:
    """val_accuracy per epoch: mean and 95% CI band over seeds, hue = placement, a panel per
    learning rate, a row of panels per context.

    Args:
        curves: `mean_ci_by(history, ["context", "placement", "lr", "epoch"], "val_accuracy")`.
        contexts: The contexts to draw, in order.
    """
    lrs = sorted(curves["lr"].unique())
    columns = max(1, min(len(lrs), COLUMNS))
    per_context = max(1, -(-len(lrs) // columns))
    order = _placement_order(curves)
    colours = _colours(order)
    fig, axes = _grid(
        per_context * len(contexts), columns, 2.0, headings=any(contexts),
        legend=_legend_height(len(order)),
    )  # fmt: skip
    for index, context in enumerate(contexts):
        mine = curves[curves["context"] == context]
        panels = axes[index * per_context : (index + 1) * per_context].flat
        _heading(fig, axes[index * per_context, 0], context)
        for slot, ax in enumerate(panels):
            if slot >= len(lrs):
                ax.set_visible(False)
                continue
            for placement, rows in mine[mine["lr"] == lrs[slot]].groupby("placement"):
                _band(ax, rows, "epoch", colours[placement], placement)
            _title(ax, f"lr = {lrs[slot]:g}")
            _epoch_axis(ax)
            ax.set_ylabel("val_accuracy" if slot % columns == 0 else "")
    _legend(fig, *_handles(order, colours), title="placement")
    _suptitle(fig, "Validation accuracy per epoch (mean, 95% CI over seeds)")
    return fig


def final_vs_lr(
    cells: pd.DataFrame,
    points: pd.DataFrame,
    stable: pd.DataFrame,
    contexts: list[str],
    chance: float,
) -> plt.Figure:
    """Final val_accuracy score against learning rate (log axis) per placement, a panel per
    context.

    Seeds are points, the mean has a 95% CI; diverged trials are crosses at chance (their
    score), and each placement's largest stable learning rate is a dotted vertical line.

    Args:
        cells: `mean_ci_by(scored, ["context", "placement", "lr"], "val_score")`.
        points: The scored trials: context, placement, lr, val_score, status.
        stable: `selection.stable_lr` with a context column.
        contexts: The contexts to draw, in order.
        chance: The accuracy of a guess (the score of a diverged trial), drawn as a line.
    """
    order = _placement_order(cells)
    colours = _colours(order)
    handles, labels = _handles(order, colours)
    handles += [
        Line2D([], [], marker="x", linestyle="", color="grey"),
        Line2D([], [], linestyle=":", color="grey"),
        Line2D([], [], linestyle="--", color="grey", linewidth=0.8),
    ]
    labels += ["diverged (scored at chance)", "largest stable lr", "chance"]
    single = len(contexts) == 1
    if single:  # the legend at the right, as the one panel leaves room for it
        fig, axes = _grid(1, 1, 3.6, right=2.9, titles=False)
    else:
        rows = -(-len(contexts) // 2)
        fig, axes = _grid(rows, 2, 2.8, legend=_legend_height(len(labels), 3, False))
    for ax in axes.flat[len(contexts) :]:
        ax.set_visible(False)
    for ax, context in zip(axes.flat, contexts, strict=False):
        for placement, group in cells[cells["context"] == context].groupby("placement"):
            error = np.nan_to_num([group["mean"] - group["ci_low"], group["ci_high"] - group["mean"]])  # fmt: skip
            ax.errorbar(group["lr"], group["mean"], yerr=error, marker="o", markersize=5,
                        color=colours[placement])  # fmt: skip
        mine = points[points["context"] == context]
        for placement, group in mine.groupby("placement"):
            trained = group["status"] != "diverged"
            ax.scatter(group.loc[trained, "lr"], group.loc[trained, "val_score"], s=20,
                       color=colours[placement], alpha=0.35, linewidth=0)  # fmt: skip
            ax.scatter(group.loc[~trained, "lr"], group.loc[~trained, "val_score"], marker="x",
                       s=70, color=colours[placement])  # fmt: skip
        ax.axhline(chance, color="grey", linestyle="--", linewidth=0.8)
        for _, row in stable[stable["context"] == context].iterrows():
            if pd.notna(row["largest_stable_lr"]) and row["placement"] in colours:
                ax.axvline(row["largest_stable_lr"], color=colours[row["placement"]], linestyle=":")
        _lr_axis(ax, cells["lr"])
        ax.set(xlabel="learning rate (log scale)", ylabel="final val_accuracy", ylim=(0, 1))
        if context:
            _title(ax, context, fontsize=11)
    if single:
        axes[0, 0].legend(handles, labels, loc="center left", bbox_to_anchor=(1.01, 0.5),
                          frameon=False)  # fmt: skip
    else:
        _legend(fig, handles, labels, columns=3)
    _suptitle(fig, "Final validation accuracy vs learning rate (points: seeds)")
    return fig


def gain_per_lr(comparisons: pd.DataFrame, contexts: list[str]) -> plt.Figure:
    """Mean paired difference A - B in val_accuracy per learning rate, with 95% CIs, a row of
    panels per context.

    Left: every learning rate. Right: only the learning rates where both sides of a pair
    trained without diverging, on their own scale, where the small gains are visible.
    """
    stable = (comparisons["outcome_a"] == "stable") & (comparisons["outcome_b"] == "stable")
    two = bool(0 < stable.sum() < len(comparisons))
    pair = comparisons["placement_a"] + " - " + comparisons["placement_b"]
    pairs = list(dict.fromkeys(pair))
    colours = _colours(pairs)
    fig, axes = _grid(
        len(contexts), 2 if two else 1, 2.8, width=WIDTH if two else 0.6 * WIDTH,
        headings=any(contexts), legend=_legend_height(len(pairs), 3, False), left=1.3,
    )  # fmt: skip
    for row, context in zip(axes, contexts, strict=True):
        mine = comparisons["context"] == context
        panels = [(mine, "every learning rate")]
        if two:
            panels.append((mine & stable, "where neither side diverged"))
        _heading(fig, row[0], context)
        for ax, (rows, title) in zip(row, panels, strict=True):
            for name, group in comparisons[rows].groupby(pair[rows], sort=False):
                group = group.sort_values("lr")
                low = (group["mean_diff"] - group["diff_ci_low"]).fillna(0)
                high = (group["diff_ci_high"] - group["mean_diff"]).fillna(0)
                ax.errorbar(group["lr"], group["mean_diff"], yerr=[low, high], marker="o",
                            markersize=5, capsize=4, color=colours[name])  # fmt: skip
            ax.axhline(0, color="grey", linewidth=0.8)
            _lr_axis(ax, comparisons.loc[rows if rows.any() else mine, "lr"])
            ax.set_xlabel("learning rate (log scale)")
            _title(ax, title)
            if title == "every learning rate":
                ax.set_ylim(-1, 1)  # accuracy differences cannot leave [-1, 1]; CIs may
        row[0].set_ylabel("difference in\nfinal val_accuracy")
    handles = [Line2D([], [], color=colours[p], marker="o", markersize=5) for p in pairs]
    _legend(fig, handles, pairs, columns=3)
    _suptitle(fig, "Gain of one placement over another, paired by seed (95% CI)")
    return fig


def accuracy_heatmap(cells: pd.DataFrame, contexts: list[str]) -> plt.Figure:
    """Mean final val_accuracy, placement x learning rate, a heatmap per context on one colour
    scale; cells where every seed diverged say so.

    Args:
        cells: One row per context, placement and lr: mean (the score) and outcome.
        contexts: The contexts to draw, in order.
    """
    order = _placement_order(cells)
    lrs = sorted(cells["lr"].unique())
    left = 0.5 + 0.09 * max((len(str(name)) for name in order), default=10)
    width = min(WIDTH, left + 1.1 * len(lrs) + 1.3)
    fig, axes = _grid(len(contexts), 1, 0.45 * len(order), width=width, left=left, right=1.3,
                      headings=any(contexts), titles=False, xlabel=0.55)  # fmt: skip
    scale = Normalize(vmin=cells["mean"].min(), vmax=cells["mean"].max())
    for ax, context in zip(axes[:, 0], contexts, strict=True):
        mine = cells[cells["context"] == context]
        table = mine.pivot_table(index="placement", columns="lr", values="mean", aggfunc="mean")
        table = table.reindex(index=[p for p in order if p in set(mine["placement"])], columns=lrs)
        outcome = mine.pivot_table(index="placement", columns="lr", values="outcome", aggfunc="first")  # fmt: skip
        outcome = outcome.reindex(index=table.index, columns=table.columns)
        _heatmap(ax, table, outcome, scale)
        ax.set(xlabel="learning rate", ylabel="placement")
        _heading(fig, ax, context, titled=False)
    box = axes[0, 0].get_position()
    bar = fig.add_axes((box.x1 + 0.25 / width, axes[-1, 0].get_position().y0, 0.18 / width,
                        box.y1 - axes[-1, 0].get_position().y0))  # fmt: skip
    fig.colorbar(plt.cm.ScalarMappable(scale, "viridis"), cax=bar, label="val_accuracy")
    _suptitle(fig, "Mean final validation accuracy")
    return fig


def _heatmap(ax, table: pd.DataFrame, outcome: pd.DataFrame, scale: Normalize) -> None:
    """seaborn's heatmap of one context: each cell's number written in it, 'diverged' where
    every seed diverged (the colour bar is the figure's, shared by every context)."""
    labels = table.map(lambda v: f"{v:.3f}" if pd.notna(v) else "")
    labels = labels.where(outcome != "diverged", "diverged")
    sns.heatmap(
        table, annot=labels, fmt="", cmap="viridis", vmin=scale.vmin, vmax=scale.vmax,
        cbar=False, ax=ax,
    )  # fmt: skip
    ax.set_xticklabels([f"{lr:g}" for lr in table.columns])
    ax.tick_params(axis="y", rotation=0)


def cost(times: pd.DataFrame, params: pd.DataFrame, contexts: list[str]) -> plt.Figure:
    """Seconds per epoch (mean, 95% CI over trials) and parameter counts (trainable /
    non-trainable) per placement, grouped by context.

    Args:
        times: `mean_ci_by(scored, ["context", "placement"], "mean_epoch_seconds")`.
        params: One row per context and placement: params_trainable, params_non_trainable.
        contexts: The contexts to draw, in order.
    """
    order = _placement_order(times)
    colours = _colours(order)
    groups = len(contexts)
    names = [c.replace(", ", "\n") for c in contexts] if groups > 1 else order
    lines = max(n.count("\n") + 1 for n in names)
    fig, axes = _grid(1, 2, 2.9, left=1.0, wspace=1.1, xlabel=0.2 + 0.2 * lines,
                      legend=_legend_height(len(order)) if groups > 1 else 0)  # fmt: skip
    time_ax, params_ax = axes[0]
    width = 0.8 / len(order) if groups > 1 else 0.8
    for index, placement in enumerate(order):
        x = np.arange(groups) + (index - (len(order) - 1) / 2) * width
        if groups == 1:
            x = np.array([index])
        row = times[times["placement"] == placement].set_index("context").reindex(contexts)
        error = np.nan_to_num([row["mean"] - row["ci_low"], row["ci_high"] - row["mean"]])
        time_ax.bar(x, row["mean"], width=width, color=colours[placement], yerr=error,
                    ecolor="#444444")  # fmt: skip
        counts = params[params["placement"] == placement].set_index("context").reindex(contexts)
        params_ax.bar(x, counts["params_trainable"], width=width, color=colours[placement])
        params_ax.bar(x, counts["params_non_trainable"], width=width, color="#444444",
                      bottom=counts["params_trainable"])  # fmt: skip
    for ax in (time_ax, params_ax):
        ax.set_xticks(np.arange(len(names)))
        ax.set_xticklabels(names, fontsize=9 if groups > 1 else 10)
        ax.grid(False, axis="x")
    time_ax.set_ylabel("seconds per epoch")
    _title(time_ax, "Time per epoch (95% CI)")
    params_ax.set_ylabel("parameters")
    _title(params_ax, "Parameters (dark: non-trainable)")
    if groups > 1:
        _legend(fig, *_handles(order, colours, marker="s"), title="placement")
    _suptitle(fig, "Cost")
    return fig


def train_vs_validation_loss(losses: pd.DataFrame, contexts: list[str]) -> plt.Figure:
    """Train and validation loss per epoch (mean, 95% CI over seeds) for the best learning rate
    of each placement, a row of panels per context.

    Args:
        losses: One row per context, placement, lr, split (loss / val_loss) and epoch: mean,
            ci_low, ci_high.
        contexts: The contexts to draw, in order.
    """
    order = _placement_order(losses)
    columns = max(1, min(len(order), 4))
    per_context = max(1, -(-len(order) // columns))
    colours = _colours(["loss", "val_loss"])
    fig, axes = _grid(per_context * len(contexts), columns, 2.2, headings=any(contexts),
                      legend=_legend_height(2))  # fmt: skip
    for index, context in enumerate(contexts):
        mine = losses[losses["context"] == context]
        panels = list(axes[index * per_context : (index + 1) * per_context].flat)
        _heading(fig, panels[0], context)
        for slot, ax in enumerate(panels):
            rows = mine[mine["placement"] == order[slot]] if slot < len(order) else mine[:0]
            if rows.empty:
                ax.set_visible(False)
                continue
            for split, group in rows.groupby("split"):
                _band(ax, group, "epoch", colours[split], split)
            _title(ax, f"{order[slot]} (lr {rows['lr'].iloc[0]:g})")
            _epoch_axis(ax)
            ax.set_ylabel("loss" if slot % columns == 0 else "")
    _legend(fig, *_handles(list(colours), colours), title="split")
    _suptitle(fig, "Train vs validation loss, best configuration per placement (95% CI over seeds)")
    return fig
