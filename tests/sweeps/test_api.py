"""The study from Python: sweeps.run has the command line's parameters, validation and results,
and a kernel interrupt leaves a resumable run and no Ray process."""

import json
import os
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

import sweeps
from sweeps.api import SweepError, to_argv
from tests.storage import CREDENTIALS
from tests.sweeps.conftest import ROOT, run_sweep

GRID = {"placements": "none,before_activation", "lrs": "0.05,0.2", "seeds": "0-1", "epochs": "1", "subset": "300,100"}  # fmt: skip


@pytest.mark.parametrize(
    ("params", "error", "message"),
    [
        ({"lrs": "abc"}, SweepError, "lrs: 'abc' is not a float in (0, 100]."),
        ({"lrs": [0.1, "x"]}, SweepError, "lrs: 'x' is not a float in (0, 100]."),
        ({"seeds": range(0)}, SweepError, "seeds: ''"),
        ({"norms": ["instance"]}, SweepError, "norms: The 'norm' parameter must be one of"),
        ({"groups": 7, "norms": ["group"]}, SweepError, "groups: 7 does not divide 300"),
        ({"max_seeds": 9}, SweepError, "max_seeds: it sets the budget of settle; add settle."),
        ({"output_dir": "/etc/passwd"}, SweepError, "output_dir: '/etc/passwd' is a file"),
        ({"bogus": 1}, TypeError, "sweeps.run() got an unexpected keyword 'bogus'"),
        ({"epochs": True}, TypeError, "The 'epochs' parameter takes a value, not a bool."),
        ({"settle": "yes"}, TypeError, "The 'settle' parameter must be a bool. Got 'yes'"),
        ({"lrs": {"a": 1}}, TypeError, "The 'lrs' parameter must be a str, a number or a list"),
    ],
)
def test_a_bad_argument_raises_one_exception_naming_it(params, error, message, tmp_path):
    params.setdefault("output_dir", str(tmp_path / "runs"))
    with pytest.raises(error) as raised:
        sweeps.run(**params)
    assert message in str(raised.value) and "\n" not in str(raised.value)
    assert not (tmp_path / "runs").exists()


def test_python_values_become_the_flags_text():
    argv = to_argv({"lrs": [0.001, 1], "seeds": range(3), "hidden": [(300, 100), (64,)],
                    "subset": (500, 100), "settle": True, "quiet": False, "name": None})  # fmt: skip
    assert argv == ["--lrs", "0.001,1", "--seeds", "0,1,2", "--hidden", "300x100,64",
                    "--subset", "500,100", "--settle"]  # fmt: skip


def test_numpy_pathlib_and_generator_values_are_taken_as_a_user_passes_them(tmp_path):
    argv = to_argv({"lrs": np.array([0.01, 0.1]), "seeds": (s for s in range(2)),
                    "epochs": np.int64(3), "subset": (np.int32(500), 100),
                    "batch_sizes": [np.uint16(32)], "margin": np.float32(0.3),
                    "output_dir": tmp_path / "runs", "quiet": np.bool_(True)})  # fmt: skip
    assert argv == ["--lrs", "0.01,0.1", "--seeds", "0,1", "--epochs", "3", "--subset",
                    "500,100", "--batch-sizes", "32", "--margin", "0.3", "--output-dir",
                    str(tmp_path / "runs"), "--quiet"]  # fmt: skip


def test_run_from_another_thread_is_refused_in_one_line(tmp_path):
    raised = []

    def call():
        try:
            sweeps.run(output_dir=str(tmp_path / "runs"))
        except RuntimeError as err:
            raised.append(str(err))

    worker = threading.Thread(target=call)
    worker.start()
    worker.join()
    assert raised and raised[0].startswith("sweeps.run() must be called from the main thread")
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow  # its own Ray, started by the caller: the subject
def test_run_uses_the_caller_s_own_ray_and_leaves_it_running(tmp_path):
    code = f"""
        import ray, sweeps
        ray.init(num_cpus=1, include_dashboard=False)
        study = sweeps.run(placements=["none"], lrs=[0.05], seeds=range(1), epochs=1,
                           subset=(300, 100), quiet=True, no_report=True,
                           output_dir={str(tmp_path / "runs")!r}, name="own")
        print(ray.is_initialized(), list(study.trials["status"]))
        ray.shutdown()
    """
    done = _python(code)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.splitlines()[-1] == "True ['completed']"


@pytest.mark.shared_ray
@pytest.mark.slow
def test_run_and_the_command_line_give_identical_comparisons(tmp_path):
    cli = run_sweep(*[a for k, v in GRID.items() for a in (f"--{k}", v)],
                    "--output-dir", str(tmp_path / "cli"), "--name", "same")  # fmt: skip
    assert cli.returncode == 0, cli.stderr[-3000:]
    code = f"""
        import sweeps
        study = sweeps.run(placements=["none", "before_activation"], lrs=[0.05, 0.2],
                           seeds=range(2), epochs=1, subset=(300, 100), quiet=True,
                           output_dir={str(tmp_path / "api")!r}, name="same")
        print(study.report_path)
        print(repr(study))
    """
    done = _python(code)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stderr == ""  # quiet and clean
    page, header, *lines = done.stdout.splitlines()
    assert page == str(tmp_path / "api" / "same" / "report" / "index.html")
    assert header.startswith(f"Study({str(tmp_path / 'api' / 'same')!r}): 8 trials")
    assert [line.split(" [")[0].split(":")[0] for line in lines] == ["  Placement", "  Learning rate", "  Largest stable lr"]  # fmt: skip
    for name in ("comparisons.csv", "verdicts.csv", "best_lr.csv"):
        assert (tmp_path / "api" / "same" / "report" / name).read_bytes() == (
            tmp_path / "cli" / "same" / "report" / name
        ).read_bytes()


def _python(code: str, timeout: int = 420) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True, text=True, timeout=timeout, cwd=ROOT,
        env={**os.environ, **CREDENTIALS},
    )  # fmt: skip


@pytest.mark.slow
def test_a_keyboard_interrupt_inside_run_stops_ray_and_resume_finishes(tmp_path):
    """SIGINT sent by the process to itself while `sweeps.run` trains, as a kernel interrupt."""
    code = f"""
        import json, os, signal, threading, time
        import psutil, sweeps
        from pathlib import Path
        out = Path({str(tmp_path / "runs")!r})
        def press():
            while not any(out.glob("k/*/result.json")):
                time.sleep(0.2)
            os.kill(os.getpid(), signal.SIGINT)
        threading.Thread(target=press, daemon=True).start()
        grid = dict(placements=["none"], lrs=[0.05], seeds=range(4), epochs=3,
                    subset=(20000, 100), max_concurrent=1, quiet=True, output_dir=str(out),
                    name="k", checkpoint_seconds=0)
        try:
            sweeps.run(**grid)
            interrupted = False
        except KeyboardInterrupt as err:
            interrupted, message = True, str(err)
        left = [p.name() for p in psutil.Process().children(recursive=True)]
        study = sweeps.run(name="k", output_dir=str(out), resume=True, quiet=True)
        epochs = study.history.groupby("trial_id")["epoch"].apply(list).tolist()
        print(json.dumps({{"interrupted": interrupted, "message": message, "left": left,
                          "epochs": epochs, "status": sorted(set(study.trials["status"]))}}))
    """
    done = _python(code)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["interrupted"]
    assert "sweeps.run(name='k', output_dir=" in result["message"] and "resume=True" in result["message"]  # fmt: skip
    assert result["left"] == []  # no Ray process behind
    assert result["status"] == ["completed"] and len(result["epochs"]) == 4
    assert all(epochs == [1, 2, 3] for epochs in result["epochs"])  # every epoch exactly once


@pytest.mark.slow  # embedded, as test_faults' twin for the command line
def test_a_run_whose_every_result_was_cut_raises_instead_of_returning_an_empty_study(tmp_path):
    out = tmp_path / "runs"
    code = f"""
        import glob, sweeps
        grid = dict(output_dir={str(out)!r}, name="c", quiet=True, no_report=True)
        sweeps.run(placements=["none"], lrs=[0.05], seeds=[0], epochs=2, subset=(500, 100), **grid)
        result = glob.glob({str(out / "c" / "mlp-*" / "result.json")!r})[0]
        with open(result, "rb") as f:
            kept = f.read()[:-40]
        with open(result, "wb") as f:
            f.write(kept)
        try:
            sweeps.run(resume=True, **grid)
        except sweeps.SweepStopped as err:
            print("SweepStopped:", err)
    """
    done = _python(code)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "1 of 1 trials ended but their results are damaged" in done.stderr
    assert done.stdout.splitlines()[-1] == (
        f"SweepStopped: the sweep ended without one trial's results (the lines above say why); "
        f"the run is in {out / 'c'}"
    )
