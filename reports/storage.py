"""Runs kept in storage that every node of a cluster reaches: local or NFS paths, and URIs
that `pyarrow.fs` resolves (`s3://bucket/prefix`, `gs://...`), as Ray Tune itself does.

A report needs only each trial's small text files, so a run at a URI is read by copying those
(not the checkpoints) into a local folder; the rest of the report works on that copy.
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
import threading
import urllib.parse
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyarrow import fs as pafs

SETTLE_FILE = "settle.json"  # a settling run's design, looks and decisions (`sweeps.settle`)

# What a report reads: the sweep's spec and, per trial, its config, results and error.
REPORT_FILES = {"sweep_spec.json", "settle.json", "params.json", "result.json", "error.txt"}


# Attempts per S3 request while a sweep runs. The AWS SDK backs off exponentially, so 10
# attempts against a server that refuses take about 25 s here: an outage of that long is ridden
# out instead of failing trials (pyarrow's default, 3 attempts, gives up within a second).
S3_ATTEMPTS = 10


class StorageError(RuntimeError):
    """The storage location cannot be read; the message says which and why."""


def _pafs():
    # pyarrow loads on first use: the command lines' argument checks, which import this module
    # for its plain helpers (is_uri, run_name, join), answer without it.
    from pyarrow import fs

    return fs


def _patient_class() -> type:
    """`PatientS3FileSystem`, made on first use (it subclasses a pyarrow class)."""
    if "PatientS3FileSystem" not in globals():

        class PatientS3FileSystem(_pafs().S3FileSystem):
            """pyarrow's S3 filesystem with `S3_ATTEMPTS` attempts per request, kept when
            pickled: Ray Tune pickles the filesystem into every trial, and pyarrow's own
            pickling drops the retry strategy."""

            def __init__(self, **options):
                self._options = options
                strategy = _pafs().AwsDefaultS3RetryStrategy(max_attempts=S3_ATTEMPTS)
                super().__init__(retry_strategy=strategy, **options)

            def __reduce__(self):
                return _patient_s3, (self._options,)

        PatientS3FileSystem.__module__ = __name__
        PatientS3FileSystem.__qualname__ = "PatientS3FileSystem"
        globals()["PatientS3FileSystem"] = PatientS3FileSystem
    return globals()["PatientS3FileSystem"]


def __getattr__(name: str):
    if name == "PatientS3FileSystem":
        return _patient_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _patient_s3(options: dict):
    return _patient_class()(**options)


def from_uri(uri: str, patient: bool = False) -> tuple[pafs.FileSystem, str]:
    """pyarrow's filesystem and path for `uri`; `patient`: an S3 one retries with backoff
    (for a running sweep; a first contact fails fast instead)."""
    pafs = _pafs()
    filesystem, path = pafs.FileSystem.from_uri(uri)
    if patient and isinstance(filesystem, pafs.S3FileSystem):
        filesystem = _patient_class()(**filesystem.__reduce__()[1][0])
    return filesystem, path


@contextlib.contextmanager
def readable_run(location: str | Path, prefix: str = "bnlab-run-") -> Iterator[Path]:
    """The run at `location` as a local folder: the folder itself, or for a storage URI a
    temporary copy of its report files (`fetch_run`), removed on the way out."""
    if not is_uri(str(location)):
        yield Path(location)
        return
    with tempfile.TemporaryDirectory(prefix=prefix) as scratch:
        yield fetch_run(str(location), scratch)


def is_uri(location: str) -> bool:
    return "://" in str(location)


def canonical(uri: str) -> str:
    """One spelling per place: the query's keys sorted, no trailing slash ('s3://b/r?x=1&a=2'
    and 's3://b/r/?a=2&x=1' are the same run)."""
    parts = urllib.parse.urlsplit(uri)
    query = urllib.parse.urlencode(sorted(urllib.parse.parse_qsl(parts.query)))
    return urllib.parse.urlunsplit(parts._replace(path=parts.path.rstrip("/"), query=query))


def run_name(location: str) -> str:
    """The run's name: the last part of its path, without a URI's query options."""
    path = str(location).split("?", 1)[0].rstrip("/")
    return PurePosixPath(path.split("://", 1)[-1]).name


def fetch_run(uri: str, dest: str | Path) -> Path:
    """Copy the report files of the run at `uri` into `dest`/<run name>; return that folder.

    Raises:
        StorageError: If the URI cannot be resolved or read, or holds no run.
    """
    pafs = _pafs()
    try:
        filesystem, root = from_uri(uri)
        info = filesystem.get_file_info(root)
        if info.type != pafs.FileType.Directory:
            raise StorageError(f"{uri!r} is not a run folder ({info.type.name.lower()}).")
        listing = filesystem.get_file_info(pafs.FileSelector(root, recursive=True))
    except StorageError:
        raise
    except (OSError, ValueError) as err:  # pyarrow raises OSError subclasses for I/O and auth
        raise StorageError(f"cannot read {uri!r}: {' '.join(str(err).split())}") from None
    local = Path(dest) / run_name(uri)
    copied = 0
    for entry in listing:
        name = PurePosixPath(entry.path).name
        if entry.type != pafs.FileType.File or name not in REPORT_FILES:
            continue
        relative = PurePosixPath(entry.path).relative_to(root)
        target = local / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        with filesystem.open_input_stream(entry.path) as stream:
            target.write_bytes(stream.read())
        copied += 1
    if copied == 0:
        raise StorageError(f"{uri!r} holds no sweep (no sweep_spec.json, no trials).")
    return local


def resolve(location: str, patient: bool = False) -> tuple[pafs.FileSystem, str]:
    """The filesystem and the path inside it for a local path or a URI (`patient`: see
    `from_uri`).

    Raises:
        StorageError: If a URI names no filesystem pyarrow knows, or has bad options.
    """
    if not is_uri(location):
        return _pafs().LocalFileSystem(), str(Path(location).resolve())
    try:
        return from_uri(location, patient)
    except (OSError, ValueError) as err:
        raise StorageError(f"{location!r} is not a storage URI pyarrow can open ({err}).") from None


def join(location: str, name: str) -> str:
    """`location`/`name`, keeping a URI's query options at the end."""
    base, sep, query = str(location).partition("?")
    return f"{base.rstrip('/')}/{name}{sep}{query}"


@contextlib.contextmanager
def _failing_as_storage_error(what: str, location: str) -> Iterator[None]:
    # pyarrow reports I/O, permission and network failures as OSError subclasses.
    try:
        yield
    except OSError as err:
        raise StorageError(f"cannot {what} {location!r}: {' '.join(str(err).split())}") from None


@contextlib.contextmanager
def waiting_note(location: str, after_s: float = 10.0) -> Iterator[None]:
    """Say once on stderr that the storage at `location` is being waited for, if the block
    takes longer than `after_s` (a storage service that accepts and does not answer)."""

    def note() -> None:
        print(f"waiting for the storage at {location!r} to answer...", file=sys.stderr, flush=True)

    timer = threading.Timer(after_s, note)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


def read_text(location: str) -> str | None:
    """The text of the file at `location`, or None if there is none.

    Raises:
        StorageError: If it cannot be read (permissions, network, not text).
    """
    filesystem, path = resolve(location)
    with _failing_as_storage_error("read", location):
        if filesystem.get_file_info(path).type != _pafs().FileType.File:
            return None
        with filesystem.open_input_stream(path) as stream:
            data = stream.read()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise StorageError(f"cannot read {location!r}: not UTF-8 text ({err})") from None


def write_text(location: str, text: str) -> None:
    """Write a whole file at `location` (object stores replace objects whole).

    Raises:
        StorageError: If it cannot be written (permissions, network, a file in the way).
    """
    filesystem, path = resolve(location)
    with _failing_as_storage_error("write", location):
        filesystem.create_dir(str(PurePosixPath(path).parent), recursive=True)
        with filesystem.open_output_stream(path) as stream:
            stream.write(text.encode("utf-8"))


def list_names(location: str) -> list[str]:
    """The names directly inside the folder at `location` ([] if there is no such folder).

    Raises:
        StorageError: If it cannot be listed (permissions, network).
    """
    filesystem, path = resolve(location)
    with _failing_as_storage_error("list", location):
        if filesystem.get_file_info(path).type != _pafs().FileType.Directory:
            return []
        selector = _pafs().FileSelector(path, allow_not_found=True)
        infos = filesystem.get_file_info(selector)
    return sorted(PurePosixPath(info.path).name for info in infos)
