"""The run folder: can it be written, what it already holds, and one sweep at a time in it."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from reports import storage
from sweeps.values import SpecError

SPEC_FILE = "sweep_spec.json"
LOCK_FILE = ".lock"
MAX_NAME_LENGTH = 100  # Tune adds a long trial-folder name below it; paths must stay valid


def check_name(name: str) -> None:
    if len(name) > MAX_NAME_LENGTH:
        raise SpecError(
            f"--name: {name[:20]!r}... is {len(name)} characters; the most is {MAX_NAME_LENGTH}."
        )
    if not name[:1].isalnum() or not all(c.isalnum() or c in "._-" for c in name):
        raise SpecError(
            f"--name: {name!r} must be letters, digits, '.', '_' or '-', starting with a letter "
            "or digit."
        )


def check_writable(output_dir: Path, run_dir: Path) -> None:
    """Refuse a run folder that cannot be created or written, before anything is written."""
    if run_dir.exists() and not run_dir.is_dir():
        raise SpecError(
            f"--name: {str(run_dir)!r} exists and is a file; choose another --name or --output-dir."
        )
    existing = run_dir
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise SpecError(
            f"--output-dir: {str(output_dir)!r} cannot be created: {str(existing)!r} is a file."
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise SpecError(
            f"--output-dir: {str(existing)!r} is not writable (read-only filesystem or no "
            "permission); choose another --output-dir."
        )


@dataclass(frozen=True)
class RunFolder:
    """A run's folder: a local path, or a storage URI (s3://bucket/runs/NAME)."""

    location: str
    name: str

    def holds_a_sweep(self) -> bool:
        """Whether it holds anything but our lock file (a spec, trials, Tune's state)."""
        if not storage.is_uri(self.location):
            return holds_a_sweep(Path(self.location))
        try:
            return any(n != LOCK_FILE for n in storage.list_names(self.location))
        except storage.StorageError as err:
            raise SpecError(f"--output-dir: {err}.") from None


def read_stored_spec(run: RunFolder, flag: str = "--resume") -> dict:
    """The JSON object in the run's sweep_spec.json.

    Raises:
        SpecError: If it is missing, not JSON, or not an object (what is wrong, and the fix).
    """
    path = storage.join(run.location, SPEC_FILE)
    fix = "it cannot be resumed; start a new run with another --name"
    try:
        text = storage.read_text(path)
        if text is None:
            raise SpecError(
                f"{flag}: run {run.name!r} holds results but its {SPEC_FILE} is missing; {fix}."
            )
        stored = json.loads(text)
    except (storage.StorageError, json.JSONDecodeError) as err:
        raise SpecError(f"{flag}: {path!r} is damaged ({err}); {fix}.") from None
    if not isinstance(stored, dict):
        raise SpecError(f"{flag}: {str(path)!r} is damaged (not a JSON object); {fix}.")
    return stored


def holds_a_sweep(run_dir: Path) -> bool:
    """Whether the folder holds anything but our lock file (a spec, trials, Tune's state)."""
    return run_dir.is_dir() and any(p.name != LOCK_FILE for p in run_dir.iterdir())


def newest_run(output_dir: Path) -> str:
    runs = sorted(output_dir.glob(f"*/{SPEC_FILE}"), key=lambda p: p.stat().st_mtime)
    if not runs:
        raise SpecError(f"--resume: no run in {str(output_dir)!r} to resume; give --name.")
    return runs[-1].parent.name


@contextlib.contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """Hold `run_dir` for this sweep: a second sweep on it is refused with a `SpecError`.

    The lock is `flock` on `run_dir/.lock`: the kernel drops it when the holding process dies,
    so a crashed sweep never blocks the next one. Folders this call created are removed again
    on the way out if nothing but the lock file was written into them.

    Raises:
        SpecError: If another live process holds the folder.
    """
    created = []
    folder = run_dir
    while not folder.exists():
        created.append(folder)
        folder = folder.parent
    run_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(run_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            if err.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            raise SpecError(
                f"--name: run {run_dir.name!r} in {str(run_dir.parent)!r} is in use by another "
                f"sweep (pid {holder}); wait for it to end, or choose another --name."
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        if created and not holds_a_sweep(run_dir):
            shutil.rmtree(created[-1], ignore_errors=True)
        os.close(fd)
