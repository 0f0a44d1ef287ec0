"""The other axes' own effects: does the best placement depend on the activation, the norm kind,
the batch size...? And which level of each is best? Pure functions, frames in, frames out.

Every model is taken at its own best learning rate, chosen per seed on validation and scored on
test (as `selection.best_lr`), so a factor is not judged at a learning rate that suits only some
of its levels. Comparisons are paired by seed, with Holm over each table.
"""

from __future__ import annotations

import itertools

import pandas as pd

from reports.contexts import CONTEXT_KEYS, NO_NORM
from reports.selection import best_lr_choices
from reports.stats import adjust_family, anova_interaction, paired_test

# The axes studied as factors when the run has two or more of their values.
FACTORS = ["activation", "norm", "input_norm", "arch", "batch_size", "optimizer"]
# An architecture brings its own sizes: they change with it.
_CARRIED = {"arch": ["hidden", "conv"]}
INTERACTION_COLUMNS = ["factor", "scope", "placements", "n_placements", "n_levels", "p_value"]
LEVEL_COLUMNS = ["factor", "placement", "level_a", "level_b", "n_pairs", "p_holm"]


def _studies(choices: pd.DataFrame, factor: str, unnormalized: set[str]):
    """For each setting of the axes other than `factor`, the choices with 2+ levels of it.

    The norm is a factor of the normalized placements only: a model without normalization is the
    same model under every norm kind.
    """
    if factor == "norm":
        choices = choices[~choices["placement"].isin(unnormalized)]
    others = [k for k in CONTEXT_KEYS if k != factor and k not in _CARRIED.get(factor, [])]
    for keys, study in choices.groupby(others, sort=True):
        if study[factor].nunique() >= 2:
            yield dict(zip(others, keys, strict=True)), study


def _unnormalized(trials: pd.DataFrame) -> set[str]:
    """The placements whose models hold no normalization layer."""
    return set(trials.loc[trials["norm"] == NO_NORM, "placement"])


def _label(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def factor_interactions(trials: pd.DataFrame) -> pd.DataFrame:
    """Placement x factor interaction for every factor with 2+ levels in the run.

    A two-way ANOVA of the test score at each model's best learning rate on placement x factor,
    with seeds as blocks, one per setting of the other axes.

    Returns:
        One row per factor and setting: factor, scope (the levels), placements, n_placements,
        n_levels, n_seeds, f_value, df, df_resid, p_value and a note where it cannot be tested.
    """
    choices = best_lr_choices(trials)
    rows = []
    for factor in FACTORS:
        for setting, study in _studies(choices, factor, _unnormalized(trials)):
            levels = ", ".join(_label(v) for v in sorted(study[factor].unique()))
            row = anova_interaction(study, "test_score", factor, f"{factor} values")
            rows.append(
                {
                    "factor": factor,
                    **setting,
                    "scope": f"{factor} {levels}, each model at its best learning rate",
                    "placements": ", ".join(sorted(study["placement"].unique())),
                    **row,
                }
            )
    return pd.DataFrame(rows, columns=None if rows else INTERACTION_COLUMNS)


def level_comparisons(trials: pd.DataFrame) -> pd.DataFrame:
    """Which level of each factor is best, per placement, each at its best learning rate.

    Every pair of levels (e.g. relu vs elu), paired by seed on the test score at each one's own
    best learning rate, within one placement and one setting of the other axes; Holm over the
    whole table.

    Returns:
        One row per factor, setting, placement and pair of levels: the mean test score of each
        level and `paired_test`'s columns (A is `level_a`), p_holm, significant, seeds_needed.
    """
    choices = best_lr_choices(trials)
    unnormalized = _unnormalized(trials)
    rows, seen = [], set()
    for factor in FACTORS:
        for setting, study in _studies(choices, factor, unnormalized):
            for placement, group in study.groupby("placement", sort=True):
                if placement in unnormalized:
                    # The same trials stand in every norm kind's setting: compare them once.
                    setting = {**setting, "norm": NO_NORM}
                    key = (factor, placement, *setting.values())
                    if key in seen:
                        continue
                    seen.add(key)
                by_seed = group.pivot_table(index="seed", columns=factor, values="test_score")
                for a, b in itertools.combinations(sorted(by_seed.columns), 2):
                    pairs = by_seed[[a, b]].dropna()
                    rows.append(
                        {
                            "factor": factor,
                            **setting,
                            "placement": placement,
                            "level_a": _label(a),
                            "level_b": _label(b),
                            "test_accuracy_a": by_seed[a].mean(),
                            "test_accuracy_b": by_seed[b].mean(),
                            **paired_test(pairs[a], pairs[b]),
                        }
                    )
    frame = pd.DataFrame(rows, columns=None if rows else LEVEL_COLUMNS)
    return frame if frame.empty else adjust_family(frame)
