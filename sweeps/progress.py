"""The sweep's live progress view: trial counts, epochs, an ETA and the best mean val_accuracy.

Bookkeeping over plain `TrialSnapshot`s, drawn with rich: redrawn in place on a terminal, one
plain line every `interval` seconds otherwise (logs, CI). Nothing here knows Ray; `tune_runner`
turns Tune's trials into snapshots.
"""

from __future__ import annotations

import math
import statistics
import sys
import time
from collections import defaultdict
from dataclasses import dataclass

from rich.console import Console, Group
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from reports.console import drop_stdout
from reports.stats import CHANCE

STATES = ("pending", "running", "completed", "diverged", "errored")
FINISHED = ("completed", "diverged", "errored")
REDRAW_S = 1.0  # on a terminal


@dataclass(frozen=True)
class TrialSnapshot:
    """One trial as the view needs it.

    Attributes:
        state: One of `STATES`.
        placement: The trial's BN placement.
        cell: The trial's configuration without its seed; seeds of one cell are averaged.
        lr: The learning rate.
        epochs_planned: Epochs the trial will run unless it diverges.
        epochs_done: Epochs it has reported.
        seconds: Its time so far (start-up, epochs and evaluation).
        epoch_seconds: How long its last epoch took, or None before the first.
        val_accuracy: Its last reported val_accuracy, or None.
        retries: How often its worker failed and it was started again (from its checkpoint).
    """

    state: str
    placement: str
    cell: tuple
    lr: float
    epochs_planned: int
    epochs_done: int = 0
    seconds: float = 0.0
    epoch_seconds: float | None = None
    val_accuracy: float | None = None
    retries: int = 0


@dataclass(frozen=True)
class Best:
    """The best mean val_accuracy of one placement so far, and where."""

    placement: str
    mean: float
    lr: float
    seeds_reported: int
    seeds: int


@dataclass(frozen=True)
class Tally:
    counts: dict[str, int]
    epochs_done: int
    epochs_total: int
    eta_seconds: float | None
    best: list[Best]
    retries: int = 0

    @property
    def finished(self) -> int:
        return sum(self.counts[s] for s in FINISHED)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def tally(trials: list[TrialSnapshot], slots: int) -> Tally:
    """Counts, epochs, ETA and best cells of `trials`, with `slots` trials able to run at once."""
    counts = dict.fromkeys(STATES, 0)
    for t in trials:
        counts[t.state] += 1
    return Tally(
        counts=counts,
        epochs_done=sum(t.epochs_done for t in trials),
        epochs_total=sum(
            t.epochs_done if t.state in FINISHED else t.epochs_planned for t in trials
        ),
        eta_seconds=eta_seconds(trials, slots),
        best=best_per_placement(trials),
        retries=sum(t.retries for t in trials),
    )


def eta_seconds(trials: list[TrialSnapshot], slots: int) -> float | None:
    """Seconds until every trial ends, from the measured epoch times; None before the first.

    A placement's epoch time is the mean of its trials' last epochs; a trial's other time
    (start-up, evaluation) is the median of what the finished ones spent outside their epochs.
    The remaining time is shared among `slots`, but the longest running trial must finish too.
    """
    unfinished = [t for t in trials if t.state not in FINISHED]
    if not unfinished:
        return 0.0
    measured = defaultdict(list)
    for t in trials:
        if t.epoch_seconds is not None and math.isfinite(t.epoch_seconds):
            measured[t.placement].append(t.epoch_seconds)
    if not measured:
        return None
    pace = {p: statistics.fmean(v) for p, v in measured.items()}
    overall = statistics.fmean(pace.values())
    outside = [
        max(t.seconds - t.epochs_done * pace.get(t.placement, overall), 0.0)
        for t in trials
        if t.state in FINISHED and t.epochs_done
    ]
    overhead = statistics.median(outside) if outside else 0.0
    left = [_time_left(t, pace.get(t.placement, overall), overhead) for t in unfinished]
    running = [s for t, s in zip(unfinished, left, strict=True) if t.state == "running"]
    return max(sum(left) / max(slots, 1), max(running, default=0.0))


def _time_left(t: TrialSnapshot, epoch_seconds: float, overhead: float) -> float:
    epochs = max(t.epochs_planned - t.epochs_done, 0) * epoch_seconds
    return epochs + (overhead if t.state == "pending" else 0.0)


def best_per_placement(trials: list[TrialSnapshot]) -> list[Best]:
    """Each placement's cell with the highest mean val_accuracy over the seeds reported so far.

    A diverged trial scores chance, as in the report.
    """
    scores, sizes = defaultdict(list), defaultdict(int)
    for t in trials:
        sizes[t.cell] += 1
        if t.state == "diverged":
            scores[t.cell].append(CHANCE)
        elif t.val_accuracy is not None and math.isfinite(t.val_accuracy):
            scores[t.cell].append(t.val_accuracy)
    lrs = {t.cell: (t.placement, t.lr) for t in trials}
    best: dict[str, Best] = {}
    for cell, values in scores.items():
        placement, lr = lrs[cell]
        mean = sum(values) / len(values)
        if placement not in best or mean > best[placement].mean:
            best[placement] = Best(placement, mean, lr, len(values), sizes[cell])
    return [best[p] for p in sorted(best)]


class _KeepGoingConsole(Console):
    """rich ends the program when its output's reader goes away; a sweep goes on."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        drop_stdout()


def clock(seconds: float | None) -> str:
    """'4:05', '1:02:03'; '?' when unknown."""
    if seconds is None or not math.isfinite(seconds):
        return "?"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _trials_phrase(t: Tally) -> str:
    c = t.counts
    retries = f", {t.retries} {'retry' if t.retries == 1 else 'retries'}" if t.retries else ""
    return (
        f"trials {t.finished}/{t.total} done ({c['completed']} completed, {c['diverged']} "
        f"diverged, {c['errored']} errored{retries}), {c['running']} running, "
        f"{c['pending']} pending"
    )


def _eta_phrase(t: Tally) -> str:
    return f"ETA {clock(t.eta_seconds)}" if t.eta_seconds is not None else "ETA after 1st epoch"


def _best_phrase(b: Best) -> str:
    return f"{b.placement} {b.mean:.3f} (lr {b.lr:g}, {b.seeds_reported}/{b.seeds} seeds)"


def plain_line(t: Tally, elapsed: float) -> str:
    """The whole view in one line, for logs."""
    best = "; ".join(_best_phrase(b) for b in t.best) or "none yet"
    return (
        f"[{clock(elapsed)}] {_trials_phrase(t)} | epochs {t.epochs_done}/{t.epochs_total} | "
        f"{_eta_phrase(t)} | best mean val_accuracy: {best}"
    )


def panel(t: Tally, elapsed: float) -> Group:
    """The view for a terminal: a bar over the epochs, the counts, a table of the best cells."""
    bar = Table.grid(padding=(0, 1))
    bar.add_row(
        ProgressBar(total=max(t.epochs_total, 1), completed=t.epochs_done, width=40),
        f"epochs {t.epochs_done}/{t.epochs_total}",
        f"elapsed {clock(elapsed)}",
        _eta_phrase(t),
    )
    table = Table(box=None, padding=(0, 2), header_style="bold")
    for column in ("placement", "best mean val_accuracy", "at lr", "seeds"):
        table.add_column(column, justify="left" if column == "placement" else "right")
    for b in t.best:
        table.add_row(b.placement, f"{b.mean:.4f}", f"{b.lr:g}", f"{b.seeds_reported}/{b.seeds}")
    return Group(bar, Text(_trials_phrase(t)), table)


class _Text:
    """Plain text for a notebook's output area."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _notebook_output():
    """In a Jupyter kernel, an output area to redraw in place (an IPython display handle)."""
    if "ipykernel" not in sys.modules:
        return None
    from IPython import get_ipython
    from IPython.display import display

    shell = get_ipython()
    if shell is None or "IPKernelApp" not in shell.config:
        return None
    return display(_Text("starting..."), display_id=True)


class ProgressView:
    """Shows a sweep's progress: `update` it with snapshots as often as you like.

    On a terminal it redraws in place (rich's `Live`) at most every `REDRAW_S`; elsewhere it
    prints one plain line every `interval` seconds, and one at the end.

    Args:
        slots: How many trials can run at once (for the ETA).
        interval: Seconds between plain lines when the output is not a terminal.
        file: Where to draw; standard output by default.
        clock: A monotonic clock in seconds.
    """

    def __init__(
        self, slots: int, interval: float = 30.0, file=None, clock=time.monotonic, quiet=False
    ):
        self.slots = slots
        self.interval = interval
        self.console = _KeepGoingConsole(file=file or sys.stdout, highlight=False, soft_wrap=True)
        self.on_terminal = self.console.is_terminal
        self._notebook = None if (quiet or file is not None) else _notebook_output()
        self._quiet = quiet
        self._clock = clock
        self._start = clock()
        self._last_draw = self._start
        self._live: Live | None = None
        self._closed = False

    def __enter__(self) -> ProgressView:
        self._start = self._last_draw = self._clock()
        if self.on_terminal and not self._quiet and self._notebook is None:
            self._live = Live(console=self.console, auto_refresh=False, transient=False)
            self._live.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def due(self) -> bool:
        """Whether an update now would be drawn."""
        wait = REDRAW_S if (self.on_terminal or self._notebook) else self.interval
        return self._clock() - self._last_draw >= wait

    def update(self, trials: list[TrialSnapshot], done: bool = False) -> None:
        """Draw the view of `trials` if it is due (always when `done`)."""
        if self._quiet or self._closed or not (done or self.due()):
            return
        self._draw(tally(trials, self.slots))
        if done:
            self.close()

    def _draw(self, t: Tally) -> None:
        try:
            self._draw_now(t)
        except OSError as err:  # a full device, an I/O error: the sweep goes on without a view
            self._stop_drawing(err)

    def _stop_drawing(self, err: OSError) -> None:
        self._live = None
        self._closed = self.console.quiet = True
        drop_stdout(f"standard output could not be written ({err.strerror or err})")

    def _draw_now(self, t: Tally) -> None:
        self._last_draw = now = self._clock()
        elapsed = now - self._start
        if self._live is not None:
            self._live.update(panel(t, elapsed), refresh=True)
        elif self._notebook is not None:
            self._notebook.update(_Text(plain_line(t, elapsed)))
        else:
            self.console.print(plain_line(t, elapsed), markup=False, crop=False)
            self.console.file.flush()

    def close(self) -> None:
        """End the view: on a terminal the last drawing stays on the screen."""
        self._closed = True
        if self._live is not None:
            try:
                self._live.stop()
            except OSError as err:
                self._stop_drawing(err)
            self._live = None
