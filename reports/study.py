"""A study's results as one object: named frames, the answer, the report and the figures.

    study = sweeps.load("runs/default")          # or reports.study.load(...)
    study.best_lr                                 # a pandas frame
    study.plot_final_vs_lr()                      # a matplotlib Figure (inline in Jupyter)
    study.write_report()                          # the HTML/PNG report

It renders in Jupyter (`_repr_html_`: the answer and each placement at its best learning rate)
and in a console (`repr`: the three-line summary). No Ray and no TensorFlow are needed.
"""

from __future__ import annotations

import html
import os
import tempfile
from pathlib import Path

from reports import findings
from reports.console import printable
from reports.frames import is_report_folder, trial_dirs
from reports.html import compute, figure_makers, write_report
from reports.storage import fetch_run, is_uri

FRAMES = (
    "history", "trials", "summary", "comparisons", "best_lr", "best_lr_comparisons", "stable_lr",
    "interaction", "factor_comparisons", "verdicts", "looks",
)  # fmt: skip


class Study:
    """The results of one sweep, finished or not.

    Attributes:
        location: Where the run lives (a folder or a storage URI), as given.
        frames: Every frame the report shows, by name (also as attributes: `study.trials`).
        report_path: The report's page, once written (by the sweep or `write_report`).
    """

    def __init__(self, location: str, run_dir: Path, frames: dict, report_path=None, keep=None):
        self.location = str(location)
        self.run_dir = run_dir
        self.frames = frames
        self.report_path = report_path
        self._keep = keep  # a temporary copy of a run in object storage, alive with the study

    def __getattr__(self, name: str):
        if name in FRAMES:
            return self.frames[name]
        raise AttributeError(f"'Study' object has no attribute {name!r}")

    def __dir__(self):
        return [*super().__dir__(), *FRAMES]

    @property
    def answer(self) -> list[str]:
        """The report's answer, sentence by sentence."""
        return findings.answer(self.frames)

    @property
    def lines(self) -> list[str]:
        """The answer in three lines, as the terminal prints it."""
        return findings.summary(self.frames)

    def write_report(self, report_dir: str | Path | None = None) -> Path:
        """Write the HTML/PNG report (to RUN/report, or `report_dir`); returns the page.

        Raises:
            reports.report_folder.ReportFolderError: If `report_dir` is a folder the report may
                not replace (one of yours, the run, or a folder holding it); nothing is written.
        """
        folder = report_dir if report_dir is not None else self._default_report_dir()
        self.report_path = write_report(
            self.run_dir, report_dir=folder, frames=self.frames, flag="report_dir"
        )
        return self.report_path

    def _default_report_dir(self) -> Path:
        if is_uri(self.location) or self._keep is not None:
            return Path(f"{self.run_dir.name}-report")
        if is_report_folder(self.run_dir):
            return self.run_dir  # written again in place, if it is a report this tool wrote
        return self.run_dir / "report"

    def _figure(self, name: str):
        from reports.plots import plt

        if self.frames["summary"].empty:
            raise ValueError(f"Nothing to plot yet: {findings.nothing_finished(self.trials)}")
        makers = figure_makers(self.frames)
        if name not in makers:
            raise ValueError(f"Nothing to plot: the run has no pair of placements to compare ({self.location}).")  # fmt: skip
        figure = makers[name]()
        plt.close(figure)  # returned, not left to pyplot: Jupyter shows it once, as the result
        return figure

    def plot_final_vs_lr(self):
        """Final val accuracy against learning rate per placement (a matplotlib Figure)."""
        return self._figure("final_vs_lr")

    def plot_gain_per_lr(self):
        """The paired gain of each placement over another per learning rate."""
        return self._figure("gain_per_lr")

    def plot_learning_curves(self):
        """Val accuracy per epoch, one panel per learning rate."""
        return self._figure("learning_curves")

    def plot_heatmap(self):
        """Mean final val accuracy, placement x learning rate."""
        return self._figure("heatmap")

    def plot_cost(self):
        """Seconds per epoch and parameters per placement."""
        return self._figure("cost")

    def plot_loss(self):
        """Train and val loss of each placement's best configuration."""
        return self._figure("loss")

    def __repr__(self) -> str:
        counts = self.trials["status"].value_counts().to_dict() if len(self.trials) else {}
        status = ", ".join(f"{n} {s}" for s, n in counts.items()) or "no trials"
        lines = [f"Study({self.location!r}): {len(self.trials)} trials ({status})", *(f"  {line}" for line in self.lines)]  # fmt: skip
        return printable("\n".join(lines))  # a run's files may hold terminal escapes

    def _repr_html_(self) -> str:
        lines = "".join(f"<li>{html.escape(line)}</li>" for line in self.lines)
        best = self.best_lr
        table = ""
        if not best.empty:
            shown = [c for c in ("placement", "chosen_lrs", "test_accuracy_mean", "test_accuracy_ci_low", "test_accuracy_ci_high") if c in best]  # fmt: skip
            table = best[shown].to_html(index=False, border=0, float_format=lambda v: f"{v:.4f}")
        return (
            f"<div><strong>Study {html.escape(self.location)}</strong>: {len(self.trials)} "
            f"trials<ul>{lines}</ul>{table}</div>"
        )


def load(location: str | Path) -> Study:
    """The results of the run at `location`: a run folder, a storage URI (s3://...), or a
    report folder (the CSV/Parquet frames a report exported, such as docs/default-study).

    Raises:
        FileNotFoundError: If nothing at `location` holds a run or a report.
        reports.storage.StorageError: If a storage URI cannot be read.
    """
    if not isinstance(location, str | os.PathLike):
        raise TypeError(
            f"The 'location' parameter must be a str or a path. Got {type(location).__name__} "
            f"{location!r:.60} instead."
        )
    location = os.fspath(location)
    if is_uri(location):
        keep = tempfile.TemporaryDirectory(prefix="bnlab-study-")
        run_dir = fetch_run(location, keep.name)
        return Study(location, run_dir, compute(run_dir), keep=keep)
    folder = Path(location)
    if not location.strip() or not folder.is_dir():
        raise FileNotFoundError(f"{location!r} is not a run folder, a report folder or a URI.")
    if is_report_folder(folder):
        page = folder / "index.html"
    elif (folder / "sweep_spec.json").is_file() or trial_dirs(folder):
        page = folder / "report" / "index.html"
    else:
        raise FileNotFoundError(
            f"{location!r} holds no run (no sweep_spec.json, no trials) and no report's frames "
            "(history.parquet, trials.parquet)."
        )
    return Study(location, folder, compute(folder), report_path=page if page.exists() else None)
