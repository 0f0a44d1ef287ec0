"""Write files whole or not at all: to a temporary name in the same folder, then rename.

What is written gets the permissions the process's umask allows, as a plain `open` would give
(the temporary names are private while they are written): a group or a web server that may
read the run folder may read its reports too.
"""

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
        os.chmod(tmp, 0o666 & ~umask())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def umask() -> int:
    """The process's umask, read without changing it where the system says it."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # elsewhere: read it by setting it, then put it back
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_folder(target: str | os.PathLike, replaceable=lambda folder: True) -> Iterator[Path]:
    """Yield an empty folder beside `target`; on success it takes `target`'s place whole.

    The old folder is renamed away and the new one renamed in, with stop signals held for
    those two renames, so a reader (or an interrupted writer) sees the old folder or the new
    one, never a mix. If the block raises, `target` is left as it was.

    Args:
        target: The folder to write.
        replaceable: Asked again just before an existing `target` is replaced (it may have
            changed since the caller checked it); it raises, or returns False to keep it.

    Raises:
        FileExistsError: If `replaceable` refused the existing `target`; it is left as it was.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    new = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.new-"))
    try:
        yield new
        os.chmod(new, 0o777 & ~umask())
        old = target.parent / f".{target.name}.old-{os.getpid()}"
        with _signals_held():
            if target.exists():
                if not replaceable(target):
                    raise FileExistsError(f"{str(target)!r} changed while the report was written; it was left as it was.")  # fmt: skip
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
