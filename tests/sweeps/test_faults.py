"""Faults of the machine and its environment, made for real: full and read-only disks (tmpfs),
damaged checkpoints and Tune state, RAY_ADDRESS, a Ray that cannot start, signals at awkward
moments. Each ends in a few lines naming what failed and the command to continue, with an exit
code that says what happened, nothing recorded lost, and no process left behind."""

import contextlib
import json
import logging
import os
import shlex
import shutil
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import psutil
import pytest

from reports import load_frames
from sweeps import bn_placement, tune_progress
from sweeps.spec import SPEC_FILE, parse_spec
from tests.reports.helpers import write_run
from tests.sweeps.conftest import (
    ROOT,
    TINY,
    TRIAL_FOLDERS,
    progress_shows,
    result_rows,
    run_sweep,
    start_sweep,
    sweep_command,
    wait_for,
)

ONE = ["--placements", "none", "--lrs", "0.05", "--seeds", "0"]


@contextlib.contextmanager
def tmpfs(path: Path, size: str):
    """A small RAM filesystem mounted at `path` (root only; the test is skipped otherwise)."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)  # fmt: skip
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def _one_line(done, code: int) -> str:
    assert done.returncode == code, done.stderr[-3000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) <= 2, done.stderr[-3000:]
    return done.stderr


def test_a_disk_too_small_for_the_run_is_refused_before_anything_starts(tmp_path):
    with tmpfs(tmp_path / "small", "3m") as small:
        done = run_sweep(*ONE, *TINY, "--output-dir", str(small), "--name", "full")
        err = _one_line(done, 2)
        assert "--output-dir: 3 MB free on the device of" in err and "need about" in err
        assert list(small.iterdir()) == []


@pytest.mark.shared_ray
@pytest.mark.slow
def test_a_disk_that_fills_during_the_run_stops_it_whole_and_resume_finishes(tmp_path):
    with tmpfs(tmp_path / "disk", "80m") as disk:
        flags = [*ONE, "--seeds", "0-1", "--subset", "20000,200", "--epochs", "8",
                 "--checkpoint-seconds", "0", "--max-concurrent", "1", "--no-report",
                 "--output-dir", str(disk), "--name", "fill"]  # fmt: skip
        log = tmp_path / "progress.txt"
        driver = start_sweep(*flags, log=log)
        try:
            wait_for(lambda: any(r for d in (disk / "fill").glob(TRIAL_FOLDERS) for r in result_rows(d)), 240, "an epoch")  # fmt: skip
            filler = disk / "filler"
            free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
            filler.write_bytes(
                b"\0" * (free - 8 * 1024 * 1024)
            )  # 8 MB left: under what is kept free
            _, err = driver.communicate(timeout=300)
        finally:
            driver.kill()
        assert driver.returncode == 2, err[-3000:]
        assert "the disk holding" in err and "is nearly full" in err
        assert "continue with: python -m sweeps.bn_placement --resume --name fill" in err
        assert err.count("\n") <= 2 and "Traceback" not in err
        filler.unlink()
        resumed = run_sweep("--resume", "--name", "fill", "--output-dir", str(disk), "--no-report")  # fmt: skip
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        history, trials = load_frames(disk / "fill")
        assert list(trials["status"]) == ["completed", "completed"]  # no phantom damaged trial
        for _, epochs in history.groupby("trial_id")["epoch"]:
            assert list(epochs) == list(range(1, 9))


def _interrupted_run(tmp_path, *extra):
    """A one-trial run with a checkpoint every epoch, stopped by Ctrl+C once Tune has taken
    the third checkpoint as its latest (it deleted the first: two are kept)."""
    out, log = tmp_path / "runs", tmp_path / "progress.txt"
    flags = [*ONE, "--subset", "20000,200", "--epochs", "8", "--checkpoint-seconds", "0",
             "--no-report", "--output-dir", str(out), "--name", "r", *extra]  # fmt: skip
    driver = start_sweep(*flags, log=log)
    try:
        trial = wait_for(lambda: next((out / "r").glob(TRIAL_FOLDERS), None), 240, "the trial")
        wait_for(lambda: (trial / "checkpoint_000001").exists(), 240, "two checkpoints")
        wait_for(lambda: not (trial / "checkpoint_000000").exists(), 240, "a third checkpoint")
        driver.send_signal(signal.SIGINT)
        _, err = driver.communicate(timeout=120)
    finally:
        driver.kill()
    assert driver.returncode == 130, err[-3000:]
    return out, trial


@pytest.mark.shared_ray
@pytest.mark.slow
def test_a_damaged_newest_checkpoint_falls_back_to_the_older_one(tmp_path):
    out, trial = _interrupted_run(tmp_path)
    # Tune's latest checkpoint is the newest folder, or the one before it when Ctrl+C came
    # between the worker writing the newest and the driver taking it: damage all but the oldest.
    oldest, *damaged = sorted(trial.glob("checkpoint_*"))
    # Read now: the resumed trial's own checkpoints push the oldest out (two are kept).
    epoch = json.loads((oldest / "state.json").read_text())["epoch"]
    for folder in damaged:
        for file in folder.iterdir():
            file.write_bytes(b"garbage")
    resumed = run_sweep("--resume", "--name", "r", "--output-dir", str(out), "--no-report")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert resumed.stderr.startswith("warning: damaged checkpoint ")
    assert any(str(folder) in resumed.stderr for folder in damaged)
    assert f"the trial went on from epoch {epoch}" in resumed.stderr
    assert resumed.stderr.count("\n") == 1
    history, trials = load_frames(out / "r")
    assert list(history["epoch"]) == list(range(1, 9)) and list(trials["status"]) == ["completed"]


@pytest.mark.shared_ray
@pytest.mark.slow
@pytest.mark.parametrize("damage", ["tuner.pkl deleted", "experiment state cut"])
def test_damaged_tune_state_is_refused_in_one_line_not_restarted(tmp_path, damage):
    out, _ = _interrupted_run(tmp_path)
    run = out / "r"
    if damage == "tuner.pkl deleted":
        (run / "tuner.pkl").unlink()
    else:
        state = sorted(run.glob("experiment_state-*.json"))[-1]
        state.write_text(state.read_text()[:40])
    before = sorted(p.name for p in run.iterdir())
    resumed = run_sweep("--resume", "--name", "r", "--output-dir", str(out), "--no-report")
    err = _one_line(resumed, 2)
    assert "Tune's state in" in err and ("is missing (tuner.pkl)" in err or "is damaged" in err)
    assert sorted(p.name for p in run.iterdir()) == before  # nothing started over beside it


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("127.0.0.1:1", "error: RAY_ADDRESS: no Ray cluster answers at 127.0.0.1:1"),
        ("garbage", "error: RAY_ADDRESS: 'garbage' is not 'auto' or HOST:PORT"),
    ],
)
def test_ray_address_in_the_environment_joins_that_cluster_with_the_same_checks(tmp_path, value, message):  # fmt: skip
    done = run_sweep(
        *ONE, *TINY, "--output-dir", str(tmp_path / "runs"), env={"RAY_ADDRESS": value}
    )
    assert _one_line(done, 2).startswith(message)
    assert not (tmp_path / "runs").exists()


def test_a_read_only_home_stops_ray_in_one_line(tmp_path):
    """Ray's token authentication writes $HOME/.ray/auth_token."""
    with tmpfs(tmp_path / "home", "1m") as home:
        subprocess.run(["mount", "-o", "remount,ro", str(home)], check=True)
        done = run_sweep(
            *ONE, *TINY, "--output-dir", str(tmp_path / "runs"), env={"HOME": str(home)}
        )
    err = _one_line(done, 2)
    assert "Ray could not start" in err and "not writable" in err and str(home) in err
    assert "Traceback" not in err


def test_warnings_made_errors_for_the_user_s_code_do_not_stop_ray_s_own_processes(tmp_path):
    """PYTHONWARNINGS=error used to kill Ray's dashboard at import and time its start out."""
    out = tmp_path / "runs"
    done = run_sweep(*ONE, *TINY, "--output-dir", str(out), "--name", "w", "--no-report", env={"PYTHONWARNINGS": "error"})  # fmt: skip
    assert done.returncode == 0 and done.stderr == "", done.stderr[-3000:]
    _, trials = load_frames(out / "w")
    assert (trials["status"] == "completed").all()


def _ray_processes() -> list[str]:
    names = []
    for process in psutil.process_iter(["name", "cmdline"]):
        with contextlib.suppress(psutil.Error):
            line = " ".join(process.info["cmdline"] or [])
            if "raylet" in line or "gcs_server" in line or "ray::" in (process.info["name"] or ""):
                names.append(line[:80])
    return names


@pytest.mark.slow
def test_ctrl_c_while_ray_starts_under_a_memory_cap_ends_at_once_leaving_nothing(tmp_path):
    """Under `ulimit -v` Ray's start never ends; Ctrl+C must stop it, not wait for it."""
    marker = f"bnlab-{uuid.uuid4().hex[:8]}"
    command = " ".join(sweep_command(*ONE, *TINY, "--output-dir", str(tmp_path / "runs"), "--name", marker))  # fmt: skip
    driver = subprocess.Popen(
        ["bash", "-c", f"ulimit -v 8000000 && exec {command}"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        wait_for(lambda: psutil.Process(driver.pid).children(recursive=True), 120, "Ray's first process")  # fmt: skip
        children = psutil.Process(driver.pid).children(recursive=True)
        driver.send_signal(signal.SIGINT)
        _, err = driver.communicate(timeout=60)
    finally:
        driver.kill()
    assert driver.returncode == 130, err[-3000:]
    assert err.startswith("interrupted while Ray was starting; its processes were stopped")
    assert not [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]


@pytest.mark.shared_ray
@pytest.mark.slow
@pytest.mark.parametrize("fault", ["made read-only", "removed", "spec deleted"])
def test_output_made_read_only_or_removed_mid_run_ends_in_one_line_not_interrupted(tmp_path, fault):
    with tmpfs(tmp_path / "disk", "80m") as disk:
        flags = [*ONE, "--seeds", "0-1", "--subset", "20000,200", "--epochs", "8",
                 "--max-concurrent", "1", "--output-dir", str(disk), "--name", "ro"]  # fmt: skip
        driver = start_sweep(*flags, log=tmp_path / "progress.txt")
        try:
            wait_for(lambda: any(r for d in (disk / "ro").glob(TRIAL_FOLDERS) for r in result_rows(d)), 240, "an epoch")  # fmt: skip
            if fault == "removed":
                shutil.rmtree(disk / "ro")
            elif fault == "spec deleted":
                (disk / "ro" / SPEC_FILE).unlink()
            else:
                subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
            _, err = driver.communicate(timeout=300)
            if fault == "removed":  # what Tune made again is gone: the printed command works
                assert not (disk / "ro").exists()
                again = shlex.split(err.split("Start it again: ", 1)[1])
                retry = subprocess.run([sys.executable, *again[1:], "--dry-run"], capture_output=True, text=True, cwd=ROOT)  # fmt: skip
                assert retry.returncode == 0, retry.stderr
            if fault == "spec deleted":  # the folder and its results stay
                assert list((disk / "ro").glob(TRIAL_FOLDERS))
        finally:
            driver.kill()
    assert driver.returncode == 2, err[-3000:]
    if fault == "removed":
        assert "was removed while the sweep ran; nothing of it is left" in err and "Start it again: python -m" in err  # fmt: skip
    elif fault == "spec deleted":
        assert "sweep_spec.json' was deleted while the sweep ran; the results are kept" in err
    else:
        assert "became read-only while the sweep ran" in err and "continue with:" in err
    assert err.count("\n") <= 2 and "Traceback" not in err


@pytest.mark.slow
@pytest.mark.parametrize("stop", [signal.SIGHUP, signal.SIGINT], ids=["terminal closed", "ctrl+c at the end"])  # fmt: skip
def test_a_stop_signal_at_an_awkward_moment_says_how_to_continue(tmp_path, stop):
    out, log = tmp_path / "runs", tmp_path / "progress.txt"
    flags = [*ONE, *TINY, "--output-dir", str(out), "--name", "s"]
    driver = start_sweep(*flags, log=log)
    try:
        if stop == signal.SIGHUP:  # mid-run
            wait_for(lambda: progress_shows(log, r"1 running"), 240, "the trial running")
        else:  # its last progress line is out: the results are read and the report written
            wait_for(lambda: progress_shows(log, r"trials 1/1 done"), 240, "the end")
        driver.send_signal(stop)
        _, err = driver.communicate(timeout=120)
    finally:
        driver.kill()
    # At the end the press lands while Ray stops or the report is written (seconds, both).
    assert driver.returncode == 130, err[-3000:]
    assert "--resume --name s" in err and err.count("\n") <= 2
    if stop == signal.SIGHUP:  # once the sweep stopped, nothing is running any more
        assert "running" not in log.read_text().split("report: ")[-1]


def test_after_the_sweep_stopped_no_trial_is_called_running(tmp_path):
    write_run(tmp_path, {("none", 0.1): [0.8, 0.81]})
    trial = sorted(p for p in tmp_path.iterdir() if (p / "result.json").exists())[0]
    rows = (trial / "result.json").read_text().splitlines()
    (trial / "result.json").write_text(rows[0] + "\n")  # its final report never came
    _, trials = load_frames(tmp_path)
    assert (bn_placement._stopped(trials)["status"] == "interrupted").sum() == 1


def test_tune_s_own_stop_message_counts_as_a_press():
    """Tune's Ctrl+C handler stays installed until its run returns; a press it takes after its
    loop ended changes nothing in its results, so its message is what tells the command."""
    tune_progress.pressed = False
    message = "Stop signal received (e.g. via SIGINT/Ctrl+C), ending Ray Tune run."
    record = logging.LogRecord("ray.tune.tune", logging.WARNING, "", 0, message, None, None)
    assert tune_progress._NotesInterruption().filter(record) and tune_progress.pressed


def test_a_press_as_the_last_trial_ended_exits_130_with_the_results_kept(run_copy, capsys):
    spec = parse_spec(["--resume", "--name", run_copy.name, "--output-dir", str(run_copy.parent), "--no-report", "--quiet"])  # fmt: skip
    assert bn_placement._summarize(spec, run_copy, 1.0, True, pressed=True) == 130
    err = capsys.readouterr().err
    assert err.startswith("interrupted as the last trial ended; every trial's results are kept")
    assert f"--resume --name {run_copy.name}" in err
    assert bn_placement._summarize(spec, run_copy, 1.0, True, pressed=False) == 0


@pytest.mark.slow  # embedded: a long-lived cluster keeps a staged copy of result.json
def test_a_finished_trial_whose_results_were_cut_is_an_error_on_resume_not_an_interruption(tmp_path):  # fmt: skip
    out = tmp_path / "runs"
    flags = [*ONE, *TINY, "--seeds", "0-1", "--no-report", "--output-dir", str(out), "--name", "d"]
    assert run_sweep(*flags).returncode == 0
    damaged = sorted((out / "d").glob(TRIAL_FOLDERS))[0] / "result.json"
    damaged.write_bytes(damaged.read_bytes()[:-40])
    resumed = run_sweep("--resume", "--name", "d", "--output-dir", str(out), "--no-report")
    err = _one_line(resumed, 1)
    assert "1 of 2 trials ended but their results are damaged" in err
    assert damaged.parent.name.split("_", 1)[1] in err


@pytest.mark.shared_ray
@pytest.mark.slow
def test_a_report_that_does_not_fit_its_folder_keeps_the_results_and_says_how_to_retry(tmp_path):
    out = tmp_path / "runs"
    with tmpfs(tmp_path / "small", "100k") as small:
        report = small / "report"
        done = run_sweep(*ONE, *TINY, "--output-dir", str(out), "--name", "f", "--report-dir", str(report))  # fmt: skip
        leftovers = list(small.iterdir())
    err = _one_line(done, 1)
    assert (
        err.startswith("error: the report failed (OSError: ") and "No space left on device" in err
    )
    assert f"retry with: python -m reports {out / 'f'} --report-dir {report}" in err
    assert leftovers == []  # the half-written report folder was removed
    _, trials = load_frames(out / "f")
    assert list(trials["status"]) == ["completed"]


def _alive(processes) -> list:
    alive = []
    for process in processes:
        with contextlib.suppress(psutil.Error):
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                alive.append(process)
    return alive


@pytest.mark.slow  # embedded: its own raylet is the one killed
def test_the_raylet_killed_mid_run_ends_in_one_line_and_resume_finishes(tmp_path):
    """As the out-of-memory killer would: Ray alone printed its log's tail and ended later."""
    out, log = tmp_path / "runs", tmp_path / "progress.txt"
    flags = [*ONE, "--seeds", "0-1", "--subset", "5000,100", "--epochs", "5", "--no-report",
             "--output-dir", str(out), "--name", "oom"]  # fmt: skip
    driver = start_sweep(*flags, log=log)
    try:
        wait_for(lambda: progress_shows(log, r"\d running"), 240, "a trial running")
        children = psutil.Process(driver.pid).children(recursive=True)
        (raylet,) = [c for c in children if c.name() == "raylet"]
        raylet.kill()
        _, err = driver.communicate(timeout=120)
    finally:
        driver.kill()
    assert driver.returncode == 2, err[-3000:]
    assert err.startswith(f"error: Ray's raylet (pid {raylet.pid}) ended during the sweep (killed by SIGKILL")  # fmt: skip
    assert "Continue with: python -m sweeps.bn_placement --resume --name oom" in err
    assert err.count("\n") == 1 and "Raylet is terminated" not in log.read_text()
    assert not _alive(children)
    resumed = run_sweep("--resume", "--name", "oom", "--output-dir", str(out), "--no-report")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    history, trials = load_frames(out / "oom")
    assert list(trials["status"]) == ["completed"] * 2
    assert sorted(history["epoch"]) == sorted(list(range(1, 6)) * 2)


@pytest.mark.slow  # embedded: the Ray processes a killed driver leaves are the subject
def test_a_driver_killed_with_sigkill_leaves_no_ray_process_and_says_how_to_continue(tmp_path):
    """Ray's agents alone outlived the driver by a minute, listening on ports."""
    out, log = tmp_path / "runs", tmp_path / "progress.txt"
    flags = [*ONE, "--subset", "5000,100", "--epochs", "5", "--no-report",
             "--output-dir", str(out), "--name", "k9"]  # fmt: skip
    driver = start_sweep(*flags, log=log)
    try:
        wait_for(lambda: progress_shows(log, r"1 running"), 240, "the trial running")
        children = psutil.Process(driver.pid).children(recursive=True)
        assert any("Agent" in c.name() for c in children)
        driver.send_signal(signal.SIGKILL)
        _, err = driver.communicate(timeout=60)  # the reaper holds its stderr until it is done
    finally:
        driver.kill()
    assert driver.returncode == -signal.SIGKILL
    assert err.startswith("error: the sweep's process ended abruptly (killed, or ended by Ray")
    assert "the Ray processes it left were stopped" in err
    assert err.count("\n") == 1 and "--resume --name k9" in err
    # Ray's workers end on their own once the raylet is gone; its agents waited a minute.
    wait_for(lambda: not _alive(children), 30, "the Ray processes to end")


@pytest.mark.slow  # embedded: the signal reaches its Ray's processes too
def test_sigterm_to_the_whole_process_group_is_an_interruption_not_a_ray_failure(tmp_path):
    """As `timeout` or a batch scheduler stops a job: Ray's GCS and raylet get it as well."""
    out, log = tmp_path / "runs", tmp_path / "progress.txt"
    flags = [*ONE, "--subset", "5000,100", "--epochs", "5", "--no-report",
             "--output-dir", str(out), "--name", "group", "--progress-seconds", "1"]  # fmt: skip
    with open(log, "w") as stdout:
        driver = subprocess.Popen(sweep_command(*flags), cwd=ROOT, stdout=stdout, stderr=subprocess.PIPE, text=True, start_new_session=True)  # fmt: skip
    try:
        wait_for(lambda: progress_shows(log, r"1 running"), 240, "the trial running")
        children = psutil.Process(driver.pid).children(recursive=True)
        os.killpg(driver.pid, signal.SIGTERM)
        _, err = driver.communicate(timeout=120)
    finally:
        driver.kill()
    assert driver.returncode == 130, err[-3000:]
    assert "continue with: python -m sweeps.bn_placement --resume --name group" in err
    assert "Traceback" not in err and "raylet" not in err
    wait_for(lambda: not _alive(children), 30, "the Ray processes to end")
