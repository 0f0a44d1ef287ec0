"""Learning-rate selection: each placement at its own best learning rate, and the largest
learning rate at which it trains stably. Pure functions, frames in, frames out.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from reports.contexts import CONTEXT_KEYS, also_differs, contexts, real_values
from reports.stats import (
    ACCURACY_BOUNDS,
    SCORES,
    adjust_family,
    cell_outcome,
    mean_ci,
    paired_test,
    placement_pairs,
    scored,
)

# "Well above chance" (0.10): a learning rate whose seeds end below this did not really train.
STABLE_MIN_ACCURACY = 0.5


def best_lr_choices(trials: pd.DataFrame) -> pd.DataFrame:
    """Per placement and seed, the learning rate with the highest final val_accuracy score.

    Chosen on validation, reported on test, so the selection does not bias the comparison.
    Ties go to the smaller learning rate. Diverged trials score chance and so are never chosen
    while another learning rate trained.

    Returns:
        One row per context, placement and seed: lr, val_score, test_score, status.
    """
    columns = [*CONTEXT_KEYS, "placement", "seed", "lr", "val_score", "test_score", "status"]
    inputs = [*CONTEXT_KEYS, "placement", "seed", "lr", "status", *SCORES.values()]
    found = contexts(scored(trials[inputs])[columns])  # only the columns it needs: less to copy
    if not found:
        return pd.DataFrame(columns=columns)
    # Every context at once, numbered in the order of its keys (what sorting the rows by
    # CONTEXT_KEYS gives, without comparing ten columns of strings row by row).
    keys = [tuple(context[k] for k in CONTEXT_KEYS) for context, _ in found]
    rank = {i: r for r, i in enumerate(sorted(range(len(found)), key=keys.__getitem__))}
    studies = pd.concat([study.assign(_context=rank[i]) for i, (_, study) in enumerate(found)])
    ordered = studies.sort_values(
        ["_context", "val_score", "lr"], ascending=[True, False, True], kind="stable"
    )
    best = ordered.groupby(["_context", "placement", "seed"], sort=True).head(1)
    return best.sort_values(["_context", "placement", "seed"])[columns].reset_index(drop=True)


def _lr_counts(lrs: pd.Series) -> str:
    counts = lrs.value_counts().sort_index()
    seeds = lambda n: "seed" if n == 1 else "seeds"  # noqa: E731
    return ", ".join(f"{lr:g} on {n} {seeds(n)}" for lr, n in counts.items())


def best_lr(trials: pd.DataFrame) -> pd.DataFrame:
    """Each placement at its own best learning rate (chosen per seed on validation).

    Returns:
        One row per context and placement: n_seeds, chosen_lrs ("0.1 on 2 seeds, 1 on 1 seed"),
        the most chosen lr, mean val score, and the mean test score with its 95% CI.
    """
    choices = best_lr_choices(trials)
    rows = []
    for keys, group in choices.groupby([*CONTEXT_KEYS, "placement"], sort=True):
        mean, _, low, high = mean_ci(group["test_score"], ACCURACY_BOUNDS)
        rows.append(
            {
                **dict(zip([*CONTEXT_KEYS, "placement"], keys, strict=True)),
                "n_seeds": len(group),
                "chosen_lrs": _lr_counts(group["lr"]),
                "lr_mode": float(group["lr"].mode().min()),
                "val_accuracy_mean": group["val_score"].mean(),
                "test_accuracy_mean": mean,
                "test_accuracy_ci_low": low,
                "test_accuracy_ci_high": high,
            }
        )
    frame = pd.DataFrame(rows, columns=None if rows else [*CONTEXT_KEYS, "placement"])
    if frame.empty:
        return frame
    return frame.sort_values([*CONTEXT_KEYS, "test_accuracy_mean"], ascending=False, kind="stable")


def best_lr_comparisons(trials: pd.DataFrame) -> pd.DataFrame:
    """Every pair of placements, each at its own best learning rate, on test accuracy.

    Paired by seed; the same columns as `stats.pairwise_comparisons` but without `lr` (each
    side brings its own) and with its own Holm family.
    """
    ended = scored(trials)
    rows = []
    for context, study in contexts(ended):
        real = real_values(study, ended)
        choices = best_lr_choices(study)
        by_seed = choices.pivot_table(index="seed", columns="placement", values="test_score")
        for a, b in placement_pairs(choices["placement"]):
            pairs = by_seed[[a, b]].dropna()
            rows.append(
                {
                    **context,
                    "placement_a": a,
                    "placement_b": b,
                    "also_differs": also_differs(real, a, b),
                    **paired_test(pairs[a], pairs[b]),
                }
            )
    frame = pd.DataFrame(
        rows,
        columns=None if rows else [*CONTEXT_KEYS, "placement_a", "placement_b", "also_differs"],
    )
    return frame if frame.empty else adjust_family(frame)


def stable_lr(trials: pd.DataFrame, min_accuracy: float = STABLE_MIN_ACCURACY) -> pd.DataFrame:
    """The largest stable learning rate of each placement.

    A learning rate is stable for a placement when no seed diverged and every seed's final
    val_accuracy is at least `min_accuracy` (well above the 0.10 of chance).

    Returns:
        One row per context and placement: largest_stable_lr (NaN if none is), the smallest
        unstable lr above it (`unstable_from`), how that lr failed, and the lrs tested.
    """
    ended = scored(trials)
    rows = []
    per_placement = [
        ({**context, "placement": placement}, group)
        for context, study in contexts(ended)
        for placement, group in study.groupby("placement", sort=True)
    ]
    for keys, group in per_placement:
        cells = []
        for lr, cell in group.groupby("lr", sort=True):
            n_diverged = int((cell["status"] == "diverged").sum())
            low = bool((cell["val_score"] < min_accuracy).any())
            ok = n_diverged == 0 and not low
            outcome = cell_outcome(len(cell), n_diverged)
            if n_diverged == 0 and low:
                outcome = f"a seed ended below {min_accuracy:g} val_accuracy"
            cells.append((lr, ok, outcome))
        stable = [lr for lr, ok, _ in cells if ok]
        largest = max(stable) if stable else np.nan
        above = [(lr, outcome) for lr, ok, outcome in cells if not ok and not lr < largest]
        rows.append(
            {
                **keys,
                "largest_stable_lr": largest,
                "unstable_from": above[0][0] if above else np.nan,
                "unstable_outcome": above[0][1] if above else "",
                "lrs_tested": ", ".join(f"{lr:g}" for lr, _, _ in cells),
            }
        )
    return pd.DataFrame(rows, columns=None if rows else [*CONTEXT_KEYS, "placement"])
