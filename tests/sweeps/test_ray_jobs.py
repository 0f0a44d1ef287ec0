"""`ray job submit --working-dir . -- python -m sweeps.bn_placement ...` against a cluster made
with `ray start`, its dashboard and job server on 127.0.0.1."""

import os
import subprocess

import pytest

from reports import load_frames
from tests.ray_cluster import Cluster
from tests.storage import free_port
from tests.sweeps.conftest import ROOT, TINY, wait_for


@pytest.fixture
def job_server():
    dashboard = free_port()
    # The job agent's own port too: every Ray's agent takes 52365 by default, and another
    # test's Ray may hold it.
    cluster = Cluster(["--num-cpus=2", "--include-dashboard=true", "--dashboard-host=127.0.0.1",
                       f"--dashboard-port={dashboard}",
                       f"--dashboard-agent-listen-port={free_port()}"])  # fmt: skip
    try:
        yield f"http://127.0.0.1:{dashboard}", cluster.driver_env
    finally:
        cluster.stop()


def _submit(job_server, *flags):
    """Submit; again while the head's job agent is not up yet (Ray: "please try again later")."""

    server, driver_env = job_server

    def attempt():
        done = subprocess.run(
            ["ray", "job", "submit", "--address", server, "--working-dir", ".", "--",
             "python", "-m", "sweeps.bn_placement", "--address", "auto", *flags],
            cwd=ROOT, capture_output=True, text=True, timeout=600,
            env={**os.environ, **driver_env},
        )  # fmt: skip
        return None if "No available agent to submit job" in done.stderr else done

    return wait_for(attempt, 120, "the cluster's job agent")


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
