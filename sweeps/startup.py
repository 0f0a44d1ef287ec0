"""Starting Ray, bounded: a start that hangs (a memory cap, a cluster that never answers) or is
interrupted ends within seconds, with Ray's processes stopped and one line saying why; a start
that fails says what failed and how to fix it."""

from __future__ import annotations

import contextlib
import errno
import os
import sys
import textwrap
import threading
import time
from pathlib import Path

import psutil

POLL_S = 0.2
# What to undo before an abort's os._exit skips every `finally` (an empty run folder made for
# the lock); see `undo_on_abort`.
_undo: list = []


def kill_children(also=()) -> None:
    """Kill every process this one started (Ray's GCS, raylet, agents and workers), and the
    psutil processes `also` (ones that were its children, left by a parent that died)."""
    children = list({*psutil.Process().children(recursive=True), *also})
    for child in children:
        with contextlib.suppress(psutil.Error):
            child.kill()
    psutil.wait_procs(children, timeout=10)


def abort(code: int, message: str, also=()) -> None:
    """Say `message`, kill Ray's processes (`kill_children`) and end this process now with
    `code`: for a thread that finds the main thread stuck inside Ray."""
    with contextlib.suppress(OSError, ValueError):
        if sys.stdout.isatty():  # a live progress view may have hidden the cursor
            sys.stdout.write("\x1b[?25h")
            sys.stdout.flush()
    with contextlib.suppress(OSError):
        print(message, file=sys.stderr, flush=True)
    kill_children(also)
    for undo in reversed(_undo):
        with contextlib.suppress(Exception):
            undo()
    os._exit(code)  # the main thread is stuck inside ray.init; nothing of ours is half-written


@contextlib.contextmanager
def undo_on_abort(undo):
    """Within the block, call `undo()` too if a bounded start aborts the process."""
    _undo.append(undo)
    try:
        yield
    finally:
        _undo.remove(undo)


@contextlib.contextmanager
def bounded(limit_s: float, pressed: list, too_long: str, interrupted: str):
    """Run the block (a Ray start) at most `limit_s` seconds; a stop signal recorded in
    `pressed` meanwhile ends it at once. Either way Ray's processes are killed and the process
    exits with one line: 2 and `too_long`, or 130 and `interrupted`."""
    done = threading.Event()

    def watch() -> None:
        deadline = time.monotonic() + limit_s
        while not done.wait(POLL_S):
            if pressed:
                abort(130, interrupted)
            if time.monotonic() > deadline:
                abort(2, too_long)

    watcher = threading.Thread(target=watch, name="ray-start-watchdog", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()


def explain(err: Exception, joining: str | None = None) -> str:
    """Why Ray could not start (or, `joining` the cluster at that address, could not join it),
    in one line with the fix."""
    if joining and type(err).__name__ == "AuthenticationError":
        return (
            f"the Ray cluster at {joining} uses token authentication and this machine has no "
            "token for it (or another one): set RAY_AUTH_TOKEN to the head's token (`ray "
            "get-auth-token` on the head prints it) or copy the head's ~/.ray/auth_token here; "
            "see docs/cluster.md."
        )
    if isinstance(err, OSError) and err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        where = err.filename or "a folder Ray writes to"
        return (
            f"Ray could not start: {where!r} is not writable ({err.strerror}); Ray writes its "
            "session under $TMPDIR (or RAY_TMPDIR) and its token under $HOME/.ray: point them "
            "at writable folders."
        )
    if isinstance(err, OSError) and err.errno == errno.ENOTDIR:
        where = _file_in_the_way(err.filename) if err.filename else "a folder Ray writes to"
        return (
            f"Ray could not start: {where!r} is a file, not a folder; Ray writes its session "
            "under $TMPDIR (or RAY_TMPDIR) and its token under $HOME/.ray: point them at folders."
        )
    if isinstance(err, OSError) and err.errno == errno.ENOSPC:
        return (
            f"Ray could not start: no space left on the device of {err.filename or '$TMPDIR'!r}; "
            "free space or set RAY_TMPDIR to a folder on a device with room."
        )
    text = textwrap.shorten(" ".join(str(err).split()), 300, placeholder=" ...")
    doing = f"could not join the cluster at {joining}" if joining else "could not start"
    return f"Ray {doing} ({type(err).__name__}: {text}); run with --verbose for Ray's own log."


def _file_in_the_way(path: str) -> str:
    """The file that stands where `path` needs a folder: the nearest part of it that exists,
    if that is not a folder (else `path` itself)."""
    for part in Path(path).parents:
        if part.exists():
            return path if part.is_dir() else str(part)
    return path
