"""Room for a run, before and while it runs: disk space for its results and checkpoints, and
memory for its trials. Estimates from the models' parameter counts (`bnlab.describe_model`), no
TensorFlow needed.

Before: too little disk, or trials that cannot fit in memory, are refused (exit 2), and a trial
that takes much of the memory gets a warning. While: `StorageGuard` watches the free space of a
local run folder, and that it is still there and writable, and stops the sweep cleanly while
the results written so far are whole, instead of letting every write fail.
"""

from __future__ import annotations

import math
import os
import shutil
import time
from pathlib import Path

import psutil

from bnlab import DataShape, TrialConfig, describe_model
from sweeps.run_folder import SPEC_FILE

MB = 1024 * 1024
# Keras keeps each weight once, and its optimizer one slot per weight for momentum, two for Adam.
OPTIMIZER_SLOTS = {"sgd": 0, "momentum": 1, "adam": 2}
CHECKPOINTS_KEPT = 2
RESULTS_PER_TRIAL = 64 * 1024  # result.json, progress.csv, events, params: tens of KB
MIN_FREE = 32 * MB  # below this free space, no run starts, and a running one stops
CHECK_EVERY_S = 2.0


def checkpoint_bytes(config: TrialConfig, shape: DataShape) -> int:
    """A checkpoint of `config`'s model: its weights and optimizer slots, float32."""
    params = describe_model(config, shape).params.total
    return 4 * params * (1 + OPTIMIZER_SLOTS.get(config.optimizer, 2))


def memory_bytes(config: TrialConfig, shape: DataShape) -> int:
    """A rough ceiling of a trial's memory beyond TensorFlow itself: weights, gradients and
    optimizer slots, a checkpoint being written, and the activations of a batch."""
    params = describe_model(config, shape).params.total
    pixels = math.prod(shape.input_shape[:2])
    widths = sum(config.hidden) + pixels * sum(config.conv) // 4 + math.prod(shape.input_shape)
    return 4 * params * (3 + OPTIMIZER_SLOTS.get(config.optimizer, 2)) + 4 * config.batch_size * widths * 4  # fmt: skip


def disk_needed(configs: list[TrialConfig], slots: int, shape: DataShape) -> int:
    """Free space a run should start with: every trial's results and last checkpoints, the
    largest checkpoints of the trials running at once being written twice, and `MIN_FREE`."""
    largest = max((checkpoint_bytes(c, shape) for c in configs), default=0)
    kept = sum(CHECKPOINTS_KEPT * checkpoint_bytes(c, shape) + RESULTS_PER_TRIAL for c in configs)
    return MIN_FREE + kept + 2 * slots * largest


def disk_problem(
    folder: Path, configs: list[TrialConfig], slots: int, shape: DataShape
) -> str | None:
    """Why `folder` (a local run folder, or where it will be made) has too little free space."""
    existing = folder
    while not existing.exists():
        existing = existing.parent
    free = shutil.disk_usage(existing).free
    needed = disk_needed(configs, slots, shape)
    if free >= needed:
        return None
    return (
        f"--output-dir: {free / MB:.0f} MB free on the device of {str(existing)!r}; these "
        f"{len(configs)} trials need about {needed / MB:.0f} MB (results and the last "
        f"{CHECKPOINTS_KEPT} checkpoints of each): free space or choose another --output-dir."
    )


def memory_problem(
    configs: list[TrialConfig], slots: int, shape: DataShape
) -> tuple[str | None, str | None]:
    """(refusal, warning): trials that cannot fit in this machine's memory together, or that
    take a large share of it."""
    largest = max((memory_bytes(c, shape) for c in configs), default=0)
    total = psutil.virtual_memory().total
    at_once = largest * slots
    words = (
        f"{slots} trial(s) at once of up to {largest / MB:,.0f} MB each ({at_once / MB:,.0f} MB)"
    )
    if at_once > total:
        return (
            f"--hidden/--conv: {words} do not fit in this machine's {total / MB:,.0f} MB of "
            "memory; use smaller layers or fewer trials at once (--max-concurrent).",
            None,
        )
    if at_once > total / 2:
        return None, f"warning: {words} take more than half of this machine's {total / MB:,.0f} MB of memory."  # fmt: skip
    return None, None


class StorageGuard:
    """Watches a local run folder while the sweep runs; `problem()` says why it must stop."""

    def __init__(self, run_dir: Path, keep_free: int):
        self.run_dir = run_dir
        self.keep_free = keep_free
        self._last = 0.0
        self.reason: str | None = None

    def problem(self) -> str | None:
        """None while all is well (checked at most every `CHECK_EVERY_S`); then, for good, why
        the run cannot go on: its folder gone, read-only, or its disk nearly full."""
        now = time.monotonic()
        if self.reason is None and now - self._last >= CHECK_EVERY_S:
            self._last = now
            self.reason = self.check()
        return self.reason

    def check(self) -> str | None:
        """The same, now."""
        # Tune makes the folder again as it writes, so a removed run shows as its spec gone.
        if not (self.run_dir / SPEC_FILE).is_file():
            return f"the run folder {str(self.run_dir)!r} was removed while the sweep ran"
        if not os.access(self.run_dir, os.W_OK | os.X_OK):
            return f"the run folder {str(self.run_dir)!r} became read-only while the sweep ran"
        free = shutil.disk_usage(self.run_dir).free
        if free < self.keep_free:
            return (
                f"the disk holding {str(self.run_dir)!r} is nearly full ({free / MB:.0f} MB "
                f"free, {self.keep_free / MB:.0f} MB kept free so that what was written stays whole)"
            )
        return None
