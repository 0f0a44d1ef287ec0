"""`python -m sweeps.bn_placement`: the BN placement x learning rate study, run with Ray Tune.

Exit codes: 0 every trial ended (completed or diverged); 1 a trial errored after its retries;
2 a bad argument (nothing was started or written); 130 interrupted (resume with --resume).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shlex
import signal
import sys
import tempfile
import time
from pathlib import Path

from bnlab import DatasetError, describe_model, load_fashion_mnist
from reports import storage
from reports.atomic import write_text
from reports.console import say
from sweeps.grid import model_label
from sweeps.run_folder import SPEC_FILE, run_lock
from sweeps.spec import SpecError, SweepSpec, parse_spec


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def print_plan(spec: SweepSpec, every_trial: bool = True) -> None:
    configs = spec.trial_configs()
    where = spec.address or f"embedded local Ray ({spec.num_cpus} CPUs, {spec.num_gpus:g} GPUs)"
    first = f"{len(configs)} trials"
    if spec.settle:
        first += f" in the first look (then seeds only where needed, up to {spec.max_seeds})"
    lines = [
        f"{first} on {where}; each {spec.cpus_per_trial} CPU, "
        f"{spec.gpus_per_trial:g} GPU; at most {spec.max_concurrent or 'as many as fit'} at once",
        f"results: {spec.run_location}{' (resuming)' if spec.resume else ''}",
    ]
    if every_trial:
        models = {}
        for config in spec.variants():
            models[tuple(config.model_fields.values())] = f"m{len(models) + 1}"
            lines.append(f"{models[tuple(config.model_fields.values())]:<5} {_model_line(config)}")
        lines.append(
            f"{'#':>3}  {'model':<5} {'placement':<18} {'lr':>8} {'seed':>4} {'epochs':>6} "
            f"{'batch':>5} optimizer"
        )
        lines += [
            f"{i:>3}  {models[tuple(c.model_fields.values())]:<5} {c.placement:<18} {c.lr:>8g} "
            f"{c.seed:>4} {c.epochs:>6} {c.batch_size:>5} {c.optimizer}"
            for i, c in enumerate(configs)
        ]
    say(*lines)


def _model_line(config) -> str:
    """A model's words, layers and parameter count on one line."""
    description = describe_model(config)
    params = description.params
    frozen = f" ({params.non_trainable:,} non-trainable)" if params.non_trainable else ""
    return f"{model_label(config)}: {description.line()}; {params.total:,} parameters{frozen}"


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


def resume_command(spec: SweepSpec) -> str:
    return (
        f"python -m sweeps.bn_placement --resume --name {shlex.quote(spec.name)} "
        f"--output-dir {shlex.quote(spec.output_dir)}"
    )


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


@contextlib.contextmanager
def _deferred_interrupt():
    """Hold Ctrl+C and SIGTERM while Ray starts (interrupting its start-up can leave processes
    behind or crash); they take effect as a KeyboardInterrupt as soon as the block ends."""
    pressed = []
    previous = {s: signal.signal(s, lambda *_: pressed.append(True)) for s in STOP_SIGNALS}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    if pressed:
        raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # `kill`, a scheduler or `ray job stop` sends SIGTERM: stop as cleanly as on Ctrl+C.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        spec = parse_spec(argv)
    except SpecError as err:
        return _fail(str(err))
    command = "python -m sweeps.bn_placement " + shlex.join(argv)
    spec = SweepSpec.from_dict({**spec.to_dict(), "command": command.strip()})
    if spec.dry_run:
        print_plan(spec)
        return 0
    try:
        data = load_fashion_mnist(spec.data_dir)
        with run_lock(_lock_folder(spec)):
            return _run(spec, data)
    except DatasetError as err:
        return _fail(" ".join(str(err).split()))
    except SpecError as err:
        return _fail(str(err))
    except storage.StorageError as err:  # the run's storage refused a write or a read
        return _fail(f"--output-dir: {err}")
    except KeyboardInterrupt:
        print(
            f"interrupted before Ray started; nothing was started or changed. Run again: {spec.command}",
            file=sys.stderr,
        )
        return 130


def _lock_folder(spec: SweepSpec) -> Path:
    """The run folder, or for a storage URI a local folder named after it: object stores have
    no locks, so two sweeps are kept apart on the machine that drives them."""
    if not spec.remote:
        return spec.run_dir
    digest = hashlib.sha256(spec.run_location.encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / "bnlab-locks" / f"{spec.name}-{digest}"


def _write_spec(spec: SweepSpec) -> None:
    location = storage.join(spec.run_location, SPEC_FILE)
    if spec.remote:
        if storage.read_text(location) is None:
            storage.write_text(location, json.dumps(spec.to_dict(), indent=2))
    elif not Path(location).exists():
        write_text(location, json.dumps(spec.to_dict(), indent=2))


def _run(spec: SweepSpec, data) -> int:
    # Tune's classic output engine is the one that calls a custom progress reporter.
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    # Token authentication, chosen rather than defaulted (Ray warns when it picks it for us);
    # clusters from `ray start` use tokens too. Ray reads this once, when it is imported.
    os.environ.setdefault("RAY_AUTH_MODE", "token")
    start = time.time()
    started = False
    with _deferred_interrupt():
        from sweeps import tune_runner
        from sweeps.progress import ProgressView
    try:
        with _deferred_interrupt():
            resources = tune_runner.start_ray(spec)
        print_plan(spec, every_trial=False)
        _write_spec(spec)
        started = True
        slots = tune_runner.slots(spec, resources)

        def run_look(configs, experiment: str | None = None) -> None:
            view = ProgressView(slots, interval=spec.progress_seconds)
            look = tune_runner.grid_experiment(spec)
            if experiment is not None:
                look = tune_runner.Experiment(tuple(configs), experiment, spec.run_location, True)
            tune_runner.run_sweep(spec, data, view, look)

        if spec.settle:
            from sweeps.settle import settle

            settle(spec, run_look)
        else:
            run_look(spec.trial_configs())
    except KeyboardInterrupt:
        pass  # counted below: the trials that did not end say it was interrupted
    finally:
        # Stopping Ray must finish, or its processes outlive the command: hold further Ctrl+C.
        previous = {s: signal.signal(s, signal.SIG_IGN) for s in STOP_SIGNALS}
        tune_runner.stop_ray()
        for s, handler in previous.items():
            signal.signal(s, handler)
    if not started:
        again = resume_command(spec) if spec.resume else spec.command
        print(f"interrupted before any trial started; run again: {again}", file=sys.stderr)
        return 130
    try:
        return _finish(spec, time.time() - start)
    except storage.StorageError as err:
        print(f"error: reading the results back failed: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(
            f"interrupted while writing the report; the results are kept. Continue with: "
            f"{resume_command(spec)}",
            file=sys.stderr,
        )
        return 130


def _finish(spec: SweepSpec, wall_seconds: float) -> int:
    with tempfile.TemporaryDirectory(prefix="bnlab-run-") as scratch:
        # A run in object storage is read through a local copy of its small files.
        run_dir = storage.fetch_run(spec.run_location, scratch) if spec.remote else spec.run_dir
        return _summarize(spec, run_dir, wall_seconds)


def _summarize(spec: SweepSpec, run_dir: Path, wall_seconds: float) -> int:
    """Say what the run shows: the report and its answer in three lines, or without a report
    the placement x lr table."""
    from reports import load_frames
    from reports.html import compute, summary, write_report

    report_failed = False
    trials = None
    if spec.report:
        try:
            frames = compute(run_dir)  # the report's frames, the run read once
            trials = frames["trials"]
            page = write_report(
                run_dir,
                sweep_wall_seconds=wall_seconds,
                report_dir=spec.report_location,
                frames=frames,
            )
            say(f"report: {page.resolve()}", *(f"  {line}" for line in summary(frames)))
        except Exception as err:  # the trials are safe on disk; say so rather than crash
            report_failed = True
            print(
                f"error: the report failed ({type(err).__name__}: {err}); the results are kept "
                f"in {spec.run_location}: retry with: python -m reports "
                f"{shlex.quote(spec.run_location)}",
                file=sys.stderr,
            )
    if trials is None:
        _, trials = load_frames(run_dir)
    if not spec.report:
        say("", _summary(trials), "")
    expected = len(spec.trial_configs())
    design_left = False
    if spec.settle:
        from sweeps.settle import finished, planned_trials

        expected = planned_trials(spec)
        design_left = not finished(spec)
    ended = int(trials["status"].isin(["completed", "diverged"]).sum())
    errored = int((trials["status"] == "errored").sum())
    unfinished = expected - ended - errored
    if unfinished > 0 or design_left:
        what = (
            f"{unfinished} of {expected} trials unfinished"
            if unfinished > 0
            else "stopped between two looks; the next one was not planned yet"
        )
        print(f"interrupted: {what}; continue with: {resume_command(spec)}", file=sys.stderr)
        return 130
    if errored:
        print(
            f"{errored} trials errored; see their error.txt in {spec.run_location}",
            file=sys.stderr,
        )
        return 1
    return 1 if report_failed else 0


if __name__ == "__main__":
    sys.exit(main())
