"""Sweep benchmark: a plain sequential loop of `bnlab.train` against the Ray sweep.

    python -m benchmarks.sweep [--epochs 2] [--seeds 0-1]

Same grid both ways (3 placements x 2 seeds, SGD 1e-3, full data): (a) one process, trial after
trial, TensorFlow using every core; (b) `python -m sweeps.bn_placement` with 1 CPU per trial.
Prints both wall times, the ratio (b)/(a) and the orchestration overhead: the sweep's wall time
minus the trials' own training time divided by the concurrency.
"""

from __future__ import annotations

import argparse
import os
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


def ray_sweep(epochs: int, seeds: str, out: Path) -> tuple[float, float]:
    command = [
        sys.executable, "-m", "sweeps.bn_placement", "--lrs", "0.001", "--seeds", seeds,
        "--epochs", str(epochs), "--cpus-per-trial", "1", "--output-dir", str(out),
        "--name", "bench", "--no-report",
    ]  # fmt: skip
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    wall = time.perf_counter() - start
    _, trials = load_frames(out / "bench")
    return wall, float(trials["wall_seconds"].sum())


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--seeds", default="0-1")
    args = parser.parse_args(argv)
    first, last = (int(s) for s in args.seeds.split("-"))
    seeds = list(range(first, last + 1))
    cores = len(os.sched_getaffinity(0))
    n_trials = len(bnlab.PLACEMENTS) * len(seeds)
    print(f"{n_trials} trials x {args.epochs} epochs, full data, {cores} cores")

    with tempfile.TemporaryDirectory() as folder:
        sweep_wall, trial_seconds = ray_sweep(args.epochs, args.seeds, Path(folder))
    loop_wall = sequential(args.epochs, seeds)
    concurrency = min(cores, n_trials)
    overhead = sweep_wall - trial_seconds / concurrency
    print(f"(a) sequential bnlab.train loop: {loop_wall:7.1f} s")
    print(f"(b) Ray sweep, 1 CPU per trial:  {sweep_wall:7.1f} s")
    print(f"ratio (b)/(a): {sweep_wall / loop_wall:.2f} (target <= 0.60)")
    print(
        f"orchestration overhead: {overhead:.1f} s (sweep wall minus {trial_seconds:.1f} s of "
        f"trial training time / concurrency {concurrency})"
    )


if __name__ == "__main__":
    main()
