"""Contexts: placements meet only within one setting of every other axis."""

import numpy as np
import pandas as pd

from reports.contexts import CONTEXT_KEYS, also_differs, contexts
from reports.factors import factor_interactions, level_comparisons
from reports.stats import scored
from tests.reports.helpers import trials_frame


def _norm_kinds():
    cells = {("none", 0.1): [0.80, 0.81], ("before_activation", 0.1): [0.85, 0.86]}
    batch = trials_frame(cells, norm="batch")
    layer = trials_frame({("before_activation", 0.1): [0.83, 0.84]}, norm="layer")
    return pd.concat([batch, layer], ignore_index=True)


def test_the_model_without_normalization_is_every_norm_kinds_baseline():
    found = contexts(scored(_norm_kinds()))
    assert [c["norm"] for c, _ in found] == ["batch", "layer"]
    for context, trials in found:
        assert sorted(trials["placement"].unique()) == ["before_activation", "none"]
        for key in CONTEXT_KEYS:  # every row holds the context's own values
            assert (trials[key] == context[key]).all()


def test_other_axes_are_never_mixed():
    relu = trials_frame({("none", 0.1): [0.8, 0.81]}, activation="relu")
    elu = trials_frame({("before_activation", 0.1): [0.85, 0.86]}, activation="elu")
    found = contexts(scored(pd.concat([relu, elu], ignore_index=True)))
    assert len(found) == 2
    assert all(trials["placement"].nunique() == 1 for _, trials in found)


def _seed_preset():
    trials = trials_frame(
        {("none", 0.1): [0.8, 0.81], ("after_activation", 0.1): [0.85, 0.86]},
        preset="seed",
        input_norm="batch",
    )
    none = trials["placement"] == "none"
    trials.loc[none, ["activation", "input_norm"]] = ["leaky_relu", "none"]
    return trials


def test_a_presets_per_placement_fields_are_named_not_matched():
    ended = scored(_seed_preset())
    (context, trials), *rest = contexts(ended)
    assert not rest and trials["placement"].nunique() == 2
    assert context["activation"] == context["input_norm"] == "by placement (seed preset)"
    assert also_differs(ended, "after_activation", "none") == (
        "activation relu (after_activation) vs leaky_relu (none); "
        "input_norm batch (after_activation) vs none (none)"
    )
    assert also_differs(ended, "after_activation", "after_activation") == ""


def _factorial(interaction: float):
    """Two activations; elu helps before_activation by `interaction` and none not at all."""
    rng = np.random.default_rng(0)
    frames = []
    for activation, gain in (("relu", 0.0), ("elu", interaction)):
        cells = {
            ("none", 0.1): list(0.80 + rng.normal(0, 0.003, 5)),
            ("before_activation", 0.1): list(0.84 + gain + rng.normal(0, 0.003, 5)),
        }
        frames.append(trials_frame(cells, activation=activation))
    return pd.concat(frames, ignore_index=True)


def test_a_planted_placement_x_activation_interaction_is_found_and_none_is_not():
    planted = factor_interactions(_factorial(0.03))
    assert list(planted["factor"]) == ["activation"]
    assert planted["p_value"].iloc[0] < 0.001
    assert factor_interactions(_factorial(0.0))["p_value"].iloc[0] > 0.05


def test_best_level_comparisons_are_per_placement_and_paired_by_seed():
    levels = level_comparisons(_factorial(0.03)).set_index("placement")
    assert set(levels.index) == {"none", "before_activation"}
    row = levels.loc["before_activation"]
    assert (row["level_a"], row["level_b"], row["n_pairs"]) == ("elu", "relu", 5)
    assert row["mean_diff"] > 0.02 and row["significant"]


def test_the_norm_is_a_factor_of_normalized_placements_only():
    levels = level_comparisons(_norm_kinds())
    assert list(levels["placement"]) == ["before_activation"]
    assert (list(levels["level_a"]), list(levels["level_b"])) == (["batch"], ["layer"])
