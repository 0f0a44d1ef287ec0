"""Runs a user did not expect to meet: empty or not runs at all, a run whose files carry
terminal escapes, standard output on a full device, scores at the edges of their bounds."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sweeps
from reports import findings
from reports.console import printable
from reports.stats import mean_ci, summarize
from tests.reports.helpers import trials_frame, write_run

ROOT = Path(__file__).resolve().parents[2]
CELLS = {("none", 0.1): [0.80, 0.81, 0.79], ("before_activation", 0.1): [0.82, 0.84, 0.83]}
PLOTS = ["plot_final_vs_lr", "plot_gain_per_lr", "plot_learning_curves", "plot_heatmap", "plot_loss", "plot_cost"]  # fmt: skip


def _reports(*args, **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = " ".join([sys.executable, "-m", "reports", *map(str, args)])
    return subprocess.run(command, shell=True, capture_output=True, cwd=ROOT, env=env, timeout=300, **kwargs)  # fmt: skip


@pytest.mark.parametrize("plot", PLOTS)
def test_a_run_with_no_finished_trial_plots_nothing_and_says_why(tmp_path, plot):
    run = tmp_path / "run"
    run.mkdir()
    (run / "sweep_spec.json").write_text("{}")
    trial = run / "mlp-none-relu-lr0.1-s0_aaaaa_00000"
    trial.mkdir()
    (trial / "params.json").write_text(json.dumps({"trial": {"placement": "none", "lr": 0.1, "seed": 0, "batch_size": 32, "optimizer": "sgd", "hidden": [300, 100], "epochs": 2, "arch": "mlp", "norm": "none", "activation": "relu", "input_norm": "none"}}))  # fmt: skip
    study = sweeps.load(run)
    with pytest.raises(ValueError, match=r"Nothing to plot yet: No trial has finished yet: nothing to conclude \(1 running"):  # fmt: skip
        getattr(study, plot)()


@pytest.mark.parametrize("where", ["", "an empty folder"])
def test_load_of_something_that_is_no_run_says_so(tmp_path, where):
    location = "" if not where else tmp_path
    with pytest.raises(FileNotFoundError, match=r"is not a run folder|holds no run"):
        sweeps.load(location)


def test_terminal_escapes_in_a_run_s_files_are_printed_harmless(tmp_path):
    run = tmp_path / "run"
    write_run(run, CELLS)
    for params in run.glob("*/params.json"):
        config = json.loads(params.read_text())
        config["trial"]["placement"] += "\x1b]52;c;ZXZpbA==\x07\x1b[2J\u202e"
        params.write_text(json.dumps(config))
    done = _reports(run)
    assert done.returncode == 0, done.stderr
    for stream in (done.stdout, done.stderr):
        assert not any(byte in stream for byte in (b"\x1b", b"\x07", "\u202e".encode()))
    assert b"\\x1b]52;c;ZXZpbA==\\x07\\x1b[2J\\u202e" in done.stdout


def test_printable_keeps_text_and_shows_controls():
    assert printable("a\tb\nc") == "a\tb\nc"
    assert printable("x\x1b[31my\r\x9bz") == "x\\x1b[31my\\r\\x9bz"


def test_a_report_whose_summary_cannot_be_printed_is_still_written(tmp_path):
    run = tmp_path / "run"
    write_run(run, CELLS)
    done = _reports(run, "> /dev/full")
    assert done.returncode == 0, done.stderr
    assert done.stderr.decode().startswith("warning: standard output could not be written (No space left on device); the report is written: ")  # fmt: skip
    assert done.stderr.count(b"\n") == 1 and (run / "report" / "index.html").is_file()


def test_accuracy_intervals_stay_within_their_bounds():
    # One seed of three diverged: the t interval of the cell spreads far past 0 and 1.
    trials = trials_frame({("none", 1.0): [0.85, "diverged", 0.86], ("before_activation", 1.0): [0.85, 0.86, 0.84]})  # fmt: skip
    summary = summarize(trials, pd.DataFrame(columns=["trial_id", "val_accuracy", "epoch"]))
    none = summary[summary["placement"] == "none"].iloc[0]
    assert none["final_val_accuracy_ci_low"] == 0.0 and none["final_val_accuracy_ci_high"] == 1.0
    mean, _, low, high = mean_ci([0.75, -0.01, 0.74], (-1.0, 1.0))
    assert -1.0 <= low < mean < high == 1.0
    assert mean_ci([0.5, 0.6])[2] < 0  # unbounded where no bounds are asked for


def test_no_stable_learning_rate_reads_plainly():
    stable = pd.DataFrame([{"placement": "none", "largest_stable_lr": np.nan, "unstable_from": 0.1, "unstable_outcome": "a seed ended below 0.5 val_accuracy", "lrs_tested": "0.1, 1"}])  # fmt: skip
    line = findings._stability_line(stable)
    assert line == "Largest stable lr: none (no learning rate tested was stable)."
    sentence = findings.stable_learning_rates(stable)
    assert sentence.startswith("Largest stable learning rate: none: no learning rate tested was stable (the smallest, 0.1: ")  # fmt: skip
