"""Statistics across seeds: pure functions, frames in, frames out.

How diverged trials count: a trial whose loss became NaN/inf scores chance accuracy (`CHANCE`,
0.10) in every statistic, on validation and test alike. That is what such a model predicts once
its weights are NaN, and it keeps every cell's seeds paired instead of silently dropping the
seeds that failed. Running and errored trials are left out (listed, not scored).

scipy.stats and statsmodels are imported by the tests that use them, on first use: they take
seconds to load, and the figures' intervals and the tables' means need neither (the t
quantiles come from scipy.special, which is what scipy.stats.t computes them with).
`load_libraries` loads them ahead, for a caller with time to spare.
"""

from __future__ import annotations

import functools
import gc
import itertools
import warnings

import numpy as np
import pandas as pd
from scipy import special

from reports.contexts import CONTEXT_KEYS, also_differs, contexts, real_values

CONFIDENCE = 0.95
ALPHA = 0.05
POWER = 0.8
CHANCE = 0.1  # ten balanced classes
BASELINE = "none"
GROUP_KEYS = ["placement", "lr", *CONTEXT_KEYS]
ENDED = ("completed", "diverged")  # trials whose numbers count; running/errored are listed only
BOOTSTRAP_RESAMPLES = 9999
BOOTSTRAP_SEED = 0
SMALL_N_SCAN = 64  # the same frames give the same intervals
# Score columns: the metric with diverged trials at chance (see the module docstring).
SCORES = {"val": "final_val_accuracy", "test": "test_accuracy"}


def scored(trials: pd.DataFrame) -> pd.DataFrame:
    """The ended trials with `val_score` and `test_score`: accuracies, chance where diverged."""
    ended = trials[trials["status"].isin(ENDED)].copy()
    diverged = ended["status"] == "diverged"
    for name, column in SCORES.items():
        values = pd.to_numeric(ended[column], errors="coerce").astype(float)
        ended[f"{name}_score"] = values.where(~diverged, CHANCE)
    return ended


# What a score can be: an accuracy, and a difference of two. A t interval knows nothing of the
# bounds (a cell whose seeds diverged on some and trained on others spreads past them), so the
# intervals are clipped to them: the part cut off holds no possible value.
ACCURACY_BOUNDS = (0.0, 1.0)
DIFFERENCE_BOUNDS = (-1.0, 1.0)


def load_libraries() -> None:
    """Import the statistics libraries the tests below load on first use."""
    import scipy.stats  # noqa: F401
    import statsmodels.formula.api  # what a formula loads on first use, and more
    import statsmodels.stats.anova
    import statsmodels.stats.multitest
    import statsmodels.stats.power  # noqa: F401


@functools.lru_cache(maxsize=512)
def _t_bounds(df: int) -> tuple[float, float]:
    """The t distribution's quantiles of a two-sided `CONFIDENCE` interval (cached: scipy's
    per-call overhead was most of the cost of a comparison table)."""
    tail = (1 - CONFIDENCE) / 2
    return float(special.stdtrit(df, tail)), float(special.stdtrit(df, 1 - tail))


def mean_ci(values, bounds: tuple[float, float] | None = None) -> tuple[float, float, float, float]:
    """Mean, sample std and the two-sided t confidence interval, clipped to `bounds` if given;
    NaN where n < 2."""
    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    if len(x) == 0:
        return (np.nan,) * 4
    mean = float(x.mean())
    if len(x) < 2:
        return mean, np.nan, np.nan, np.nan
    std = float(x.std(ddof=1))
    if std == 0:
        return mean, 0.0, mean, mean
    low, high = _t_bounds(len(x) - 1)
    sem = std / np.sqrt(len(x))  # as scipy.stats.t.interval(..., loc=mean, scale=sem)
    low, high = low * sem + mean, high * sem + mean
    if bounds is not None:
        low, high = max(low, bounds[0]), min(high, bounds[1])
    return mean, std, float(low), float(high)


def mean_ci_by(
    frame: pd.DataFrame, keys: list[str], value: str, bounds: tuple[float, float] | None = None
) -> pd.DataFrame:
    """`mean_ci` of `value` for every group of `keys` at once (a groupby, not a loop).

    Returns:
        One row per group, sorted by `keys`: the keys, n (the values that are not NaN), mean,
        std and the t interval's ci_low and ci_high, as `mean_ci` gives them for the group.
    """
    columns = [*keys, "n", "mean", "std", "ci_low", "ci_high"]
    if frame.empty:
        return pd.DataFrame(columns=columns)
    values = pd.to_numeric(frame[value], errors="coerce").astype(float)
    grouped = values.groupby([frame[k] for k in keys], sort=True).agg(["count", "mean", "std"])
    out = grouped.rename(columns={"count": "n"}).reset_index()
    n = out["n"].to_numpy(float)
    with np.errstate(invalid="ignore", divide="ignore"):  # n < 2: no interval, NaN as mean_ci
        half = special.stdtrit(n - 1, (1 + CONFIDENCE) / 2) * out["std"].to_numpy() / np.sqrt(n)
    out["ci_low"], out["ci_high"] = out["mean"] - half, out["mean"] + half
    if bounds is not None:
        out["ci_low"], out["ci_high"] = out["ci_low"].clip(lower=bounds[0]), out["ci_high"].clip(upper=bounds[1])  # fmt: skip
    return out[columns]


def epochs_to_reach(history: pd.DataFrame, threshold: float) -> pd.Series:
    """Per trial, the first epoch whose val_accuracy reaches `threshold` (NaN if never)."""
    reached = history[history["val_accuracy"] >= threshold]
    return reached.groupby("trial_id")["epoch"].min()


def cell_outcome(n_seeds: int, n_diverged: int) -> str:
    """How a (placement, lr) cell ended, in words the tables and findings share."""
    if n_diverged == 0:
        return "stable"
    if n_diverged == n_seeds:
        return "diverged"
    return f"diverged on {n_diverged} of {n_seeds} seeds"


def summarize(trials: pd.DataFrame, history: pd.DataFrame, threshold: float = 0.8) -> pd.DataFrame:
    """One row per configuration (all config fields but the seed).

    Columns: the group keys, n_seeds, n_diverged, outcome, mean/std/CI of the final
    val_accuracy score (chance where diverged), mean best val_accuracy, mean test score, mean
    seconds per epoch, and the mean epochs to reach `threshold` val_accuracy over the seeds that
    reached it (with how many did).
    """
    ended = scored(trials)
    to_reach = epochs_to_reach(history, threshold)
    rows = []
    for keys, group in ended.groupby(GROUP_KEYS, sort=True):
        final = mean_ci(group["val_score"], ACCURACY_BOUNDS)
        reach = to_reach.reindex(group["trial_id"]).dropna()
        n_diverged = int((group["status"] == "diverged").sum())
        rows.append(
            {
                **dict(zip(GROUP_KEYS, keys, strict=True)),
                "n_seeds": len(group),
                "n_diverged": n_diverged,
                "outcome": cell_outcome(len(group), n_diverged),
                "final_val_accuracy_mean": final[0],
                "final_val_accuracy_std": final[1],
                "final_val_accuracy_ci_low": final[2],
                "final_val_accuracy_ci_high": final[3],
                "best_val_accuracy_mean": group["best_val_accuracy"].mean(),
                "test_accuracy_mean": group["test_score"].mean(),
                "epoch_seconds_mean": group["mean_epoch_seconds"].mean(),
                f"epochs_to_{threshold:g}": reach.mean() if len(reach) else np.nan,
                f"seeds_reaching_{threshold:g}": len(reach),
            }
        )
    return pd.DataFrame(rows, columns=None if rows else [*GROUP_KEYS, "n_seeds", "n_diverged"])


def holm(p_values) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values; NaN stays NaN and is not counted in the family."""
    p = np.asarray(p_values, dtype=float)
    adjusted = np.full_like(p, np.nan)
    valid = ~np.isnan(p)
    if valid.any():
        from statsmodels.stats.multitest import multipletests

        # statsmodels' Holm ends with gc.collect(): 0.2 s in a sweep's process (TensorFlow
        # and Ray loaded), for objects that are not ours to collect; frozen, it scans none.
        # A caller that froze the heap itself is left as it was.
        ours = gc.get_freeze_count() == 0
        if ours:
            gc.freeze()
        try:
            adjusted[valid] = multipletests(p[valid], method="holm")[1]
        finally:
            if ours:
                gc.unfreeze()
    return adjusted


def _prob_improvement(a, b, axis=-1):
    # Ties count half, so identical runs give exactly 0.5 (no evidence either way).
    return np.mean((a > b) + 0.5 * (a == b), axis=axis)


def difference(a, b) -> dict:
    """A - B, paired by position (seed): n_pairs, and mean_diff with its 95% t interval (what
    the figures draw; `paired_test` adds the tests)."""
    mean, _, low, high = mean_ci(np.asarray(a, float) - np.asarray(b, float), DIFFERENCE_BOUNDS)
    return {"n_pairs": len(a), "mean_diff": mean, "diff_ci_low": low, "diff_ci_high": high}


def paired_test(a, b) -> dict:
    """A against B, paired by position (seed): the numbers every comparison table shows.

    Returns:
        n_pairs; mean_diff (A - B) with its 95% t interval; the paired t-test p_value;
        prob_improvement P(A > B) (ties count half) with a 95% percentile-bootstrap interval
        over the seed pairs (Bouthillier et al. 2021: A is reliably better when the interval's
        low end is above 0.5); effect_size (mean / SD of the differences); and a note when
        there is nothing to test.
    """
    from scipy import stats

    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    diff = a - b
    mean, std, _, _ = mean_ci(diff)
    row = {
        **difference(a, b),
        "p_value": np.nan,
        "prob_improvement": float(_prob_improvement(a, b)) if len(diff) else np.nan,
        "prob_ci_low": np.nan,
        "prob_ci_high": np.nan,
        "effect_size": np.nan,
        "note": "",
    }
    if len(diff) < 2:
        row["note"] = f"too few paired seeds for a test (n={len(diff)})"
        return row
    bootstrap = stats.bootstrap(
        (a, b), _prob_improvement, paired=True, vectorized=True, method="percentile",
        n_resamples=BOOTSTRAP_RESAMPLES, rng=np.random.default_rng(BOOTSTRAP_SEED),
    )  # fmt: skip
    row["prob_ci_low"], row["prob_ci_high"] = map(float, bootstrap.confidence_interval)
    if std == 0:
        row["note"] = (
            "no difference on any seed" if mean == 0 else "the same difference on every seed"
        )
        return row
    row["p_value"] = float(stats.ttest_rel(a, b).pvalue)
    row["effect_size"] = mean / std
    return row


def seeds_needed(effect_size: float, family_size: int) -> float:
    """Seeds for 80% power of a two-sided paired t-test at this effect size.

    The level is Bonferroni's 0.05 / family_size, the strictest step of Holm's method, so a
    difference this large would come out significant after adjustment. NaN without an effect.
    """
    return float(seeds_needed_many([effect_size], family_size)[0])


def seeds_needed_many(effect_sizes, family_size: int) -> np.ndarray:
    """`seeds_needed` for many effect sizes at once: per effect the smallest n at which the
    paired t-test's power (`_power`) reaches `POWER`, from the power of every effect at n = 2
    .. `SMALL_N_SCAN` in one call, then a search over n for the rest, all at once.
    (statsmodels' `solve_power` took 9 ms for each effect past `SMALL_N_SCAN`, and its roots
    were wrong where the power it solves is NaN, and below a few dozen seeds.)"""
    effect = np.abs(np.asarray(effect_sizes, dtype=float))
    needed = np.full(effect.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(effect) & (effect != 0))
    if not len(ok):
        return needed
    alpha = ALPHA / max(1, family_size)
    small = np.arange(2, SMALL_N_SCAN + 1)
    reached = _power(effect[ok, None], small[None, :], alpha) >= POWER
    found = reached.any(axis=1)
    needed[ok[found]] = small[reached[found].argmax(axis=1)]
    rest = ok[~found]
    if len(rest):

        def enough(n):
            return _power(effect[rest], n, alpha) >= POWER

        needed[rest] = _smallest_n(enough, len(rest), SMALL_N_SCAN)
    return needed


def _power(effect, nobs, alpha: float) -> np.ndarray:
    """statsmodels' power of the two-sided one-sample (paired) t-test at level `alpha`, for
    effects >= 0, as its two one-sided tails: scipy's noncentral t (1.17) is NaN at some n far
    in either tail, and statsmodels' two-sided power NaN with it (effect 0.13 at level
    0.05/600: NaN at n = 1,100 and 1,157, 0.66 at 1,156). A NaN lower tail counts as 0 (it is
    below alpha / 2 for an effect >= 0, and about 1e-16 beside such n); a NaN upper tail as 1,
    as it is NaN only where the power passed 0.999 at a smaller n (held by a test on a grid
    of effects and n, `tests/reports/test_stats.py`)."""
    from statsmodels.stats.power import TTestPower

    test = TTestPower()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the noncentral t warns where it is NaN
        upper = test.power(effect, nobs=nobs, alpha=alpha / 2, alternative="larger")
        lower = test.power(effect, nobs=nobs, alpha=alpha / 2, alternative="smaller")
    return np.nan_to_num(upper, nan=1.0) + np.nan_to_num(lower)


MAX_SEEDS_NEEDED = 2.0**40  # beyond: NaN ("n/a"), an effect too small ever to show


def _smallest_n(enough, count: int, short_at: int) -> np.ndarray:
    """Per effect of `count`, the smallest integer n where `enough(n)` holds (it takes an
    array of n, one per effect, and holds from some n on), given that it fails at `short_at`
    for every one: doubling n until it holds, then halving the gap."""
    low = np.full(count, float(short_at))
    high = 2 * low
    while True:
        short = ~enough(high) & (high < MAX_SEEDS_NEEDED)
        if not short.any():
            break
        low[short], high[short] = high[short], 2 * high[short]
    while (high - low > 1).any():
        middle = np.floor((low + high) / 2)
        met = enough(middle)
        low, high = np.where(met, low, middle), np.where(met, middle, high)
    return np.where(enough(high), high, np.nan)


def placement_pairs(placements) -> list[tuple[str, str]]:
    # BN placements alphabetically, the no-BN baseline last: every pair once, each BN placement
    # as A against none, and A - B reads as "gain of A over B".
    names = sorted(set(placements), key=lambda p: (p == BASELINE, p))
    return list(itertools.combinations(names, 2))


def adjust_family(frame: pd.DataFrame) -> pd.DataFrame:
    """Holm over the whole family, the verdict, and seeds needed where not significant."""
    if frame.empty:
        return frame
    frame["p_holm"] = holm(frame["p_value"])
    family = int(frame["p_value"].notna().sum())
    frame["significant"] = frame["p_holm"] < ALPHA
    needed = seeds_needed_many(frame["effect_size"].to_numpy(float), family)
    frame["seeds_needed"] = np.where(frame["significant"].to_numpy(bool), np.nan, needed)
    return frame


COMPARISON_KEYS = ["lr", *CONTEXT_KEYS, "placement_a", "placement_b", "also_differs"]


def _outcomes(study: pd.DataFrame) -> dict[float, dict[str, str]]:
    """Per learning rate, each placement's `cell_outcome`."""
    diverged = study["status"].eq("diverged")
    counts = diverged.groupby([study["lr"], study["placement"]], sort=True).agg(["size", "sum"])
    outcomes: dict[float, dict[str, str]] = {}
    for (lr, placement), (n, d) in zip(counts.index, counts.to_numpy(), strict=True):
        outcomes.setdefault(lr, {})[placement] = cell_outcome(int(n), int(d))
    return outcomes


def pairwise_comparisons(trials: pd.DataFrame, score: str = "val") -> pd.DataFrame:
    """Every pair of placements at every learning rate, paired by seed.

    Pairs are made only within one context (`reports.contexts`): the two placements share every
    other axis, or `also_differs` names what else differs (a preset's models).

    One row per (learning rate, context, placement A, placement B) with `paired_test`'s
    columns, `outcome_a` / `outcome_b` (stable, diverged, ...), p_holm (Holm across the whole
    table), significant, and seeds_needed for the comparisons that are not significant.
    Scores are final val_accuracy by default (`score="test"` for test accuracy).
    """
    frame = _pairs_by_lr(trials, score, paired_test)
    return (
        frame.reindex(columns=[*frame.columns, "p_holm"]) if frame.empty else adjust_family(frame)
    )


def pairwise_differences(trials: pd.DataFrame, score: str = "val") -> pd.DataFrame:
    """`pairwise_comparisons`' rows with `difference`'s columns only: no test, so none of the
    statistics libraries is loaded (what the figures draw while they load)."""
    return _pairs_by_lr(trials, score, difference)


def _pairs_by_lr(trials: pd.DataFrame, score: str, compare) -> pd.DataFrame:
    """A row per pair of placements at each learning rate of each context: the keys, the two
    outcomes and what `compare(a, b)` gives of their scores paired by seed."""
    ended = scored(trials)
    rows = []
    for context, study in contexts(ended):
        real = real_values(study, ended)
        differs = {}
        # One table per context, seeds x placements per learning rate (a pivot per cell was
        # most of the cost of a run with many contexts).
        scores = study.groupby(["lr", "seed", "placement"], sort=True)[f"{score}_score"].mean()
        by_lr = scores.unstack("placement")
        for lr, outcomes in _outcomes(study).items():
            by_seed = by_lr.xs(lr, level="lr")
            for a, b in placement_pairs(outcomes):
                pairs = by_seed[[a, b]].dropna()
                if (a, b) not in differs:
                    differs[a, b] = also_differs(real, a, b)
                rows.append(
                    {
                        "lr": lr,
                        **context,
                        "placement_a": a,
                        "placement_b": b,
                        "also_differs": differs[a, b],
                        "outcome_a": outcomes[a],
                        "outcome_b": outcomes[b],
                        **compare(pairs[a], pairs[b]),
                    }
                )
    return pd.DataFrame(rows, columns=None if rows else [*COMPARISON_KEYS, "n_pairs"])


def interaction(trials: pd.DataFrame, score: str = "val") -> pd.DataFrame:
    """Does the gain of one placement over another depend on the learning rate?

    A two-way ANOVA of the score on placement x learning rate with seeds as blocks
    (`score ~ C(placement) * C(lr) + C(seed)`), one per context. Tested twice: over every
    learning rate, and over the learning rates where no placement diverged (the stable range),
    so divergence alone cannot make the interaction.

    Returns:
        One row per context and scope: n_placements, n_levels, n_seeds, f_value, df, df_resid,
        p_value, and a note where the design cannot be tested.
    """
    ended = scored(trials)
    rows = []
    for context, study in contexts(ended):
        diverged_lrs = set(study.loc[study["status"] == "diverged", "lr"])
        stable = study[~study["lr"].isin(diverged_lrs)]
        scopes = [("all learning rates", study)]
        if diverged_lrs and stable["lr"].nunique() >= 2:
            scopes.append(("learning rates where no placement diverged", stable))
        for scope, frame in scopes:
            row = anova_interaction(frame, f"{score}_score", "lr", "learning rates")
            rows.append({"factor": "lr", **context, "scope": scope, **row})
    columns = ["factor", *CONTEXT_KEYS, "scope", "p_value", "note"]
    return pd.DataFrame(rows, columns=None if rows else columns)


def anova_interaction(frame: pd.DataFrame, score: str, factor: str, levels: str) -> dict:
    """Placement x `factor` interaction: `score ~ C(placement) * C(factor) + C(seed)`."""
    # statsmodels.formula.api's `ols` is this; that module also loads every other model.
    from statsmodels.regression.linear_model import OLS
    from statsmodels.stats.anova import anova_lm

    data = pd.DataFrame(
        {
            "y": frame[score].to_numpy(float),
            "placement": frame["placement"].astype(str).to_numpy(),
            "level": frame[factor]
            .map(lambda v: f"{v:g}" if isinstance(v, float) else str(v))
            .to_numpy(),
            "seed": frame["seed"].astype(str).to_numpy(),
        }
    )
    row = {
        "n_placements": data["placement"].nunique(),
        "n_levels": data["level"].nunique(),
        "n_seeds": data["seed"].nunique(),
        "f_value": np.nan,
        "df": np.nan,
        "df_resid": np.nan,
        "p_value": np.nan,
        "note": "",
    }
    if row["n_placements"] < 2 or row["n_levels"] < 2:
        row["note"] = f"needs at least 2 placements and 2 {levels}"
        return row
    fit = OLS.from_formula("y ~ C(placement) * C(level) + C(seed)", data=data).fit()
    if fit.df_resid < 1:
        row["note"] = "needs at least 2 seeds per cell"
        return row
    if fit.ssr <= 1e-12 * max(1.0, float(((data["y"] - data["y"].mean()) ** 2).sum())):
        row["note"] = "every seed gave the same score: no variance to test"
        return row
    table = anova_lm(fit, typ=2)
    term = table.loc["C(placement):C(level)"]
    row.update(
        f_value=float(term["F"]),
        df=float(term["df"]),
        df_resid=float(fit.df_resid),
        p_value=float(term["PR(>F)"]),
    )
    return row
