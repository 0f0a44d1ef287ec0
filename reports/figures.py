"""Which contexts the figures show, and the aggregates they are drawn from (`reports.drawing`
draws them).

Every band and error bar is a 95% t interval over seeds (`stats.mean_ci_by`), the intervals the
tables show, computed once per (context, placement, lr[, epoch]) with a groupby. A run of many
contexts (4 norm kinds x 5 activations x 2 architectures: 40) would give unreadable figures: they
show at most `MAX_CONTEXTS`, those whose placements differ most at their best learning rates,
and the caption says so; every context is in the tables. matplotlib is imported only where a
figure is drawn (`reports.drawing`).
"""

from __future__ import annotations

import pandas as pd

from reports.contexts import CONTEXT_KEYS, contexts
from reports.drawing import FIGURES_IN_PAGE_ORDER, figure_names
from reports.stats import ACCURACY_BOUNDS, CHANCE, mean_ci_by, scored
from reports.wording import context_label

MAX_CONTEXTS = 4


def _membership(trials: pd.DataFrame) -> tuple[pd.DataFrame, list[dict]]:
    """Which context each trial belongs to (the shared baseline to each of its norm kinds'),
    as (trial_id, context number) rows, and each context's keys."""
    known = trials[trials["placement"].notna() & trials[CONTEXT_KEYS].notna().all(axis=1)]
    rows, keys = [], []
    for number, (context, study) in enumerate(contexts(known)):
        keys.append(context)
        rows.append(pd.DataFrame({"trial_id": study["trial_id"].to_numpy(), "context": number}))
    if not rows:
        return pd.DataFrame(columns=["trial_id", "context"]), []
    return pd.concat(rows, ignore_index=True), keys


def _labels(keys: list[dict]) -> list[str]:
    """Each context in the words of the axes that vary in the run; '' for a single context."""
    if len(keys) < 2:
        return [""] * len(keys)
    frame = pd.DataFrame(keys)
    fixed = tuple(k for k in CONTEXT_KEYS if frame[k].astype(str).nunique() == 1)
    return [context_label(k, skip=fixed) for k in keys]


def _spread(best_lr: pd.DataFrame, keys: list[dict]) -> list[float]:
    """Per context: the largest minus the smallest placement's mean final val accuracy, each at
    its own best learning rates (`selection.best_lr`); 0 where there is one placement."""
    if best_lr.empty:
        return [0.0] * len(keys)
    spread = best_lr.groupby(CONTEXT_KEYS, sort=False)["val_accuracy_mean"].agg(
        lambda v: v.max() - v.min()
    )
    found = dict(zip(spread.index, spread.to_numpy(), strict=True))
    return [float(found.get(tuple(k[c] for c in CONTEXT_KEYS), 0.0)) for k in keys]


def shown(frames: dict, limit: int = MAX_CONTEXTS) -> dict:
    """The contexts the figures show: every one up to `limit`, else the `limit` whose
    placements' best accuracies spread most (ties: the grid's order).

    Returns:
        members: (trial_id, context label) rows, a trial once per shown context it is in;
        contexts: the shown contexts' labels, in order; label_of: every context's label by
        its keys (a tuple in `CONTEXT_KEYS` order); note: the caption's words on the contexts
        left out ('' when every context is shown).
    """
    membership, keys = _membership(frames["trials"])
    labels = _labels(keys)
    order = list(range(len(keys)))
    note = ""
    if len(keys) > limit:
        spread = _spread(frames["best_lr"], keys)
        order = sorted(order, key=lambda i: -spread[i])[:limit]
        note = (
            f"Showing {limit} of {len(keys)} settings: those whose placements differ most at "
            "their best learning rates (the largest spread of mean final validation accuracy "
            "between placements); every setting is in the tables."
        )
    picked = membership[membership["context"].isin(order)]
    by_keys = (tuple(k[c] for c in CONTEXT_KEYS) for k in keys)
    return {
        "members": picked.assign(context=picked["context"].map(dict(enumerate(labels)))),
        "contexts": [labels[i] for i in order],
        "label_of": dict(zip(by_keys, labels, strict=True)),
        "note": note,
    }


def _in_contexts(frame: pd.DataFrame, members: pd.DataFrame) -> pd.DataFrame:
    """`frame`'s rows with their context label, a row per shown context a trial is in."""
    return frame.drop(columns="context", errors="ignore").merge(members, on="trial_id")


def _labelled(frame: pd.DataFrame, picked: dict) -> pd.DataFrame:
    """The rows of a frame with context keys (stable_lr, comparisons) in the shown contexts,
    with their label."""
    if frame.empty:
        return frame.assign(context=pd.Series(dtype=object))
    keys = frame[CONTEXT_KEYS].itertuples(index=False, name=None)
    labelled = frame.assign(context=[picked["label_of"].get(k) for k in keys])
    return labelled[labelled["context"].isin(picked["contexts"])]


def drawable(frames: dict) -> dict | None:
    """`figure_frames(frames)` for the report, or None: a run with no ended trial has none."""
    return None if frames["summary"].empty else figure_frames(frames)


def figure_frames(frames: dict, limit: int = MAX_CONTEXTS) -> dict:
    """The aggregates the figures are drawn from, for the contexts `shown` picks, with
    `contexts` (their labels, in order) and `note` (for the captions)."""
    picked = shown(frames, limit)
    points = _in_contexts(scored(frames["trials"]), picked["members"])
    history = _in_contexts(frames["history"], picked["members"])
    cell = ["context", "placement", "lr"]
    cells = mean_ci_by(points, cell, "val_score", ACCURACY_BOUNDS)
    diverged = points["status"].eq("diverged").groupby([points[k] for k in cell]).all()
    cells["outcome"] = diverged.reindex(pd.MultiIndex.from_frame(cells[cell])).to_numpy()
    cells["outcome"] = cells["outcome"].map({True: "diverged", False: ""})
    best = cells.sort_values(["mean", "lr"], ascending=[False, True], kind="stable")
    best = best.groupby(["context", "placement"]).head(1)[cell]
    at_best = history.merge(best, on=cell)
    keys = [*cell, "epoch"]
    losses = [mean_ci_by(at_best, keys, split).assign(split=split) for split in ("loss", "val_loss")]  # fmt: skip
    counts = ["params_trainable", "params_non_trainable"]
    params = points.groupby(["context", "placement"], sort=True)[counts].first()
    return {
        "contexts": picked["contexts"],
        "note": picked["note"],
        "chance": CHANCE,
        "curves": mean_ci_by(history, keys, "val_accuracy", ACCURACY_BOUNDS),
        "cells": cells,
        "points": points[[*cell, "val_score", "status"]],
        "stable": _labelled(frames["stable_lr"], picked),
        "comparisons": _labelled(frames["comparisons"], picked),
        "times": mean_ci_by(points, ["context", "placement"], "mean_epoch_seconds"),
        "params": params.apply(pd.to_numeric, errors="coerce").fillna(0).reset_index(),
        "losses": pd.concat(losses, ignore_index=True),
    }


def captions(drawn: dict | None, words: dict[str, tuple[str, str]]) -> list[dict]:
    """Each figure's file, title and alt text in the page's order: `words`' title and
    description, with the note on the contexts shown."""
    if drawn is None:
        return []
    names = figure_names(drawn)
    return [
        {
            "file": f"{name}.png",
            "title": words[name][0],
            "alt": f"{words[name][1]} {drawn['note']}".strip(),
        }
        for name in FIGURES_IN_PAGE_ORDER
        if name in names
    ]
