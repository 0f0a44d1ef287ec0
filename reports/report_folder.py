"""The report folder is replaced whole, so it must be one this tool made.

A report folder carries a marker file (`MARKER`) that lists every file the report wrote. A new
report may take the place of a folder that does not exist, an empty folder, or a folder whose
marker lists everything in it; any other folder is the user's and is refused with one line,
before anything is written. A run, the folder that holds it, and the current folder are never a
report folder, whatever they hold.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

MARKER = ".bnlab-report"
# Files that only a run holds (Tune's state): a folder with any of them is a run, never a report.
_RUN_PREFIXES = ("experiment_state-", "basic-variant-state-")


class ReportFolderError(ValueError):
    """The report cannot be written where asked; the message names the folder and the way out."""


def write_marker(folder: Path, files: list[str]) -> None:
    """Mark `folder` as a report that wrote `files` (names inside it)."""
    text = json.dumps({"made_by": "bnlab", "kind": "report", "files": sorted(files)}, indent=1)
    (folder / MARKER).write_text(text + "\n", encoding="utf-8")


def marked_files(folder: Path) -> set[str] | None:
    """The files a report wrote into `folder`, from its marker; None if it has no valid one."""
    try:
        marker = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(marker, dict) or marker.get("made_by") != "bnlab":
        return None
    files = marker.get("files")
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        return None
    return {*files, MARKER}


def holds_a_run(folder: Path) -> bool:
    """Whether `folder` is a run folder (a sweep's spec, Tune's state or a trial's files)."""
    try:
        names = os.listdir(folder)
    except OSError:
        return False
    if "tuner.pkl" in names or any(n.startswith(_RUN_PREFIXES) for n in names):
        return True
    if any((folder / n / "params.json").is_file() for n in names if not n.startswith(".")):
        return True
    # A report keeps a copy of its run's spec beside the frames it exported.
    return "sweep_spec.json" in names and not {"trials.parquet", "history.parquet"} <= set(names)


def _real(path: str | os.PathLike) -> Path:
    return Path(os.path.realpath(path))


def _cwd() -> Path | None:
    try:
        return Path.cwd()
    except OSError:  # the current folder was removed
        return None


def _within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def problem(report: str | os.PathLike, protected: tuple = (), flag: str = "--report-dir") -> str | None:  # fmt: skip
    """Why a report cannot be written into the folder `report`, or None.

    Args:
        report: The report folder asked for.
        protected: Local folders that must survive the report (the run, the output folder): the
            report folder can be none of them and hold none of them.
        flag: How the folder was named, for the message.
    """
    report = Path(report)
    shown = repr(str(report))
    if os.path.lexists(report) and not report.exists():
        return f"{flag}: {shown} is a broken symlink or a symlink loop."
    real = _real(report)
    if report.is_symlink():  # replacing it would replace the link, not the folder
        return f"{flag}: {shown} is a symbolic link; name the folder it leads to, {str(real)!r}."
    here = _cwd()
    for folder in [here, *protected]:
        if folder is not None and _within(_real(folder), real):
            what = "the current folder" if folder == here else repr(str(folder))
            return (
                f"{flag}: {shown} holds {what}, which a report must not replace; choose a "
                "folder of its own, e.g. a new 'report' folder."
            )
    if report.exists() and not report.is_dir():
        return f"{flag}: {shown} is a file; move it away or choose another folder."
    if report.is_dir():
        try:
            present = set(os.listdir(report))
        except OSError as err:
            return f"{flag}: {shown} cannot be read ({err.strerror})."
        ours = marked_files(report)
        if present and ours is None:
            if holds_a_run(report):
                return f"{flag}: {shown} is a run folder; a report cannot take its place: choose another folder."  # fmt: skip
            return (
                f"{flag}: {shown} exists and is not a report written by this tool (no {MARKER} "
                "in it); choose a new or empty folder, or move its files away."
            )
        others = sorted(present - (ours or set()))
        if others:
            listed = ", ".join(others[:3]) + (f" and {len(others) - 3} more" if len(others) > 3 else "")  # fmt: skip
            return (
                f"{flag}: {shown} is an earlier report but also holds files it did not write "
                f"({listed}); move them away or choose another folder."
            )
    existing = report.parent if report.exists() else report  # the report is renamed within it
    while not existing.exists():
        if os.path.lexists(existing):
            return f"{flag}: {str(existing)!r} is a broken symlink or a symlink loop."
        existing = existing.parent
    if not existing.is_dir():
        return f"{flag}: {str(existing)!r} is a file, so {shown} cannot be made."
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"{flag}: {str(existing)!r} is not writable (read-only filesystem or no permission)."
    return None


def check(report: str | os.PathLike, protected: tuple = (), flag: str = "--report-dir") -> None:
    """Raise `ReportFolderError` with `problem`'s message if there is one."""
    message = problem(report, protected, flag)
    if message:
        raise ReportFolderError(message)


# A report's exported frames: a folder with them stands for its run (`reports.frames.read_run`).
REPORT_FRAMES = ("history.parquet", "trials.parquet")


def is_report_folder(folder: str | os.PathLike) -> bool:
    """Whether `folder` holds a report's exported frames rather than a run's trial folders."""
    return all((Path(folder) / name).is_file() for name in REPORT_FRAMES)


def is_report(folder: str | os.PathLike) -> bool:
    """Whether `folder` is a report this tool wrote (its marker names what is in it)."""
    return marked_files(Path(folder)) is not None
