"""Shared fixtures: the real dataset (Debian package or BNLAB_DATA_DIR), loaded once, a real
S3-compatible server on 127.0.0.1, one Ray cluster per test process and a small finished run.

The suite runs in a HOME of its own (`pytest_configure`), so nothing a developer's machine has
gathered (`~/.ray`, `~/.keras`, `~/.cache`, Jupyter's kernels) can hide a step a fresh machine
needs, and no test reads or writes the user's own files.
"""

import os
import secrets
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

from bnlab import load_fashion_mnist
from tests.storage import CREDENTIALS, start_s3_server
from tests.sweeps.conftest import run_sweep

# Set by the first pytest process (pytest-xdist's workers inherit it): the suite's own HOME.
TEST_HOME = "BNLAB_TEST_HOME"


def pytest_configure(config):
    """Give the suite an empty HOME with a Ray token in it, once for all test processes.

    Ray's embedded start writes its token to ~/.ray/auth_token when there is none; made here
    first, two test processes starting Ray at once cannot each write a different one.
    """
    if os.environ.get(TEST_HOME):
        return
    home = Path(tempfile.mkdtemp(prefix="bnlab-test-home-"))
    (home / ".ray").mkdir()
    token = home / ".ray" / "auth_token"
    token.write_text(secrets.token_hex(16))
    token.chmod(0o600)
    os.environ.update({TEST_HOME: str(home), "HOME": str(home)})
    config._bnlab_test_home = home


def pytest_unconfigure(config):
    home = getattr(config, "_bnlab_test_home", None)
    if home is not None:
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def fmnist():
    return load_fashion_mnist(download=False)


@pytest.fixture(scope="session")
def s3_server():
    """moto's S3 server, its own process on 127.0.0.1; the AWS variables point clients at it."""
    process, server = start_s3_server()
    patch = pytest.MonkeyPatch()
    for key, value in CREDENTIALS.items():
        patch.setenv(key, value)
    try:
        yield server
    finally:
        patch.undo()
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture(scope="session")
def shared_ray():
    """What a sweep needs to join one Ray cluster (`ray start`, docs/cluster.md) per test
    process: RAY_ADDRESS and the cluster's token. For sweeps whose subject is not Ray's own
    start or stop: each joins it instead of starting and stopping an embedded Ray (about 3 s of
    CPU and 4 s of wall each on 2 cores). One CPU: a sweep then runs one trial worker, which
    imports TensorFlow once (about 3 CPU-s), while the other test process keeps the second core
    busy."""
    from tests.ray_cluster import Cluster

    try:
        cluster = Cluster(["--num-cpus=1", "--include-dashboard=false"])
    except RuntimeError as err:  # said once, plainly, by every test that needs the cluster
        pytest.fail(f"the shared test cluster did not start, so no sweep test can run: {err}", pytrace=False)  # fmt: skip
    try:
        yield {"RAY_ADDRESS": cluster.address, **cluster.driver_env}
    finally:
        cluster.stop()


# One small real sweep, made once per test process by the sweep CLI: the report tests read
# it, and the sweep tests that need a finished run.
@pytest.fixture(scope="session")
def stored_run(tmp_path_factory, shared_ray):
    out = tmp_path_factory.mktemp("runs")
    done = run_sweep(
        "--placements", "none,after_activation", "--lrs", "0.05,0.2", "--seeds", "0-2",
        "--epochs", "2", "--subset", "500,100", "--output-dir", str(out), "--name", "fixture",
        "--no-report", env=shared_ray,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return out / "fixture"


@pytest.fixture
def run_copy(stored_run, tmp_path):
    """A writable copy of the stored run, for tests that damage it."""
    return shutil.copytree(stored_run, tmp_path / "run")


# Modules of the tests that register architectures when imported (as --arch-module does).
ARCH_MODULES = ("tests.user_archs", "tests.user_archs_fragile")


@pytest.fixture(autouse=True)
def _only_the_built_in_architectures():
    """A test that registers an architecture (or imports a module that does) leaves the
    registry as it found it: the next test in this process sees the built-in ones only."""
    yield
    from bnlab.architectures import ARCHS
    from bnlab.user_archs import BUILTIN

    for name in set(ARCHS) - BUILTIN:
        del ARCHS[name]
    for module in ARCH_MODULES:
        sys.modules.pop(module, None)


@pytest.fixture(autouse=True)
def _join_shared_ray(request):
    """Tests marked `shared_ray` run their sweeps on `shared_ray` (through RAY_ADDRESS and the
    cluster's token, as on a cluster node); the others start the embedded Ray the default
    command starts."""
    if request.node.get_closest_marker("shared_ray") is None:
        yield
        return
    with pytest.MonkeyPatch.context() as patch:
        for key, value in request.getfixturevalue("shared_ray").items():
            patch.setenv(key, value)
        yield


# Modules whose tests run sweeps on a real Ray (or a notebook that does): out of the fast lane.
RAY_MODULES = {
    "test_api", "test_cluster_storage", "test_fault_tolerance", "test_faults", "test_node_loss",
    "test_ray_jobs", "test_run_control", "test_settle", "test_storage_uri", "test_sweep_cli",
    "test_terminal", "test_variants", "test_notebook", "test_own_data",
}  # fmt: skip
# Fixtures that make a sweep on a real Ray once per test process.
RAY_FIXTURES = {"stored_run", "run_copy", "s3_run"}


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the xdist_group marks added here
def pytest_collection_modifyitems(items):
    """Marks `ray` on the tests above. Under pytest-xdist (`--dist loadgroup`), the tests that
    start `ray start` clusters run one after another on one worker: each starts several Ray
    processes, and two at once on a small machine starve each other's start-up.

    The cluster tests run first (one worker runs them all, one after another), then modules
    with `slow` tests, then those with `ray` tests (each module's tests stay together, so its
    fixtures are made once): quick tests then fill the gaps, instead of a long chain keeping
    one worker busy at the end while the other has nothing left."""
    slow_modules, ray_modules = set(), set()
    for item in items:
        uses_a_stored_run = bool(RAY_FIXTURES & set(item.fixturenames))
        if item.module.__name__.rpartition(".")[2] in RAY_MODULES or uses_a_stored_run:
            item.add_marker(pytest.mark.ray)
            ray_modules.add(item.module.__name__)
        if item.get_closest_marker("cluster"):
            item.add_marker(pytest.mark.xdist_group("ray-cluster"))
        elif uses_a_stored_run:  # the stored run is made once, not per worker
            item.add_marker(pytest.mark.xdist_group("stored-run"))
        elif item.module.__name__.endswith("test_settle"):  # its module-scoped straight run too
            item.add_marker(pytest.mark.xdist_group("settle"))
        if item.get_closest_marker("slow"):
            slow_modules.add(item.module.__name__)
    items.sort(
        key=lambda i: (
            i.get_closest_marker("cluster") is None,  # one worker's chain of clusters: longest
            i.module.__name__ not in slow_modules,
            i.module.__name__ not in ray_modules,
        )
    )


def write_toy_npz(path, n: int = 900, seed: int = 0) -> None:
    """A small 3-class problem on 8x8 uint8 images, as a user's .npz: each class a faint
    horizontal band in noise (hard enough that placements and learning rates differ)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    bands = np.zeros((3, 8, 8))
    for c in range(3):
        bands[c, 1 + 2 * c : 3 + 2 * c, :] = 1.0
    x = 90 + 45 * bands[y] + 40 * rng.normal(size=(n, 8, 8))
    x = np.clip(x, 0, 255).astype(np.uint8)
    split = 2 * n // 3
    np.savez(path, x_train=x[:split], y_train=y[:split], x_test=x[split:], y_test=y[split:])


@pytest.fixture(scope="session")
def toy_npz(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "toy.npz"
    write_toy_npz(path)
    return path
