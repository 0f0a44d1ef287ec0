"""Trainer benchmark: the reference `model.fit`, `bnlab.train` and a bare TensorFlow loop.

    python -m benchmarks.trainer [--epochs 3] [--threads 1,2] [--placements ...]
                                 [--cnn-placements before_activation]

For each thread count (each in a fresh process: TensorFlow fixes its threads at start) and each
model, on the full data with batch 32 and SGD 1e-3: the study's plain Keras `fit` (float
inputs, default compile settings), `bnlab.train`, and `benchmarks.bare_loop` (the physical
anchor: raw variables, matmuls and convolutions, no Keras). The models are the seed preset's
MLPs (the reference notebook's) for `--placements` and bnlab's CNN (32x64, ReLU, batch norm)
for `--cnn-placements`. Prints seconds per epoch without the first epoch (graph building) and
with it, the ratios of bnlab to the bare loop and to `fit`, the GFLOP/s of matrix-multiply and
convolution work achieved, and each side's final validation accuracy.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time

BATCH_SIZE = 32
LR = 1e-3
TARGET_BARE = 1.15
TARGET_FIT = 0.40


def _config(arch: str, placement: str, epochs: int, seed: int):
    import bnlab

    preset = "seed" if arch == "mlp" else None
    return bnlab.TrialConfig(
        placement=placement, arch=arch, preset=preset, lr=LR, seed=seed, epochs=epochs
    )


def _reference_fit(arch, placement, data, epochs, seed):
    import keras

    import bnlab

    seconds = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            seconds.append(time.perf_counter() - self.start)

    model = bnlab.build_model(_config(arch, placement, epochs, seed), seed=seed)
    model.compile(
        loss="sparse_categorical_crossentropy",
        optimizer=keras.optimizers.SGD(learning_rate=LR),
        metrics=["accuracy"],
    )
    history = model.fit(
        data.train.float_x(), data.train.y, batch_size=BATCH_SIZE, epochs=epochs,
        validation_data=(data.validation.float_x(), data.validation.y), callbacks=[Timer()],
        verbose=0,
    )  # fmt: skip
    return seconds, history.history["val_accuracy"][-1]


def _bnlab(arch, placement, data, epochs, seed):
    import bnlab

    result = bnlab.train(_config(arch, placement, epochs, seed), data)
    return [row["epoch_seconds"] for row in result.history], result.history[-1]["val_accuracy"]


def _bare(arch, placement, data, epochs, seed):
    from benchmarks import bare_loop

    out = bare_loop.train(placement, data, epochs, LR, BATCH_SIZE, seed, arch=arch)
    return [s for s, _ in out], out[-1][1]


def measure(threads: int, models: list[tuple[str, str]], epochs: int, seed: int) -> list[dict]:
    """In this process (which must not have run TensorFlow yet): every side, every model."""
    import bnlab
    from benchmarks.bare_loop import flops_per_epoch

    bnlab.set_threads(threads)
    data = bnlab.load_fashion_mnist()
    rows = []
    for arch, placement in models:
        flops = flops_per_epoch(len(data.train), len(data.validation), arch)
        for side, run in (("fit", _reference_fit), ("bnlab", _bnlab), ("bare", _bare)):
            seconds, val_accuracy = run(arch, placement, data, epochs, seed)
            steady = sum(seconds[1:]) / max(1, len(seconds) - 1)
            rows.append({
                "threads": threads, "model": f"{arch} {placement}", "side": side,
                "steady": steady, "all": sum(seconds) / len(seconds),
                "gflops": flops / steady / 1e9, "val_accuracy": float(val_accuracy),
            })  # fmt: skip
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--placements", default="none,after_activation,before_activation")
    parser.add_argument("--cnn-placements", default="before_activation")
    parser.add_argument("--measure", type=int, help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args(argv)
    models = [("mlp", p) for p in args.placements.split(",") if p] + [
        ("cnn", p) for p in args.cnn_placements.split(",") if p
    ]
    if args.measure:
        print(json.dumps(measure(args.measure, models, args.epochs, args.seed)))
        return 0

    print(f"machine: {platform.machine()}, cores: {len(os.sched_getaffinity(0))}")
    print(f"full data, {args.epochs} epochs, batch {BATCH_SIZE}, SGD lr {LR}, seed {args.seed}")
    print("s/epoch: mean of epochs 2.. (no graph building); 'all' includes epoch 1\n")
    worst_bare = worst_fit = 0.0
    for threads in map(int, args.threads.split(",")):
        child = subprocess.run(
            [sys.executable, "-m", "benchmarks.trainer", "--measure", str(threads),
             "--epochs", str(args.epochs), "--seed", str(args.seed), "--placements", args.placements,
             "--cnn-placements", args.cnn_placements],
            capture_output=True, text=True, check=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
        )  # fmt: skip
        rows = json.loads(child.stdout.strip().splitlines()[-1])
        print(f"{threads} thread(s)")
        print(
            f"  {'model':<22} {'side':<6} {'s/epoch':>8} {'all':>6} {'GFLOP/s':>8} {'val_acc':>8}   ratios"
        )
        for arch, placement in models:
            model = f"{arch} {placement}"
            side = {r["side"]: r for r in rows if r["model"] == model}
            to_bare = side["bnlab"]["steady"] / side["bare"]["steady"]
            to_fit = side["bnlab"]["steady"] / side["fit"]["steady"]
            worst_bare, worst_fit = max(worst_bare, to_bare), max(worst_fit, to_fit)
            for name in ("fit", "bnlab", "bare"):
                r = side[name]
                note = (
                    f"   bnlab/bare {to_bare:.2f}, bnlab/fit {to_fit:.2f}"
                    if name == "bnlab"
                    else ""
                )
                print(
                    f"  {model:<22} {name:<6} {r['steady']:>8.2f} {r['all']:>6.2f} "
                    f"{r['gflops']:>8.1f} {r['val_accuracy']:>8.4f}{note}"
                )
        print()
    print(
        f"worst bnlab/bare: {worst_bare:.2f} (target <= {TARGET_BARE}); worst bnlab/fit: {worst_fit:.2f} (target <= {TARGET_FIT})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
