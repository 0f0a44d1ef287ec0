"""An --arch-module that imports only where its dependency is: on a node started with
BNLAB_TEST_NO_DEPENDENCY set, importing it fails, as on a machine that lacks a package."""

import os

import bnlab
from tests.user_archs import two_block_cnn

if os.environ.get("BNLAB_TEST_NO_DEPENDENCY"):
    raise ImportError("No module named 'a_dependency_of_the_architectures'")

bnlab.register_arch("fragile_cnn", two_block_cnn, replace=True)
