"""reports: read a stored sweep into tidy frames, compute statistics, draw and write the report.

Imports neither TensorFlow nor Ray: a report needs only the files a sweep wrote. The public
names load on first use (PEP 562), so that `reports.storage` alone, which the sweep's argument
checks use, does not pull in pandas' statistics and plotting stack.
"""

import importlib

_PUBLIC = {
    "export_frames": "reports.frames",
    "load_frames": "reports.frames",
    "write_report": "reports.html",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str):
    if name in _PUBLIC:
        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'reports' has no attribute {name!r}")
