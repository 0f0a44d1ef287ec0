"""A worker node dies mid-sweep: its trial is retried on the head node from its last
checkpoint in the shared storage, and the reports record every epoch once."""

import os
import signal
import subprocess

import psutil
import pytest

from reports import load_frames
from tests.ray_cluster import Cluster
from tests.sweeps.conftest import ROOT, TRIAL_FOLDERS, result_rows, sweep_command, wait_for


@pytest.fixture
def cluster_with_a_second_node():
    """Head and a second node on loopback; yields the address and the second node's raylet."""
    cluster = Cluster(["--num-cpus=1", "--include-dashboard=false"])
    try:
        (head,) = cluster.raylets()
        cluster.join("--num-cpus=1")
        (second,) = [p for p in cluster.raylets() if p.pid != head.pid]
        yield cluster, second
    finally:
        cluster.stop()


def _trial_on(raylet, run):
    """The folder and first report of a trial whose worker runs under `raylet` and has reported
    an epoch."""
    for path in run.glob(f"{TRIAL_FOLDERS}/result.json"):
        rows = result_rows(path.parent)
        if rows and psutil.pid_exists(rows[0]["pid"]):
            parents = {p.pid for p in psutil.Process(rows[0]["pid"]).parents()}
            if raylet.pid in parents:
                return path.parent, rows[0]
    return None


@pytest.mark.cluster
def test_a_lost_node_s_trial_finishes_on_the_head_with_every_epoch_once(
    cluster_with_a_second_node, tmp_path
):
    cluster, raylet = cluster_with_a_second_node
    out = tmp_path / "runs"
    driver = subprocess.Popen(
        sweep_command(
            "--address", cluster.address, "--placements", "none", "--lrs", "0.05", "--seeds", "0-1",
            "--epochs", "6", "--subset", "55000,500", "--output-dir", str(out), "--name", "lost",
            "--no-report", "--checkpoint-seconds", "0",
        ),
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, **cluster.driver_env},
    )  # fmt: skip
    try:
        trial_dir, first = wait_for(
            lambda: _trial_on(raylet, out / "lost"), 180, "a trial on the second node"
        )
        raylet.send_signal(signal.SIGKILL)  # the node is gone
        _, err = driver.communicate(timeout=400)
    finally:
        driver.kill()
    assert driver.returncode == 0, err[-3000:]
    final = result_rows(trial_dir)[-1]
    assert final["final"] and final["node_id"] != first["node_id"]  # finished on the head
    history, trials = load_frames(out / "lost")
    assert len(trials) == 2 and (trials["status"] == "completed").all()
    lost = trials.set_index("trial_dir").loc[trial_dir.name, "trial_id"]
    assert list(history.loc[history["trial_id"] == lost, "epoch"]) == [1, 2, 3, 4, 5, 6]
