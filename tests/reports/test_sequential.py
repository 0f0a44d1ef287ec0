"""The settling design: spending, verdicts by hand, look-to-look state and error rates."""

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.weightstats import ttost_paired

from reports.sequential import (
    SPENDING,
    VERDICTS,
    Design,
    decide,
    judge,
    nominal_levels,
    seeds_to_add,
    spending,
)

ONE_LOOK = Design(max_seeds=3)  # the first look is the last: the full level at once


def _differences(diffs_by_comparison: dict[str, list[float]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"comparison": name, "seed": seed, "diff": diff}
            for name, diffs in diffs_by_comparison.items()
            for seed, diff in enumerate(diffs)
        ]
    )


def _verdicts(decisions: pd.DataFrame) -> dict[str, str]:
    return dict(zip(decisions["comparison"], decisions["verdict"], strict=True))


def test_obrien_fleming_spends_the_level_by_the_end():
    assert spending(1.0, 0.05, "obrien_fleming") == pytest.approx(0.05)
    # 2 - 2 * Phi(1.959964 / sqrt(0.5)) = 2 - 2 * Phi(2.771808)
    assert spending(0.5, 0.05, "obrien_fleming") == pytest.approx(0.0055746, abs=1e-7)
    assert spending(0.0, 0.05, "obrien_fleming") == 0.0


def test_hwang_shih_decani_by_hand():
    # gamma -4: alpha * (1 - exp(4 t)) / (1 - exp(4))
    assert spending(0.5, 0.05, "hwang_shih_decani") == pytest.approx(0.05 * 6.389056 / 53.59815)
    assert spending(1.0, 0.05, "hwang_shih_decani") == pytest.approx(0.05)


@pytest.mark.parametrize("shape", sorted(SPENDING))
def test_nominal_levels_add_up_to_the_level(shape):
    levels = nominal_levels([0.1, 0.3, 0.6, 1.0], 0.01, shape)
    assert (levels >= 0).all() and levels.sum() == pytest.approx(0.01)
    assert levels[0] < levels[-1]  # both shapes keep most of the level for the end


def test_default_schedule():
    assert Design().schedule(3) == (3, 5, 8, 12, 19, 30)
    assert Design().schedule(30) == (30,)
    assert Design(looks=(3, 10, 30)).schedule(5) == (5, 10, 30)


def test_design_json_round_trip():
    design = Design(
        alpha=0.1, margin=0.005, max_seeds=20, looks=[3, 8, 20], spending="obrien_fleming"
    )
    assert Design.from_dict(json.loads(json.dumps(design.to_dict()))) == design
    with pytest.raises(ValueError, match="Unknown Design fields"):
        Design.from_dict({"alpah": 0.05})


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"alpha": 0}, r"'alpha' parameter must be a float in \(0, 1\)\. Got 0 instead"),
        ({"alpha": 1.5}, r"'alpha' parameter must be a float in \(0, 1\)\. Got 1.5 instead"),
        ({"margin": -1}, r"'margin' parameter must be a float in \(0, 1\)\. Got -1 instead"),
        ({"margin": float("inf")}, r"'margin' parameter must be a float in \(0, 1\)\. Got inf"),
        ({"margin": float("nan")}, r"'margin' parameter must be a float in \(0, 1\)\. Got nan"),
        ({"max_seeds": 1}, r"'max_seeds' parameter must be an int >= 2\. Got 1 instead"),
        ({"looks": (3, 3, 30)}, r"'looks' parameter must be .* increasing .* Got \(3, 3, 30\)"),
        ({"looks": (10, 5, 30)}, r"'looks' parameter must be .* Got \(10, 5, 30\) instead"),
        ({"looks": (3, 10)}, r"ending at max_seeds \(30\)\. Got \(3, 10\) instead"),
        ({"spending": "pocock"}, r"'spending' parameter must be one of .* Got 'pocock' instead"),
    ],
)
def test_bad_design_values(changes, message):
    with pytest.raises(ValueError, match=message):
        Design(**changes)


def test_bad_design_types_and_a_first_look_above_the_budget():
    with pytest.raises(TypeError, match=r"'alpha' parameter must be a float in \(0, 1\)\. Got 'a'"):
        Design(alpha="a")
    with pytest.raises(ValueError, match=r"'max_seeds' parameter must be an int >= the first"):
        Design(max_seeds=10).schedule(12)


def test_each_verdict_by_hand():
    differences = _differences(
        {
            "gain": [0.050, 0.051, 0.049],  # t = 0.05 / (0.001 / sqrt 3) = 86.6
            "loss": [-0.020, -0.021, -0.019],
            "same": [0.0001, -0.0001, 0.0],
            "noisy": [0.01, -0.012, 0.004],
        }
    )
    decisions = decide(differences, ONE_LOOK)
    assert _verdicts(decisions) == {
        "gain": "a_better",
        "loss": "b_better",
        "same": "equivalent",
        "noisy": "undecided",
    }
    assert decisions["decided_at_look"].fillna(-1).tolist() == [0, 0, -1, 0]
    assert not decisions["needs_seeds"].any() and seeds_to_add(decisions, ONE_LOOK) == 0
    # "loss" and "gain" pass their alpha on: 2 superiority nulls still stand for "noisy".
    noisy = decisions.set_index("comparison").loc["noisy"]
    assert noisy["alpha_superiority"] == pytest.approx(0.025)
    assert noisy["boundary_superiority"] == pytest.approx(stats.t.isf(0.025 / 2, 2))


def test_p_equivalence_is_statsmodels_tost():
    diffs = [0.001, -0.002, 0.0005, 0.0015, -0.001]
    row = decide(_differences({"c": diffs}), Design()).iloc[0]
    expected, _, _ = ttost_paired(np.array(diffs), np.zeros(5), -0.003, 0.003)
    assert row["p_equivalence"] == pytest.approx(expected)
    assert row["p_superiority"] == pytest.approx(stats.ttest_1samp(diffs, 0).pvalue)


def test_zero_variance_gives_verdicts_not_nan():
    differences = _differences(
        {
            "both diverged": [0.0, 0.0, 0.0],
            "b diverged": [0.78, 0.78, 0.78],
            "a diverged": [-0.78, -0.78, -0.78],
            "tiny but constant": [0.001, 0.001, 0.001],
        }
    )
    decisions = decide(differences, Design())  # the first of six looks
    assert _verdicts(decisions) == {
        "a diverged": "b_better",
        "b diverged": "a_better",
        "both diverged": "equivalent",
        "tiny but constant": "equivalent",  # shown within the margin, though nonzero
    }
    assert decisions[["p_superiority", "p_equivalence", "sd"]].notna().all().all()


def test_seeds_are_added_to_undecided_comparisons_until_the_budget():
    design = Design(max_seeds=5, looks=(3, 5))
    differences = _differences({"clear": [0.78] * 5, "unclear": [0.01, -0.01, 0.002, 0.0, 0.005]})
    first = decide(differences[differences["seed"] < 3], design)
    assert first.set_index("comparison")["needs_seeds"].to_dict() == {
        "clear": False,
        "unclear": True,
    }
    assert seeds_to_add(first, design) == 5
    last = decide(differences, design, first)
    assert last["look"].tolist() == [1, 1]
    assert _verdicts(last) == {"clear": "a_better", "unclear": "undecided"}
    unclear = last.set_index("comparison").loc["unclear"]
    assert unclear["n_seeds"] == 5
    # "clear" passed its alpha on; this look spends what the shape allots between 3 and 5 seeds.
    spent = spending(np.array([0.6, 1.0]), 0.05 / 2, design.spending)
    assert unclear["boundary_superiority"] == pytest.approx(stats.t.isf(spent[1] - spent[0], 4))
    assert not last["needs_seeds"].any() and seeds_to_add(last, design) == 0


def test_previous_decisions_are_never_recomputed():
    design = Design()
    first = decide(_differences({"settled": [0.78] * 3, "open": [0.01, -0.01, 0.0]}), design)
    later_seeds = _differences(
        {"settled": [0.78] * 3 + [-0.78] * 2, "open": [0.01, -0.01, 0.0, 0.002, -0.003]}
    )
    second = decide(later_seeds, design, first)
    settled = second.set_index("comparison").loc["settled"]
    before = first.set_index("comparison").loc["settled"]
    assert settled.drop("look").equals(before.drop("look")) and settled["look"] == 1
    assert settled["verdict"] == "a_better" and settled["n_seeds"] == 3
    assert second.set_index("comparison").loc["open", "n_seeds"] == 5


def test_a_look_without_new_seeds_spends_nothing():
    differences = _differences({"c": [0.01, -0.01, 0.0]})
    first = decide(differences, Design())
    again = decide(differences, Design(), first)
    assert again["boundary_superiority"].iloc[0] == np.inf
    assert again["verdict"].iloc[0] == "undecided"


def test_bad_frames():
    with pytest.raises(ValueError, match=r"lacks the columns \['diff'\]"):
        decide(pd.DataFrame({"comparison": ["c"], "seed": [0]}), Design())
    with pytest.raises(ValueError, match="each \\(comparison, seed\\) once"):
        decide(_differences({"c": [0.1, 0.2]}).assign(seed=0), Design())
    first = decide(_differences({"c": [0.01, -0.01, 0.0], "d": [0.02, 0.0, -0.01]}), Design())
    with pytest.raises(ValueError, match=r"Undecided comparisons have no differences: \['d'\]"):
        decide(_differences({"c": [0.01, -0.01, 0.0, 0.0, 0.0]}), Design(), first)


def _simulate(means, sd, design, studies, seed):
    """Whole studies through `judge`, every look of the default schedule."""
    rng = np.random.default_rng(seed)
    draws = rng.normal(means, sd, size=(studies, design.max_seeds, len(means)))
    schedule, codes = design.schedule(3), np.zeros((studies, len(means)), dtype=int)
    for before, n in zip((0, *schedule), schedule, strict=False):
        seen = draws[:, :n]
        codes, _ = judge(seen.mean(1), seen.std(1, ddof=1), n, before, codes, design)
    return codes


def _three_standard_errors(studies, alpha=0.05):
    return alpha + 3 * np.sqrt(alpha * (1 - alpha) / studies)


def test_family_wise_error_under_the_global_null():
    studies = 1000
    codes = _simulate(np.zeros(18), 0.0075, Design(), studies, seed=1)
    better = np.isin(codes, (VERDICTS.index("a_better"), VERDICTS.index("b_better")))
    assert better.any(axis=1).mean() <= _three_standard_errors(studies)


def test_wrong_equivalence_at_the_margin():
    # One comparison, at the SD where the TOST errs most often: the rate is close to alpha.
    studies = 2000
    codes = _simulate(np.full(1, 0.003), 0.006, Design(), studies, seed=2)
    wrong = (codes == VERDICTS.index("equivalent")).mean()
    assert 0.02 < wrong <= _three_standard_errors(studies)
