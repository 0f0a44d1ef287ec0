"""Real Ray, real processes: unreachable clusters, two sweeps on one folder, Ctrl+C."""

import os
import shlex
import signal
import subprocess

import psutil
import pytest

from reports import load_frames
from tests.storage import free_port
from tests.sweeps.conftest import (
    ROOT,
    TINY,
    progress_shows,
    run_sweep,
    start_sweep,
    sweep_command,
    wait_for,
)

# A bound on a hang, not a timing assertion: each of these must answer long before it.
HANG_BOUND_S = 120


def test_an_address_where_nothing_listens_fails_in_bounded_time(tmp_path):
    out = tmp_path / "runs"
    done = run_sweep(
        "--address", f"127.0.0.1:{free_port()}", "--output-dir", str(out), timeout=HANG_BOUND_S
    )
    assert done.returncode == 2 and done.stderr.startswith(
        "error: --address: no Ray cluster answers"
    )
    assert done.stderr.count("\n") == 1 and not out.exists()


def test_address_auto_without_a_cluster_fails_in_bounded_time(tmp_path):
    out = tmp_path / "runs"
    # 'auto' looks for any Ray on the machine: in a PID namespace of its own the command sees
    # none of the Rays that other tests run meanwhile.
    env = {"RAY_TMPDIR": str(tmp_path / "ray"), "RAY_ADDRESS": ""}
    done = subprocess.run(
        ["unshare", "--pid", "--fork", "--mount-proc", *sweep_command("--address", "auto", "--output-dir", str(out))],
        capture_output=True, text=True, timeout=HANG_BOUND_S, cwd=ROOT, env={**os.environ, **env},
    )  # fmt: skip
    assert done.returncode == 2 and done.stderr.startswith(
        "error: --address: 'auto' finds no running Ray"
    )
    assert done.stderr.count("\n") == 1 and not out.exists()


@pytest.mark.shared_ray
def test_a_second_sweep_on_the_same_run_is_refused_and_the_first_is_untouched(tmp_path):
    out = tmp_path / "runs"
    flags = ["--placements", "none", "--lrs", "0.05,0.1", "--seeds", "0", *TINY, "--output-dir", str(out), "--name", "same", "--no-report"]  # fmt: skip
    first = subprocess.Popen(sweep_command(*flags), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        wait_for(lambda: (out / "same" / "sweep_spec.json").exists(), 120, "the first sweep's spec")
        second = run_sweep(*flags)
        _, first_err = first.communicate(timeout=300)
    finally:
        first.kill()
    assert second.returncode == 2 and second.stderr.count("\n") == 1
    assert f"is in use by another sweep (pid {first.pid})" in second.stderr
    assert first.returncode == 0, first_err[-3000:]
    _, trials = load_frames(out / "same")
    assert len(trials) == 2 and (trials["status"] == "completed").all()
    assert (trials["attempts"] == 1).all()  # nobody ran the trials a second time


@pytest.mark.shared_ray
def test_a_lock_left_by_a_dead_process_does_not_block(tmp_path):
    out = tmp_path / "runs"
    (out / "stale").mkdir(parents=True)
    (out / "stale" / ".lock").write_text("999999999")  # a pid that cannot be alive
    done = run_sweep("--placements", "none", "--lrs", "0.05", "--seeds", "0", *TINY, "--output-dir", str(out), "--name", "stale", "--no-report")  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]


def _ray_children(process):
    try:
        return [p for p in psutil.Process(process.pid).children(recursive=True) if p.is_running()]
    except psutil.NoSuchProcess:
        return []


def test_ctrl_c_while_ray_starts_stops_ray_and_exits_130(tmp_path):
    out = tmp_path / "runs"
    driver = subprocess.Popen(
        sweep_command("--placements", "none", "--lrs", "0.05", "--seeds", "0", *TINY, "--output-dir", str(out), "--name", "early"),
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        # Ray's first processes exist: it is starting, no trial has run yet.
        children = wait_for(lambda: [p for p in _ray_children(driver) if "gcs_server" in " ".join(p.cmdline())], 120, "Ray's GCS")  # fmt: skip
        spawned = _ray_children(driver) + children
        driver.send_signal(signal.SIGINT)
        _, err = driver.communicate(timeout=HANG_BOUND_S)
    finally:
        driver.kill()
    assert driver.returncode == 130, err[-3000:]
    assert (
        "Traceback" not in err
        and "run again: python -m sweeps.bn_placement" in err.splitlines()[-1]
    )
    _, alive = psutil.wait_procs(spawned, timeout=30)
    assert not alive, [p.cmdline()[:2] for p in alive]
    assert not (out / "early").exists()  # nothing ran, so nothing is kept


@pytest.mark.parametrize(
    "signals", [[signal.SIGINT, signal.SIGINT], [signal.SIGTERM]], ids=["double Ctrl+C", "SIGTERM"]
)
def test_stopping_mid_run_exits_130_and_the_printed_command_resumes(tmp_path, signals):
    out = tmp_path / "runs"
    flags = ["--placements", "none", "--lrs", "0.01,0.02", "--seeds", "0", "--epochs", "3", "--subset", "55000,200", "--max-concurrent", "1", "--output-dir", str(out), "--name", "cc", "--no-report"]  # fmt: skip
    log = tmp_path / "progress.txt"
    driver = start_sweep(*flags, log=log)
    try:
        wait_for(lambda: progress_shows(log, r"epochs [1-5]/6 "), 180, "a trial's first epoch")
        for signum in signals:
            driver.send_signal(signum)
        _, err = driver.communicate(timeout=HANG_BOUND_S)
    finally:
        driver.kill()
    assert driver.returncode == 130, err[-3000:]
    last = err.strip().splitlines()[-1]
    assert (
        "Traceback" not in err and "continue with: python -m sweeps.bn_placement --resume" in last
    )
    printed = shlex.split(last.split("continue with: ", 1)[1])
    assert printed[:3] == ["python", "-m", "sweeps.bn_placement"]
    resumed = run_sweep(*printed[3:], env={"PYTHONWARNINGS": "ignore"})
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    history, trials = load_frames(out / "cc")
    assert len(trials) == 2 and (trials["status"] == "completed").all()
    for _, epochs in history.groupby("trial_id")["epoch"]:
        assert list(epochs) == [1, 2, 3]
    assert (
        out / "cc" / "report" / "index.html"
    ).exists()  # the stored --no-report is not a grid flag
