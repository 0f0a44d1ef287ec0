"""Statistics across seeds: pure functions, frames in, frames out."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

BASELINE = "none"
CONFIDENCE = 0.95
# Group keys: every config field but the seed (epochs included: different budgets don't mix).
GROUP_KEYS = ["placement", "lr", "batch_size", "optimizer", "hidden", "epochs"]
ENDED = ("completed", "diverged")  # trials whose numbers count; running/errored are listed only


def mean_ci(values) -> tuple[float, float, float, float]:
    """Mean, sample std and the two-sided t confidence interval; NaN where n < 2."""
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
    low, high = stats.t.interval(CONFIDENCE, len(x) - 1, loc=mean, scale=stats.sem(x))
    return mean, std, float(low), float(high)


def epochs_to_reach(history: pd.DataFrame, threshold: float) -> pd.Series:
    """Per trial, the first epoch whose val_accuracy reaches `threshold` (NaN if never)."""
    reached = history[history["val_accuracy"] >= threshold]
    return reached.groupby("trial_id")["epoch"].min()


def summarize(trials: pd.DataFrame, history: pd.DataFrame, threshold: float = 0.8) -> pd.DataFrame:
    """One row per configuration (all config fields but the seed).

    Columns: the group keys, n_seeds, mean/std/CI of final and best val_accuracy, mean test
    accuracy, mean seconds per epoch, mean epochs to reach `threshold` val_accuracy (over the
    seeds that reached it) and how many seeds reached it, and the count of diverged seeds.
    """
    ended = trials[trials["status"].isin(ENDED)]
    to_reach = epochs_to_reach(history, threshold)
    rows = []
    for keys, group in ended.groupby(GROUP_KEYS, sort=True):
        final = mean_ci(group["final_val_accuracy"])
        best = mean_ci(group["best_val_accuracy"])
        reach = to_reach.reindex(group["trial_id"]).dropna()
        rows.append(
            {
                **dict(zip(GROUP_KEYS, keys, strict=True)),
                "n_seeds": len(group),
                "final_val_accuracy_mean": final[0],
                "final_val_accuracy_std": final[1],
                "final_val_accuracy_ci_low": final[2],
                "final_val_accuracy_ci_high": final[3],
                "best_val_accuracy_mean": best[0],
                "best_val_accuracy_std": best[1],
                "best_val_accuracy_ci_low": best[2],
                "best_val_accuracy_ci_high": best[3],
                "test_accuracy_mean": group["test_accuracy"].mean(),
                "epoch_seconds_mean": group["mean_epoch_seconds"].mean(),
                f"epochs_to_{threshold:g}": reach.mean() if len(reach) else np.nan,
                f"seeds_reaching_{threshold:g}": len(reach),
                "n_diverged": int((group["status"] == "diverged").sum()),
            }
        )
    columns = [*GROUP_KEYS, "n_seeds"]
    return pd.DataFrame(rows, columns=columns if not rows else None)


def holm(p_values) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (NaN stays NaN and is not counted).

    scipy ships Benjamini-Hochberg but not Holm's step-down; it is a few lines.
    """
    p = np.asarray(p_values, dtype=float)
    adjusted = np.full_like(p, np.nan)
    valid = np.flatnonzero(~np.isnan(p))
    order = valid[np.argsort(p[valid], kind="stable")]
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, (len(order) - rank) * p[index])
        adjusted[index] = min(1.0, running)
    return adjusted


def compare_to_baseline(trials: pd.DataFrame, metric: str = "final_val_accuracy") -> pd.DataFrame:
    """Each configuration against the `none` placement with the same other fields, paired by seed.

    Columns: the group keys, n_pairs, mean_diff with its 95% CI, the paired t-test p-value,
    the probability of improvement (share of seeds where the placement beats the baseline),
    the Holm-adjusted p-value across all comparisons, and a note when seeds are too few.
    """
    ended = trials[trials["status"].isin(ENDED)]
    other_keys = [k for k in GROUP_KEYS if k != "placement"]
    baseline = ended[ended["placement"] == BASELINE]
    rows = []
    for keys, group in ended[ended["placement"] != BASELINE].groupby(GROUP_KEYS, sort=True):
        key = dict(zip(GROUP_KEYS, keys, strict=True))
        base = baseline
        for k in other_keys:
            base = base[base[k] == key[k]]
        pairs = group.merge(base, on="seed", suffixes=("", "_base"))[[metric, f"{metric}_base"]]
        pairs = pairs.dropna()
        diff = (pairs[metric] - pairs[f"{metric}_base"]).to_numpy()
        mean, _, low, high = mean_ci(diff)
        note = ""
        p_value = np.nan
        if len(diff) < 2:
            note = f"too few paired seeds for a test (n={len(diff)})"
        elif np.all(diff == diff[0]):
            note = "identical differences on every seed: no variance to test"
        else:
            p_value = float(stats.ttest_rel(pairs[metric], pairs[f"{metric}_base"]).pvalue)
        rows.append(
            {
                **key,
                "baseline": BASELINE,
                "n_pairs": len(diff),
                "mean_diff": mean,
                "diff_ci_low": low,
                "diff_ci_high": high,
                "p_value": p_value,
                "prob_improvement": float((diff > 0).mean()) if len(diff) else np.nan,
                "note": note,
            }
        )
    frame = pd.DataFrame(rows)
    if frame.empty:
        return pd.DataFrame(columns=[*GROUP_KEYS, "baseline", "n_pairs", "mean_diff", "p_holm"])
    frame["p_holm"] = holm(frame["p_value"])
    return frame
