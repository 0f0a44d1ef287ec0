"""The answer's sentences say what the numbers say, with their CI or p-value."""

import numpy as np
import pandas as pd

from reports import findings
from reports.analysis import analyze
from tests.reports.helpers import trials_frame

NO_HISTORY = pd.DataFrame(columns=["trial_id", "epoch", "val_accuracy"])


def _answer(trials):
    return findings.answer(analyze(NO_HISTORY, trials))


def _study(seeds=3):
    rng = np.random.default_rng(1)
    noise = lambda: list(rng.normal(0, 0.002, seeds) + np.resize([0.0, 0.004, 0.008], seeds))  # noqa: E731
    cells = {}
    for lr in (0.01, 0.1, 1.0, 3.0):
        cells[("none", lr)] = ["diverged"] * seeds if lr >= 1 else [0.80 + v for v in noise()]
        cells[("after_activation", lr)] = (
            ["diverged"] * seeds if lr == 3 else [0.85 + v for v in noise()]
        )
        cells[("before_activation", lr)] = [0.85 + v for v in noise()]
    return trials_frame(cells)


def test_the_answer_names_the_best_placement_stability_and_the_lr_role():
    text = "\n".join(_answer(_study()))
    assert text.startswith("Best placement: ") or text.startswith("No placement is clearly best: ")
    # 3 seeds decide nothing (all three one way: p = 1/4); the answer says how many could.
    assert "95% CI" in text and "after_activation vs none, each at its best learning rate" in text
    assert (
        "undecided with 3 seeds (a verdict needs at least 9 seeds; the difference is +4.9" in text
    )
    assert "after_activation vs before_activation, paired by seed at each learning rate" in text
    assert "undecided with 3 seeds at lr 0.01 (+0.0 ± 0.3 points), lr 0.1 (" in text
    assert (
        "Largest stable learning rate: after_activation 1 (at 3: diverged on every seed); " in text
    )
    assert (
        "before_activation 3 (the largest tested; it never diverged); none 0.1 (at 1: diverged on every seed)"
        in text
    )
    assert "placement x learning-rate interaction" in text


def test_verdicts_name_their_test():
    text = "\n".join(_answer(_study(seeds=12)))
    assert "after_activation better (12 seeds, sign-flip p<0.001)" in text
    assert (
        "lr 3 (after_activation diverged on every seed, before_activation did not diverge" in text
    )
    assert "equivalent within ±0.3 points (12 seeds, sign-flip TOST p=0.003)" in text


def test_the_answer_with_nothing_finished():
    trials = trials_frame({("none", 0.1): [0.8]}).iloc[:0]
    assert _answer(trials) == ["No trial has been recorded yet: nothing to conclude."]
    running = trials_frame({("none", 0.1): [0.8, 0.8]})
    running["status"], running["trial_dir"] = "running", ["a", "b"]
    running["problem"] = ["", "no result.json (no report yet, or it was deleted)"]
    assert _answer(running) == [
        "No trial has finished yet: nothing to conclude (2 running); 1 with no result.json "
        "(no report yet, or it was deleted): b."
    ]


def test_p_values_and_intervals_are_formatted_for_reading():
    assert findings.fmt_p(0.0001) == "p<0.001" and findings.fmt_p(0.0123) == "p=0.012"
    assert findings.fmt_ci(float("nan"), 1.0) == "no CI with one seed"


def test_a_run_with_one_placement_still_answers():
    trials = trials_frame({("none", 0.01): [0.8, 0.81], ("none", 0.1): [0.82, 0.83]})
    text = "\n".join(_answer(trials))
    assert text.startswith("One placement in this run: none, with test accuracy")
    assert "Largest stable learning rate: none 0.1" in text


def _summary(trials):
    return findings.summary(analyze(NO_HISTORY, trials))


def test_the_terminal_summary_is_three_lines_one_per_question():
    placement, lr_role, stability = _summary(_study())
    assert placement.startswith(
        "Placement [mlp 300x100, batch norm, relu, input none, batch 32, sgd, 2 epochs]: "
        "before_activation highest, not clearly best, "
    )
    assert (
        "vs after_activation +0.002: undecided with 3 seeds (a verdict needs at least 9 seeds; "
        "the difference is +0.2 ± 0.3 points)" in placement
    )
    assert "vs none +0.051: undecided with 3 seeds (a verdict needs at least 9 seeds; " in placement
    assert lr_role.startswith("Learning rate: no evidence that it changes how the placements")
    assert lr_role.endswith("over the 2 learning rates where no placement diverged).")
    assert stability == (
        "Largest stable lr: after_activation 1, before_activation 3 (the largest tested), none 0.1."
    )


def test_the_terminal_summary_of_small_runs():
    one_lr = trials_frame({("none", 0.1): [0.8, 0.81], ("before_activation", 0.1): [0.9, 0.92]})
    placement, lr_role, _ = _summary(one_lr)
    assert placement.startswith("Placement [mlp 300x100, batch norm, relu, input none, ")
    assert "]: before_activation highest, not clearly best, " in placement
    assert placement.endswith("vs none +0.105: undecided with 2 seeds (a verdict needs at least 6 seeds; the difference is +10.5 ± 6.4 points).")  # fmt: skip
    many = trials_frame({("none", 0.1): [0.8, 0.81, 0.8, 0.81] * 2, ("before_activation", 0.1): [0.9, 0.92, 0.91, 0.92] * 2})  # fmt: skip
    assert "]: before_activation best, " in _summary(many)[0]
    assert lr_role.startswith("Learning rate: its interaction with placement was not tested (")
    alone = _summary(trials_frame({("none", 0.01): [0.8, 0.81]}))
    assert alone[0].startswith(
        "Placement [mlp 300x100, relu, input none, batch 32, sgd, 2 epochs]: "
    )
    assert "]: only none in this run, test accuracy 0." in alone[0]
    assert _summary(one_lr.iloc[:0]) == ["No trial has been recorded yet: nothing to conclude."]


def _seed_preset():
    rng = np.random.default_rng(2)
    cells = {(p, lr): list(0.85 + rng.normal(0, 0.003, 3)) for p in ("none", "after_activation") for lr in (0.01, 0.1)}  # fmt: skip
    trials = trials_frame(cells, preset="seed", input_norm="batch")
    none = trials["placement"] == "none"
    trials.loc[none, ["activation", "input_norm"]] = ["leaky_relu", "none"]
    return trials


def test_a_confounded_run_says_so_in_its_first_sentence_naming_the_differences():
    answer = _answer(_seed_preset())
    assert answer[0].startswith("Caution: these placements differ in more than where the norm")
    assert "activation relu (after_activation) vs leaky_relu (none)" in answer[0]
    assert "input_norm batch (after_activation) vs none (none)" in answer[0]
    placement, *_ = _summary(_seed_preset())
    assert placement.startswith("Placement [mlp 300x100, seed preset, batch norm, batch 32, ")
    assert "confounded: they also differ in activation, input_norm" in placement


def test_a_like_with_like_run_has_no_caution():
    assert not any("Caution" in line for line in _answer(_study()))


def _two_activations():
    rng = np.random.default_rng(3)
    frames = []
    for activation, gain in (("relu", 0.0), ("elu", 0.02)):
        for batch_size in (8, 64):
            cells = {
                ("none", 0.1): list(0.80 + rng.normal(0, 0.002, 4)),
                ("before_activation", 0.1): list(0.84 + gain + rng.normal(0, 0.002, 4)),
            }
            frames.append(trials_frame(cells, activation=activation, batch_size=batch_size))
    return pd.concat(frames, ignore_index=True)


def test_other_factors_get_their_interaction_best_value_and_batch_size_gains():
    text = "\n".join(_answer(_two_activations()))
    assert (
        "Placement x activation [mlp 300x100, batch norm, input none, batch 8, sgd, 2 epochs]: the best placement depends on the activation"
        in text
    )
    assert "Best activation for before_activation, each at its best learning rate" in text
    assert "]: elu (test accuracy 0.85" in text
    assert (
        "Gain of before_activation (batch norm) over no normalization, each at its best learning rate, by batch size ["
        in text
    )
    assert "at batch 8 (Holm p" in text and "at batch 64 (Holm p" in text


def test_the_summary_of_several_settings_names_the_one_it_speaks_of():
    placement, *_ = _summary(_two_activations())
    assert placement.startswith(
        "Placement [mlp 300x100, batch norm, elu, input none, batch 64, sgd, 2 epochs; 1 of 4 settings, the report has all]: "
    )
