"""A trial's checkpoints on resume: the newest one that loads, not just the newest.

A retried or resumed trial gets Tune's latest checkpoint. If that one is damaged (a disk that
filled up while it was written, a file overwritten), the older one kept beside it
(`CHECKPOINTS_KEPT`) is tried next, then the trial starts over; what was skipped is reported,
so the driver can say it once.
"""

from __future__ import annotations

import posixpath
import re

from pyarrow import fs as pafs
from ray import tune


def _newest_first(checkpoint: tune.Checkpoint):
    yield checkpoint
    filesystem, path = checkpoint.filesystem, checkpoint.path.rstrip("/")
    try:
        entries = filesystem.get_file_info(pafs.FileSelector(posixpath.dirname(path)))
    except OSError:
        return
    older = sorted(
        (
            e.path
            for e in entries
            if e.type == pafs.FileType.Directory
            and re.fullmatch(r"checkpoint_\d+", posixpath.basename(e.path))
            and e.path.rstrip("/") < path
        ),
        reverse=True,
    )
    for candidate in older:
        yield tune.Checkpoint(candidate, filesystem=filesystem)


def newest_loadable(checkpoint: tune.Checkpoint | None):
    """The newest state that loads, and a note on the damaged ones skipped ('' if none).

    Returns:
        (TrainState or None to start over, problem).
    """
    from bnlab import TrainState

    if checkpoint is None:
        return None, ""
    skipped = []
    for candidate in _newest_first(checkpoint):
        try:
            with candidate.as_directory() as folder:
                state = TrainState.load(folder)
        except Exception as err:  # numpy, zip, JSON and I/O errors of a cut or garbled file
            skipped.append(f"{candidate.path} ({type(err).__name__}: {' '.join(str(err).split())[:120]})")  # fmt: skip
            continue
        return state, _note(skipped, f"epoch {state.epoch}")
    return None, _note(skipped, "the first epoch")


def _note(skipped: list[str], went_on_from: str) -> str:
    if not skipped:
        return ""
    return f"damaged checkpoint {'; '.join(skipped)}: the trial went on from {went_on_from}"
