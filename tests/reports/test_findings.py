"""The answer's sentences say what the numbers say, with their CI or p-value."""

import numpy as np

from reports import findings
from reports.selection import best_lr, best_lr_comparisons, stable_lr
from reports.stats import interaction, pairwise_comparisons
from tests.reports.helpers import trials_frame


def _answer(trials):
    return findings.answer(
        pairwise_comparisons(trials), best_lr(trials), best_lr_comparisons(trials),
        stable_lr(trials), interaction(trials),
    )  # fmt: skip


def _study():
    rng = np.random.default_rng(1)
    noise = lambda: list(rng.normal(0, 0.002, 3) + np.array([0.0, 0.004, 0.008]))  # noqa: E731
    cells = {}
    for lr in (0.01, 0.1, 1.0, 3.0):
        cells[("none", lr)] = ["diverged"] * 3 if lr >= 1 else [0.80 + v for v in noise()]
        cells[("after_activation", lr)] = (
            ["diverged"] * 3 if lr == 3 else [0.85 + v for v in noise()]
        )
        cells[("before_activation", lr)] = [0.85 + v for v in noise()]
    return trials_frame(cells)


def test_the_answer_names_the_best_placement_stability_and_the_lr_role():
    text = "\n".join(_answer(_study()))
    assert text.startswith("Best placement: ") or text.startswith("No placement is clearly best: ")
    assert "95% CI" in text and "Holm-adjusted p" in text
    assert "after_activation vs before_activation, paired by seed at each learning rate" in text
    assert (
        "lr 3 (after_activation diverged on every seed, before_activation did not diverge" in text
    )
    assert "not distinguishable at lr 0.01, 0.1, 1 with 3 seeds (about" in text
    assert (
        "Largest stable learning rate: after_activation 1 (at 3: diverged on every seed); " in text
    )
    assert (
        "before_activation 3 (the largest tested; it never diverged); none 0.1 (at 1: diverged on every seed)"
        in text
    )
    assert "placement x learning-rate interaction" in text


def test_the_answer_with_nothing_finished():
    trials = trials_frame({("none", 0.1): [0.8]}).iloc[:0]
    assert _answer(trials) == ["No trial has finished yet: nothing to conclude."]


def test_p_values_and_intervals_are_formatted_for_reading():
    assert findings.fmt_p(0.0001) == "p<0.001" and findings.fmt_p(0.0123) == "p=0.012"
    assert findings.fmt_ci(float("nan"), 1.0) == "no CI with one seed"


def test_a_run_with_one_placement_still_answers():
    trials = trials_frame({("none", 0.01): [0.8, 0.81], ("none", 0.1): [0.82, 0.83]})
    text = "\n".join(_answer(trials))
    assert text.startswith("One placement in this run: none, with test accuracy")
    assert "Largest stable learning rate: none 0.1" in text


def _summary(trials):
    return findings.summary(
        best_lr(trials), best_lr_comparisons(trials), stable_lr(trials), interaction(trials)
    )


def test_the_terminal_summary_is_three_lines_one_per_question():
    placement, lr_role, stability = _summary(_study())
    assert placement.startswith("Placement: before_activation highest, not clearly best, ")
    assert (
        "vs after_activation +0.002 (not distinguishable with 3 seeds; about 8 needed)" in placement
    )
    assert "vs none +0.051 (better, Holm p<0.001)." in placement
    assert lr_role.startswith("Learning rate: no evidence that it changes how the placements")
    assert lr_role.endswith("over the 2 learning rates where no placement diverged).")
    assert stability == (
        "Largest stable lr: after_activation 1, before_activation 3 (the largest tested), none 0.1."
    )


def test_the_terminal_summary_of_small_runs():
    one_lr = trials_frame({("none", 0.1): [0.8, 0.81], ("before_activation", 0.1): [0.9, 0.92]})
    placement, lr_role, _ = _summary(one_lr)
    assert placement.startswith("Placement: before_activation best, ")
    assert placement.endswith("vs none +0.105 (better, Holm p=0.030).")
    assert lr_role.startswith("Learning rate: its interaction with placement was not tested (")
    alone = _summary(trials_frame({("none", 0.01): [0.8, 0.81]}))
    assert alone[0].startswith("Placement: only none in this run, test accuracy 0.")
    assert _summary(one_lr.iloc[:0]) == ["No trial has finished yet: nothing to conclude."]
