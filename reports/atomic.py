"""Write files whole or not at all: to a temporary name in the same folder, then rename."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `target`; on success it replaces `target` in one step.

    If the block raises, `target` is left as it was and the temporary file is removed.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_folder(target: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty folder beside `target`; on success it takes `target`'s place whole.

    The old folder is renamed away and the new one renamed in, with stop signals held for
    those two renames, so a reader (or an interrupted writer) sees the old folder or the new
    one, never a mix. If the block raises, `target` is left as it was.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    new = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.new-"))
    try:
        yield new
        old = target.parent / f".{target.name}.old-{os.getpid()}"
        with _signals_held():
            if target.exists():
                os.replace(target, old)
            os.replace(new, target)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(new, ignore_errors=True)


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Hold Ctrl+C and SIGTERM for a moment; they take effect after the block."""
    pressed = []
    stops = (signal.SIGINT, signal.SIGTERM)
    try:
        previous = {s: signal.signal(s, lambda *_: pressed.append(True)) for s in stops}
    except ValueError:  # not the main thread: nothing to hold
        yield
        return
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    if pressed:
        raise KeyboardInterrupt


def write_text(target: str | os.PathLike, text: str) -> None:
    """Replace `target` with `text` atomically."""
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")


def report_dir_problem(report: Path) -> str | None:
    """Why a report cannot be written into the folder `report` (--report-dir), or None."""
    if report.exists() and not report.is_dir():
        return f"--report-dir: {str(report)!r} is a file; move it away or choose another folder."
    existing = report
    while not existing.exists():
        if os.path.lexists(existing):  # there, but it leads nowhere
            return f"--report-dir: {str(existing)!r} is a broken symlink or a symlink loop."
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        return f"--report-dir: {str(existing)!r} is not writable (read-only filesystem or no permission)."
    return None
