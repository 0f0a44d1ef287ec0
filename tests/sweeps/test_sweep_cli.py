"""Real sweeps through the CLI: embedded Ray, a two-node local cluster, a logical GPU."""

import json

import pytest

from reports import load_frames
from sweeps.spec import SPEC_FILE
from tests.ray_cluster import Cluster
from tests.sweeps.conftest import TINY, TRIAL_FOLDERS, run_sweep


@pytest.mark.shared_ray
def test_tiny_sweep_with_a_divergent_lr(tmp_path):
    out = tmp_path / "runs"
    done = run_sweep(
        "--placements", "none,before_activation", "--lrs", "0.05,100", "--seeds", "0-1",
        "--preset", "seed",  # its `none` (LeakyReLU) reaches NaN at lr 100; ReLU's dies quietly
        *TINY, "--output-dir", str(out), "--name", "tiny", "--no-report",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    history, trials = load_frames(out / "tiny")
    assert len(trials) == 8
    assert set(trials["status"]) <= {"completed", "diverged"}
    assert (trials.loc[trials["lr"] == 0.05, "status"] == "completed").all()
    diverged = trials[(trials["lr"] == 100) & (trials["placement"] == "none")]
    assert (diverged["status"] == "diverged").all()
    completed = trials[trials["status"] == "completed"]
    for trial_id in completed["trial_id"]:
        assert list(history.loc[history["trial_id"] == trial_id, "epoch"]) == [1, 2]
    assert completed["test_accuracy"].notna().all() and (completed["cpus"] == 1).all()
    assert trials["node_id"].notna().all()
    stored = json.loads((out / "tiny" / SPEC_FILE).read_text())
    assert stored["lrs"] == [0.05, 100.0] and stored["command"].startswith("python -m sweeps")
    events = {p.parent.name: p for p in (out / "tiny").glob("*/events.out.tfevents.*")}
    assert len(events) == 8  # TensorBoard: a point per epoch, the last one from the final report
    for trial_id in trials["trial_id"]:
        steps = _tensorboard_steps(next(p for n, p in events.items() if n.endswith(trial_id)))
        assert len(steps) == (history["trial_id"] == trial_id).sum() > 0, (trial_id, steps)


def _tensorboard_steps(path) -> list[int]:
    """The steps at which a trial's event file holds its validation accuracy."""
    import tensorflow as tf

    return [
        event.step
        for event in tf.compat.v1.train.summary_iterator(str(path))
        for value in event.summary.value
        if value.tag.endswith("/val_accuracy")
    ]


@pytest.fixture
def two_node_cluster(tmp_path):
    """`ray start --head` plus a second node, each with 1 CPU, all on loopback."""
    cluster = Cluster(["--num-cpus=1", "--include-dashboard=false"])
    try:
        cluster.join("--num-cpus=1")
        yield cluster
    finally:
        cluster.stop()


@pytest.mark.cluster
def test_sweep_on_a_two_node_cluster_uses_both_nodes(two_node_cluster, tmp_path):
    out = tmp_path / "runs"
    done = run_sweep(
        "--address", two_node_cluster.address, "--placements", "none,after_activation",
        "--lrs", "0.05", "--seeds", "0-1", *TINY, "--output-dir", str(out), "--name", "c",
        "--no-report", env=two_node_cluster.driver_env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    _, trials = load_frames(out / "c")
    assert len(trials) == 4 and (trials["status"] == "completed").all()
    assert trials["node_id"].nunique() == 2


@pytest.mark.cluster
def test_an_arch_module_one_node_cannot_import_is_refused_naming_the_node(tmp_path, toy_npz):
    cluster = Cluster(["--num-cpus=1", "--include-dashboard=false"])
    try:
        cluster.join("--num-cpus=1", env={"BNLAB_TEST_NO_DEPENDENCY": "1"})
        out = tmp_path / "runs"
        done = run_sweep(
            "--address", cluster.address, "--data", str(toy_npz), "--arch-module",
            "tests.user_archs_fragile", "--archs", "fragile_cnn", *TINY, "--subset", "300,50",
            "--output-dir", str(out), env=cluster.driver_env, timeout=300,
        )  # fmt: skip
    finally:
        cluster.stop()
    assert done.returncode == 2, done.stderr[-3000:]
    line = done.stderr.strip()
    assert line.startswith("error: --arch-module: node ") and " (node " in line and "\n" not in line
    assert "cannot import 'tests.user_archs_fragile' (ImportError: No module named 'a_dependency_of_the_architectures')" in line  # fmt: skip
    assert not list(out.glob(f"*/{TRIAL_FOLDERS}"))


@pytest.mark.cluster
def test_more_cpus_than_any_node_is_refused_before_running(two_node_cluster, tmp_path):
    out = tmp_path / "runs"
    done = run_sweep(
        "--address", two_node_cluster.address, "--cpus-per-trial", "2", *TINY, "--output-dir", str(out),
        env=two_node_cluster.driver_env,
    )  # fmt: skip
    assert done.returncode == 2
    assert "--cpus-per-trial: 2 is more than the 1 CPUs of the largest node" in done.stderr
    assert not out.exists()


def test_fractional_logical_gpu_is_shared_by_two_trials(tmp_path):
    out = tmp_path / "runs"
    done = run_sweep(
        "--num-cpus", "2", "--num-gpus", "1", "--gpus-per-trial", "0.5",
        "--placements", "none", "--lrs", "0.05", "--seeds", "0-1", "--epochs", "3",
        # Enough work (seconds per trial) that the two trials overlap by far more than the
        # one-second resolution of Tune's timestamps.
        "--subset", "20000,500", "--output-dir", str(out), "--name", "g", "--no-report",
        "--verbose",  # Tune's table shows the logical GPU in use
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    _, trials = load_frames(out / "g")
    assert (trials["gpus"] == 0.5).all() and (trials["status"] == "completed").all()
    # Both trials held their half of the GPU at the same time: their report intervals overlap.
    spans = []
    for folder in sorted((out / "g").glob("*/result.json")):
        stamps = [json.loads(line)["timestamp"] for line in folder.read_text().splitlines()]
        spans.append((min(stamps), max(stamps)))
    (a_start, a_end), (b_start, b_end) = spans
    assert a_start <= b_end and b_start <= a_end
    assert "1.0/1 GPUs" in done.stdout or "1/1 GPUs" in done.stdout


@pytest.mark.cluster
def test_the_documented_head_joined_with_address_auto(tmp_path):
    """docs/cluster.md's head commands, in a shell whose HOME is empty, start a head that a
    sweep on that machine joins with `--address auto`, its token found in that HOME."""
    cluster = Cluster(["--num-cpus=1", "--include-dashboard=false"])
    try:
        out = tmp_path / "runs"
        done = run_sweep(
            "--address", "auto", "--placements", "none", "--lrs", "0.05", "--seeds", "0",
            *TINY, "--output-dir", str(out), "--name", "auto", "--no-report",
            env={"HOME": str(cluster.home), "RAY_TMPDIR": cluster.temp_dir, "RAY_AUTH_MODE": "token"},
        )  # fmt: skip
        elsewhere = tmp_path / "elsewhere"  # a machine without the head's token
        elsewhere.mkdir()
        refused = run_sweep(
            "--address", cluster.address, *TINY, "--output-dir", str(out), "--name", "no-token",
            env={"HOME": str(elsewhere), "RAY_AUTH_MODE": "token"}, timeout=120,
        )  # fmt: skip
    finally:
        cluster.stop()
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1, refused.stderr[-3000:]
    assert refused.stderr.startswith(f"error: the Ray cluster at {cluster.address} uses token authentication and this machine has no token")  # fmt: skip
    assert not (out / "no-token").exists()
    assert done.returncode == 0, done.stderr[-3000:]
    _, trials = load_frames(out / "auto")
    assert len(trials) == 1 and (trials["status"] == "completed").all()
