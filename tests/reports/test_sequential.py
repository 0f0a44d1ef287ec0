"""The settling design: sign-flip p-values by hand, spending, the looks that can decide,
verdicts by hand, look-to-look state and error rates."""

import itertools
import json

import numpy as np
import pandas as pd
import pytest

from reports.sequential import (
    SPENDING,
    VERDICTS,
    Design,
    decide,
    decisive_seeds,
    first_decisive,
    judge,
    look_level,
    min_seeds,
    nominal_levels,
    seeds_to_add,
    spending,
)
from reports.sign_flip import GROUP_BITS, sign_flip_p_values, sign_patterns, smallest_p

ONE_LOOK = Design(max_seeds=12, looks=(12,))  # the first look is the last: the full level at once


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


# --- the sign-flip tests by hand -------------------------------------------------------------


def test_three_seeds_all_positive_two_sided_and_one_sided():
    # Of the 8 sign patterns only (+,+,+) and its mirror reach |sum| = 0.06: p = 2/8.
    p_sup, p_eq, direction = sign_flip_p_values([0.01, 0.02, 0.03])
    assert p_sup == 0.25 and direction == 1
    # Against -1 and +1 (margin 1) each one-sided p is 1/8: the TOST p is one-sided, 0.125.
    _, p_eq, _ = sign_flip_p_values([0.01, 0.02, 0.03], margin=1.0)
    assert p_eq == 0.125
    # The case: one side diverged on all three seeds cannot be "better" at 0.05.
    assert sign_flip_p_values([0.78, 0.78, 0.78])[0] == 0.25 > 0.05


def test_a_mixed_case_and_ties():
    # Sums of +-0.03 +-0.01 +-0.02: 0.06, 0.02, 0.04 (observed), 0, 0, -0.04, -0.02, -0.06;
    # four of eight reach |0.04|, the mirror of the observed one a tie in floating point.
    assert sign_flip_p_values([0.03, -0.01, 0.02])[0] == 0.5
    # Sums of +-0.02 +-0.01 +-0.01: 0.04, 0.02 twice, 0 twice, -0.02 twice, -0.04; six reach
    # the observed |0.02|, two of them only up to rounding (0.02 + 0.01 - 0.01 != 0.02).
    assert sign_flip_p_values([0.02, 0.01, -0.01])[0] == 0.75


def test_zero_differences_add_no_patterns_and_do_not_count_for_equivalence():
    # Two nonzero values of one sign: as two seeds, p = 2/4, whatever the zero's sign.
    assert sign_flip_p_values([0.01, 0.0, 0.02])[0] == 0.5
    assert sign_flip_p_values([0.0, 0.0, 0.0])[0] == 1.0
    within = [0.001, 0.0, -0.001, 0.0005, 0.0, 0.0]
    # By default a zero (both sides the same, e.g. both diverged) says nothing about
    # equivalence: 3 seeds count, p = 1/8; counted as informative, 6 seeds, p = 1/64.
    assert sign_flip_p_values(within)[1] == 1 / 8
    assert sign_flip_p_values(within, informative=np.ones(6, bool))[1] == 1 / 64
    # No seed that counts: no evidence of equivalence at all.
    assert sign_flip_p_values([0.0] * 6)[1] == 1.0
    assert sign_flip_p_values([0.001] * 6, informative=np.zeros(6, bool))[1] == 1.0


def test_missing_seeds_are_left_out():
    p = sign_flip_p_values([[0.01, np.nan, 0.02, 0.03], [0.01, 0.02, 0.03, np.nan]])
    assert p[0].tolist() == [0.25, 0.25]
    assert sign_flip_p_values([np.nan, np.nan])[0] == 1.0


def test_the_subgroup_beyond_group_bits_is_a_fixed_exact_group():
    n = GROUP_BITS + 6
    signs = sign_patterns(n)
    assert signs.shape == (2**GROUP_BITS, n) and (signs[0] == 1).all()
    rows = {r.tobytes() for r in signs}
    assert len(rows) == len(signs) and (-signs[0]).tobytes() in rows  # distinct, has the mirror
    rng = np.random.default_rng(0)
    for i, j in rng.integers(0, len(signs), size=(50, 2)):  # closed under products: a group
        assert (signs[i] * signs[j]).tobytes() in rows
    sign_patterns.cache_clear()
    assert np.array_equal(sign_patterns(n), signs)  # the same draw: reproducible verdicts
    # Distinct positive values: only the identity and its mirror reach the observed |sum|.
    values = np.arange(1, n + 1) / 1000
    assert sign_flip_p_values(values)[0] == 2 / 2**GROUP_BITS == smallest_p(n)
    assert sign_flip_p_values(values, margin=1.0)[1] == 1 / 2**GROUP_BITS == smallest_p(n, 1)
    assert smallest_p(3) == 0.25 and smallest_p(3, 1) == 0.125


def test_enumeration_matches_the_definition():
    rng = np.random.default_rng(3)
    d = rng.normal(0.001, 0.004, 7)
    sums = np.array([np.dot(s, d) for s in itertools.product((1, -1), repeat=7)])
    p_sup, p_eq, _ = sign_flip_p_values(d)
    assert p_sup == pytest.approx((np.abs(sums) >= abs(d.sum()) - 1e-12).mean())
    lower = np.array([np.dot(s, d + 0.003) for s in itertools.product((1, -1), repeat=7)])
    upper = np.array([np.dot(s, d - 0.003) for s in itertools.product((1, -1), repeat=7)])
    expected = max(
        (lower >= (d + 0.003).sum() - 1e-12).mean(), (upper <= (d - 0.003).sum() + 1e-12).mean()
    )
    assert p_eq == pytest.approx(expected)


def test_capped_p_values_are_exact_up_to_the_cap_and_lower_bounds_above():
    rng = np.random.default_rng(4)
    d = rng.normal(0.002, 0.004, (40, 19))
    exact = sign_flip_p_values(d)
    capped = sign_flip_p_values(d, caps=(0.01, 0.01))
    for e, c in zip(exact[:2], capped[:2], strict=True):
        assert np.array_equal(np.where(e <= 0.01, e, -1), np.where(c <= 0.01, c, -1))
        assert (c <= e + 1e-15).all() and (c[e > 0.01] > 0.01).all()


# --- which looks can decide, and at what level ------------------------------------------------


def test_the_first_look_that_can_decide_depends_on_the_family():
    # Hwang-Shih-DeCani, gamma -2, over 30 seeds: with 18 comparisons the strictest Holm share
    # 0.05 / 18 spent by 12 seeds is 0.05 / 18 * 0.192 = 5.3e-4 >= 2 / 2**12 (two-sided).
    design = Design()
    assert first_decisive(design, 2, 18) == 12 and first_decisive(design, 1, 18) == 12
    assert spending(0.4, 0.05 / 18, design.spending) >= smallest_p(12)
    assert spending(11 / 30, 0.05 / 18, design.spending) < smallest_p(11)
    assert first_decisive(design, 2, 1) == 9  # one comparison alone
    # A family that grew from 3 comparisons: its previous look spent from 10 and 9 seeds on.
    assert decisive_seeds(design, 18, 3) == ((12, 10), (12, 9))
    assert decisive_seeds(design, 18) == ((12, 12), (12, 12))
    assert first_decisive(Design(max_seeds=3), 2, 1) == 4  # never: 3 seeds cannot


def test_looks_before_the_first_decisive_one_spend_nothing_and_pass_it_on():
    design, share = Design(), 0.05 / 18
    assert look_level(0, 8, share, design, first=12) == 0.0
    assert look_level(8, 12, share, design, first=12) == pytest.approx(
        spending(0.4, share, design.spending)
    )  # all the level spent by 12 seeds, carried past the looks that could not use it
    spent = spending(np.array([0.4, 19 / 30]), share, design.spending)
    assert look_level(12, 19, share, design, first=12) == pytest.approx(spent[1] - spent[0])
    assert look_level(19, 19, share, design, first=12) == 0.0  # no new seeds, nothing spent
    # A look at 10 seeds spent something if the family was smaller then (its first decisive
    # look at 9 seeds): the look after it spends only from there, never anything twice.
    assert look_level(10, 12, share, design, first=12, floor=9) == pytest.approx(
        spending(0.4, share, design.spending) - spending(1 / 3, share, design.spending)
    )
    assert look_level(8, 12, share, design, first=12, floor=9) == pytest.approx(
        spending(0.4, share, design.spending)
    )
    # The union bound: over any path of looks the levels add up to at most the share ...
    for path in [(3, 5, 8, 12, 19, 30), (3, 12, 30), (3, 19, 30), (12, 30)]:
        levels = [
            look_level(b, n, share, design, 12) for b, n in zip((0, *path), path, strict=False)
        ]
        assert sum(levels) == pytest.approx(spending(1.0, share, design.spending))
    # ... and each grows with the share (Holm's shortcut needs monotone tests).
    shares = np.linspace(0.001, 0.05, 20)
    for before, now in [(0, 12), (12, 19), (19, 30)]:
        levels = [look_level(before, now, s, design, 12) for s in shares]
        assert np.all(np.diff(levels) > 0)


def test_min_seeds_of_a_settling_and_of_a_fixed_design():
    design = Design()
    assert min_seeds(design, 3, 0.05 / 18, 0.05 / 18, 18) == 12
    assert min_seeds(design, 3, 0.05, 0.05, 18) == 12  # the first decisive look, for all
    # One look at 3 seeds cannot decide: one look would need 2**-n <= 0.05 / 18 (TOST), n = 9.
    fixed = Design(max_seeds=3, looks=(3,))
    assert min_seeds(fixed, 3, 0.05 / 18, 0.05 / 18, 18) == 9
    assert min_seeds(fixed, 3, 0.05, 0.05, 1) == 5  # 2**-5 <= 0.05


# --- verdicts -------------------------------------------------------------------------------


def test_each_verdict_by_hand():
    differences = _differences(
        {
            "gain": [0.050, 0.051, 0.049] * 4,  # every sign positive: p = 2 / 4096
            "loss": [-0.020, -0.021, -0.019] * 4,
            "same": [0.0001, -0.0001, 0.0002] * 4,  # every seed within the margin: 1 / 4096
            "noisy": [0.01, -0.012, 0.004] * 4,
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
    rows = decisions.set_index("comparison")
    assert rows.loc["gain", "p_superiority"] == 2 / 4096
    assert rows.loc["same", "p_equivalence"] == 1 / 4096
    # "loss" and "gain" pass their alpha on: 2 superiority nulls still stand for "noisy",
    # tested at the whole of its share at the design's only look.
    noisy = rows.loc["noisy"]
    assert noisy["alpha_superiority"] == pytest.approx(0.025)
    assert noisy["level_superiority"] == pytest.approx(0.025)
    assert (rows["n_seeds"] == 12).all() and (rows["informative_seeds"] == 12).all()


def test_three_seeds_decide_nothing_and_say_how_many_could():
    differences = _differences(
        {
            "both diverged": [0.0, 0.0, 0.0],
            "b diverged": [0.78, 0.78, 0.78],
            "a diverged": [-0.78, -0.78, -0.78],
            "tiny but constant": [0.001, 0.001, 0.001],
        }
    )
    decisions = decide(differences, Design())  # the first of six looks
    assert set(decisions["verdict"]) == {"undecided"}
    rows = decisions.set_index("comparison")
    assert rows.loc["b diverged", "p_superiority"] == 0.25
    assert rows.loc["both diverged", "p_equivalence"] == 1.0  # no seed counts
    assert rows.loc["both diverged", "informative_seeds"] == 0
    assert (rows["level_superiority"] == 0).all()  # no level before the first decisive look
    # 4 comparisons: the strictest share can reject from 11 seeds, the next look is 12.
    assert (rows["min_seeds"] == 12).all() and rows["needs_seeds"].all()
    assert seeds_to_add(decisions, Design()) == 12  # 5 and 8 seeds could decide nothing


def test_seeds_that_count_for_equivalence_come_from_the_frame():
    diffs = _differences({"c": [0.001, -0.001, 0.0005, 0.0, 0.0, 0.0]})
    design = Design(max_seeds=6, looks=(6,))
    default = decide(diffs, design).iloc[0]
    assert default["informative_seeds"] == 3 and default["p_equivalence"] == 1 / 8
    counted = decide(diffs.assign(informative=True), design).iloc[0]
    assert counted["informative_seeds"] == 6 and counted["p_equivalence"] == 1 / 64
    assert counted["verdict"] == "equivalent"  # 1/64 <= 0.05 at the design's one look


def test_seeds_are_added_to_undecided_comparisons_until_the_budget():
    design = Design(max_seeds=12, looks=(3, 6, 12))  # 6 seeds could decide nothing here
    differences = _differences(
        {"clear": [0.78] * 12, "unclear": [0.01, -0.01, 0.002, 0.0, 0.005, -0.004] * 2}
    )
    first = decide(differences[differences["seed"] < 3], design)
    assert first.set_index("comparison")["needs_seeds"].to_dict() == {
        "clear": True,
        "unclear": True,
    }
    assert first["min_seeds"].tolist() == [12, 12]
    assert seeds_to_add(first, design) == 12
    last = decide(differences, design, first)
    assert last["look"].tolist() == [1, 1]
    assert _verdicts(last) == {"clear": "a_better", "unclear": "undecided"}
    unclear = last.set_index("comparison").loc["unclear"]
    assert unclear["n_seeds"] == 12
    # "clear" passed its alpha on; nothing was spent at 3 seeds, so this look has all of it.
    assert unclear["level_superiority"] == pytest.approx(0.05)
    assert not last["needs_seeds"].any() and seeds_to_add(last, design) == 0


def test_previous_decisions_are_never_recomputed():
    design = Design()
    first = decide(_differences({"settled": [0.78] * 12, "open": [0.01, -0.01, 0.0] * 4}), design)
    later_seeds = _differences(
        {"settled": [0.78] * 12 + [-0.78] * 7, "open": [0.01, -0.01, 0.0] * 6 + [0.002]}
    )
    second = decide(later_seeds, design, first)
    settled = second.set_index("comparison").loc["settled"]
    before = first.set_index("comparison").loc["settled"]
    assert settled.drop("look").equals(before.drop("look")) and settled["look"] == 1
    assert settled["verdict"] == "a_better" and settled["n_seeds"] == 12
    assert second.set_index("comparison").loc["open", "n_seeds"] == 19


def test_a_look_without_new_seeds_spends_nothing():
    differences = _differences({"c": [0.01, -0.01, 0.0] * 4})
    first = decide(differences, Design())
    again = decide(differences, Design(), first)
    assert again["level_superiority"].iloc[0] == 0.0
    assert again["verdict"].iloc[0] == "undecided"


def test_rows_stored_by_an_older_version_still_combine():
    design = Design()
    first = decide(_differences({"settled": [0.78] * 12, "open": [0.01, -0.01, 0.0] * 4}), design)
    old = first.drop(columns=["informative_seeds", "level_superiority", "min_seeds"])
    second = decide(
        _differences({"settled": [0.78] * 12, "open": [0.01, -0.01, 0.0] * 6 + [0.0]}), design, old
    )
    assert _verdicts(second)["settled"] == "a_better"


def test_bad_frames():
    with pytest.raises(ValueError, match=r"lacks the columns \['diff'\]"):
        decide(pd.DataFrame({"comparison": ["c"], "seed": [0]}), Design())
    with pytest.raises(ValueError, match="each \\(comparison, seed\\) once"):
        decide(_differences({"c": [0.1, 0.2]}).assign(seed=0), Design())
    first = decide(_differences({"c": [0.01, -0.01, 0.0], "d": [0.02, 0.0, -0.01]}), Design())
    with pytest.raises(ValueError, match=r"Undecided comparisons have no differences: \['d'\]"):
        decide(_differences({"c": [0.01, -0.01, 0.0, 0.0, 0.0]}), Design(), first)


# --- whole studies --------------------------------------------------------------------------


def _simulate(draws, design, exact=False):
    """Whole studies through `judge`, every look of the default schedule."""
    schedule = design.schedule(3)
    codes = np.zeros(draws.shape[:2], dtype=int)
    for before, n in zip((0, *schedule), schedule, strict=False):
        codes, _ = judge(draws[..., :n], before, codes, design, exact=exact)
    return codes


def test_skipping_p_values_above_the_levels_gives_the_same_verdicts():
    rng = np.random.default_rng(5)
    draws = rng.normal(0.0, 0.004, (60, 6, 30))
    draws[:, :2] += 0.006  # clear ones that pass alpha on to the rest: cascades
    draws[:, 2] *= 0.2  # nearly equal: equivalence
    assert np.array_equal(_simulate(draws, Design(), exact=True), _simulate(draws, Design()))


def test_divergence_on_some_seeds_does_not_make_false_betters():
    # The case: three placements alike at one learning rate, each seed diverging with
    # probability 0.5 (chance 0.10) or else about 0.85: the t-test design erred ~12% here.
    rng = np.random.default_rng(6)
    studies = 600
    scores = np.where(
        rng.random((studies, 3, 30)) < 0.5, 0.1, rng.normal(0.85, 0.005, (studies, 3, 30))
    )
    draws = scores[:, [0, 0, 1]] - scores[:, [1, 2, 2]]
    codes = _simulate(draws, Design())
    better = np.isin(codes, (VERDICTS.index("a_better"), VERDICTS.index("b_better")))
    assert better.any(axis=1).mean() <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / studies)


@pytest.mark.parametrize("seed", range(4))
def test_every_pattern_is_scipy_s_exact_paired_permutation_test(seed):
    from scipy import stats

    rng = np.random.default_rng(seed)
    a, b = rng.normal(0.85, 0.01, 9), rng.normal(0.85, 0.01, 9)
    a[:2] = b[2:4] = 0.1  # diverged seeds: a two-point mixture
    exact = stats.permutation_test(
        (a, b), lambda x, y: np.mean(x - y), permutation_type="samples", n_resamples=np.inf
    )
    assert sign_flip_p_values(a - b)[0] == pytest.approx(exact.pvalue, rel=1e-9)
