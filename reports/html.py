"""Write `<run dir>/report/`: frames (CSV + Parquet), PNG figures and `index.html`.

Compute (stats, selection), phrase (findings), draw (plots), then arrange here. Every file is
written to a temporary name and renamed into place, the page last, so a crash never leaves a
half-written file and the page only ever links to figures that exist.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import shutil
from datetime import datetime
from importlib import metadata
from pathlib import Path

import jinja2
import pandas as pd

from reports import drawing, figures, findings, report_folder, tables
from reports.analysis import THRESHOLD, analyze, figure_inputs
from reports.atomic import atomic_folder, umask, write_text
from reports.frames import export_frames, read_run
from reports.selection import STABLE_MIN_ACCURACY
from reports.sequential import MARGIN
from reports.settling import read_looks
from reports.stats import CHANCE

MARGIN_POINTS = MARGIN * 100
PACKAGES = ["bnlab", "tensorflow", "keras", "ray", "numpy", "pandas", "scipy", "statsmodels", "seaborn", "matplotlib"]  # fmt: skip
FIGURES = {
    "final_vs_lr": ("Accuracy vs learning rate", "Final validation accuracy against learning rate on a log axis, per placement: every seed as a point, the mean with a 95% CI, diverged trials as crosses at chance and each placement's largest stable learning rate as a dotted line."),
    "gain_per_lr": ("Gain per learning rate", "Mean paired difference in final validation accuracy between each pair of placements at each learning rate, with 95% CIs: left every learning rate, right only where neither side diverged, on its own scale; zero means no difference."),
    "learning_curves": ("Learning curves", "Validation accuracy per epoch, mean and 95% CI over seeds, one panel per learning rate, coloured by BN placement."),
    "heatmap": ("Placement x learning rate", "Heatmap of mean final validation accuracy, placements as rows, learning rates as columns; cells where every seed diverged read 'diverged'."),
    "cost": ("Cost", "Bar charts of seconds per epoch per placement and of trainable and non-trainable parameter counts."),
    "loss": ("Over- and under-fitting", "Train and validation loss per epoch for the best configuration of each placement."),
}  # fmt: skip


def _versions() -> dict[str, str]:
    found = {}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def _read_spec(run_dir: Path) -> dict:
    """The run's sweep_spec.json as a dict; {} if missing, a note in `command` if damaged."""
    spec_path = run_dir / "sweep_spec.json"
    try:
        spec = json.loads(spec_path.read_text())
        if not isinstance(spec, dict):
            raise ValueError("not a JSON object")
    except FileNotFoundError:
        spec = {}
    except (OSError, ValueError) as err:
        spec = {"command": f"unknown: {spec_path.name} is damaged ({err})"}
    return spec


def _run_metadata(run_dir: Path, trials: pd.DataFrame, wall_seconds: float | None) -> dict:
    spec_path = run_dir / "sweep_spec.json"
    spec = _read_spec(run_dir)
    finished = pd.to_numeric(trials.get("last_timestamp"), errors="coerce")
    estimated = ""
    if wall_seconds is None and spec_path.exists() and finished.notna().any():
        # A copy fetched from storage has a new mtime: then the estimate is not positive.
        wall_seconds = float(finished.max()) - spec_path.stat().st_mtime
        wall_seconds = wall_seconds if wall_seconds > 0 else None
        estimated = " from the sweep's start to its last result (pauses between resumes included)"
    gpus = spec.get("num_gpus")
    return {
        "command": spec.get("command", "unknown"),
        "generated": datetime.now().isoformat(timespec="seconds"),
        "versions": _versions(),
        "python": platform.python_version(),
        "machine": f"{platform.system()} {platform.machine()}",
        "cluster": spec.get("address")
        or f"embedded local Ray ({spec.get('num_cpus')} CPUs, {gpus} GPUs)",
        "nodes": int(trials["node_id"].nunique()),
        "hostnames": ", ".join(sorted(map(str, trials["hostname"].dropna().unique()))),
        "resources": f"{spec.get('cpus_per_trial')} CPU, {spec.get('gpus_per_trial')} GPU per trial",
        "dataset": _dataset_words(spec),
        "subset": spec.get("subset")
        or ("full" if spec.get("data") else "full (55,000 / 5,000 / 10,000)"),
        "wall": f"{wall_seconds / 60:.1f} min{estimated}"
        if wall_seconds and math.isfinite(wall_seconds)
        else "n/a",
    }


def _dataset_words(spec: dict) -> str:
    """Which data the run trained on: a user's file with its shape, or Fashion-MNIST's folder."""
    if spec.get("data"):
        sizes = " / ".join(map(str, spec.get("data_sizes") or ()))
        shape = "x".join(map(str, spec.get("data_shape") or ()))
        return f"{spec['data']} (train / validation / test {sizes}; {shape}, {spec.get('num_classes')} classes; SHA-256 {str(spec.get('data_fingerprint'))[:16]}...)"  # fmt: skip
    return (
        spec.get("data_source")
        or spec.get("data_dir")
        or "Fashion-MNIST: first of $BNLAB_DATA_DIR, /usr/share/datasets/fashion-mnist, Keras cache"
    )


def figure_makers(frames: dict) -> dict:
    """Each figure the report draws, by name: a function returning its matplotlib Figure."""
    return drawing.figure_makers(figures.figure_frames(frames))


def compute(run_dir: str | Path, painters=None) -> dict[str, pd.DataFrame]:
    """Every frame the report shows, computed from the stored run (its trials, the margin its
    spec names and, for a settling run, its stored looks), or from a report folder's exports.

    `painters` (`reports.painters.Painters`) are started on the figures as soon as their
    frames are computed, before the rest of the statistics; pass them on to `write_report`.
    """
    # The report's many small groupbys and selections on the text columns run a quarter
    # faster on Python-held strings than on pyarrow's (the same `str` dtype and values).
    with pd.option_context("mode.string_storage", "python"):
        history, trials = read_run(run_dir)
        inputs = figure_inputs(history, trials)
        drawn = figures.drawable(inputs) if painters is not None else None
        if drawn is not None:
            painters.start(drawn)
        looks, margin = read_looks(run_dir), margin_of(run_dir)
        return analyze(history, trials, looks=looks, margin=margin, inputs=inputs)


def margin_of(run_dir: str | Path) -> float:
    """The equivalence margin (accuracy) the run's spec names; the default if it names none."""
    margin = _read_spec(Path(run_dir)).get("margin", MARGIN_POINTS)
    return margin / 100 if isinstance(margin, int | float) and 0 < margin < 100 else MARGIN


def summary(frames: dict[str, pd.DataFrame]) -> list[str]:
    """The answer in three lines for a terminal, from the frames `compute` made."""
    return findings.summary(frames)


# Copied from the run into its report, so that a report folder alone can be reported again.
RUN_RECORDS = ("sweep_spec.json", "settle.json")


def write_report(
    run_dir: str | Path,
    sweep_wall_seconds: float | None = None,
    report_dir: str | Path | None = None,
    frames: dict[str, pd.DataFrame] | None = None,
    protected: tuple = (),
    flag: str = "--report-dir",
    painters=None,
) -> Path:
    """Write the report (frames, figures, index.html) and return the page's path.

    Works on a finished, partial, damaged or empty run; what is not there is said on the page.
    The report folder is replaced whole: it may be new, empty or an earlier report, never a
    folder of the user's or one that holds the run (`reports.report_folder`).

    Args:
        run_dir: A local run folder (for a run at a URI, see `reports.storage.fetch_run`), or a
            report folder whose exported frames stand for the run.
        sweep_wall_seconds: The sweep's wall time, if known; else estimated from the files.
        report_dir: Where to write; `<run_dir>/report` by default.
        frames: What `compute(run_dir)` returned, if the caller has it already.
        protected: More local folders the report must not replace (the output folder).
        flag: How the report folder was named, for the error's message.
        painters: `reports.painters.Painters` to draw the figures (the command lines start
            them early), started by `compute` on this run or not yet; they have ended when
            this returns or raises. Without them, the figures are drawn here.

    Raises:
        reports.report_folder.ReportFolderError: If the report folder is not one the report
            may replace; nothing was written.
    """
    run_dir = Path(run_dir)
    with painters if painters is not None else contextlib.nullcontext():  # ended on the way out
        target = Path(report_dir) if report_dir is not None else run_dir / "report"
        if not report_folder.is_report(run_dir):  # a report folder may be written again in place
            protected = (run_dir, *protected)
        report_folder.check(target, protected, flag)
        frames = compute(run_dir) if frames is None else frames

        def replaceable(folder: Path) -> bool:
            report_folder.check(folder, protected, flag)
            return True

        # The old report stays whole until the new one is.
        with atomic_folder(target, replaceable) as folder:
            _write(run_dir, folder, frames, sweep_wall_seconds, painters)
            for name in RUN_RECORDS:
                if (run_dir / name).is_file():
                    shutil.copyfile(run_dir / name, folder / name)
                    os.chmod(folder / name, 0o666 & ~umask())
            report_folder.write_marker(folder, os.listdir(folder))
        return target / "index.html"


def _write(run_dir: Path, folder: Path, frames: dict, sweep_wall_seconds, painters) -> None:
    drawn = painters.drawn if painters is not None else None
    drawn = figures.drawable(frames) if drawn is None else drawn
    if painters is not None and drawn is not None:
        painters.start(drawn)  # unless `compute` started them: they draw while the page is written
    export_frames({k: v for k, v in frames.items() if k != "scored"}, folder)
    trials = frames["trials"]
    problems = trials[trials["status"] != "completed"]
    answer = findings.answer(frames)
    env = jinja2.Environment(loader=jinja2.PackageLoader("reports", "templates"), autoescape=True)
    page = env.get_template("report.html").render(
        name=run_dir.name,
        counts=trials["status"].value_counts().to_dict(),
        n_trials=len(trials),
        answer=answer,
        summary_lines=findings.summary(frames),
        design=findings.design_paragraph(frames),
        has_looks=not frames["looks"].empty,
        figures=figures.captions(drawn, FIGURES),
        tables=tables.render(frames, problems),
        n_problems=len(problems),
        threshold=THRESHOLD,
        chance=CHANCE,
        stable_min=STABLE_MIN_ACCURACY,
        meta=_run_metadata(run_dir, trials, sweep_wall_seconds),
    )
    if painters is not None and drawn is not None:
        painters.deliver(folder)  # and draws here what they did not
    elif drawn is not None:
        drawing.draw_each(folder, drawn, drawing.figure_names(drawn))
    write_text(folder / "index.html", page)
