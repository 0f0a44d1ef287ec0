"""Numbers -> sentences for the other axes' own effects (`reports.factors`): whether the
placement's effect depends on them, which of their values is best, and the gain of each
normalization over none per batch size."""

from __future__ import annotations

import math

import pandas as pd

from reports.contexts import CONTEXT_KEYS
from reports.factors import FACTORS
from reports.wording import context_label, fmt_p


def _setting(row: pd.Series, skip: tuple[str, ...]) -> str:
    return context_label({k: row.get(k) for k in CONTEXT_KEYS}, skip)


def _verdict(row: pd.Series) -> str:
    if row["significant"]:
        return f"Holm {fmt_p(row['p_holm'])}"
    needed = row["seeds_needed"]
    more = f", about {int(needed)} needed" if math.isfinite(needed) else ""
    return f"not distinguishable with {int(row['n_pairs'])} seeds{more}"


def interaction_sentence(row: pd.Series) -> str:
    factor = row["factor"]
    where = _setting(row, (factor,))
    if row["note"]:
        return f"Placement x {factor} [{where}]: not tested ({row['note']})."
    depends = (
        f"the best placement depends on the {factor}"
        if row["p_value"] < 0.05
        else f"no evidence that the placement's effect depends on the {factor}"
    )
    return (
        f"Placement x {factor} [{where}]: {depends} (interaction over {row['placements']} x "
        f"{row['scope']}, two-way ANOVA with seeds as blocks, F={row['f_value']:.2f}, "
        f"{fmt_p(row['p_value'])})."
    )


def best_level_sentence(rows: pd.DataFrame) -> str:
    """'Best activation for before_activation at its best lr [...]: elu (test accuracy 0.885);
    vs relu +0.004 (Holm p=0.01)'."""
    first = rows.iloc[0]
    factor, placement = first["factor"], first["placement"]
    means = {}
    for _, row in rows.iterrows():
        means[row["level_a"]], means[row["level_b"]] = (
            row["test_accuracy_a"],
            row["test_accuracy_b"],
        )
    top = max(means, key=means.get)
    versus = []
    for _, row in rows.iterrows():
        if top not in (row["level_a"], row["level_b"]):
            continue
        other = row["level_b"] if row["level_a"] == top else row["level_a"]
        diff = row["mean_diff"] if row["level_a"] == top else -row["mean_diff"]
        versus.append(f"vs {other} {diff:+.3f} ({_verdict(row)})")
    return (
        f"Best {factor} for {placement}, each at its best learning rate "
        f"[{_setting(first, (factor,))}]: {top} (test accuracy {means[top]:.3f}); "
        + "; ".join(versus)
        + "."
    )


def gains_by_batch_size(best_comparisons: pd.DataFrame) -> list[str]:
    """Each normalization's gain over none, each at its best lr, per batch size."""
    versus_none = best_comparisons[best_comparisons["placement_b"] == "none"]
    if versus_none.empty or versus_none["batch_size"].nunique() < 2:
        return []
    others = [k for k in CONTEXT_KEYS if k != "batch_size"]
    sentences = []
    for _, group in versus_none.groupby([*others, "placement_a"], sort=True):
        if group["batch_size"].nunique() < 2:
            continue
        first = group.iloc[0]
        gains = ", ".join(
            f"{row['mean_diff']:+.3f} at batch {row['batch_size']} ({_verdict(row)})"
            for _, row in group.sort_values("batch_size").iterrows()
        )
        sentences.append(
            f"Gain of {first['placement_a']} ({first['norm']} norm) over no normalization, each at "
            f"its best learning rate, by batch size [{_setting(first, ('batch_size',))}]: {gains}."
        )
    return sentences


def sentences(frames: dict[str, pd.DataFrame]) -> list[str]:
    """Every factor's sentences, in the order of `FACTORS`, then the batch-size gains."""
    interaction, levels = frames["interaction"], frames["factor_comparisons"]
    out = []
    for factor in FACTORS:
        for _, row in interaction[interaction["factor"] == factor].iterrows():
            out.append(interaction_sentence(row))
        mine = levels[levels["factor"] == factor] if not levels.empty else levels
        if mine.empty:
            continue
        others = [k for k in CONTEXT_KEYS if k in mine.columns and mine[k].notna().all()]
        for _, group in mine.groupby([*others, "placement"], sort=True, dropna=False):
            out.append(best_level_sentence(group))
    return out + gains_by_batch_size(frames["best_lr_comparisons"])
