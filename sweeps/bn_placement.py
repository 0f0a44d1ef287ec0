"""`python -m sweeps.bn_placement`: the BN placement x learning rate study, run with Ray Tune.

Exit codes: 0 every trial ended (completed or diverged); 1 a trial errored after its retries;
2 a bad argument (nothing was started or written); 130 interrupted (resume with --resume).
"""

from __future__ import annotations

import json
import os
import shlex
import sys
import time

from bnlab import DatasetError, load_fashion_mnist
from sweeps.spec import SPEC_FILE, SpecError, SweepSpec, load_stored_spec, parse_spec


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def _check_resume(spec: SweepSpec) -> None:
    stored = load_stored_spec(spec.run_dir)
    differences = spec.grid_differences(stored)
    if differences:
        raise SpecError(
            f"--resume: run {spec.name!r} was started with a different grid "
            f"({'; '.join(differences)}); rerun with its flags or choose a new --name."
        )


def print_plan(spec: SweepSpec) -> None:
    configs = spec.trial_configs()
    where = spec.address or f"embedded local Ray ({spec.num_cpus} CPUs, {spec.num_gpus:g} GPUs)"
    print(
        f"{len(configs)} trials on {where}; each {spec.cpus_per_trial} CPU, "
        f"{spec.gpus_per_trial:g} GPU; at most {spec.max_concurrent or 'as many as fit'} at once"
    )
    print(f"results: {spec.run_dir}{' (resuming)' if spec.resume else ''}")
    print(
        f"{'#':>3}  {'placement':<18} {'lr':>8} {'seed':>4} {'epochs':>6} {'batch':>5} "
        f"{'optimizer':<9} hidden"
    )
    for i, c in enumerate(configs):
        hidden = "x".join(map(str, c.hidden))
        print(
            f"{i:>3}  {c.placement:<18} {c.lr:>8g} {c.seed:>4} {c.epochs:>6} "
            f"{c.batch_size:>5} {c.optimizer:<9} {hidden}"
        )


def _summary(trials) -> str:
    if trials.empty:
        return "no trials recorded"
    table = trials.groupby(["placement", "lr"], sort=True).agg(
        seeds=("seed", "nunique"),
        val_accuracy=("final_val_accuracy", "mean"),
        test_accuracy=("test_accuracy", "mean"),
        diverged=("status", lambda s: int((s == "diverged").sum())),
    )
    return table.to_string(float_format=lambda v: f"{v:.4f}")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        spec = parse_spec(argv)
        if spec.resume:
            _check_resume(spec)
    except SpecError as err:
        return _fail(str(err))
    command = "python -m sweeps.bn_placement " + shlex.join(argv)
    spec = SweepSpec.from_dict({**spec.to_dict(), "command": command.strip()})
    if spec.dry_run:
        print_plan(spec)
        return 0
    try:
        data = load_fashion_mnist(spec.data_dir)
    except DatasetError as err:
        return _fail(" ".join(str(err).split()))

    # Tune's classic progress table lets us pick the columns (placement, lr, seed, epoch, ...).
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    from sweeps import tune_runner

    try:
        tune_runner.start_ray(spec)
    except SpecError as err:
        return _fail(str(err))
    start = time.time()
    try:
        print_plan(spec)
        spec.run_dir.mkdir(parents=True, exist_ok=True)
        if not (spec.run_dir / SPEC_FILE).exists():
            (spec.run_dir / SPEC_FILE).write_text(json.dumps(spec.to_dict(), indent=2))
        tune_runner.run_sweep(spec, data)
    finally:
        import ray

        ray.shutdown()
    return _finish(spec, time.time() - start)


def _finish(spec: SweepSpec, wall_seconds: float) -> int:
    from reports import load_frames, write_report

    _, trials = load_frames(spec.run_dir)
    print(f"\n{_summary(trials)}\n")
    if spec.report:
        page = write_report(spec.run_dir, sweep_wall_seconds=wall_seconds)
        print(f"report: {page}")
    unfinished = int((trials["status"] == "running").sum())
    errored = int((trials["status"] == "errored").sum())
    if unfinished:
        print(
            f"interrupted: {unfinished} trials unfinished; continue with: "
            f"python -m sweeps.bn_placement --resume --name {spec.name} "
            f"--output-dir {shlex.quote(spec.output_dir)}",
            file=sys.stderr,
        )
        return 130
    if errored:
        print(f"{errored} trials errored; see their error.txt in {spec.run_dir}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
