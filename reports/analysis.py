"""Every frame the report shows, computed from a run's `history` and `trials` frames."""

from __future__ import annotations

import pandas as pd

from reports.factors import factor_interactions, level_comparisons
from reports.selection import best_lr, best_lr_comparisons, stable_lr
from reports.stats import interaction, pairwise_comparisons, scored, summarize

THRESHOLD = 0.8  # val_accuracy; the summary counts the epochs to reach it


def analyze(history: pd.DataFrame, trials: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The report's frames: the inputs, their scores, the comparisons and the factor effects.

    `interaction` holds the placement x learning-rate tests (`factor` 'lr') and the placement x
    factor tests of every other axis with two or more values; `factor_comparisons` the levels of
    each such axis against each other.
    """
    lr_interaction = interaction(trials)
    factors = factor_interactions(trials)
    both = [f for f in (lr_interaction, factors) if not f.empty]
    return {
        "history": history,
        "trials": trials,
        "scored": scored(trials),
        "summary": summarize(trials, history, THRESHOLD),
        "comparisons": pairwise_comparisons(trials),
        "best_lr": best_lr(trials),
        "best_lr_comparisons": best_lr_comparisons(trials),
        "stable_lr": stable_lr(trials),
        "interaction": pd.concat(both, ignore_index=True) if both else lr_interaction,
        "factor_comparisons": level_comparisons(trials),
    }
