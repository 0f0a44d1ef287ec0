"""Every frame the report shows, computed from a run's `history` and `trials` frames."""

from __future__ import annotations

import pandas as pd

from reports.contexts import CONTEXT_KEYS
from reports.factors import factor_interactions, level_comparisons
from reports.selection import best_lr, best_lr_comparisons, stable_lr
from reports.sequential import MARGIN, Design, decision_frame
from reports.settling import BEST_LR, differences, fixed_design, verdicts_at_fixed_seeds
from reports.stats import (
    ALPHA,
    interaction,
    pairwise_comparisons,
    pairwise_differences,
    scored,
    summarize,
)

THRESHOLD = 0.8  # val_accuracy; the summary counts the epochs to reach it
SIGN_FLIP, PAIRED_T = "sign_flip", "t"  # the test behind a run's verdicts (`verdicts["test"]`)
LOOK_COLUMNS = ["look", "seeds", "new_seeds", "trials", "cells", "a_better", "b_better", "equivalent", "undecided"]  # fmt: skip


def figure_inputs(history: pd.DataFrame, trials: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The frames the figures are drawn from (`figures.figure_frames`), computed before the
    rest of `analyze` (and before the statistics libraries are loaded: `comparisons` holds the
    differences without their tests) so that the figures can be drawn meanwhile; `analyze`
    takes them."""
    return {
        "history": history,
        "trials": trials,
        "summary": summarize(trials, history, THRESHOLD),
        "comparisons": pairwise_differences(trials),
        "best_lr": best_lr(trials),
        "stable_lr": stable_lr(trials),
    }


def analyze(
    history: pd.DataFrame,
    trials: pd.DataFrame,
    looks: dict | None = None,
    margin: float = MARGIN,
    inputs: dict[str, pd.DataFrame] | None = None,
) -> dict[str, pd.DataFrame]:
    """The report's frames: the inputs, their scores, the comparisons and the factor effects.

    `interaction` holds the placement x learning-rate tests (`factor` 'lr') and the placement x
    factor tests of every other axis with two or more values; `factor_comparisons` the levels of
    each such axis against each other. `verdicts` holds each comparison of interest's verdict
    (better, equivalent within `margin` accuracy, undecided): a settling run's stored decisions
    (`looks`, from `settling.read_looks`), or else one look at the seeds the run has, and the
    test behind them (`test`: SIGN_FLIP, or PAIRED_T for runs stored before); `looks` one row
    per look and `design` the design, as one row. `inputs`: what `figure_inputs` returned for
    the same frames, if the caller has it.
    """
    inputs = figure_inputs(history, trials) if inputs is None else inputs
    lr_interaction = interaction(trials)
    factors = factor_interactions(trials)
    both = [f for f in (lr_interaction, factors) if not f.empty]
    verdicts, design, look_rows = _verdicts(trials, looks, margin)
    first = int(look_rows["seeds"].iloc[0]) if len(look_rows) else max(design.looks, default=2)
    schedule = design.schedule(min(first, design.max_seeds))
    comparisons = _with_verdicts(pairwise_comparisons(trials), verdicts, "lr")
    best_comparisons = _with_verdicts(best_lr_comparisons(trials), verdicts, BEST_LR)
    return {
        "history": history,
        "trials": trials,
        "scored": scored(trials),
        "summary": inputs["summary"],
        "comparisons": comparisons,
        "best_lr": inputs["best_lr"],
        "best_lr_comparisons": best_comparisons,
        "stable_lr": inputs["stable_lr"],
        "interaction": pd.concat(both, ignore_index=True) if both else lr_interaction,
        "factor_comparisons": level_comparisons(trials),
        "verdicts": verdicts,
        "looks": look_rows,
        "design": pd.DataFrame([{**design.to_dict(), "looks": ", ".join(map(str, schedule))}]),
    }


VERDICT_COLUMNS = {"verdict": "verdict", "n_seeds": "verdict_seeds", "decided_at_look": "decided_at_look", "p_superiority": "p_superiority", "p_equivalence": "p_equivalence", "min_seeds": "verdict_min_seeds", "test": "verdict_test"}  # fmt: skip


def _with_verdicts(frame: pd.DataFrame, verdicts: pd.DataFrame, kind: str) -> pd.DataFrame:
    """`frame` (comparisons at an lr, or at the best lrs) with each row's verdict beside it."""
    keys = [*(["lr"] if kind == "lr" else []), *CONTEXT_KEYS, "placement_a", "placement_b"]
    if frame.empty or verdicts.empty:
        return frame.assign(**{c: pd.Series(dtype=object) for c in VERDICT_COLUMNS.values()})
    mine = verdicts[verdicts["kind"] == kind].reindex(columns=[*keys, *VERDICT_COLUMNS])
    return frame.merge(mine.rename(columns=VERDICT_COLUMNS), on=keys, how="left")


def _trials_of_look(trials: pd.DataFrame, look: int) -> int:
    """The trials a look ran: the grid's are in the run's folder, look K's in look-K/."""
    folders = trials["trial_dir"].astype(str)
    if look == 0:
        return int((~folders.str.startswith("look-")).sum())
    return int(folders.str.startswith(f"look-{look}/").sum())


def _verdicts(trials: pd.DataFrame, looks: dict | None, margin: float):
    """The verdicts, the design and the looks: stored ones, or one look at fixed seeds."""
    if looks is None:
        verdicts = verdicts_at_fixed_seeds(trials, margin, ALPHA).assign(test=SIGN_FLIP)
        seeds = int(verdicts["n_seeds"].max()) if "n_seeds" in verdicts and len(verdicts) else 0
        design = fixed_design(seeds, margin, ALPHA)
        return verdicts, design, pd.DataFrame(columns=LOOK_COLUMNS)
    design = Design.from_dict(looks["design"])
    decided = [look for look in looks["looks"] if look.get("decisions") is not None]
    comparisons, _ = differences(trials)
    latest = decision_frame(decided[-1]["decisions"] if decided else [])
    # Runs stored before the sign-flip tests hold t-test decisions (boundaries, no levels).
    test = SIGN_FLIP if "level_superiority" in latest or latest.empty else PAIRED_T
    verdicts = comparisons.merge(latest, on="comparison").assign(test=test)
    rows = []
    for look in looks["looks"]:
        counts = pd.Series(dtype=int)
        if look.get("decisions") is not None:
            made = decision_frame(look["decisions"])
            counts = made.loc[made["decided_at_look"] == look["look"], "verdict"].value_counts()
            counts["undecided"] = int((made["verdict"] == "undecided").sum())
        rows.append(
            {
                "look": look["look"],
                "seeds": look["reached"],
                "new_seeds": ", ".join(map(str, look["seeds"])),
                "trials": _trials_of_look(trials, look["look"]),
                "cells": look.get("cells"),
                **{
                    v: int(counts.get(v, 0))
                    for v in ("a_better", "b_better", "equivalent", "undecided")
                },
            }
        )
    return verdicts, design, pd.DataFrame(rows, columns=LOOK_COLUMNS).astype({"cells": "Int64"})
