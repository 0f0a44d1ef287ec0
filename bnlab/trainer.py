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

from bnlab.config import TrialConfig
from bnlab.data import FashionMNIST
from bnlab.models import ParamCounts, build_model, count_params
from bnlab.optimizers import build_optimizer

METRICS = ("loss", "accuracy", "val_loss", "val_accuracy")
# Several optimizer steps per call into TensorFlow: the same math as the reference loop with
# far less Python overhead per step (measured: about 2x faster on a 2-core CPU).
STEPS_PER_EXECUTION = 128
EVAL_BATCH_SIZE = 1024


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


class _Recorder(keras.callbacks.Callback):
    """Times each epoch, adds `epoch_seconds` to the logs and stops on a non-finite loss.

    It runs before the user's callbacks, so they see `epoch_seconds` in the same logs.
    """

    def __init__(self, history: Sequence[dict[str, float]]):
        super().__init__()
        self.history = [dict(row) for row in history]
        self.diverged = any(not math.isfinite(row["loss"]) for row in self.history)

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs["epoch_seconds"] = time.perf_counter() - self._start
        row = {"epoch": epoch + 1, **{k: float(logs[k]) for k in (*METRICS, "epoch_seconds")}}
        self.history.append(row)
        if not math.isfinite(row["loss"]):
            self.diverged = True
            self.model.stop_training = True


class _ShuffledEpochs(keras.callbacks.Callback):
    """The training batches, each epoch in an order that depends only on (seed, epoch).

    Keras re-creates the dataset iterator every epoch; the current epoch lives in a variable
    that the iterator reads when it starts. So a run resumed at epoch k sees exactly the
    batches of an uninterrupted run, whatever happened before.
    """

    def __init__(self, config: TrialConfig, split):
        super().__init__()
        self._epoch = tf.Variable(0, dtype=tf.int64, trainable=False)
        x = tf.constant(split.x)
        y = tf.constant(split.y.astype(np.int32))
        n = len(split)

        def epoch_order(_):
            seed = tf.stack([tf.constant(config.seed, tf.int64), self._epoch])
            order = tf.random.experimental.stateless_shuffle(tf.range(n), seed=seed)
            return tf.data.Dataset.from_tensor_slices(order).batch(config.batch_size)

        def gather(index):
            return tf.cast(tf.gather(x, index), tf.float32) / 255.0, tf.gather(y, index)

        batches = tf.data.Dataset.range(1).flat_map(epoch_order)
        # flat_map hides the length; Keras needs it to end epochs without warnings.
        batches = batches.apply(tf.data.experimental.assert_cardinality(-(-n // config.batch_size)))
        self.dataset = batches.map(gather).prefetch(4)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch.assign(epoch)


def _eval_dataset(split) -> tf.data.Dataset:
    ds = tf.data.Dataset.from_tensor_slices((split.x, split.y.astype(np.int32)))
    return ds.batch(EVAL_BATCH_SIZE).map(lambda x, y: (tf.cast(x, tf.float32) / 255.0, y))


def _restore(model, state: TrainState, config: TrialConfig) -> None:
    if not 0 <= state.epoch <= config.epochs:
        raise ValueError(
            f"The 'initial_state' epoch must be in [0, {config.epochs}]. Got {state.epoch} instead."
        )
    expected = [tuple(w.shape) for w in model.get_weights()]
    if [tuple(w.shape) for w in state.weights] != expected:
        raise ValueError(
            "The 'initial_state' weights do not fit this model "
            f"(placement {config.placement!r}, hidden {config.hidden}): was it saved from "
            "another configuration?"
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
    if not isinstance(data, FashionMNIST):
        raise wrong("data", "a bnlab.FashionMNIST from bnlab.load_fashion_mnist()", data)
    if isinstance(callbacks, keras.callbacks.Callback) or not isinstance(callbacks, Sequence):
        raise wrong("callbacks", "a list of keras.callbacks.Callback", callbacks)
    for callback in callbacks:
        if not isinstance(callback, keras.callbacks.Callback):
            raise wrong("callbacks", "a list of keras.callbacks.Callback", callback)
    if initial_state is not None and not isinstance(initial_state, TrainState):
        raise wrong("initial_state", "None or a bnlab.TrainState", initial_state)


def train(
    config: TrialConfig,
    data: FashionMNIST,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    threads: int | None = None,
    initial_state: TrainState | None = None,
    verbose: int = 0,
) -> TrainResult:
    """Train one model and evaluate it on the test split.

    Args:
        config: The trial; `config.subset`, if set, is taken from `data` first.
        data: The full dataset from `load_fashion_mnist()`.
        callbacks: Keras callbacks; their `on_epoch_end` logs hold Keras' metric names plus
            `epoch_seconds`. Use `TrainState.capture(self.model, history)` to checkpoint.
        threads: Cap TensorFlow's threads (see `set_threads`); None leaves TensorFlow's default.
        initial_state: Continue from this state instead of from fresh weights.
        verbose: Keras `fit` verbosity (0 prints nothing).

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
    # Deterministic on CPU by construction (seeded init, stateless per-epoch shuffles, a
    # sequential input pipeline) and held by tests; tf's global op-determinism switch was
    # measured 15-20% slower here without changing that.
    if config.subset is not None:
        data = data.subset(*config.subset)
    keras.backend.clear_session()  # a process running trial after trial starts each one clean

    model = build_model(config.placement, config.hidden, seed=config.seed)
    model.compile(
        optimizer=build_optimizer(config.optimizer, config.lr),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        steps_per_execution=STEPS_PER_EXECUTION,
        jit_compile=False,  # XLA measured slower on CPU for this MLP
    )
    first_epoch = 0
    recorder = _Recorder(initial_state.history if initial_state else ())
    if initial_state is not None:
        _restore(model, initial_state, config)
        first_epoch = initial_state.epoch
    if first_epoch < config.epochs and not recorder.diverged:
        batches = _ShuffledEpochs(config, data.train)
        model.fit(
            batches.dataset,
            epochs=config.epochs,
            initial_epoch=first_epoch,
            validation_data=_eval_dataset(data.validation),
            shuffle=False,  # the dataset shuffles itself, reproducibly per epoch
            callbacks=[batches, recorder, keras.callbacks.TerminateOnNaN(), *callbacks],
            verbose=verbose,
        )
    test_loss, test_accuracy = model.evaluate(_eval_dataset(data.test), verbose=0)
    return TrainResult(
        config=config,
        history=recorder.history,
        test_loss=float(test_loss),
        test_accuracy=float(test_accuracy),
        params=count_params(model),
        wall_seconds=time.perf_counter() - start,
        status="diverged" if recorder.diverged else "completed",
        data_source=data.source,
    )
