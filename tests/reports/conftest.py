"""One small real sweep, made once per test session by the sweep CLI, for the report tests."""

import shutil

import pytest

from tests.sweeps.conftest import run_sweep


@pytest.fixture(scope="session")
def stored_run(tmp_path_factory, shared_ray):
    out = tmp_path_factory.mktemp("runs")
    done = run_sweep(
        "--placements", "none,after_activation", "--lrs", "0.05,0.2", "--seeds", "0-2",
        "--epochs", "2", "--subset", "500,100", "--output-dir", str(out), "--name", "fixture",
        "--no-report", env={"RAY_ADDRESS": shared_ray},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return out / "fixture"


@pytest.fixture
def run_copy(stored_run, tmp_path):
    """A writable copy of the stored run, for tests that damage it."""
    return shutil.copytree(stored_run, tmp_path / "run")
