"""Train one trial: the reference SGD loop, faster, resumable and deterministic on CPU."""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from bnlab.compiled import compiled_for
from bnlab.config import TrialConfig
from bnlab.data import Dataset
from bnlab.models import ParamCounts, count_params, describe_model

METRICS = ("loss", "accuracy", "val_loss", "val_accuracy")


@dataclass(frozen=True)
class TrainState:
    """Everything needed to continue training after `epoch` completed epochs."""

    epoch: int
    weights: list[np.ndarray]
    optimizer_variables: list[np.ndarray]
    history: tuple[dict[str, float], ...] = ()

    @classmethod
    def capture(cls, model, history: Sequence[dict[str, float]]) -> TrainState:
        """The state of a compiled, trained `model` whose completed epochs are `history`."""
        return cls(
            epoch=len(history),
            weights=[np.array(w) for w in model.get_weights()],
            optimizer_variables=[np.array(v) for v in model.optimizer.variables],
            history=tuple(dict(row) for row in history),
        )

    def save(self, directory: str | os.PathLike) -> None:
        """Write the state into `directory` (created if needed) as NPZ arrays plus JSON."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        arrays = {f"w{i}": w for i, w in enumerate(self.weights)}
        arrays.update({f"o{i}": v for i, v in enumerate(self.optimizer_variables)})
        np.savez(directory / "state.npz", **arrays)
        meta = {
            "epoch": self.epoch,
            "n_weights": len(self.weights),
            "n_optimizer_variables": len(self.optimizer_variables),
            "history": list(self.history),
        }
        (directory / "state.json").write_text(json.dumps(meta))

    @classmethod
    def load(cls, directory: str | os.PathLike) -> TrainState:
        """Read a state written by `save`."""
        directory = Path(directory)
        meta = json.loads((directory / "state.json").read_text())
        with np.load(directory / "state.npz") as arrays:
            weights = [arrays[f"w{i}"] for i in range(meta["n_weights"])]
            opt = [arrays[f"o{i}"] for i in range(meta["n_optimizer_variables"])]
        return cls(meta["epoch"], weights, opt, tuple(meta["history"]))


@dataclass
class TrainResult:
    """What one trial produced.

    Attributes:
        config: The trial's configuration.
        history: One dict per completed epoch: epoch (1-based), loss, accuracy, val_loss,
            val_accuracy, epoch_seconds.
        test_loss: Loss on the 10,000 test images after the last epoch.
        test_accuracy: Accuracy on the test images after the last epoch.
        params: Total / trainable / non-trainable parameter counts.
        wall_seconds: Time spent in `train`, including model building and evaluation.
        status: `completed`, or `diverged` when the loss became NaN or infinite.
        data_source: Folder the dataset was read from.
    """

    config: TrialConfig
    history: list[dict[str, float]]
    test_loss: float
    test_accuracy: float
    params: ParamCounts
    wall_seconds: float
    status: str
    data_source: str
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of everything above."""
        d = asdict(self)
        d["config"] = self.config.to_dict()
        return d

    def history_frame(self):
        """The history as a pandas DataFrame, one row per epoch."""
        import pandas as pd

        return pd.DataFrame(self.history, columns=["epoch", *METRICS, "epoch_seconds"])


def set_threads(threads: int) -> None:
    """Cap TensorFlow at `threads` threads for op execution (call before TensorFlow runs ops).

    One op runs at a time, each using up to `threads` threads, so a trial given N CPUs keeps to N.

    Raises:
        ValueError: If `threads` is not a positive int.
        RuntimeError: If TensorFlow already started with a different setting.
    """
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"The 'threads' parameter must be an int >= 1. Got {threads!r} instead.")
    current = (
        tf.config.threading.get_intra_op_parallelism_threads(),
        tf.config.threading.get_inter_op_parallelism_threads(),
    )
    if current == (threads, 1):
        return
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError as err:
        raise RuntimeError(
            f"TensorFlow already started with intra/inter-op threads {current}; cannot switch to "
            f"{threads}. Call bnlab.set_threads({threads}) (or train(threads=...)) before any "
            "other TensorFlow work, for example first thing in a fresh process."
        ) from err


def enable_gpu_memory_growth() -> None:
    """Let several processes share one GPU by allocating its memory as needed."""
    for gpu in tf.config.list_physical_devices("GPU"):
        # Once the GPU is initialized the setting is fixed for this process; keep it.
        with contextlib.suppress(RuntimeError):
            tf.config.experimental.set_memory_growth(gpu, True)


def _restore(model, state: TrainState, config: TrialConfig, data: Dataset) -> None:
    if not 0 <= state.epoch <= config.epochs:
        raise ValueError(
            f"The 'initial_state' epoch must be in [0, {config.epochs}]. Got {state.epoch} instead."
        )
    expected = [tuple(w.shape) for w in model.get_weights()]
    if [tuple(w.shape) for w in state.weights] != expected:
        raise ValueError(
            "The 'initial_state' weights do not fit this model "
            f"({describe_model(config, data.shape).line()}): was it saved from another configuration?"
        )
    model.set_weights(state.weights)
    model.optimizer.build(model.trainable_variables)
    for variable, value in zip(model.optimizer.variables, state.optimizer_variables, strict=True):
        variable.assign(value)


def _check_arguments(config, data, callbacks, initial_state) -> None:
    def wrong(name, expected, value):
        return TypeError(
            f"The '{name}' parameter must be {expected}. Got {type(value).__name__} {value!r:.80} "
            "instead."
        )

    if not isinstance(config, TrialConfig):
        raise wrong("config", "a bnlab.TrialConfig (e.g. TrialConfig(lr=0.01))", config)
    if not isinstance(data, Dataset):
        raise wrong("data", "a bnlab.Dataset from bnlab.load_fashion_mnist() or bnlab.load_dataset()", data)  # fmt: skip
    if isinstance(callbacks, keras.callbacks.Callback) or not isinstance(callbacks, Sequence):
        raise wrong("callbacks", "a list of keras.callbacks.Callback", callbacks)
    for callback in callbacks:
        if not isinstance(callback, keras.callbacks.Callback):
            raise wrong("callbacks", "a list of keras.callbacks.Callback", callback)
    if initial_state is not None and not isinstance(initial_state, TrainState):
        raise wrong("initial_state", "None or a bnlab.TrainState", initial_state)


def train(
    config: TrialConfig,
    data: Dataset,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    threads: int | None = None,
    initial_state: TrainState | None = None,
    verbose: int = 0,
    reuse: bool = True,
) -> TrainResult:
    """Train one model and evaluate it on the test split.

    Args:
        config: The trial; `config.subset`, if set, is taken from `data` first.
        data: The full dataset from `load_fashion_mnist()` or `load_dataset()`.
        callbacks: Keras callbacks; their `on_epoch_end` logs hold Keras' metric names plus
            `epoch_seconds`. Use `TrainState.capture(self.model, history)` to checkpoint.
        threads: Cap TensorFlow's threads (see `set_threads`); None leaves TensorFlow's default.
        initial_state: Continue from this state instead of from fresh weights.
        verbose: 1 prints one line per epoch; 0 prints nothing.
        reuse: Reset a model of the same shape compiled by an earlier call in this process
            instead of building and tracing a new one (`bnlab.compiled`): the same numbers,
            without the fixed cost. False builds afresh and forgets the kept models.

    Returns:
        The full per-epoch history (including epochs before `initial_state`), test metrics,
        parameter counts, wall time and status (`completed` or `diverged`).

    Raises:
        TypeError: If an argument has the wrong type (the message names it).
        ValueError: If `initial_state` does not fit the model or the epochs.
    """
    start = time.perf_counter()
    _check_arguments(config, data, callbacks, initial_state)
    if threads is not None:
        set_threads(threads)
    enable_gpu_memory_growth()
    # Deterministic on CPU by construction (seeded init, stateless per-epoch shuffles, one
    # graph per epoch) and held by tests; tf's global op-determinism switch was measured
    # 15-20% slower here without changing that.
    compiled = compiled_for(config, data, reuse)
    model, loop, data = compiled.model, compiled.loop, compiled.data
    history = [dict(row) for row in initial_state.history] if initial_state else []
    if initial_state is not None:
        _restore(model, initial_state, config, data)
    first_epoch = initial_state.epoch if initial_state is not None else 0
    if first_epoch < config.epochs and not _diverged(history):
        _run_epochs(loop, config, data, first_epoch, history, callbacks, verbose)
    test_loss, test_accuracy = loop.evaluate(data.test.x, data.test.y)
    return TrainResult(
        config=config,
        history=history,
        test_loss=test_loss,
        test_accuracy=test_accuracy,
        params=count_params(model),
        wall_seconds=time.perf_counter() - start,
        status="diverged" if _diverged(history) else "completed",
        data_source=data.source,
    )


def _diverged(history: Sequence[dict[str, float]]) -> bool:
    return any(not math.isfinite(row["loss"]) for row in history)


def _run_epochs(loop, config, data, first_epoch, history, callbacks, verbose) -> None:
    """Epochs `first_epoch`+1 .. `config.epochs`, appended to `history`; Keras callbacks get
    their train and epoch hooks (per-batch hooks are not called: batches run inside one graph).
    """
    model = loop.model
    hooks = keras.callbacks.CallbackList(
        list(callbacks), model=model, epochs=config.epochs, steps=loop.steps, verbose=0
    )
    model.stop_training = False
    hooks.on_train_begin()
    for epoch in range(first_epoch, config.epochs):
        hooks.on_epoch_begin(epoch)
        started = time.perf_counter()
        logs = loop.train_epoch(epoch)
        logs["val_loss"], logs["val_accuracy"] = loop.evaluate(data.validation.x, data.validation.y)
        logs["epoch_seconds"] = time.perf_counter() - started
        history.append({"epoch": epoch + 1, **logs})
        if verbose:
            print(
                " ".join(
                    [f"epoch {epoch + 1}/{config.epochs}"]
                    + [f"{k} {v:.4f}" for k, v in logs.items()]
                )
            )
        hooks.on_epoch_end(epoch, dict(logs))
        if not math.isfinite(logs["loss"]) or model.stop_training:
            break
    hooks.on_train_end()
