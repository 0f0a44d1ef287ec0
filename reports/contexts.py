"""Study contexts: placements are compared only within one setting of every other axis.

A context is one value of each axis but the placement, the learning rate and the seed. Two
things make it more than a plain group-by:
- A model without normalization (placement `none`, norm `none`) has no norm kind: it is the
  shared baseline of every norm kind's context, so `--norms batch,layer` runs it once.
- A preset sets some fields per placement (the `seed` preset: `none` with LeakyReLU and raw
  pixels, the BN models with ReLU and an input BN). Its placements differ in those fields, so
  the context holds "by placement (seed preset)" for them and every comparison names them in
  `also_differs`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

NO_NORM = "none"
# The axes of a context, in the order the tables show them.
CONTEXT_KEYS = [
    "arch", "hidden", "conv", "norm", "activation", "input_norm", "preset",
    "batch_size", "optimizer", "epochs",
]  # fmt: skip
# Model fields a preset may set per placement (the norm is the baseline's own case).
PRESETTABLE = ["arch", "hidden", "conv", "activation", "input_norm"]


def _preset_masked(ended: pd.DataFrame) -> pd.DataFrame:
    """The trials with each preset's per-placement fields replaced by 'by placement (...)'."""
    frame = ended.copy()
    presets = frame["preset"].astype(str)
    for preset in sorted(set(presets) - {""}):
        rows = presets == preset
        for field in PRESETTABLE:
            values = frame.loc[rows].groupby("placement")[field].agg(frozenset)
            if values.nunique() > 1:
                frame.loc[rows, field] = f"by placement ({preset} preset)"
    return frame


def contexts(ended: pd.DataFrame) -> list[tuple[dict, pd.DataFrame]]:
    """Each context with its trials, in a stable order.

    Returns:
        (context, trials) pairs: `context` maps every key of `CONTEXT_KEYS` to its value, and in
        `trials` those columns hold exactly those values (the shared baseline's norm included).
    """
    if ended.empty:
        return []
    frame = _preset_masked(ended)
    baseline = frame["norm"] == NO_NORM
    others = [k for k in CONTEXT_KEYS if k != "norm"]
    single = _single(frame, baseline, others)
    if single is not None:
        return single
    shared = frame[baseline]
    # Each baseline's rows by its other keys, found once (a mask per context was quadratic).
    by_others = shared.groupby(others, sort=False).indices if len(shared) else {}
    found, joined = [], np.zeros(len(shared), dtype=bool)
    for keys, group in frame[~baseline].groupby(CONTEXT_KEYS, sort=True):
        context = dict(zip(CONTEXT_KEYS, keys, strict=True))
        rows = by_others.get(tuple(context[k] for k in others), np.empty(0, dtype=int))
        joined[rows] = True
        mine = shared.iloc[rows].assign(norm=context["norm"])
        found.append((context, pd.concat([mine, group])))
    for keys, group in shared[~joined].groupby(CONTEXT_KEYS, sort=True):
        found.append((dict(zip(CONTEXT_KEYS, keys, strict=True)), group))
    return found


def _single(frame: pd.DataFrame, baseline: pd.Series, others: list[str]):
    """`contexts` of a frame that holds one context, as the general way finds it, without its
    group-bys (most calls are for one context's trials); None if it may hold more."""
    values = frame[others].to_numpy(dtype=object)  # plain arrays: these checks in microseconds
    norms = frame.loc[~baseline, "norm"].to_numpy(dtype=object)
    if pd.isna(values).any() or pd.isna(norms).any():
        return None
    if not ((values == values[0]).all() and (norms == norms[:1]).all()):
        return None
    norm = norms[0] if len(norms) else NO_NORM
    context = {k: norm if k == "norm" else frame[k].iloc[:1].tolist()[0] for k in CONTEXT_KEYS}
    if not len(norms):  # a baseline alone
        return [(context, frame)]
    shared = frame[baseline].assign(norm=norm)
    return [(context, pd.concat([shared, frame[~baseline]]))]


def also_differs(trials: pd.DataFrame, a: str, b: str) -> str:
    """What else differs between placements `a` and `b` of one context's (real) trials:
    '' when only the placement does, else e.g. 'activation relu (after_activation) vs
    leaky_relu (none); input_norm batch (after_activation) vs none (none)'."""
    rows = trials[["placement", *PRESETTABLE]].to_numpy(dtype=object)  # plain Python values
    sides = [rows[rows[:, 0] == p, 1:] for p in (a, b)]
    parts = []
    for i, field in enumerate(PRESETTABLE):
        values = [", ".join(sorted(map(str, set(side[:, i])))) for side in sides]
        if values[0] != values[1]:
            parts.append(f"{field} {values[0]} ({a}) vs {values[1]} ({b})")
    return "; ".join(parts)


def real_values(context_trials: pd.DataFrame, ended: pd.DataFrame) -> pd.DataFrame:
    """A context's trials with their real model fields back (not the preset's masks)."""
    return ended.loc[context_trials.index.unique()]
