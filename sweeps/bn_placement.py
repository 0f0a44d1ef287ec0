"""`python -m sweeps.bn_placement`: the BN placement x learning rate study, run with Ray Tune.

Exit codes: 0 every trial ended (completed or diverged); 1 a trial errored after its retries;
2 a bad argument (nothing was started or written) or the environment failed (the disk, Ray's
processes); 130 interrupted (resume with --resume).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import json
import logging
import os
import shlex
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

from bnlab import DatasetError, describe_model, load_fashion_mnist
from reports import storage
from reports.atomic import write_text
from reports.console import error, exit_at_once, guard_streams, say, stdout_lost
from reports.painters import Painters
from sweeps import room
from sweeps.grid import model_label, small_batch_warning
from sweeps.run_folder import SPEC_FILE, folder_identity, remove_remade, run_lock
from sweeps.spec import SpecError, SweepSpec, loaded_data, parse_spec


class RunStopped(RuntimeError):
    """The sweep stopped on a fault of its environment once it had started (exit code 2): the
    disk filled, the run folder became read-only or was removed. The message says what
    happened and the command that continues (or starts again)."""


def _fail(message: str) -> int:
    error(f"error: {message}")
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
    if spec.data:
        n_train, n_val, n_test = spec.data_sizes
        lines.append(f"data: {spec.data} (train / validation / test {n_train} / {n_val} / {n_test}, {spec.shape.words()})")  # fmt: skip
    if every_trial:
        models = {}
        for config in spec.variants():
            models[tuple(config.model_fields.values())] = f"m{len(models) + 1}"
            label = models[tuple(config.model_fields.values())]
            lines.append(f"{label:<5} {_model_line(config, spec.shape)}")
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


def _model_line(config, shape) -> str:
    """A model's words, layers and parameter count on one line."""
    description = describe_model(config, shape)
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
    """How to continue the run: the command line, or the Python call that started it."""
    if spec.command.startswith("sweeps.run("):
        return f"sweeps.run(name={spec.name!r}, output_dir={spec.output_dir!r}, resume=True)"
    return (
        f"python -m sweeps.bn_placement --resume --name {shlex.quote(spec.name)} "
        f"--output-dir {shlex.quote(spec.output_dir)}"
    )


def with_command(spec: SweepSpec, command: str) -> SweepSpec:
    """The spec, remembering how it was started (the report shows it; resumes repeat it)."""
    return SweepSpec.from_dict({**spec.to_dict(), "command": command.strip()})


def one_line(err: Exception, spec: SweepSpec | None = None) -> str:
    """What went wrong before the sweep started, in one line, as the command line says it."""
    if isinstance(err, storage.StorageError):
        return f"--output-dir: {err}"
    return " ".join(str(err).split())


# Ctrl+C; `kill`, a scheduler or `ray job stop`; a closed terminal.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


@contextlib.contextmanager
def _deferred_interrupt():
    """Record Ctrl+C, SIGTERM and SIGHUP instead of raising them inside the block (an import,
    Ray's start-up, which an exception could leave half-done); they take effect as a
    KeyboardInterrupt as soon as the block ends. The block gets the record: Ray's start watches
    it and stops at once (`startup.bounded`)."""
    pressed = []
    previous = {s: signal.signal(s, lambda *_: pressed.append(True)) for s in STOP_SIGNALS}
    try:
        yield pressed
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    if pressed:
        raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    guard_streams()
    # SIGTERM (`kill`, a scheduler, `ray job stop`) and SIGHUP (the terminal closed) stop the
    # sweep as cleanly as Ctrl+C does.
    for stop in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(stop, _interrupt)
    try:
        spec = parse_spec(argv)
    except SpecError as err:
        return _fail(str(err))
    except OSError as err:  # a path given on the command line that the system refuses
        return _fail(f"{err.filename!r}: {err.strerror}; check the paths given.")
    spec = with_command(spec, "python -m sweeps.bn_placement " + shlex.join(argv))
    _warn(spec)
    if spec.dry_run:
        print_plan(spec)
        if stdout_lost():
            return _fail(f"the plan could not be shown: {stdout_lost()}.")
        return 0
    try:
        code = execute(spec, early_report=True)
    except (DatasetError, SpecError, storage.StorageError) as err:
        return _fail(one_line(err, spec))
    except RunStopped as err:
        return _fail(str(err))
    if stdout_lost():
        error(f"warning: {stdout_lost()}; the results are in {spec.run_location}.")
    return code


def _warn(spec: SweepSpec) -> None:
    """Warnings about a grid that runs but may not do what was meant: trials that may not fit
    in memory together, batch norm on one-example batches."""
    if spec.address is None:
        slots = spec.max_concurrent or max(1, (spec.num_cpus or 1) // spec.cpus_per_trial)
        _, warning = room.memory_problem(spec.trial_configs(), slots, spec.shape)
        if warning:
            error(warning)
    warning = small_batch_warning(spec)
    if warning:
        error(warning)


def execute(spec: SweepSpec, early_report: bool = False) -> int:
    """Run (or resume) the sweep `spec`: the command line's and `sweeps.run`'s common core.

    `early_report` (the command line's): load the report's modules while the trials run and
    compute its frames while Ray stops, in threads, with painter processes
    (`reports.painters`) started with the trials drawing its figures meanwhile, so the report
    adds little after the last trial.
    Off for `sweeps.run`: in a process that lives on (a notebook's kernel), a sweep run again
    after a stopped one could end the process ("The core worker has already been shutdown"),
    seen with those threads under load and never without them.

    Returns:
        The exit code (0, 1 or 130; see the module docstring), having said why on stderr.

    Raises:
        DatasetError, SpecError, StorageError: Before anything started (exit code 2).
        RunStopped: A fault of the environment stopped the sweep (exit code 2).
    """
    try:
        data = loaded_data(spec) if spec.data else load_fashion_mnist(spec.data_dir)
        with run_lock(_lock_folder(spec)), contextlib.ExitStack() as until_done:
            return _run(spec, data, early_report, until_done)
    except KeyboardInterrupt:
        error(f"interrupted before Ray started; nothing was started or changed; run again: {spec.command}")  # fmt: skip
        return 130


def _lock_folder(spec: SweepSpec) -> Path:
    """The run folder, or for a storage URI a local folder named after it: object stores have
    no locks, so two sweeps are kept apart on the machine that drives them."""
    if not spec.remote:
        return spec.run_dir
    digest = hashlib.sha256(storage.canonical(spec.run_location).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / "bnlab-locks" / f"{spec.name}-{digest}"


def _write_spec(spec: SweepSpec) -> None:
    location = storage.join(spec.run_location, SPEC_FILE)
    if spec.remote:
        if storage.read_text(location) is None:
            storage.write_text(location, json.dumps(spec.to_dict(), indent=2))
    elif not Path(location).exists():
        write_text(location, json.dumps(spec.to_dict(), indent=2))


def _run(spec: SweepSpec, data, early_report: bool, until_done: contextlib.ExitStack) -> int:
    # Tune's classic output engine is the one that calls a custom progress reporter.
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    # Token authentication, chosen rather than defaulted (Ray warns when it picks it for us);
    # clusters from `ray start` use tokens too. Ray reads this once, when it is imported.
    os.environ.setdefault("RAY_AUTH_MODE", "token")
    if not spec.verbose:  # in Jupyter, importing Ray logs that ipywidgets is not installed
        logging.getLogger("ray.widgets.util").setLevel(logging.WARNING)
        # A trial's error reaches Tune (and error.txt) and our one line; Ray would add the
        # same error again, as a traceback, for each result Tune no longer waited for.
        os.environ.setdefault("RAY_IGNORE_UNHANDLED_ERRORS", "1")
    start = time.time()
    started = pressed_while_running = pressed_while_stopping = False
    with _deferred_interrupt():
        from sweeps import tune_progress, tune_runner
        from sweeps.progress import ProgressView
    tune_progress.pressed = False
    tune_ended = [False]  # whether Tune ended every trial of the last experiment it ran
    painters = None
    try:
        with _deferred_interrupt() as pressed:
            again = resume_command(spec) if spec.resume else spec.command
            resources = tune_runner.start_ray(spec, pressed, again, resume_command(spec))
        if not spec.quiet:
            print_plan(spec, every_trial=False)
        _write_spec(spec)
        identity = None if spec.remote else folder_identity(spec.run_dir)
        started = True
        if spec.report and early_report:
            _preload_report()
            # Their imports, at low priority, cost the trials little; the figures then take
            # little after the last trial.
            painters = until_done.enter_context(Painters())
        slots = tune_runner.slots(spec, resources)

        def run_look(configs, experiment: str | None = None, earlier=()) -> None:
            view = ProgressView(slots, interval=spec.progress_seconds, quiet=spec.quiet)
            look = tune_runner.grid_experiment(spec)
            if experiment is not None:
                look = tune_runner.Experiment(tuple(configs), experiment, spec.run_location, True)
            grid = tune_runner.run_sweep(spec, data, view, look, earlier)
            tune_ended[0] = not tune_progress.interrupted and len(grid) > 0

        if spec.settle:
            from sweeps.settle import settle

            settle(spec, run_look)
        else:
            run_look(spec.trial_configs())
    except KeyboardInterrupt:
        pressed_while_running = True  # the trials that did not end say it too
    finally:
        ahead = (
            _compute_ahead(spec, painters)
            if early_report and started and spec.report and not spec.remote
            else None
        )
        # Stopping Ray must finish, or its processes outlive the command: a press meanwhile
        # counts once Ray is down (no report is written then).
        try:
            with _deferred_interrupt():
                tune_runner.stop_ray()
        except KeyboardInterrupt:
            pressed_while_stopping = True
    if not started:
        again = resume_command(spec) if spec.resume else spec.command
        error(f"interrupted before any trial started; run again: {again}")
        return 130
    # Trials that failed on a folder gone read-only can end the run before the guard looked.
    stopped_because = tune_runner.stopped_because
    if stopped_because is None and not spec.remote:
        stopped_because = room.StorageGuard(spec.run_dir, keep_free=0).check()
    if stopped_because and not spec.remote and not (spec.run_dir / SPEC_FILE).is_file():
        raise RunStopped(_removed(spec, identity))
    if stopped_because:
        raise RunStopped(
            f"{stopped_because}; the sweep stopped with what it had written whole. Fix that, "
            f"then continue with: {resume_command(spec)}"
        )
    if pressed_while_stopping:
        error(f"interrupted; the results are kept. Continue with: {resume_command(spec)}")
        return 130
    try:
        pressed = pressed_while_running or tune_progress.pressed
        return _finish(spec, time.time() - start, tune_ended[0], pressed, ahead, painters)
    except storage.StorageError as err:
        error(f"error: reading the results back failed: {err}")
        return 1
    except KeyboardInterrupt:
        error(f"interrupted while writing the report; the results are kept. Continue with: {resume_command(spec)}")  # fmt: skip
        return 130


def _removed(spec: SweepSpec, identity) -> str:
    """What to say when the run's spec is gone mid-run: its folder removed (what Tune wrote
    into the folder it made again is removed too, so that starting again works), or the spec
    alone deleted (the results stay)."""
    spec_file = spec.run_dir / SPEC_FILE
    if folder_identity(spec.run_dir) == identity:
        return (
            f"{str(spec_file)!r} was deleted while the sweep ran; the results are kept but "
            f"cannot be continued without it: report them with python -m reports "
            f"{shlex.quote(str(spec.run_dir))}, or start again under another --name"
        )
    if remove_remade(spec.run_dir, identity):
        return (
            f"the run folder {str(spec.run_dir)!r} was removed while the sweep ran; nothing of "
            f"it is left to continue. Start it again: {spec.command}"
        )
    return (
        f"the run folder {str(spec.run_dir)!r} was removed while the sweep ran, and something "
        "other than the sweep has written into it since, so it was left as it is; move it "
        f"away, then start again: {spec.command}"
    )


def _preload_report() -> None:
    """Load the report's statistics in a thread while the trials run (the driver mostly waits
    then): about a second less between the last trial and the report."""

    def load() -> None:
        with contextlib.suppress(Exception):  # loaded again, and any error said, when used
            importlib.import_module("reports.html")
            importlib.import_module("reports.stats").load_libraries()

    threading.Thread(target=load, name="report-preload", daemon=True).start()


def _compute_ahead(spec: SweepSpec, painters):
    """Compute the report's frames in a thread while Ray stops (its stop is mostly waiting
    for its processes to end), and have `painters` draw the figures; returns a function
    giving the frames (or raising what went wrong). Tune has written every result when it
    returns; the frames are only read, so a stop signal meanwhile leaves nothing half-done."""
    done: dict = {}

    def work() -> None:
        try:
            from reports.html import compute

            # The figures do not depend on which unfinished trials `_stopped` will mark.
            done["frames"] = compute(spec.run_dir, painters)
        except Exception as err:  # raised where the frames are used, as before
            done["error"] = err

    thread = threading.Thread(target=work, name="report-frames", daemon=True)
    thread.start()

    def frames():
        thread.join()
        if "error" in done:
            raise done["error"]
        return done["frames"]

    return frames


def _finish(
    spec: SweepSpec,
    wall_seconds: float,
    tune_ended: bool,
    pressed: bool,
    ahead=None,
    painters=None,
) -> int:
    with storage.readable_run(spec.run_location) as run_dir:
        return _summarize(spec, run_dir, wall_seconds, tune_ended, pressed, ahead, painters)


def _summarize(
    spec: SweepSpec,
    run_dir: Path,
    wall_seconds: float,
    tune_ended: bool,
    pressed: bool,
    ahead=None,
    painters=None,
) -> int:
    """Say what the run shows: the report and its answer in three lines, or without a report
    the placement x lr table. `tune_ended`: Tune ended every trial it ran (so trials without a
    final result have damaged results, not unfinished work); `pressed`: a stop signal came
    while the trials ran (exit 130 even if it came as the last one ended); `ahead`: what
    `_compute_ahead` returned, if it ran; `painters`: `reports.painters.Painters` for the
    figures, if started."""
    from reports import load_frames
    from reports.html import compute, summary, write_report

    report_failed = False
    trials = None
    if spec.report:
        try:
            # The report's frames, the run read once.
            frames = compute(run_dir) if ahead is None else ahead()
            trials = frames["trials"] = _stopped(frames["trials"])
            page = write_report(
                run_dir,
                sweep_wall_seconds=wall_seconds,
                report_dir=spec.report_location,
                frames=frames,
                protected=() if spec.remote else (Path(spec.output_dir),),
                painters=painters,
            )
            if not spec.quiet:
                say(f"report: {page.resolve()}", *(f"  {line}" for line in summary(frames)))
        except Exception as err:  # the trials are safe on disk; say so rather than crash
            report_failed = True
            chosen = f" --report-dir {shlex.quote(spec.report_dir)}" if spec.report_dir else ""
            error(
                f"error: the report failed ({type(err).__name__}: {err}); the results are kept "
                f"in {spec.run_location}: retry with: python -m reports "
                f"{shlex.quote(spec.run_location)}{chosen}"
            )
    if trials is None:
        trials = _stopped(load_frames(run_dir)[1])
    if not spec.report and not spec.quiet:
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
    if unfinished > 0 and tune_ended and not spec.settle:
        left = trials.loc[~trials["status"].isin(["completed", "diverged", "errored"]), "trial_id"]
        error(
            f"error: {unfinished} of {expected} trials ended but their results are damaged (a cut "
            f"or garbled result.json in {spec.run_location}: {', '.join(left.astype(str)[:3])}); "
            "the report leaves them out and a resume cannot redo them: run them under another --name."
        )
        return 1
    if unfinished > 0 or design_left:
        what = (
            f"{unfinished} of {expected} trials unfinished"
            if unfinished > 0
            else "stopped between two looks; the next one was not planned yet"
        )
        error(f"interrupted: {what}; continue with: {resume_command(spec)}")
        return 130
    if pressed:
        error(
            f"interrupted as the last trial ended; every trial's results are kept. Continue "
            f"with: {resume_command(spec)}"
        )
        return 130
    if errored:
        error(f"{errored} trials errored; see their error.txt in {spec.run_location}")
        return 1
    return 1 if report_failed else 0


def _stopped(trials):
    """The run's trials once the sweep has stopped: none is running any more, so a trial
    without a final result was interrupted."""
    return trials.assign(status=trials["status"].replace("running", "interrupted"))


if __name__ == "__main__":
    exit_at_once(main())
