"""Each placement at its best learning rate, and the largest stable learning rate."""

import numpy as np
import pytest

from reports.selection import best_lr, best_lr_choices, best_lr_comparisons, stable_lr
from reports.stats import CHANCE
from tests.reports.helpers import trials_frame


def test_best_lr_is_chosen_on_validation_and_reported_on_test():
    trials = trials_frame(
        {
            # Seed 0 prefers 0.1 on validation (although 0.01 has the better test score).
            ("none", 0.01): [(0.80, 0.95), (0.80, 0.79)],
            ("none", 0.1): [(0.85, 0.70), (0.75, 0.74)],
        }
    )
    choices = best_lr_choices(trials)
    assert list(choices["lr"]) == [0.1, 0.01]
    row = best_lr(trials).iloc[0]
    assert row["chosen_lrs"] == "0.01 on 1 seed, 0.1 on 1 seed"
    assert row["test_accuracy_mean"] == pytest.approx((0.70 + 0.79) / 2)
    assert row["val_accuracy_mean"] == pytest.approx((0.85 + 0.80) / 2)


def test_a_diverged_learning_rate_is_never_the_best():
    trials = trials_frame({("none", 0.1): [0.8, 0.81], ("none", 3.0): ["diverged", "diverged"]})
    assert set(best_lr_choices(trials)["lr"]) == {0.1}


def test_ties_go_to_the_smaller_learning_rate():
    trials = trials_frame({("none", 0.1): [0.8], ("none", 0.01): [0.8]})
    assert best_lr_choices(trials)["lr"].tolist() == [0.01]


def test_best_lr_comparison_pairs_by_seed_on_test_accuracy():
    trials = trials_frame(
        {
            ("none", 0.1): [(0.80, 0.80), (0.81, 0.80), (0.82, 0.80)],
            ("before_activation", 0.1): [(0.80, 0.81), (0.81, 0.82), (0.82, 0.83)],
            ("before_activation", 1.0): [(0.70, 0.99), (0.70, 0.99), (0.70, 0.99)],
        }
    )
    row = best_lr_comparisons(trials).iloc[0]
    assert (row["placement_a"], row["placement_b"]) == ("before_activation", "none")
    assert row["mean_diff"] == pytest.approx(0.02)  # test scores of the lr 0.1 trials
    assert row["n_pairs"] == 3 and "p_holm" in row


def test_largest_stable_learning_rate():
    trials = trials_frame(
        {
            ("none", 0.1): [0.8, 0.8],
            ("none", 1.0): ["diverged", "diverged"],
            ("after_activation", 0.1): [0.8, 0.8],
            ("after_activation", 1.0): [0.85, 0.86],
            ("after_activation", 3.0): [0.8, "diverged"],
            ("before_activation", 0.1): [0.8, 0.8],
            ("before_activation", 3.0): [0.85, 0.3],  # trained, but one seed barely
        }
    )
    table = stable_lr(trials).set_index("placement")
    assert table.loc["none", "largest_stable_lr"] == 0.1
    assert (
        table.loc["none", "unstable_from"] == 1.0
        and table.loc["none", "unstable_outcome"] == "diverged"
    )
    assert table.loc["after_activation", "largest_stable_lr"] == 1.0
    assert table.loc["after_activation", "unstable_outcome"] == "diverged on 1 of 2 seeds"
    assert table.loc["before_activation", "largest_stable_lr"] == 0.1
    assert "below 0.5" in table.loc["before_activation", "unstable_outcome"]


def test_no_stable_learning_rate_at_all():
    table = stable_lr(trials_frame({("none", 5.0): ["diverged", "diverged"]}))
    row = table.iloc[0]
    assert np.isnan(row["largest_stable_lr"]) and row["unstable_from"] == 5.0
    assert CHANCE < 0.5  # the rule is "well above chance"
