"""Shared fixtures: the real dataset (Debian package or BNLAB_DATA_DIR), loaded once."""

import pytest

from bnlab import load_fashion_mnist


@pytest.fixture(scope="session")
def fmnist():
    return load_fashion_mnist(download=False)
