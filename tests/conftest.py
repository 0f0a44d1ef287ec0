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
