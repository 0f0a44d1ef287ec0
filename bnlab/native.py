"""TensorFlow's start-up, quietly.

Importing TensorFlow writes notes to file descriptor 2 (oneDNN is on, no CUDA drivers were
found) before its logging can be configured, so `TF_CPP_MIN_LOG_LEVEL` cannot hold them back. A
terminal shows them as noise, and a Jupyter kernel as red stderr in the first cell that trains.
They are kept off stderr while TensorFlow and Keras load; an import that fails still raises.
"""

from __future__ import annotations

import contextlib
import os
import sys


@contextlib.contextmanager
def quiet_native_stderr():
    """TensorFlow's C++ start-up notes (oneDNN, CUDA not found) go to file descriptor 2 before
    its logging can be configured; keep them off the user's terminal while Keras loads."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
