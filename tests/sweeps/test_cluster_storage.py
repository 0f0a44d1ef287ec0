"""A two-node cluster whose second node does not share the output folder (its own mount
namespace, an empty tmpfs over the folder): the preflight refuses the folder before any trial,
and the same cluster runs the sweep on both nodes with an s3:// output."""

import shlex

import pytest

from reports import load_frames
from reports.storage import fetch_run
from tests.ray_cluster import Cluster
from tests.sweeps.conftest import TINY, run_sweep


@pytest.fixture
def split_cluster(tmp_path, s3_server):
    """Head node as usual; the second node sees an empty tmpfs where the head sees `runs`."""
    runs = tmp_path / "runs"
    runs.mkdir()
    cluster = Cluster(["--num-cpus=1", "--include-dashboard=false"])  # S3 credentials: os.environ

    def own_mount(argv):
        second = f"mount -t tmpfs tmpfs {shlex.quote(str(runs))} && exec {shlex.join(argv)}"
        return ["unshare", "--mount", "--propagation", "private", "sh", "-c", second]

    try:
        cluster.join("--num-cpus=1", wrap=own_mount)
        yield cluster, runs
    finally:
        cluster.stop()


@pytest.mark.cluster
def test_preflight_refuses_a_folder_one_node_cannot_see(split_cluster):
    cluster, runs = split_cluster
    done = run_sweep(
        "--address", cluster.address, "--placements", "none", "--lrs", "0.05", "--seeds", "0-1", *TINY,
        "--output-dir", str(runs), "--name", "local", env=cluster.driver_env, timeout=300,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr[-3000:]
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error: --output-dir: node ") and " (node " in last
    assert "does not see" in last and "an object-store URI such as s3://" in last
    assert list(runs.iterdir()) == []  # no trial started, nothing left behind


@pytest.mark.cluster
def test_the_same_cluster_runs_the_sweep_on_both_nodes_with_s3(split_cluster, s3_server, tmp_path):
    cluster, _ = split_cluster
    s3_server.filesystem().create_dir("cluster")
    done = run_sweep(
        "--address", cluster.address, "--placements", "none,after_activation", "--lrs", "0.05",
        "--seeds", "0-1", *TINY, "--output-dir", s3_server.uri("cluster/runs"), "--name", "both",
        "--report-dir", str(tmp_path / "report"), env=cluster.driver_env, timeout=400,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    _, trials = load_frames(fetch_run(s3_server.uri("cluster/runs/both"), tmp_path / "copy"))
    assert len(trials) == 4 and (trials["status"] == "completed").all()
    assert trials["node_id"].nunique() == 2
    assert (tmp_path / "report" / "index.html").exists()
