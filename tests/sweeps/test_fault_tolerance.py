"""A killed trial worker is retried from its checkpoint; an interrupted sweep resumes."""

import json
import os
import signal
import subprocess

import pytest

from reports import load_frames
from tests.sweeps.conftest import (
    ROOT,
    TRIAL_FOLDERS,
    progress_shows,
    result_rows,
    run_sweep,
    start_sweep,
    sweep_command,
    wait_for,
)

pytestmark = pytest.mark.shared_ray  # sweeps join one Ray (tests/conftest.py)


def _epochs(rows):
    return [r["epoch"] for r in rows if not r["final"]]


def test_killed_worker_is_retried_from_its_checkpoint_and_history_has_every_epoch_once(tmp_path):
    out = tmp_path / "runs"
    driver = subprocess.Popen(
        sweep_command(
            "--placements", "after_activation", "--lrs", "0.05", "--seeds", "0",
            "--epochs", "5", "--subset", "20000,500", "--output-dir", str(out), "--name", "k",
            "--no-report", "--checkpoint-seconds", "0",
        ),
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        trial_dir = wait_for(lambda: next(out.glob(f"k/{TRIAL_FOLDERS}"), None), 120, "the trial")
        first = wait_for(lambda: result_rows(trial_dir)[:1], 120, "an epoch's report")[0]
        assert not first["final"] and first["checkpoint_dir_name"] is not None
        os.kill(first["pid"], signal.SIGKILL)  # the trial's worker process, mid-training
        output, _ = driver.communicate(timeout=300)
    finally:
        driver.kill()
    assert driver.returncode == 0, output[-3000:]
    final = result_rows(trial_dir)[-1]
    assert final["final"] and final["status"] == "completed"
    assert final["pid"] != first["pid"]  # a second worker finished the trial
    history, _ = load_frames(out / "k")
    assert list(history["epoch"]) == [1, 2, 3, 4, 5]
    assert [r["epoch"] for r in json.loads(final["history"])] == [1, 2, 3, 4, 5]


def test_interrupted_sweep_resumes_without_rerunning_finished_trials(tmp_path):
    out = tmp_path / "runs"
    flags = [
        "--placements", "none", "--lrs", "0.01,0.02,0.05", "--seeds", "0", "--epochs", "3",
        "--subset", "55000,200", "--max-concurrent", "1", "--output-dir", str(out),
        "--name", "r", "--no-report",
    ]  # fmt: skip
    log = tmp_path / "progress.txt"
    driver = start_sweep(*flags, log=log)
    try:
        running = r"trials 1/3 done .*, 1 running"
        wait_for(lambda: progress_shows(log, running), 180, "one finished, one running trial")
        driver.send_signal(signal.SIGINT)
        _, err = driver.communicate(timeout=120)
    finally:
        driver.kill()
    assert driver.returncode == 130, err[-3000:]
    finished = [d for d in sorted(out.glob(f"r/{TRIAL_FOLDERS}")) if result_rows(d)[-1:] and result_rows(d)[-1]["final"]]  # fmt: skip
    assert finished
    before = {d.name: result_rows(d) for d in finished}

    resumed = run_sweep(*flags[:-1], "--no-report", "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    for name, rows in before.items():
        assert result_rows(out / "r" / name) == rows  # finished trials were not run again
    history, trials = load_frames(out / "r")
    assert len(trials) == 3 and (trials["status"] == "completed").all()
    # The interrupted trial may replay the epoch after its last checkpoint that Tune's saved
    # state knew of; the history keeps one row per epoch, the later report.
    for _, epochs in history.groupby("trial_id")["epoch"]:
        assert list(epochs) == [1, 2, 3]
