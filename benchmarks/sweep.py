"""Sweep benchmark: a plain sequential loop of `bnlab.train` against the Ray sweep.

    python -m benchmarks.sweep [--epochs 2] [--seeds 0-1] [--repeats 3] [--tiny 300]

Same grid every way (3 placements x 2 seeds, SGD 1e-3, full data): (a) one process, trial after
trial, TensorFlow using every core; (b) `python -m sweeps.bn_placement` with 1 CPU per trial and
its default checkpoint cadence; (c) the same sweep checkpointing every epoch
(`--checkpoint-seconds 0`). Prints the wall times, the ratios to (a), each sweep's orchestration
overhead (its wall time minus the trials' own training time divided by the concurrency) and how
many lines it wrote to stderr; each sweep runs `--repeats` times, interleaved, and the medians
are printed.

Then many tiny trials (`--tiny` of them, 0 to skip: 3 placements x lr 0.01, 0.1 x seeds, a
500/100 subset, 1 epoch): the sweep against the anchor of a warm loop of `bnlab.train` over the
same trials in this process, and the trials' own epoch time. Prints the cost of a trial per
slot: wall time x slots / trials.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import bnlab
from reports import load_frames


def sequential(epochs: int, seeds: list[int]) -> float:
    data = bnlab.load_fashion_mnist()
    start = time.perf_counter()
    for placement in bnlab.PLACEMENTS:
        for seed in seeds:
            bnlab.train(bnlab.TrialConfig(placement=placement, seed=seed, epochs=epochs), data)
    return time.perf_counter() - start


def ray_sweep(epochs: int, seeds: str, out: Path, *flags: str) -> tuple[float, float, int]:
    """The sweep's wall time, its trials' summed training time and its stderr line count."""
    command = [
        sys.executable, "-m", "sweeps.bn_placement", "--lrs", "0.001", "--seeds", seeds,
        "--epochs", str(epochs), "--cpus-per-trial", "1", "--output-dir", str(out),
        "--name", "bench", "--no-report", *flags,
    ]  # fmt: skip
    start = time.perf_counter()
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    wall = time.perf_counter() - start
    _, trials = load_frames(out / "bench")
    return wall, float(trials["wall_seconds"].sum()), len(done.stderr.splitlines())


def tiny_anchor(seeds: int) -> tuple[float, float]:
    """A warm in-process loop over the tiny trials: its wall time and their summed epoch time."""
    data = bnlab.load_fashion_mnist()
    configs = [
        bnlab.TrialConfig(placement=p, lr=lr, seed=s, epochs=1, subset=(500, 100))
        for p in bnlab.PLACEMENTS
        for lr in TINY_LRS
        for s in range(seeds)
    ]
    bnlab.train(configs[0], data)  # warm: TensorFlow started, the first model traced
    start = time.perf_counter()
    epochs = sum(bnlab.train(c, data).history[0]["epoch_seconds"] for c in configs)
    return time.perf_counter() - start, epochs


def tiny_sweep(seeds: int, out: Path) -> float:
    command = [
        sys.executable, "-m", "sweeps.bn_placement", "--lrs", ",".join(map(str, TINY_LRS)),
        "--seeds", f"0-{seeds - 1}", "--epochs", "1", "--subset", "500,100",
        "--output-dir", str(out), "--name", "tiny", "--no-report",
    ]  # fmt: skip
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, text=True)
    return time.perf_counter() - start


TINY_LRS = (0.01, 0.1)
TINY_TARGET = 0.3  # seconds of wall per trial per slot


def tiny(n_trials: int, cores: int) -> None:
    seeds = max(1, n_trials // (len(bnlab.PLACEMENTS) * len(TINY_LRS)))
    n = seeds * len(bnlab.PLACEMENTS) * len(TINY_LRS)
    with tempfile.TemporaryDirectory() as folder:
        wall = tiny_sweep(seeds, Path(folder))
    loop_wall, epochs = tiny_anchor(seeds)
    slots = min(cores, n)
    print(f"\n{n} tiny trials (subset 500/100, 1 epoch), {slots} slots")
    print(f"(t) Ray sweep:                             {wall:7.1f} s  {wall * slots / n:.3f} s per trial per slot (target <= {TINY_TARGET})")  # fmt: skip
    print(f"(w) warm bnlab.train loop, one process:    {loop_wall:7.1f} s  {loop_wall / n:.3f} s per trial")  # fmt: skip
    print(f"    the trials' own epochs:                {epochs:7.1f} s  {epochs / n:.3f} s per trial")  # fmt: skip


SWEEPS = {
    "(b) Ray sweep, 1 CPU per trial:": [],
    "(c) the same, a checkpoint every epoch:": ["--checkpoint-seconds", "0"],
}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--seeds", default="0-1")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each sweep; 0 to skip")
    parser.add_argument("--tiny", type=int, default=300, help="tiny trials; 0 to skip")
    args = parser.parse_args(argv)
    first, last = (int(s) for s in args.seeds.split("-"))
    seeds = list(range(first, last + 1))
    cores = len(os.sched_getaffinity(0))
    n_trials = len(bnlab.PLACEMENTS) * len(seeds)
    if args.repeats:
        small_sweeps(args, seeds, n_trials, cores)
    if args.tiny:
        tiny(args.tiny, cores)


def small_sweeps(args, seeds: list[int], n_trials: int, cores: int) -> None:
    print(f"{n_trials} trials x {args.epochs} epochs, full data, {cores} cores")

    runs = {label: [] for label in SWEEPS}
    for _ in range(args.repeats):  # interleaved, so that drift hits every variant alike
        for label, flags in SWEEPS.items():
            with tempfile.TemporaryDirectory() as folder:
                runs[label].append(ray_sweep(args.epochs, args.seeds, Path(folder), *flags))
    loop_wall = sequential(args.epochs, seeds)
    concurrency = min(cores, n_trials)
    print(f"(a) sequential bnlab.train loop:          {loop_wall:7.1f} s")
    for label, results in runs.items():
        wall = statistics.median(w for w, _, _ in results)
        overhead = statistics.median(w - t / concurrency for w, t, _ in results)
        stderr_lines = max(n for _, _, n in results)
        print(
            f"{label:<40} {wall:7.1f} s  ratio to (a) {wall / loop_wall:.2f}  "
            f"overhead {overhead:5.1f} s  stderr lines {stderr_lines}"
        )
    print(
        f"(medians of {args.repeats} runs; overhead: sweep wall minus the trials' training time / "
        f"concurrency {concurrency}; stderr lines: the most of any run; ratio target for (b) "
        "<= 0.60)"
    )


if __name__ == "__main__":
    main()
