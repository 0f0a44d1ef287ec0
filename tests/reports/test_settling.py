"""The comparisons a settling study decides, their differences per seed and the cells each needs."""

import json

import numpy as np
import pandas as pd

from reports.settling import (
    BEST_LR,
    candidate_lrs,
    cells_needed,
    comparison_id,
    differences,
    verdicts_at_fixed_seeds,
)
from tests.reports.helpers import trials_frame


def _study(seeds=3, gap=0.02):
    cells = {}
    for lr, bump in ((0.01, 0.0), (0.1, 0.01)):
        cells[("none", lr)] = [0.80 + bump + 0.001 * s for s in range(seeds)]
        cells[("before_activation", lr)] = [0.80 + bump + gap + 0.002 * s for s in range(seeds)]
    return trials_frame(cells)


def test_every_pair_at_each_lr_and_at_their_best_lrs_with_a_stable_id():
    comparisons, diffs = differences(_study())
    assert list(comparisons["kind"]) == ["lr", "lr", BEST_LR]
    assert comparisons["comparison"].is_unique
    at_lr = comparisons.iloc[0]
    assert json.loads(at_lr["comparison"])["lr"] == 0.01
    assert at_lr["comparison"] == comparison_id("lr", 0.01, "before_activation", "none", {k: at_lr[k] for k in comparisons.columns[5:]})  # fmt: skip
    first = diffs[diffs["comparison"] == at_lr["comparison"]].sort_values("seed")
    assert np.allclose(first["diff"], [0.02, 0.021, 0.022])
    best = diffs[diffs["comparison"] == comparisons.iloc[2]["comparison"]]
    assert len(best) == 3  # test scores at each one's best lr (0.1 for both): val - 0.01 each
    assert np.allclose(best.sort_values("seed")["diff"], [0.02, 0.021, 0.022])


def test_a_seed_counts_for_best_lr_once_it_has_every_candidate_lr():
    trials = _study(seeds=3)  # lr 0.1 is every seed's best: the only candidate
    assert candidate_lrs(trials) == {"none": {0.1}, "before_activation": {0.1}}
    without_candidate = trials[~((trials["seed"] == 2) & (trials["lr"] == 0.1))]
    comparisons, diffs = differences(without_candidate)
    best = comparisons.loc[comparisons["kind"] == BEST_LR, "comparison"].iloc[0]
    assert sorted(diffs.loc[diffs["comparison"] == best, "seed"]) == [0, 1]
    without_other = trials[~((trials["seed"] == 2) & (trials["lr"] == 0.01))]
    comparisons, diffs = differences(without_other)  # as a later look's seed: candidates only
    best = comparisons.loc[comparisons["kind"] == BEST_LR, "comparison"].iloc[0]
    assert sorted(diffs.loc[diffs["comparison"] == best, "seed"]) == [0, 1, 2]


def test_cells_needed_are_the_compared_cells_and_for_best_lr_the_candidates():
    trials = _study()
    comparisons, _ = differences(trials)
    at_lr = comparisons.loc[comparisons["kind"] == "lr", "comparison"].iloc[0]
    rows = cells_needed(trials, comparisons, [at_lr])
    assert set(rows["lr"]) == {0.01} and set(rows["placement"]) == {"none", "before_activation"}
    best = comparisons.loc[comparisons["kind"] == BEST_LR, "comparison"]
    assert set(cells_needed(trials, comparisons, best)["lr"]) == {0.1}
    assert cells_needed(trials, comparisons, []).empty


def test_fixed_seed_verdicts_of_each_kind():
    rng = np.random.default_rng(0)
    cells = {
        ("none", 0.1): list(0.80 + rng.normal(0, 0.0004, 12)),
        ("before_activation", 0.1): list(0.80 + rng.normal(0, 0.0004, 12)),
        ("after_activation", 0.1): list(0.85 + rng.normal(0, 0.0004, 12)),
    }
    verdicts = verdicts_at_fixed_seeds(trials_frame(cells), margin=0.003, alpha=0.05)
    at_lr = verdicts[verdicts["kind"] == "lr"].set_index(["placement_a", "placement_b"])
    assert at_lr.loc[("before_activation", "none"), "verdict"] == "equivalent"
    assert at_lr.loc[("after_activation", "none"), "verdict"] == "a_better"
    assert at_lr.loc[("after_activation", "before_activation"), "verdict"] == "a_better"
    assert (verdicts["n_seeds"] == 12).all()
    noisy = trials_frame({("none", 0.1): [0.8, 0.81], ("before_activation", 0.1): [0.79, 0.83]})
    assert set(verdicts_at_fixed_seeds(noisy, 0.003, 0.05)["verdict"]) == {"undecided"}


def test_no_finished_trial_gives_no_verdicts():
    empty = _study().iloc[:0]
    assert verdicts_at_fixed_seeds(empty, 0.003, 0.05).empty
    comparisons, diffs = differences(empty)
    assert comparisons.empty and diffs.empty and isinstance(diffs, pd.DataFrame)
