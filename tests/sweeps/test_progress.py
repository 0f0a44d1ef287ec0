"""The progress view's bookkeeping and drawing, on hand-made trial snapshots."""

import dataclasses
import io

import pytest

from sweeps.progress import (
    REDRAW_S,
    ProgressView,
    TrialSnapshot,
    best_per_placement,
    clock,
    eta_seconds,
    plain_line,
    tally,
)


def snap(state, placement="none", lr=0.1, done=0, seconds=0.0, epoch_s=None, val=None, planned=10):
    return TrialSnapshot(
        state=state,
        placement=placement,
        cell=(placement, lr),
        lr=lr,
        epochs_planned=planned,
        epochs_done=done,
        seconds=seconds,
        epoch_seconds=epoch_s,
        val_accuracy=val,
    )


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_counts_and_epochs_count_a_diverged_trial_s_epochs_as_its_total():
    t = tally(
        [
            snap("completed", done=10),
            snap("diverged", done=3),
            snap("errored", done=2),
            snap("running", done=4),
            snap("pending"),
        ],
        slots=2,
    )
    assert t.counts == {"pending": 1, "running": 1, "completed": 1, "diverged": 1, "errored": 1}
    assert (t.finished, t.total) == (3, 5)
    assert (t.epochs_done, t.epochs_total) == (19, 10 + 3 + 2 + 10 + 10)


def test_no_eta_before_any_epoch_and_zero_when_everything_ended():
    assert eta_seconds([snap("running"), snap("pending")], slots=2) is None
    assert eta_seconds([snap("completed", done=10, epoch_s=1.0)], slots=2) == 0.0


def test_eta_shares_the_remaining_epochs_among_the_slots():
    # 2 s per epoch; the finished trial spent 25 - 10 * 2 = 5 s outside its epochs.
    trials = [
        snap("completed", done=10, seconds=25.0, epoch_s=2.0),
        snap("running", done=4, seconds=9.0, epoch_s=2.0),
        snap("pending"),
        snap("pending"),
    ]
    # running: 6 epochs left = 12 s; each pending: 10 epochs + 5 s = 25 s; two slots.
    assert eta_seconds(trials, slots=2) == pytest.approx((12 + 25 + 25) / 2)
    assert eta_seconds(trials, slots=1) == pytest.approx(12 + 25 + 25)


def test_eta_is_at_least_the_longest_running_trial():
    trials = [snap("running", done=0, epoch_s=3.0), snap("running", done=9, epoch_s=3.0)]
    assert eta_seconds(trials, slots=8) == pytest.approx(30.0)


def test_eta_uses_each_placement_s_own_epoch_time():
    trials = [
        snap("running", "none", done=5, epoch_s=1.0),
        snap("running", "after_activation", done=5, epoch_s=3.0),
        snap("pending", "before_activation"),  # not measured yet: the mean pace, 2 s
    ]
    assert eta_seconds(trials, slots=1) == pytest.approx(5 * 1.0 + 5 * 3.0 + 10 * 2.0)


def test_best_cell_per_placement_averages_seeds_and_scores_divergence_as_chance():
    trials = [
        snap("completed", "none", lr=0.1, val=0.80),
        snap("completed", "none", lr=0.1, val=0.90),
        snap("completed", "none", lr=1.0, val=0.95),
        snap("diverged", "none", lr=1.0),  # mean (0.95 + 0.1) / 2 = 0.525
        snap("running", "before_activation", lr=1.0, val=0.70),
        snap("pending", "before_activation", lr=1.0),
        snap("running", "after_activation", lr=1.0),  # nothing reported yet
    ]
    best = {b.placement: b for b in best_per_placement(trials)}
    assert set(best) == {"none", "before_activation"}
    assert (best["none"].lr, best["none"].mean) == (0.1, pytest.approx(0.85))
    assert (best["none"].seeds_reported, best["none"].seeds) == (2, 2)
    assert (best["before_activation"].seeds_reported, best["before_activation"].seeds) == (1, 2)


def test_clock_format():
    assert [clock(s) for s in (0, 59.6, 245, 3723, None, float("nan"))] == [
        "0:00", "1:00", "4:05", "1:02:03", "?", "?",
    ]  # fmt: skip


def test_plain_line_says_counts_epochs_eta_and_best():
    t = tally([snap("completed", done=10, seconds=20.0, epoch_s=2.0, val=0.8), snap("pending")], 1)
    line = plain_line(t, elapsed=65)
    assert line.startswith("[1:05] trials 1/2 done (1 completed, 0 diverged, 0 errored)")
    assert "0 running, 1 pending" in line and "epochs 10/20" in line and "ETA 0:20" in line
    assert line.endswith("best mean val_accuracy: none 0.800 (lr 0.1, 1/2 seeds)")


def test_retried_trials_are_counted_not_shown_as_tracebacks():
    retried = dataclasses.replace(snap("running", done=2), retries=2)
    line = plain_line(tally([retried, snap("errored")], 1), elapsed=5)
    assert "(0 completed, 0 diverged, 1 errored, 2 retries), 1 running" in line


def test_off_a_terminal_one_line_per_interval_and_one_at_the_end():
    out, now = io.StringIO(), FakeClock()
    view = ProgressView(slots=1, interval=30, file=out, clock=now)
    trials = [snap("running", done=1, epoch_s=1.0)]
    with view:
        for _ in range(100):  # Tune calls far more often than a line is due
            now.now += 1.0
            if view.due():
                view.update(trials)
        view.update([snap("completed", done=10, epoch_s=1.0)], done=True)
    view.update(trials, done=True)  # a late report after the end draws nothing
    lines = out.getvalue().splitlines()
    assert len(lines) == 100 // 30 + 1
    assert "\x1b" not in out.getvalue()  # plain text for logs
    assert lines[-1].startswith("[1:40] trials 1/1 done") and "ETA 0:00" in lines[-1]


def test_on_a_terminal_it_redraws_in_place():
    out, now = Terminal(), FakeClock()
    with ProgressView(slots=1, interval=30, file=out, clock=now) as view:
        assert view.on_terminal
        for done in range(1, 4):
            now.now += REDRAW_S
            view.update([snap("running", done=done, epoch_s=1.0, val=0.5)])
    text = out.getvalue()
    assert text.count("epochs 2/10") == 1 and "epochs 1/10" in text and "epochs 3/10" in text
    assert "\x1b[1A" in text  # cursor up: the next drawing replaces the last
    assert "best mean val_accuracy" in text and "0.5000" in text
