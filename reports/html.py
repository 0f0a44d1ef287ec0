"""Write `<run dir>/report/`: frames (CSV + Parquet), PNG figures and `index.html`.

Compute (stats, selection), phrase (findings), draw (plots), then arrange here. Every file is
written to a temporary name and renamed into place, the page last, so a crash never leaves a
half-written file and the page only ever links to figures that exist.
"""

from __future__ import annotations

import json
import math
import platform
from datetime import datetime
from importlib import metadata
from pathlib import Path

import jinja2
import pandas as pd

from reports import findings, plots
from reports.atomic import atomic_path, write_text
from reports.frames import export_frames, load_frames
from reports.selection import STABLE_MIN_ACCURACY, best_lr, best_lr_comparisons, stable_lr
from reports.stats import CHANCE, interaction, pairwise_comparisons, scored, summarize

THRESHOLD = 0.8
PACKAGES = ["bnlab", "tensorflow", "keras", "ray", "numpy", "pandas", "scipy", "statsmodels", "seaborn"]  # fmt: skip
FIGURES = {
    "final_vs_lr": ("Accuracy vs learning rate", "Final validation accuracy against learning rate on a log axis, per placement: every seed as a point, the mean with a 95% CI, diverged trials as crosses at chance and each placement's largest stable learning rate as a dotted line."),
    "gain_per_lr": ("Gain per learning rate", "Mean paired difference in final validation accuracy between each pair of placements at each learning rate, with 95% CIs: left every learning rate, right only where neither side diverged, on its own scale; zero means no difference."),
    "learning_curves": ("Learning curves", "Validation accuracy per epoch, mean and 95% CI over seeds, one panel per learning rate, coloured by BN placement."),
    "heatmap": ("Placement x learning rate", "Heatmap of mean final validation accuracy, placements as rows, learning rates as columns; cells where every seed diverged read 'diverged'."),
    "cost": ("Cost", "Bar charts of seconds per epoch per placement and of trainable and non-trainable parameter counts."),
    "loss": ("Over- and under-fitting", "Train and validation loss per epoch for the best configuration of each placement."),
}  # fmt: skip
PROBLEM_COLUMNS = ["placement", "lr", "seed", "status", "epochs_run", "final_loss", "problem", "trial_dir"]  # fmt: skip


def _versions() -> dict[str, str]:
    found = {}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def _num(value, digits: int = 3) -> str:
    return findings.fmt_num(float(value), digits) if pd.notna(value) else "n/a"


def _ci(low, high) -> str:
    if pd.isna(low) or pd.isna(high):
        return "n/a"
    return f"{low:.3f} to {high:.3f}"


def _seeds_needed(row) -> str:
    if row["significant"]:
        return "settled"
    return f"{int(row['seeds_needed'])}" if pd.notna(row["seeds_needed"]) else "n/a"


def _comparison_cells(row) -> dict:
    return {
        "A": row["placement_a"],
        "B": row["placement_b"],
        "seed pairs": int(row["n_pairs"]),
        "A - B": f"{row['mean_diff']:+.4f}" if pd.notna(row["mean_diff"]) else "n/a",
        "95% CI": _ci(row["diff_ci_low"], row["diff_ci_high"]),
        "p (paired t)": findings.fmt_p(row["p_value"]),
        "p (Holm)": findings.fmt_p(row["p_holm"]),
        "P(A > B)": _num(row["prob_improvement"], 2),
        "P 95% CI": _ci(row["prob_ci_low"], row["prob_ci_high"]),
        "seeds for 80% power": _seeds_needed(row),
        "note": row["note"],
    }


def _table(rows: list[dict]) -> str:
    frame = pd.DataFrame(rows)
    if frame.empty:
        return "<p>Nothing to show yet.</p>"
    return frame.to_html(index=False, na_rep="n/a", border=0, classes="data", escape=True)


def _tables(frames: dict, problems: pd.DataFrame) -> dict:
    summary, comparisons, stable, inter = (
        frames["summary"], frames["comparisons"], frames["stable_lr"], frames["interaction"]
    )  # fmt: skip
    best, best_comparisons = frames["best_lr"], frames["best_lr_comparisons"]
    return {
        "best": _table(
            [
                {
                    "placement": r["placement"],
                    "learning rate chosen (per seed)": r["chosen_lrs"],
                    "val accuracy": _num(r["val_accuracy_mean"]),
                    "test accuracy": _num(r["test_accuracy_mean"]),
                    "test 95% CI": _ci(r["test_accuracy_ci_low"], r["test_accuracy_ci_high"]),
                }
                for _, r in best.iterrows()
            ]
        ),
        "best_comparisons": _table([_comparison_cells(r) for _, r in best_comparisons.iterrows()]),
        "stable": _table(
            [
                {
                    "placement": r["placement"],
                    "largest stable lr": f"{r['largest_stable_lr']:g}"
                    if pd.notna(r["largest_stable_lr"])
                    else "none",
                    "first unstable lr above it": f"{r['unstable_from']:g}"
                    if pd.notna(r["unstable_from"])
                    else "none in the grid",
                    "what happened there": r["unstable_outcome"],
                    "learning rates tested": r["lrs_tested"],
                }
                for _, r in stable.iterrows()
            ]
        ),
        "interaction": _table(
            [
                {
                    "scope": r["scope"],
                    "placements": int(r["n_placements"]),
                    "learning rates": int(r["n_lrs"]),
                    "seeds": int(r["n_seeds"]),
                    "F": _num(r["f_value"], 2),
                    "df": f"{r['df']:g}, {r['df_resid']:g}" if pd.notna(r["df"]) else "n/a",
                    "p": findings.fmt_p(r["p_value"]),
                    "note": r["note"],
                }
                for _, r in inter.iterrows()
            ]
        ),
        "comparisons": _table(
            [
                {"lr": f"{r['lr']:g}", **_comparison_cells(r), "outcomes": _outcomes(r)}
                for _, r in comparisons.iterrows()
            ]
        ),
        "summary": _table(
            [
                {
                    "placement": r["placement"],
                    "lr": f"{r['lr']:g}",
                    "seeds": int(r["n_seeds"]),
                    "outcome": r["outcome"],
                    "final val accuracy": "diverged"
                    if r["outcome"] == "diverged"
                    else _num(r["final_val_accuracy_mean"], 4),
                    "95% CI": "diverged"
                    if r["outcome"] == "diverged"
                    else _ci(r["final_val_accuracy_ci_low"], r["final_val_accuracy_ci_high"]),
                    "test accuracy": "diverged"
                    if r["outcome"] == "diverged"
                    else _num(r["test_accuracy_mean"], 4),
                    f"epochs to {THRESHOLD:g}": _num(r[f"epochs_to_{THRESHOLD:g}"], 1),
                    "s / epoch": _num(r["epoch_seconds_mean"], 2),
                    "setup": f"{r['optimizer']}, batch {r['batch_size']}, {r['hidden']}, "
                    f"{r['epochs']} epochs",
                }
                for _, r in summary.iterrows()
            ]
        ),
        "problems": problems[PROBLEM_COLUMNS].to_html(
            index=False, na_rep="", border=0, classes="data", float_format=lambda v: f"{v:.4g}"
        ),
    }


def _outcomes(row) -> str:
    if row["outcome_a"] == row["outcome_b"] == "stable":
        return "both stable"
    return f"A {row['outcome_a']}; B {row['outcome_b']}"


def _run_metadata(run_dir: Path, trials: pd.DataFrame, wall_seconds: float | None) -> dict:
    spec_path = run_dir / "sweep_spec.json"
    try:
        spec = json.loads(spec_path.read_text())
        if not isinstance(spec, dict):
            raise ValueError("not a JSON object")
    except FileNotFoundError:
        spec = {}
    except (OSError, ValueError) as err:
        spec = {"command": f"unknown: {spec_path.name} is damaged ({err})"}
    finished = pd.to_numeric(trials.get("last_timestamp"), errors="coerce")
    if wall_seconds is None and spec_path.exists() and finished.notna().any():
        # A copy fetched from storage has a new mtime: then the estimate is not positive.
        wall_seconds = float(finished.max()) - spec_path.stat().st_mtime
        wall_seconds = wall_seconds if wall_seconds > 0 else None
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
        "dataset": spec.get("data_source")
        or spec.get("data_dir")
        or "first of $BNLAB_DATA_DIR, /usr/share/datasets/fashion-mnist, Keras cache",
        "subset": spec.get("subset") or "full (55,000 / 5,000 / 10,000)",
        "wall": f"{wall_seconds / 60:.1f} min"
        if wall_seconds and math.isfinite(wall_seconds)
        else "n/a",
    }


def _draw(folder: Path, frames: dict) -> list[dict]:
    if frames["summary"].empty:
        return []
    makers = {
        "final_vs_lr": lambda: plots.final_vs_lr(frames["scored"], frames["stable_lr"]),
        "gain_per_lr": lambda: plots.gain_per_lr(frames["comparisons"]),
        "learning_curves": lambda: plots.learning_curves(frames["history"]),
        "heatmap": lambda: plots.accuracy_heatmap(frames["summary"]),
        "cost": lambda: plots.cost(frames["scored"]),
        "loss": lambda: plots.train_vs_validation_loss(frames["history"], frames["summary"]),
    }
    if frames["comparisons"].empty:
        del makers["gain_per_lr"]
    figures = []
    for key, make in makers.items():
        figure = make()
        with atomic_path(folder / f"{key}.png") as tmp:
            figure.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
        plots.plt.close(figure)
        title, alt = FIGURES[key]
        figures.append({"file": f"{key}.png", "title": title, "alt": alt})
    return figures


def compute(run_dir: str | Path) -> dict[str, pd.DataFrame]:
    """Every frame the report shows, computed from the stored run."""
    history, trials = load_frames(run_dir)
    return {
        "history": history,
        "trials": trials,
        "scored": scored(trials),
        "summary": summarize(trials, history, THRESHOLD),
        "comparisons": pairwise_comparisons(trials),
        "best_lr": best_lr(trials),
        "best_lr_comparisons": best_lr_comparisons(trials),
        "stable_lr": stable_lr(trials),
        "interaction": interaction(trials),
    }


def summary(frames: dict[str, pd.DataFrame]) -> list[str]:
    """The answer in three lines for a terminal, from the frames `compute` made."""
    return findings.summary(
        frames["best_lr"], frames["best_lr_comparisons"], frames["stable_lr"], frames["interaction"]
    )


def write_report(
    run_dir: str | Path,
    sweep_wall_seconds: float | None = None,
    report_dir: str | Path | None = None,
    frames: dict[str, pd.DataFrame] | None = None,
) -> Path:
    """Write the report (frames, figures, index.html) and return the page's path.

    Works on a finished, partial, damaged or empty run; what is not there is said on the page.

    Args:
        run_dir: A local run folder (for a run at a URI, see `reports.storage.fetch_run`).
        sweep_wall_seconds: The sweep's wall time, if known; else estimated from the files.
        report_dir: Where to write; `<run_dir>/report` by default.
        frames: What `compute(run_dir)` returned, if the caller has it already.
    """
    run_dir = Path(run_dir)
    folder = Path(report_dir) if report_dir is not None else run_dir / "report"
    frames = compute(run_dir) if frames is None else frames
    exported = {k: v for k, v in frames.items() if k != "scored"}
    export_frames(exported, folder)
    figures = _draw(folder, frames)
    trials = frames["trials"]
    problems = trials[trials["status"] != "completed"]
    answer = findings.answer(
        frames["comparisons"], frames["best_lr"], frames["best_lr_comparisons"],
        frames["stable_lr"], frames["interaction"],
    )  # fmt: skip
    env = jinja2.Environment(loader=jinja2.PackageLoader("reports", "templates"), autoescape=True)
    page = env.get_template("report.html").render(
        name=run_dir.name,
        counts=trials["status"].value_counts().to_dict(),
        n_trials=len(trials),
        answer=answer,
        figures=figures,
        tables=_tables(frames, problems),
        n_problems=len(problems),
        threshold=THRESHOLD,
        chance=CHANCE,
        stable_min=STABLE_MIN_ACCURACY,
        meta=_run_metadata(run_dir, trials, sweep_wall_seconds),
    )
    write_text(folder / "index.html", page)
    return folder / "index.html"
