import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from reports import load_frames
from reports.stats import compare_to_baseline, holm, mean_ci, summarize


def test_frames_match_the_stored_results(stored_run):
    history, trials = load_frames(stored_run)
    assert len(trials) == 12 and (trials["status"] == "completed").all()
    assert len(history) == 24 and set(history["epoch"]) == {1, 2}
    one = trials.iloc[0]
    rows = [
        json.loads(line)
        for line in (stored_run / one["trial_dir"] / "result.json").read_text().splitlines()
    ]
    final = rows[-1]
    assert final["final"] and one["test_accuracy"] == final["test_accuracy"]
    assert one["final_val_accuracy"] == rows[-2]["val_accuracy"]
    assert one["params_total"] == final["params_total"] and one["hidden"] == "300x100"


def test_summary_ci_matches_scipy(stored_run):
    history, trials = load_frames(stored_run)
    summary = summarize(trials, history)
    assert len(summary) == 4 and (summary["n_seeds"] == 3).all()
    row = summary.iloc[0]
    values = trials[(trials["placement"] == row["placement"]) & (trials["lr"] == row["lr"])]
    x = values["final_val_accuracy"].to_numpy()
    low, high = stats.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=stats.sem(x))
    assert row["final_val_accuracy_mean"] == pytest.approx(x.mean())
    assert (row["final_val_accuracy_ci_low"], row["final_val_accuracy_ci_high"]) == pytest.approx(
        (low, high)
    )


def test_paired_comparison_matches_scipy(stored_run):
    _, trials = load_frames(stored_run)
    comparisons = compare_to_baseline(trials)
    assert list(comparisons["placement"]) == ["after_activation", "after_activation"]
    row = comparisons.iloc[0]
    pick = trials[trials["lr"] == row["lr"]].sort_values("seed")
    bn = pick[pick["placement"] == "after_activation"]["final_val_accuracy"].to_numpy()
    base = pick[pick["placement"] == "none"]["final_val_accuracy"].to_numpy()
    assert row["mean_diff"] == pytest.approx((bn - base).mean())
    assert row["p_value"] == pytest.approx(stats.ttest_rel(bn, base).pvalue)
    assert row["prob_improvement"] == pytest.approx(((bn - base) > 0).mean())
    expected = holm(comparisons["p_value"])
    assert list(comparisons["p_holm"]) == pytest.approx(list(expected))


def test_holm_against_hand_computed_values():
    adjusted = holm([0.01, 0.04, 0.03, np.nan])
    assert adjusted[:3] == pytest.approx([0.03, 0.06, 0.06]) and np.isnan(adjusted[3])


def test_mean_ci_with_one_value_has_no_interval():
    mean, std, low, high = mean_ci([0.5])
    assert mean == 0.5 and np.isnan(std) and np.isnan(low) and np.isnan(high)


def _trials(rows):
    base = {"batch_size": 32, "optimizer": "sgd", "hidden": "300x100", "epochs": 2}
    frame = pd.DataFrame([{**base, **r} for r in rows])
    frame["trial_id"] = [f"t{i}" for i in range(len(frame))]
    for column in ["best_val_accuracy", "test_accuracy", "mean_epoch_seconds"]:
        frame[column] = frame["final_val_accuracy"]
    return frame


def test_too_few_seeds_is_said_not_tested():
    trials = _trials([
        {"placement": "none", "lr": 0.1, "seed": 0, "status": "completed", "final_val_accuracy": 0.7},
        {"placement": "after_activation", "lr": 0.1, "seed": 0, "status": "completed", "final_val_accuracy": 0.8},
    ])  # fmt: skip
    row = compare_to_baseline(trials).iloc[0]
    assert row["n_pairs"] == 1 and np.isnan(row["p_value"]) and "too few" in row["note"]


def test_diverged_trials_count_and_errored_are_left_out():
    trials = _trials([
        {"placement": "none", "lr": 9.0, "seed": 0, "status": "diverged", "final_val_accuracy": 0.1},
        {"placement": "none", "lr": 9.0, "seed": 1, "status": "completed", "final_val_accuracy": 0.6},
        {"placement": "none", "lr": 9.0, "seed": 2, "status": "errored", "final_val_accuracy": 0.9},
    ])  # fmt: skip
    history = pd.DataFrame(columns=["trial_id", "epoch", "val_accuracy"])
    row = summarize(trials, history).iloc[0]
    assert row["n_seeds"] == 2 and row["n_diverged"] == 1
    assert row["final_val_accuracy_mean"] == pytest.approx(0.35)


def test_partial_run_marks_running_and_errored_trials(run_copy):
    dirs = sorted(p for p in run_copy.iterdir() if (p / "result.json").exists())
    unfinished = dirs[0] / "result.json"
    lines = unfinished.read_text().splitlines()
    unfinished.write_text("\n".join(lines[:1]) + "\n")  # one epoch reported, no final row
    errored = dirs[1] / "result.json"
    errored.write_text(errored.read_text().splitlines()[0] + "\n")
    (dirs[1] / "error.txt").write_text("worker died")
    history, trials = load_frames(run_copy)
    by_dir = trials.set_index("trial_dir")["status"]
    assert by_dir[dirs[0].name] == "running" and by_dir[dirs[1].name] == "errored"
    assert (trials["status"] == "completed").sum() == 10
    assert len(summarize(trials, history)) == 4  # statistics from the trials that ended


def test_empty_run_gives_empty_frames(tmp_path):
    history, trials = load_frames(tmp_path)
    assert history.empty and trials.empty and "val_accuracy" in history.columns
    assert summarize(trials, history).empty and compare_to_baseline(trials).empty


def test_import_reports_leaves_tensorflow_and_ray_out():
    code = "import sys, reports, reports.plots; print([m for m in ('tensorflow', 'ray', 'keras') if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
