"""Draw the report's figures from the aggregates `reports.figures.figure_frames` made.

What a painter process (`reports.painters`) imports: the plotting libraries and nothing of the
statistics'.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

from reports.atomic import atomic_path

# PNG settings (measured: benchmarks/RESULTS.md, "The report at any size"). The figures are
# laid out in inches to their final size, so no tight bounding box (it draws each figure twice:
# half of saving's cost); zlib level 1 saves 7% of the time for 9% more bytes than 6; fewer dpi
# save little, the cost being matplotlib's artists, not pixels.
PNG = {"format": "png", "dpi": 100, "pil_kwargs": {"compress_level": 1}}
FIGURES_IN_PAGE_ORDER = ["final_vs_lr", "gain_per_lr", "learning_curves", "heatmap", "cost", "loss"]

# Heaviest first (measured on the default study), so that painters taking the next one in
# turn end together.
NAMES = ["learning_curves", "gain_per_lr", "loss", "final_vs_lr", "cost", "heatmap"]


def figure_names(drawn: dict) -> list[str]:
    """The figures a report of `drawn` (`figure_frames`) has, heaviest first."""
    return [n for n in NAMES if n != "gain_per_lr" or not drawn["comparisons"].empty]


def load_plotting():
    """Import matplotlib and seaborn, set up for the report (`reports.plots`)."""
    from reports import plots

    return plots


def figure_makers(drawn: dict) -> dict[str, Callable]:
    """Each figure the report draws, in the page's order: a function returning its matplotlib
    Figure, drawn from `drawn` (`figure_frames`)."""
    plots = load_plotting()
    shown_ = drawn["contexts"]
    makers = {
        "final_vs_lr": lambda: plots.final_vs_lr(
            drawn["cells"], drawn["points"], drawn["stable"], shown_, drawn["chance"]
        ),
        "gain_per_lr": lambda: plots.gain_per_lr(drawn["comparisons"], shown_),
        "learning_curves": lambda: plots.learning_curves(drawn["curves"], shown_),
        "heatmap": lambda: plots.accuracy_heatmap(drawn["cells"], shown_),
        "cost": lambda: plots.cost(drawn["times"], drawn["params"], shown_),
        "loss": lambda: plots.train_vs_validation_loss(drawn["losses"], shown_),
    }
    return {name: makers[name] for name in FIGURES_IN_PAGE_ORDER if name in figure_names(drawn)}


def draw_each(folder: Path, drawn: dict, names: list[str], shared: bool = False) -> None:
    """Draw the figures `names` of `drawn` (`figure_frames`) into `folder` as PNG files.

    `shared`: other processes draw the same names into `folder`; each figure is drawn by the
    first to take it (a `.taken` file made exclusively), and none once `folder` is gone."""
    if not names:
        return
    plots = load_plotting()
    makers = figure_makers(drawn)
    for name in names:
        if shared:
            try:
                (folder / f"{name}.taken").touch(exist_ok=False)
            except FileExistsError:  # another painter's
                continue
            except FileNotFoundError:  # removed: the work was called off
                return
        # Matplotlib's layout and font notes (a label too long, a glyph no font has) are about
        # the picture, not for the terminal: the figure is drawn as well as it can be.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            figure = makers[name]()
            with atomic_path(folder / f"{name}.png") as tmp:
                figure.savefig(tmp, **PNG)
        plots.plt.close(figure)
