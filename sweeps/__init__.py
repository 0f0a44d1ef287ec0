"""sweeps: run the BN placement study with Ray Tune.

    python -m sweeps.bn_placement ...        # the command line
    study = sweeps.run(lrs=[0.01, 0.1], ...)  # the same from Python, returning a Study
    study = sweeps.load("runs/NAME")          # a finished or partial run (or s3://...)

`run`, `load` and `Study` load on first use (PEP 562), so that the command line's argument
checks do not import the statistics and plotting stack.
"""

import importlib

from sweeps.spec import SpecError, SweepSpec, parse_spec

_LAZY = {
    "run": "sweeps.api",
    "SweepError": "sweeps.api",
    "SweepStopped": "sweeps.api",
    "load": "reports.study",
    "Study": "reports.study",
}

__all__ = [
    "SpecError",
    "Study",
    "SweepError",
    "SweepSpec",
    "SweepStopped",
    "load",
    "parse_spec",
    "run",
]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'sweeps' has no attribute {name!r}")
