"""Standard output whose reader may go away (`| head`, a closed terminal under `tee`).

The work is in files by then; losing the reader must not turn a finished sweep or report into
a traceback or an error exit.
"""

from __future__ import annotations

import os
import sys


def drop_stdout() -> None:
    """Send standard output to /dev/null from now on: its reader has gone."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def say(*lines: str) -> None:
    """Print `lines` to standard output, or nothing once its reader has gone."""
    try:
        for line in lines:
            print(line)
        sys.stdout.flush()
    except BrokenPipeError:
        drop_stdout()
