"""`ray job submit --working-dir . -- python -m sweeps.bn_placement ...` against a cluster made
with `ray start`, its dashboard and job server on 127.0.0.1."""

import os
import subprocess

import pytest

from reports import load_frames
from tests.storage import free_port
from tests.sweeps.conftest import ROOT, TINY


@pytest.fixture
def job_server():
    port, dashboard = free_port(), free_port()
    env = {**os.environ, "RAY_AUTH_MODE": "token"}
    subprocess.run(
        ["ray", "start", "--head", f"--port={port}", "--include-dashboard=true",
         "--dashboard-host=127.0.0.1", f"--dashboard-port={dashboard}",
         "--node-ip-address=127.0.0.1", "--num-cpus=2", "--num-gpus=0", "--disable-usage-stats"],
        env=env, check=True, capture_output=True,
    )  # fmt: skip
    try:
        yield f"http://127.0.0.1:{dashboard}"
    finally:
        subprocess.run(["ray", "stop", "--force"], env=env, capture_output=True)


def _submit(server, *flags):
    return subprocess.run(
        ["ray", "job", "submit", "--address", server, "--working-dir", ".", "--",
         "python", "-m", "sweeps.bn_placement", "--address", "auto", *flags],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
        env={**os.environ, "RAY_AUTH_MODE": "token"},
    )  # fmt: skip


@pytest.mark.cluster
def test_a_sweep_submitted_as_a_ray_job(job_server, tmp_path):
    out = tmp_path / "runs"
    done = _submit(job_server, "--placements", "none", "--lrs", "0.05", "--seeds", "0-1", *TINY, "--output-dir", str(out), "--name", "job", "--no-report")  # fmt: skip
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert "succeeded" in done.stdout + done.stderr
    _, trials = load_frames(out / "job")
    assert len(trials) == 2 and (trials["status"] == "completed").all()


@pytest.mark.cluster
def test_a_bad_flag_fails_the_job_with_its_one_line(job_server, tmp_path):
    done = _submit(job_server, "--lrs", "abc", "--output-dir", str(tmp_path / "runs"))
    assert done.returncode != 0
    assert "error: --lrs: 'abc' is not a float in (0, 100]." in done.stdout + done.stderr
    assert not (tmp_path / "runs").exists()
