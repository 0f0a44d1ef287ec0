"""Tune's side of the live progress view: a progress reporter that draws a `ProgressView`.

Also keeps Tune's table for --verbose, and drops the few Tune messages that the command says
its own way.
"""

from __future__ import annotations

import contextlib
import logging

from ray import tune

from reports.console import error
from sweeps.progress import ProgressView, TrialSnapshot
from sweeps.spec import SweepSpec

TRIAL_KEY = "trial"  # Tune's config of a trial: {"trial": TrialConfig.to_dict()}
# Tune's table (--verbose) shows these; the reports read the same Keras names.
TABLE_METRICS = ["epoch", "loss", "val_accuracy"]
TABLE_PARAMS = {f"trial/{k}": k for k in ("arch", "placement", "norm", "activation", "lr", "seed")}


# What this driver draws. Tune pickles the progress reporter with the experiment and
# `Tuner.restore` brings the pickled one back, so the reporter holds no state of its own and a
# resumed sweep is drawn as its current flags say.
_view: ProgressView | None = None
_table: tune.CLIReporter | None = None
_planned: list[dict] = []  # every trial's config, `TrialConfig.to_dict()`
_earlier: list[TrialSnapshot] = []  # a settling run's trials of earlier looks, ended
_varying: tuple[str, ...] = ()  # the model fields besides the placement that vary in the grid


def _key(config: dict) -> tuple[tuple, int]:
    """A trial's grid cell and seed."""
    cell = tuple((k, str(v)) for k, v in sorted(config.items()) if k != "seed")
    return cell, int(config["seed"])


def _model(config: dict) -> str:
    """The placement, and what else varies in the grid: 'before_activation cnn 32x64 layer'."""
    words = [config["placement"]]
    for field in _varying:
        value = config[field]
        value = "x".join(map(str, value)) if isinstance(value, list | tuple) else str(value)
        if value and not (field == "norm" and value == "none"):
            words.append(value)
    return " ".join(words)


def _snapshot(config: dict, result: dict, status: str, retries: int = 0) -> TrialSnapshot:
    if status == "ERROR":
        state = "errored"
    elif status == "TERMINATED":
        state = "diverged" if result.get("status") == "diverged" else "completed"
    else:
        state = "running" if status == "RUNNING" else "pending"
    val_accuracy = result.get("val_accuracy")
    epoch_seconds = result.get("epoch_seconds")
    return TrialSnapshot(
        state=state,
        retries=retries,
        placement=_model(config),
        cell=_key(config)[0],
        lr=float(config["lr"]),
        epochs_planned=int(config["epochs"]),
        epochs_done=int(result.get("epoch", 0)),
        seconds=float(result.get("time_total_s", 0.0)),
        epoch_seconds=None if epoch_seconds is None else float(epoch_seconds),
        val_accuracy=None if val_accuracy is None else float(val_accuracy),
    )


def _snapshots(trials) -> list[TrialSnapshot]:
    """Every planned trial: as Tune sees it, or pending while Tune has not made it yet (with
    --max-concurrent, Tune makes trials only as slots free up)."""
    seen = {
        _key(t.config[TRIAL_KEY]): _snapshot(
            t.config[TRIAL_KEY], t.last_result or {}, t.status, getattr(t, "num_failures", 0)
        )
        for t in trials
    }
    for config in _planned:
        seen.setdefault(_key(config), _snapshot(config, {}, "PENDING"))
    return [*_earlier, *seen.values()]


class SweepProgress(tune.ProgressReporter):
    """Tune's progress hook: draws the driver's `ProgressView`, and Tune's table with --verbose."""

    def setup(self, *args, **kwargs):
        if _table is not None:
            _table.setup(*args, **kwargs)

    def should_report(self, trials, done: bool = False) -> bool:
        view_due = _view is not None and (done or _view.due())
        table_due = _table is not None and _table.should_report(trials, done)
        return view_due or table_due

    def report(self, trials, done: bool, *sys_info: str) -> None:
        global _view
        _say_problems(trials)
        if _table is not None:
            _table.report(trials, done, *sys_info)
        if _view is None:
            return
        try:
            _view.update(_snapshots(trials), done=done)
        except Exception as err:  # a drawing must never cost the sweep its trials
            _view.close()
            _view = None
            error(f"warning: the progress view stopped ({type(err).__name__}: {err}); the sweep goes on.")  # fmt: skip


_problems_said: set[str] = set()


def _say_problems(trials) -> None:
    """Once each, the problems trials report and go on with (a checkpoint that could not be
    written)."""
    for trial in trials:
        problem = (trial.last_result or {}).get("checkpoint_problem")
        if problem and problem not in _problems_said:
            _problems_said.add(problem)
            error(f"warning: {problem}; the trials go on")


class _SaidOurWay(logging.Filter):
    """Drops messages that this command says its own way: Tune's Python recipe to resume (the
    command prints the CLI one), Tune's list of trials that had not reported yet when it
    stopped (the summary counts unfinished trials) and TensorBoard's writer meeting a diverged
    trial's infinite loss (the view counts diverged trials)."""

    REPLACED = (
        "Experiment has been interrupted",
        "Failed to fetch metrics",
        "NaN or Inf found in input tensor",
        "Trial task failed for trial",  # retried or errored: the view counts both
        "Trials did not complete",  # the end says how many errored and where to read why
        "Stop signal received",  # the end says it was interrupted, or why it stopped
        # Advice to set TUNE_GLOBAL_CHECKPOINT_S: --checkpoint-seconds sets the cadence.
        "Experiment state snapshotting has been triggered multiple times",
    )

    # In a local run folder the storage guard names a folder gone read-only or full itself.
    LOCAL_ONLY = ("Saving experiment state to storage",)

    def __init__(self, local: bool):
        super().__init__()
        self.replaced = self.REPLACED + (self.LOCAL_ONLY if local else ())

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.replaced)


# Whether Tune said, in the experiment that ran last, that it was interrupted (a stop signal,
# or the storage guard): its result grid cannot tell, it marks stopped trials as ended.
interrupted = False
# Whether Tune's own Ctrl+C handler took a press since the command reset it: one that comes
# after Tune's loop ended (its last progress line is out) changes nothing in Tune's results.
pressed = False


class _NotesInterruption(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        global interrupted, pressed
        if str(record.msg).startswith("Experiment has been interrupted"):
            interrupted = True
        if str(record.msg).startswith("Stop signal received"):
            pressed = True
        return True


QUIETED_LOGGERS = (
    "ray.tune.tune",
    "ray.tune.analysis.experiment_analysis",
    "ray.tune.execution.tune_controller",
    "ray.tune.execution.experiment_state",
    "tensorboardX.x2num",
)


@contextlib.contextmanager
def showing(spec: SweepSpec, view: ProgressView, configs, earlier=()):
    """Draw `view` (and with --verbose Tune's table) while Tune runs the trials `configs`.

    `earlier`: a settling run's ended trials of its earlier looks (dicts with their `config`,
    `status`, `epochs` and `val_accuracy`), counted with this look's, so that the view speaks
    of every seed so far."""
    global _view, _table, _planned, _varying, _earlier, interrupted
    _view = view
    _planned = [config.to_dict() for config in configs]
    _varying = tuple(
        f
        for f in ("arch", "hidden", "conv", "norm", "activation", "input_norm")
        if len({str(c[f]) for c in _planned if c["placement"] != "none" or f != "norm"}) > 1
    )
    _earlier = [
        _snapshot(
            t["config"],
            {"epoch": t["epochs"], "val_accuracy": t["val_accuracy"], "status": t["status"]},
            "TERMINATED",
        )
        for t in earlier
    ]
    if spec.verbose:
        _table = tune.CLIReporter(
            metric_columns=TABLE_METRICS,
            parameter_columns=TABLE_PARAMS,
            max_report_frequency=10,
            max_progress_rows=30,
        )
    interrupted = False
    notes_interruption = _NotesInterruption()
    logging.getLogger("ray.tune.tune").addFilter(notes_interruption)
    said_our_way = _SaidOurWay(local=not spec.remote)
    loggers = [] if spec.verbose else [logging.getLogger(name) for name in QUIETED_LOGGERS]
    for logger in loggers:
        logger.addFilter(said_our_way)
    try:
        with view:
            yield
    finally:
        _view = _table = None
        _planned, _varying, _earlier = [], (), []
        for logger in loggers:
            logger.removeFilter(said_our_way)
        logging.getLogger("ray.tune.tune").removeFilter(notes_interruption)
