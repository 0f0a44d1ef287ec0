"""Trainer benchmark: the reference `model.fit` loop against `bnlab.train`, same model and data.

    python -m benchmarks.trainer [--epochs 3] [--placements none,after_activation,...]

The reference loop is the study's plain Keras code: default compile settings, float inputs,
batch 32, SGD 1e-3. Both sides use the same seed, the full dataset and this machine's cores.
Prints seconds per epoch for both, their ratio (bnlab / reference; lower is faster) and the
validation accuracy of both.
"""

from __future__ import annotations

import argparse
import platform
import time

import keras

import bnlab

BATCH_SIZE = 32
LR = 1e-3


class _EpochTimer(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


def reference_fit(placement: str, data: bnlab.FashionMNIST, epochs: int, seed: int):
    """The reference study's loop; returns (seconds per epoch, final val_accuracy)."""
    model = bnlab.build_model(placement, seed=seed)
    model.compile(
        loss="sparse_categorical_crossentropy",
        optimizer=keras.optimizers.SGD(learning_rate=LR),
        metrics=["accuracy"],
    )
    timer = _EpochTimer()
    history = model.fit(
        data.train.float_x(),
        data.train.y,
        batch_size=BATCH_SIZE,
        epochs=epochs,
        validation_data=(data.validation.float_x(), data.validation.y),
        callbacks=[timer],
        verbose=0,
    )
    return sum(timer.seconds) / epochs, history.history["val_accuracy"][-1]


def bnlab_fit(placement: str, data: bnlab.FashionMNIST, epochs: int, seed: int):
    """`bnlab.train` with the same settings; returns (seconds per epoch, final val_accuracy)."""
    config = bnlab.TrialConfig(placement=placement, lr=LR, seed=seed, epochs=epochs)
    result = bnlab.train(config, data)
    seconds = sum(row["epoch_seconds"] for row in result.history) / epochs
    return seconds, result.history[-1]["val_accuracy"]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--placements", default=",".join(bnlab.PLACEMENTS))
    args = parser.parse_args(argv)

    data = bnlab.load_fashion_mnist()
    print(f"machine: {platform.processor() or platform.machine()}, cores: {_cores()}")
    print(f"data: {data.source}, {len(data.train)} train / {len(data.validation)} validation")
    print(f"epochs: {args.epochs}, batch {BATCH_SIZE}, SGD lr {LR}, seed {args.seed}\n")
    header = f"{'placement':<18} {'ref s/epoch':>11} {'bnlab s/epoch':>13} {'ratio':>6}"
    print(header + f" {'ref val_acc':>11} {'bnlab val_acc':>13} {'diff':>7}")
    ratios = []
    for placement in args.placements.split(","):
        ref_s, ref_acc = reference_fit(placement, data, args.epochs, args.seed)
        lab_s, lab_acc = bnlab_fit(placement, data, args.epochs, args.seed)
        ratios.append(lab_s / ref_s)
        print(
            f"{placement:<18} {ref_s:>11.2f} {lab_s:>13.2f} {lab_s / ref_s:>6.2f} "
            f"{ref_acc:>11.4f} {lab_acc:>13.4f} {lab_acc - ref_acc:>+7.4f}"
        )
    print(f"\nworst ratio: {max(ratios):.2f} (target <= 0.50)")


def _cores() -> int:
    import os

    return len(os.sched_getaffinity(0))


if __name__ == "__main__":
    main()
