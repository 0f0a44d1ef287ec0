"""Shared fixtures: the real dataset (Debian package or BNLAB_DATA_DIR), loaded once, and a
real S3-compatible server on 127.0.0.1."""

import pytest

from bnlab import load_fashion_mnist
from tests.storage import CREDENTIALS, start_s3_server


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


# Modules whose tests run sweeps on a real Ray (or a notebook that does): out of the fast lane.
RAY_MODULES = {
    "test_api", "test_cluster_storage", "test_fault_tolerance", "test_faults", "test_node_loss",
    "test_ray_jobs", "test_run_control", "test_settle", "test_storage_uri", "test_sweep_cli",
    "test_terminal", "test_variants", "test_notebook",
}  # fmt: skip
# Fixtures that make a sweep on a real Ray once per test process.
RAY_FIXTURES = {"stored_run", "run_copy", "s3_run"}


def pytest_collection_modifyitems(items):
    """Marks `ray` on the tests above. Under pytest-xdist (`--dist loadgroup`), the tests that
    start `ray start` clusters run one after another on one worker: each starts several Ray
    processes, and two at once on a small machine starve each other's start-up."""
    for item in items:
        if item.module.__name__.rpartition(".")[2] in RAY_MODULES or RAY_FIXTURES & set(
            item.fixturenames
        ):
            item.add_marker(pytest.mark.ray)
        if item.get_closest_marker("cluster"):
            item.add_marker(pytest.mark.xdist_group("ray-cluster"))
