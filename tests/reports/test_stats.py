"""Each statistic against small frames whose answers were worked out by hand."""

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats
from statsmodels.stats.power import TTestPower

from reports.stats import (
    CHANCE,
    holm,
    interaction,
    mean_ci,
    mean_ci_by,
    paired_test,
    pairwise_comparisons,
    seeds_needed,
    seeds_needed_many,
    summarize,
)
from tests.reports.helpers import trials_frame

T_975_DF2 = 4.302652729911275  # t quantile for a 95% interval with 2 degrees of freedom


def _row(frame, a, b, lr=None):
    pick = (frame["placement_a"] == a) & (frame["placement_b"] == b)
    if lr is not None:
        pick &= frame["lr"] == lr
    assert pick.sum() == 1
    return frame[pick].iloc[0]


def test_paired_test_by_hand():
    row = paired_test([0.81, 0.82, 0.83], [0.80, 0.80, 0.80])  # differences 0.01, 0.02, 0.03
    assert row["mean_diff"] == pytest.approx(0.02)
    half_width = T_975_DF2 * 0.01 / np.sqrt(3)
    assert (row["diff_ci_low"], row["diff_ci_high"]) == pytest.approx(
        (0.02 - half_width, 0.02 + half_width)
    )
    assert row["p_value"] == pytest.approx(0.07418, abs=1e-4)  # t = 2*sqrt(3), df = 2
    assert row["prob_improvement"] == 1.0 and row["prob_ci_low"] == 1.0
    assert row["effect_size"] == pytest.approx(2.0)


def test_a_pair_where_b_beats_a():
    trials = trials_frame(
        {
            ("after_activation", 0.1): [0.80, 0.81, 0.82],
            ("before_activation", 0.1): [0.81, 0.83, 0.85],
        }
    )
    row = _row(pairwise_comparisons(trials), "after_activation", "before_activation")
    assert row["mean_diff"] == pytest.approx(-0.02)
    assert row["p_value"] == pytest.approx(0.07418, abs=1e-4)
    assert row["prob_improvement"] == 0.0 and row["prob_ci_high"] == 0.0
    assert not row["significant"] and row["seeds_needed"] >= 3


def test_a_tie_has_no_test_and_even_odds():
    trials = trials_frame(
        {("none", 0.1): [0.8, 0.7, 0.9], ("after_activation", 0.1): [0.8, 0.7, 0.9]}
    )
    row = _row(pairwise_comparisons(trials), "after_activation", "none")
    assert row["mean_diff"] == 0 and np.isnan(row["p_value"])
    assert row["prob_improvement"] == 0.5 and "no difference on any seed" in row["note"]
    assert np.isnan(row["seeds_needed"])


def test_a_single_seed_is_said_not_tested():
    trials = trials_frame({("none", 0.1): [0.7], ("after_activation", 0.1): [0.8]})
    row = _row(pairwise_comparisons(trials), "after_activation", "none")
    assert row["n_pairs"] == 1 and np.isnan(row["p_value"]) and np.isnan(row["diff_ci_low"])
    assert "too few paired seeds" in row["note"]
    mean, std, low, high = mean_ci([0.5])
    assert mean == 0.5 and np.isnan(std) and np.isnan(low) and np.isnan(high)


def test_every_pair_at_every_lr_including_bn_against_bn():
    trials = trials_frame(
        {
            (p, lr): [0.8, 0.81]
            for p in ("none", "after_activation", "before_activation")
            for lr in (0.01, 0.1)
        }
    )
    frame = pairwise_comparisons(trials)
    pairs = set(zip(frame["placement_a"], frame["placement_b"], strict=True))
    assert pairs == {
        ("after_activation", "before_activation"),
        ("after_activation", "none"),
        ("before_activation", "none"),
    }
    assert len(frame) == 6


def test_a_learning_rate_where_every_seed_diverged():
    trials = trials_frame(
        {("none", 1.0): ["diverged"] * 3, ("after_activation", 1.0): [0.85, 0.86, 0.87]}
    )
    row = _row(pairwise_comparisons(trials), "after_activation", "none")
    assert row["outcome_b"] == "diverged" and row["outcome_a"] == "stable"
    assert row["mean_diff"] == pytest.approx(0.86 - CHANCE)  # diverged seeds score chance
    summary = summarize(trials, pd.DataFrame(columns=["trial_id", "epoch", "val_accuracy"]))
    none = summary[summary["placement"] == "none"].iloc[0]
    assert none["outcome"] == "diverged" and none["n_diverged"] == 3
    assert none["final_val_accuracy_mean"] == pytest.approx(CHANCE)


def test_running_and_errored_trials_are_left_out_of_statistics():
    trials = trials_frame({("none", 9.0): ["diverged", 0.6, 0.9]})
    trials.loc[2, "status"] = "errored"
    row = summarize(trials, pd.DataFrame(columns=["trial_id", "epoch", "val_accuracy"])).iloc[0]
    assert row["n_seeds"] == 2 and row["n_diverged"] == 1
    assert row["final_val_accuracy_mean"] == pytest.approx((CHANCE + 0.6) / 2)
    assert row["outcome"] == "diverged on 1 of 2 seeds"


def test_holm_against_hand_computed_values():
    adjusted = holm([0.01, 0.04, 0.03, np.nan])
    assert adjusted[:3] == pytest.approx([0.03, 0.06, 0.06]) and np.isnan(adjusted[3])


def test_holm_covers_the_whole_family():
    trials = trials_frame(
        {(p, lr): list(np.linspace(0.8, 0.82, 4) + (0.01 * i * j if p != "none" else 0) + 0.001 * np.arange(4) * (p == "before_activation"))
         for i, p in enumerate(("none", "after_activation", "before_activation")) for j, lr in enumerate((0.01, 0.1))}
    )  # fmt: skip
    frame = pairwise_comparisons(trials)
    assert list(frame["p_holm"]) == pytest.approx(list(holm(frame["p_value"])), nan_ok=True)


def test_seeds_needed_matches_statsmodels_at_the_family_level():
    n = TTestPower().solve_power(effect_size=0.5, alpha=0.05 / 4, power=0.8)
    assert seeds_needed(0.5, family_size=4) == np.ceil(n)
    assert seeds_needed(-0.5, family_size=4) == np.ceil(n)  # the sign does not matter
    assert np.isnan(seeds_needed(0.0, family_size=4))


@pytest.mark.parametrize(("effect", "seeds"), [(20.0, 4.0), (100.0, 3.0), (500.0, 3.0)])
def test_seeds_needed_for_effects_so_large_the_solver_gives_up(effect, seeds):
    # statsmodels' root finder returns NaN for these; the first n with 80% power is taken.
    assert seeds_needed(effect, family_size=45) == seeds


def _grid(effect, seeds=5):
    rng = np.random.default_rng(0)
    cells = {}
    for p in ("none", "after_activation"):
        for j, lr in enumerate((0.01, 0.1, 1.0)):
            cells[(p, lr)] = list(
                0.8 + effect(p, j) + rng.normal(0, 0.005, seeds) + 0.003 * np.arange(seeds)
            )
    return trials_frame(cells)


def test_interaction_detects_a_planted_interaction():
    planted = _grid(lambda p, j: 0.02 * j if p == "after_activation" else 0.0)
    row = interaction(planted).iloc[0]
    assert row["scope"] == "all learning rates" and row["p_value"] < 0.001
    assert (row["n_placements"], row["n_levels"], row["n_seeds"]) == (2, 3, 5)


def test_interaction_finds_none_where_there_is_none():
    additive = _grid(lambda p, j: (0.02 if p == "after_activation" else 0.0) + 0.01 * j)
    assert interaction(additive).iloc[0]["p_value"] > 0.05


def test_interaction_is_also_tested_in_the_stable_range():
    trials = _grid(lambda p, j: 0.0)
    trials.loc[(trials["placement"] == "none") & (trials["lr"] == 1.0), "status"] = "diverged"
    scopes = interaction(trials).set_index("scope")
    assert scopes.loc["all learning rates", "p_value"] < 0.001  # divergence alone
    stable = scopes.loc["learning rates where no placement diverged"]
    assert stable["n_levels"] == 2 and stable["p_value"] > 0.05


def test_interaction_with_one_seed_says_why_it_is_not_tested():
    trials = trials_frame(
        {(p, lr): [0.8 + lr] for p in ("none", "after_activation") for lr in (0.01, 0.1)}
    )
    row = interaction(trials).iloc[0]
    assert np.isnan(row["p_value"]) and "2 seeds" in row["note"]


def test_summary_ci_matches_scipy():
    trials = trials_frame({("none", 0.1): [0.80, 0.82, 0.85]})
    row = summarize(trials, pd.DataFrame(columns=["trial_id", "epoch", "val_accuracy"])).iloc[0]
    x = np.array([0.80, 0.82, 0.85])
    low, high = scipy_stats.t.interval(0.95, 2, loc=x.mean(), scale=scipy_stats.sem(x))
    assert (row["final_val_accuracy_ci_low"], row["final_val_accuracy_ci_high"]) == pytest.approx(
        (low, high)
    )


def test_mean_ci_by_gives_mean_ci_for_every_group_at_once():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "placement": rng.choice(["none", "after_activation"], 60),
            "epoch": rng.integers(1, 4, 60),
            "val_accuracy": rng.normal(0.8, 0.02, 60),
        }
    )
    frame.loc[frame.index[:3], "val_accuracy"] = np.nan  # left out, as mean_ci leaves them out
    lone = pd.DataFrame({"placement": ["lone"], "epoch": [1], "val_accuracy": [0.5]})
    same = pd.DataFrame({"placement": ["same"] * 3, "epoch": [1] * 3, "val_accuracy": [0.7] * 3})
    frame = pd.concat([frame, lone, same], ignore_index=True)
    groups = mean_ci_by(frame, ["placement", "epoch"], "val_accuracy")
    assert len(groups) == frame.groupby(["placement", "epoch"]).ngroups
    for _, row in groups.iterrows():
        values = frame.loc[
            (frame["placement"] == row["placement"]) & (frame["epoch"] == row["epoch"]),
            "val_accuracy",
        ]
        expected = mean_ci(values)
        assert row["n"] == values.notna().sum()
        assert [row["mean"], row["std"], row["ci_low"], row["ci_high"]] == pytest.approx(
            list(expected), nan_ok=True, abs=1e-12
        )
    assert mean_ci_by(frame.iloc[:0], ["placement"], "val_accuracy").empty


def test_mean_ci_is_scipys_t_interval():
    rng = np.random.default_rng(1)
    for n in (2, 3, 7, 30):
        x = rng.normal(0.8, 0.01, n)
        low, high = scipy_stats.t.interval(0.95, n - 1, loc=x.mean(), scale=scipy_stats.sem(x))
        assert mean_ci(x)[2:] == pytest.approx((low, high), rel=1e-14)


def test_paired_test_is_scipys_t_test_and_bootstrap():
    rng = np.random.default_rng(2)
    for n in (3, 10, 23):
        a, b = rng.normal(0.80, 0.01, n).round(3), rng.normal(0.80, 0.01, n).round(3)
        row = paired_test(a, b)
        assert row["p_value"] == pytest.approx(scipy_stats.ttest_rel(a, b).pvalue, rel=1e-12)
        boot = scipy_stats.bootstrap(
            (a, b), lambda x, y, axis=-1: np.mean((x > y) + 0.5 * (x == y), axis=axis),
            paired=True, vectorized=True, method="percentile", n_resamples=9999,
            rng=np.random.default_rng(0),
        )  # fmt: skip
        assert (row["prob_ci_low"], row["prob_ci_high"]) == pytest.approx(
            tuple(boot.confidence_interval), abs=1e-15
        )


def test_holm_is_statsmodels_holm():
    from statsmodels.stats.multitest import multipletests

    p = np.array([0.01, 0.04, np.nan, 0.03, 0.5, 0.01, 0.2])
    valid = ~np.isnan(p)
    adjusted = holm(p)
    assert np.isnan(adjusted[2])
    assert adjusted[valid] == pytest.approx(multipletests(p[valid], method="holm")[1], rel=1e-15)


def test_seeds_needed_for_many_effects_matches_one_by_one_and_statsmodels():
    effects = [0.05, 0.3, -0.8, 2.0, 0.0, np.nan]
    many = seeds_needed_many(effects, family_size=6)
    assert many == pytest.approx([seeds_needed(e, 6) for e in effects], nan_ok=True)
    for effect, n in zip(effects[:4], many[:4], strict=True):
        power = TTestPower().power(abs(effect), nobs=n, alpha=0.05 / 6)
        below = TTestPower().power(abs(effect), nobs=n - 1, alpha=0.05 / 6)
        assert power >= 0.8 > below  # the smallest n with 80% power


def test_the_interaction_by_least_squares_is_statsmodels_anova():
    from statsmodels.formula.api import ols
    from statsmodels.stats.anova import anova_lm

    trials = _grid(lambda p, j: 0.01 * j if p == "after_activation" else 0.0)
    row = interaction(trials).iloc[0]
    data = pd.DataFrame(
        {"y": trials["final_val_accuracy"], "placement": trials["placement"],
         "level": trials["lr"].astype(str), "seed": trials["seed"].astype(str)}
    )  # fmt: skip
    fit = ols("y ~ C(placement) * C(level) + C(seed)", data=data).fit()
    term = anova_lm(fit, typ=2).loc["C(placement):C(level)"]
    assert (row["f_value"], row["df"], row["df_resid"], row["p_value"]) == pytest.approx(
        (term["F"], term["df"], fit.df_resid, term["PR(>F)"]), rel=1e-9
    )


@pytest.mark.filterwarnings("ignore")  # statsmodels warns of the rank-deficient design
def test_an_interaction_with_a_missing_cell_is_statsmodels_own():
    trials = _grid(lambda p, j: 0.01 * j if p == "after_activation" else 0.0)
    trials = trials[~((trials["placement"] == "none") & (trials["lr"] == 1.0))]
    row = interaction(trials).iloc[0]  # rank-deficient: statsmodels' handling, as before
    assert np.isfinite(row["p_value"]) and row["df"] == 2


def test_seeds_needed_where_scipy_s_noncentral_t_is_nan():
    # statsmodels' power is NaN at n = 1,157 here (0.66 at 1,156): its root finder said 1,157.
    alpha = 0.05 / 600
    n = seeds_needed(0.1281845300886564, family_size=600)
    assert n == 1397
    power = [TTestPower().power(0.1281845300886564, nobs=m, alpha=alpha) for m in (1396, 1500)]
    assert power[0] < 0.8 < power[1]


def test_scipy_s_noncentral_t_is_nan_in_its_upper_tail_only_past_0999_power():
    # What `stats._power` takes for granted to count a NaN upper tail as a power of 1.
    effects = np.geomspace(1e-3, 30, 60)[:, None]
    nobs = np.unique(np.geomspace(2, 2**40, 400).astype(np.int64)).astype(float)[None, :]
    for alpha in (0.05, 0.05 / 600):
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            upper = TTestPower().power(effects, nobs=nobs, alpha=alpha / 2, alternative="larger")
        seen = np.maximum.accumulate(np.nan_to_num(upper, nan=0.0), axis=1)
        assert (seen[np.isnan(upper)] >= 0.999).all()


def test_seeds_needed_for_effects_too_small_ever_to_show_is_not_a_number():
    assert np.isnan(seeds_needed(1e-7, family_size=600))
    assert seeds_needed(1e-3, family_size=600) > 1e7
