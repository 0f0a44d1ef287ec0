"""Write `<run dir>/report/`: frames (CSV + Parquet), PNG figures and `index.html`."""

from __future__ import annotations

import json
import platform
from datetime import datetime
from importlib import metadata
from pathlib import Path

import jinja2
import numpy as np
import pandas as pd

from reports import plots
from reports.frames import export_frames, load_frames
from reports.stats import compare_to_baseline, summarize

THRESHOLD = 0.8
PACKAGES = ["bnlab", "tensorflow", "keras", "ray", "numpy", "pandas", "scipy", "seaborn"]
FIGURES = [
    ("learning_curves", "Learning curves", "Validation accuracy per epoch, mean and 95% CI over seeds, one panel per learning rate, coloured by BN placement."),
    ("final_vs_lr", "Accuracy vs learning rate", "Final validation accuracy against learning rate on a log axis, per placement, with every seed as a point and the mean with a 95% CI."),
    ("heatmap", "Placement x learning rate", "Heatmap of mean final validation accuracy, placements as rows, learning rates as columns."),
    ("cost", "Cost", "Bar charts of seconds per epoch per placement and of trainable and non-trainable parameter counts."),
    ("loss", "Over- and under-fitting", "Train and validation loss per epoch for the best configuration of each placement."),
]  # fmt: skip


SUMMARY_COLUMNS = [
    "placement", "lr", "optimizer", "batch_size", "hidden", "epochs", "n_seeds",
    "final_val_accuracy_mean", "final_val_accuracy_ci_low", "final_val_accuracy_ci_high",
    "best_val_accuracy_mean", "test_accuracy_mean", "epoch_seconds_mean",
    f"epochs_to_{THRESHOLD:g}", "n_diverged",
]  # fmt: skip
COMPARISON_COLUMNS = [
    "placement", "lr", "optimizer", "batch_size", "hidden", "n_pairs", "mean_diff",
    "diff_ci_low", "diff_ci_high", "p_value", "p_holm", "prob_improvement", "note",
]  # fmt: skip
PROBLEM_COLUMNS = [
    "trial_id",
    "placement",
    "lr",
    "seed",
    "status",
    "epochs_run",
    "final_loss",
    "trial_dir",
]


def _versions() -> dict[str, str]:
    found = {}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def _fmt(value, digits=4) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "n/a"
    return f"{value:.{digits}f}"


def conclusions(summary: pd.DataFrame, comparisons: pd.DataFrame) -> list[str]:
    """Plain sentences, each backed by its CI or p-value."""
    if summary.empty:
        return ["No trial has finished yet: nothing to conclude."]
    sentences = []
    for lr, group in summary.groupby("lr"):
        best = group.sort_values("final_val_accuracy_mean", ascending=False).iloc[0]
        sentences.append(
            f"At lr {lr:g}, the best placement is {best['placement']} with mean final "
            f"val_accuracy {_fmt(best['final_val_accuracy_mean'])} (95% CI "
            f"{_fmt(best['final_val_accuracy_ci_low'])} to "
            f"{_fmt(best['final_val_accuracy_ci_high'])}, {best['n_seeds']} seeds)."
        )
    for _, row in comparisons.iterrows():
        where = f"{row['placement']} vs none at lr {row['lr']:g}"
        if row.get("note"):
            sentences.append(f"{where}: {row['note']}; mean difference {_fmt(row['mean_diff'])}.")
            continue
        significant = row["p_holm"] < 0.05
        verdict = (
            ("better" if row["mean_diff"] > 0 else "worse")
            if significant
            else "not distinguishable"
        )
        sentences.append(
            f"{where}: {verdict} (difference {row['mean_diff']:+.4f}, 95% CI "
            f"{_fmt(row['diff_ci_low'])} to {_fmt(row['diff_ci_high'])}, paired t-test "
            f"p={_fmt(row['p_value'], 3)}, Holm-adjusted p={_fmt(row['p_holm'], 3)}, better on "
            f"{row['prob_improvement']:.0%} of seeds)."
        )
    diverged = int(summary["n_diverged"].sum())
    if diverged:
        sentences.append(
            f"{diverged} trials diverged (NaN/inf loss); they count at their last accuracy."
        )
    return sentences


def _run_metadata(run_dir: Path, trials: pd.DataFrame, wall_seconds: float | None) -> dict:
    spec_path = run_dir / "sweep_spec.json"
    spec = json.loads(spec_path.read_text()) if spec_path.exists() else {}
    if wall_seconds is None and spec_path.exists():
        stamps = [
            json.loads(line).get("timestamp", 0)
            for f in run_dir.glob("*/result.json")
            for line in f.read_text().splitlines()[-1:]
        ]
        wall_seconds = max(stamps, default=spec_path.stat().st_mtime) - spec_path.stat().st_mtime
    return {
        "command": spec.get("command", "unknown"),
        "generated": datetime.now().isoformat(timespec="seconds"),
        "versions": _versions(),
        "python": platform.python_version(),
        "machine": f"{platform.system()} {platform.machine()}",
        "cluster": spec.get("address")
        or f"embedded local Ray ({spec.get('num_cpus')} CPUs, {spec.get('num_gpus')} GPUs)",
        "nodes": int(trials["node_id"].nunique()),
        "hostnames": ", ".join(sorted(trials["hostname"].dropna().unique())),
        "resources": f"{spec.get('cpus_per_trial')} CPU, {spec.get('gpus_per_trial')} GPU per trial",
        "dataset": spec.get("data_dir")
        or "first of $BNLAB_DATA_DIR, /usr/share/datasets/fashion-mnist, Keras cache",
        "subset": spec.get("subset") or "full (55,000 / 5,000 / 10,000)",
        "wall": f"{wall_seconds / 60:.1f} min" if wall_seconds else "n/a",
    }


def _table(frame: pd.DataFrame, columns: list[str]) -> str:
    shown = frame[[c for c in columns if c in frame.columns]]
    return shown.to_html(
        index=False, float_format=lambda v: f"{v:.4g}", na_rep="n/a", border=0, classes="data"
    )


def write_report(run_dir: str | Path, sweep_wall_seconds: float | None = None) -> Path:
    """Write `<run_dir>/report/` (frames, figures, index.html) and return the page's path.

    Works on a finished, partial or empty run; what is not there yet is said on the page.
    """
    run_dir = Path(run_dir)
    folder = run_dir / "report"
    history, trials = load_frames(run_dir)
    summary = summarize(trials, history, THRESHOLD)
    comparisons = compare_to_baseline(trials)
    export_frames(
        {"history": history, "trials": trials, "summary": summary, "comparisons": comparisons},
        folder,
    )
    figures = []
    if not summary.empty:
        ended = trials[trials["status"].isin(["completed", "diverged"])]
        makers = {
            "learning_curves": lambda: plots.learning_curves(history),
            "final_vs_lr": lambda: plots.final_vs_lr(ended),
            "heatmap": lambda: plots.accuracy_heatmap(summary),
            "cost": lambda: plots.cost(ended),
            "loss": lambda: plots.train_vs_validation_loss(history, summary),
        }
        for key, title, alt in FIGURES:
            figure = makers[key]()
            figure.savefig(folder / f"{key}.png", dpi=110, bbox_inches="tight")
            plots.plt.close(figure)
            figures.append({"file": f"{key}.png", "title": title, "alt": alt})
    problems = trials[~trials["status"].isin(["completed"])]
    env = jinja2.Environment(loader=jinja2.PackageLoader("reports", "templates"), autoescape=True)
    page = env.get_template("report.html").render(
        name=run_dir.name,
        counts=trials["status"].value_counts().to_dict(),
        n_trials=len(trials),
        conclusions=conclusions(summary, comparisons),
        figures=figures,
        summary_table=_table(summary, SUMMARY_COLUMNS),
        comparison_table=_table(comparisons, COMPARISON_COLUMNS),
        problem_table=_table(problems, PROBLEM_COLUMNS),
        n_problems=len(problems),
        threshold=THRESHOLD,
        meta=_run_metadata(run_dir, trials, sweep_wall_seconds),
    )
    (folder / "index.html").write_text(page)
    return folder / "index.html"
