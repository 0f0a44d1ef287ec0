"""The run folder: can it be written, what it already holds, and one sweep at a time in it."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from reports import storage
from reports.storage import SETTLE_FILE
from sweeps import startup
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


# Below the run folder Tune adds a trial folder (up to ~100 characters), a checkpoint folder and
# file names: room the run folder's own path must leave under the system's limit.
TRIAL_PATH_ROOM = 300


def check_path_length(run_dir: Path) -> None:
    """Refuse a run folder whose trials' paths would pass the system's path length limits."""
    name_limit = os.pathconf("/", "PC_NAME_MAX")
    long_names = [part for part in run_dir.parts if len(part) > name_limit]
    if long_names:
        raise SpecError(
            f"--output-dir: {long_names[0][:20]!r}... is a folder name of {len(long_names[0])} "
            f"characters; this system allows {name_limit}."
        )
    try:
        resolved = run_dir.resolve()
    except (RuntimeError, OSError) as err:  # a symlink loop
        raise SpecError(
            f"--output-dir: {str(run_dir.parent)!r} cannot be resolved ({err})."
        ) from None
    limit = os.pathconf("/", "PC_PATH_MAX")
    if len(str(resolved)) + TRIAL_PATH_ROOM > limit:
        raise SpecError(
            f"--output-dir: the run folder's path is {len(str(resolved))} characters; its trials' "
            f"paths would pass this system's limit of {limit}: choose a shorter --output-dir."
        )


def check_writable(output_dir: Path, run_dir: Path) -> None:
    """Refuse a run folder that cannot be created or written, before anything is written."""
    check_path_length(run_dir)
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


# A trial's folder ends in Tune's trial id: 'mlp-none-relu-lr0.1-s0_5e3c0_00024' (and the
# 'run_trial_5e3c0_00024_...' of earlier runs).
_TRIAL_FOLDER = re.compile(r".*_[0-9a-f]{5}_\d{5}(_.*)?")
_LOOK_FOLDER = re.compile(r"look-\d+")


def check_tune_state(run: RunFolder, flag: str) -> None:
    """A run that holds trials must hold Tune's state (`tuner.pkl`, an experiment state JSON
    that parses) to continue them: a resume without it would start them over beside the old.

    Raises:
        SpecError: What is missing or damaged, and what can be done.
    """
    for location in _experiments(run.location):
        names = storage.list_names(location)
        trials = [n for n in names if _TRIAL_FOLDER.fullmatch(n)]
        if not trials:
            continue
        states = sorted(n for n in names if n.startswith("experiment_state-") and n.endswith(".json"))  # fmt: skip
        missing = ([] if "tuner.pkl" in names else ["tuner.pkl"]) + (
            [] if states else ["experiment_state-*.json"]
        )
        problem = f"is missing ({', '.join(missing)})" if missing else ""
        if not problem:
            try:
                json.loads(storage.read_text(storage.join(location, states[-1])) or "")
            except (json.JSONDecodeError, storage.StorageError) as err:
                problem = f"is damaged ({states[-1]}: {err})"
        if problem:
            raise SpecError(
                f"{flag}: Tune's state in {location!r} {problem}, so its {len(trials)} trials "
                "cannot be continued; their results can still be reported (python -m reports "
                f"{run.location}); start a new run with another --name."
            )
    _check_settle_record(run, flag)


def _check_settle_record(run: RunFolder, flag: str) -> None:
    """A settling run's record of its looks must parse: its decisions are never recomputed."""
    location = storage.join(run.location, SETTLE_FILE)
    try:
        text = storage.read_text(location)
        if text is None:  # a fixed run, or a settling run before its first look was planned
            looks = _experiments(run.location)[1:]
            if looks:  # its looks were planned from decisions that are gone with it
                raise SpecError(
                    f"{flag}: {location!r} is missing though the run has {len(looks)} looks, so "
                    "they cannot be continued; its results can still be reported (python -m "
                    f"reports {run.location}); start a new run with another --name."
                )
            return
        state = json.loads(text)
    except (json.JSONDecodeError, storage.StorageError):
        state = None
    if not (isinstance(state, dict) and isinstance(state.get("looks"), list)):
        raise SpecError(
            f"{flag}: {location!r} is damaged, so the looks of this settling run cannot be "
            f"continued; its results can still be reported (python -m reports {run.location}); "
            "start a new run with another --name."
        )


def _experiments(location: str) -> list[str]:
    """The Tune experiments of a run: the grid in its own folder, a settling run's looks."""
    looks = [n for n in storage.list_names(location) if _LOOK_FOLDER.fullmatch(n)]
    return [location, *(storage.join(location, n) for n in looks)]


def folder_identity(path: Path) -> tuple[int, int] | None:
    """The folder's device and inode: a folder removed and made again is another folder."""
    try:
        found = os.stat(path)
    except OSError:
        return None
    return found.st_dev, found.st_ino


# What Tune writes into a run folder besides trial and look folders (and our lock note).
_TUNE_FILES = (".validate_storage_marker", "tuner.pkl", LOCK_FILE)
_TUNE_PREFIXES = ("experiment_state-", "basic-variant-state-", "search_gen_state-")


def remove_remade(run_dir: Path, identity: tuple[int, int] | None) -> bool:
    """After the run folder was removed mid-run, remove what Tune wrote into the folder it then
    made again (a folder other than `identity`, the one the sweep started in): trial and look
    folders and Tune's state, nothing else. True when nothing is left at `run_dir`."""
    now = folder_identity(run_dir)
    if now is None:
        return True
    if now == identity:
        return False
    for entry in list(run_dir.iterdir()):
        if entry.is_dir() and (_TRIAL_FOLDER.fullmatch(entry.name) or _LOOK_FOLDER.fullmatch(entry.name)):  # fmt: skip
            shutil.rmtree(entry, ignore_errors=True)
        elif entry.is_file() and (entry.name in _TUNE_FILES or entry.name.startswith(_TUNE_PREFIXES)):  # fmt: skip
            entry.unlink(missing_ok=True)
    try:
        run_dir.rmdir()
    except OSError:  # something else is in it now: left as it is
        return False
    return True


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

    The lock is `flock` on the folder itself: the kernel drops it when the holding process
    dies, so a crashed sweep never blocks the next one, and no file can be deleted to get
    around it. `run_dir/.lock` names the holder's pid for the message. Folders this call
    created are removed again on the way out if nothing but the lock file was written into
    them.

    Raises:
        SpecError: If another live process holds the folder.
    """
    created = []

    def forget() -> None:
        if created and not holds_a_sweep(run_dir):
            shutil.rmtree(created[-1], ignore_errors=True)

    folder = run_dir
    while not folder.exists():
        created.append(folder)
        folder = folder.parent
    run_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(run_dir, os.O_RDONLY)
    try:
        _lock(fd, run_dir, fcntl.LOCK_EX)
        with contextlib.suppress(OSError):  # the note is for people; the flock is the lock
            (run_dir / LOCK_FILE).write_text(str(os.getpid()))
        with startup.undo_on_abort(forget):
            yield
    finally:
        forget()
        os.close(fd)


def refuse_if_in_use(run_dir: Path) -> None:
    """Refuse at once a run folder that a live sweep holds (`run_lock`), before its state,
    which that sweep is writing, is examined.

    Raises:
        SpecError: If another live process holds the folder.
    """
    try:
        fd = os.open(run_dir, os.O_RDONLY)
    except OSError:
        return  # not there (yet): nothing holds it
    try:
        _lock(fd, run_dir, fcntl.LOCK_SH)  # shared: two sweeps looking do not refuse each other
    finally:
        os.close(fd)  # closing drops the lock taken just to look


def _lock(fd: int, run_dir: Path, mode: int) -> None:
    try:
        fcntl.flock(fd, mode | fcntl.LOCK_NB)
    except OSError as err:
        if err.errno not in (errno.EAGAIN, errno.EACCES):
            raise
        raise SpecError(
            f"--name: run {run_dir.name!r} in {str(run_dir.parent)!r} is in use by another "
            f"sweep (pid {_holder(run_dir)}); wait for it to end, or choose another --name."
        ) from None


def _holder(run_dir: Path) -> str:
    try:
        return (run_dir / LOCK_FILE).read_text().strip()[:32] or "unknown"
    except OSError:
        return "unknown"
