"""What a settling study decides: the comparisons of interest, their differences per seed, the
cells each one needs, and the verdicts at fixed seeds. Pure: frames in, frames out.

The comparisons of interest, within each context (`reports.contexts`):
- every pair of placements at each learning rate (final val accuracy, as `stats`);
- every pair of placements, each at its own best learning rate (chosen per seed on validation,
  test accuracy, as `selection`). A placement's *candidate* learning rates are those that some
  seed of the full grid chose; later seeds run only those (a learning rate no seed chose, such
  as one where the placement diverges, cannot become a seed's best in any way that matters,
  and training it again would only spend trials), and a seed counts once both placements have
  all their candidates.
Each has a stable id (a JSON object of what it compares), so the decisions of one look can be
matched with the next one's.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from reports.contexts import CONTEXT_KEYS, contexts
from reports.selection import STABLE_MIN_ACCURACY, best_lr_choices
from reports.sequential import Design, decide
from reports.stats import placement_pairs, scored
from reports.storage import SETTLE_FILE

BEST_LR = "best lr"
COMPARISON_COLUMNS = ["comparison", "kind", "lr", "placement_a", "placement_b", *CONTEXT_KEYS]


def comparison_id(kind: str, lr: float | None, a: str, b: str, context: dict) -> str:
    """The id of a comparison: its parts as sorted JSON (numbers as plain floats and ints)."""
    parts = {"kind": kind, "lr": lr, "a": a, "b": b, **context}
    return json.dumps({k: _plain(v) for k, v in parts.items()}, sort_keys=True)


def _plain(value):
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


def _paired(by_seed: pd.DataFrame, a: str, b: str) -> pd.DataFrame:
    """Per seed with both: the difference, and whether either side trained (`informative`)."""
    both = by_seed[[a, b]].dropna()
    trained = both.max(axis=1) >= STABLE_MIN_ACCURACY
    return pd.DataFrame({"diff": both[a] - both[b], "informative": trained})


def differences(trials: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The comparisons of interest and their differences (A - B) per seed.

    Returns:
        `comparisons`: one row per comparison (`COMPARISON_COLUMNS`; `lr` NaN for best lr),
        `differences`: long, one row per comparison and seed (comparison, seed, diff,
        informative: whether at least one side trained, reaching `STABLE_MIN_ACCURACY`; a seed
        where both failed says nothing about equivalence, `reports.sequential`).
    """
    ended = scored(trials)
    rows, diffs = [], []

    def add(kind, lr, a, b, context, paired: pd.DataFrame):
        comparison = comparison_id(kind, lr, a, b, context)
        rows.append({"comparison": comparison, "kind": kind, "lr": lr, "placement_a": a,
                     "placement_b": b, **context})  # fmt: skip
        diffs.extend(
            {"comparison": comparison, "seed": int(s), "diff": float(d), "informative": bool(i)}
            for s, d, i in zip(paired.index, paired["diff"], paired["informative"], strict=True)
        )

    for context, study in contexts(ended):
        for lr, cell in study.groupby("lr", sort=True):
            by_seed = cell.pivot_table(index="seed", columns="placement", values="val_score")
            for a, b in placement_pairs(cell["placement"]):
                add("lr", float(lr), a, b, context, _paired(by_seed, a, b))
        complete = _seeds_with_candidates(study)
        choices = best_lr_choices(study)
        choices = choices[[s in complete.get(p, set()) for p, s in zip(choices["placement"], choices["seed"], strict=True)]]  # fmt: skip
        by_seed = choices.pivot_table(index="seed", columns="placement", values="test_score")
        for a, b in placement_pairs(study["placement"]):
            if a in by_seed and b in by_seed:
                add(BEST_LR, np.nan, a, b, context, _paired(by_seed, a, b))
    comparisons = pd.DataFrame(rows, columns=COMPARISON_COLUMNS)
    return comparisons, pd.DataFrame(diffs, columns=["comparison", "seed", "diff", "informative"])


def candidate_lrs(study: pd.DataFrame) -> dict[str, set[float]]:
    """Per placement of one context, the learning rates that some seed with every learning rate
    of the grid chose as its best (on validation)."""
    lrs = study["lr"].nunique()
    counts = study.groupby(["placement", "seed"])["lr"].transform("nunique")
    # Every placement at once, from its seeds that have every learning rate.
    choices = best_lr_choices(study[counts == lrs])
    return {placement: set(group["lr"]) for placement, group in choices.groupby("placement")}


def _seeds_with_candidates(study: pd.DataFrame) -> dict[str, set[int]]:
    """Per placement, the seeds that ended at every one of its candidate learning rates."""
    complete = {}
    for placement, lrs in candidate_lrs(study).items():
        mine = study[(study["placement"] == placement) & study["lr"].isin(lrs)]
        counts = mine.groupby("seed")["lr"].nunique()
        complete[placement] = set(counts[counts == len(lrs)].index)
    return complete


def cells_needed(trials: pd.DataFrame, comparisons: pd.DataFrame, ids) -> pd.DataFrame:
    """The ended trials of the cells that the comparisons `ids` need more seeds of: both
    placements at the comparison's learning rate, or at their candidate learning rates for
    best lr.

    Returns:
        The matching rows of `trials` (real values), one or more per cell.
    """
    ended = scored(trials)
    wanted = comparisons[comparisons["comparison"].isin(set(ids))]
    index = set()
    for context, study in contexts(ended):
        here = wanted
        for key in CONTEXT_KEYS:
            here = here[here[key] == context[key]]
        candidates = candidate_lrs(study)
        for _, row in here.iterrows():
            for placement in (row["placement_a"], row["placement_b"]):
                lrs = candidates.get(placement, set()) if row["kind"] == BEST_LR else {row["lr"]}
                mask = (study["placement"] == placement) & study["lr"].isin(lrs)
                index |= set(study.index[mask])
    return trials.loc[sorted(index)]


def fixed_design(seeds: int, margin: float, alpha: float) -> Design:
    """The design of a run with fixed seeds: one look at all of them."""
    return Design(alpha=alpha, margin=margin, max_seeds=max(2, seeds), looks=(max(2, seeds),))


def verdicts_at_fixed_seeds(trials: pd.DataFrame, margin: float, alpha: float) -> pd.DataFrame:
    """Every comparison of interest decided once, at the seeds the run has (no looks)."""
    comparisons, diffs = differences(trials)
    if diffs.empty:
        return pd.DataFrame(columns=[*COMPARISON_COLUMNS, "verdict"])
    seeds = int(diffs.groupby("comparison")["seed"].nunique().max())
    decisions = decide(diffs, fixed_design(seeds, margin, alpha))
    return comparisons.merge(decisions, on="comparison")


def read_looks(run_dir) -> dict | None:
    """A settling run's stored design and looks (`sweeps.settle`), or None for a fixed run
    and for a record that is missing, unreadable or damaged (the run is then judged at the
    seeds it has, as a fixed run; `sweeps` refuses to resume it)."""
    path = Path(run_dir) / SETTLE_FILE
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError):  # missing, unreadable or cut: judged at the seeds it has
        return None
    if not isinstance(state, dict) or not isinstance(state.get("looks"), list):
        return None
    return state
