"""Compiled models kept for the next trial of the same shape.

Building a model, compiling it and tracing its epoch and evaluation functions costs more than a
small trial's training (0.4 s of a 0.7 s trial on a 500-image subset). None of it depends on the
seed or the learning rate, so a process running trial after trial (a Ray worker, a notebook)
keeps the last few compiled models and, for a trial of the same shape, resets one in place: the
seed's initial weights (from a throwaway build with that seed, which draws exactly what a fresh
build draws), the optimizer's variables as they were when it was new, the learning rate. The
numbers are those of a fresh build; tests hold it for every registry entry.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass

import keras
import numpy as np

from bnlab.architectures import ARCHS
from bnlab.config import TrialConfig
from bnlab.data import Dataset
from bnlab.loop import CompiledLoop
from bnlab.models import build_model
from bnlab.optimizers import build_optimizer

KEPT = 8  # compiled models kept per process (a sweep's worker alternates between variants)


@dataclass
class Compiled:
    """A compiled model, its traced loop and the data the loop holds."""

    data: Dataset  # what the loop trains on: the dataset passed to `train`, or its subset
    model: keras.Model
    loop: CompiledLoop
    optimizer_start: list[np.ndarray]  # the optimizer's variables when it was new


_kept: OrderedDict[tuple, Compiled] = OrderedDict()


def fingerprint(data: Dataset) -> str:
    """Which dataset this is, cheaply: every label and a sample of pixels. A Ray worker gets a
    new `Dataset` object for each trial (from the object store), so identity will not do."""
    digest = hashlib.blake2b(data.source.encode(), digest_size=16)
    for split in (data.train, data.validation, data.test):
        digest.update(np.ascontiguousarray(split.y).tobytes())
        digest.update(np.ascontiguousarray(split.x.reshape(-1)[::4099]).tobytes())
    return digest.hexdigest()


def _arch_identity(config: TrialConfig):
    """A user's architecture is its builder: registered again under the same name, it may be
    another model."""
    return getattr(ARCHS[config.arch], "builder", None)


def _key(config: TrialConfig, data: Dataset) -> tuple:
    shape = (*config.model_fields.items(), config.optimizer, config.batch_size, config.subset)
    return (*shape, _arch_identity(config), fingerprint(data))


def compiled_for(config: TrialConfig, data: Dataset, reuse: bool) -> Compiled:
    """A compiled model and loop for `config`, set to its seed's initial state and its lr.

    Args:
        config: The trial.
        data: The full dataset (its subset is taken here).
        reuse: Take a kept model of the same shape if there is one; False builds afresh and
            forgets every kept model (a clean process state).
    """
    key = _key(config, data)
    kept = _kept.get(key) if reuse else None
    if kept is not None:
        _kept.move_to_end(key)
        _reset(kept, config)
        return kept
    if not reuse:
        _kept.clear()
        keras.backend.clear_session()
    fresh = _build(config, data)
    _kept[key] = fresh
    while len(_kept) > KEPT:
        _kept.popitem(last=False)
    return fresh


def _build(config: TrialConfig, data: Dataset) -> Compiled:
    used = data.subset(*config.subset) if config.subset is not None else data
    model = build_model(config, seed=config.seed, data=data.shape)
    model.compile(
        optimizer=build_optimizer(config.optimizer, config.lr),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        jit_compile=False,  # XLA measured slower on CPU for this MLP
    )
    loop = CompiledLoop(model, used.train.x, used.train.y, config.batch_size, config.seed)
    start = [np.array(v) for v in model.optimizer.variables]
    return Compiled(used, model, loop, start)


# A seed's initial weights per model shape: a sweep trains each seed at several learning rates.
_initial: OrderedDict[tuple, list[np.ndarray]] = OrderedDict()
INITIAL_KEPT_BYTES = 256 * 2**20


def _initial_weights(config: TrialConfig, data: Dataset) -> list[np.ndarray]:
    key = (*config.model_fields.items(), data.shape, _arch_identity(config), config.seed)
    weights = _initial.get(key)
    if weights is None:
        weights = build_model(config, seed=config.seed, data=data.shape).get_weights()
        _initial[key] = weights
        while sum(w.nbytes for ws in _initial.values() for w in ws) > INITIAL_KEPT_BYTES:
            _initial.popitem(last=False)
    _initial.move_to_end(key)
    return weights


def _reset(kept: Compiled, config: TrialConfig) -> None:
    kept.model.set_weights(_initial_weights(config, kept.data))
    optimizer = kept.model.optimizer
    for variable, value in zip(optimizer.variables, kept.optimizer_start, strict=True):
        variable.assign(value)
    optimizer.learning_rate = config.lr
    kept.model.stop_training = False
    kept.loop.reset(config.seed)
