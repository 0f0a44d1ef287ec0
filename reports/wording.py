"""Numbers and contexts as the report's sentences write them."""

from __future__ import annotations

import math

import pandas as pd


def fmt_p(p: float) -> str:
    if p is None or not math.isfinite(p):
        return "n/a"
    return "p<0.001" if p < 0.001 else f"p={p:.3f}"


def fmt_num(value: float, digits: int = 3) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{value:.{digits}f}"


def fmt_ci(low: float, high: float, digits: int = 3) -> str:
    if not (math.isfinite(low) and math.isfinite(high)):
        return "no CI with one seed"
    return f"95% CI {low:.{digits}f} to {high:.{digits}f}"


def context_label(keys: dict, skip: tuple[str, ...] = ()) -> str:
    """A context in a few words: 'mlp 300x100, batch norm, relu, input none, batch 32, sgd,
    10 epochs'; a preset's per-placement fields read as the preset's name. Keys in `skip` or
    missing (NaN) are left out."""

    def given(key):
        value = keys.get(key)
        return key not in skip and value is not None and not pd.isna(value)

    parts = []
    if given("arch"):
        sizes = [keys[k] for k in ("hidden", "conv") if given(k) and keys[k]]
        parts.append(" ".join([keys["arch"], *sizes[:1]]))
    if given("preset") and keys["preset"]:
        parts.append(f"{keys['preset']} preset")
    if given("norm") and keys["norm"] != "none":
        parts.append(f"{keys['norm']} norm")
    for field, words in (("activation", "{}"), ("input_norm", "input {}")):
        if given(field) and not str(keys[field]).startswith("by placement"):
            parts.append(words.format(keys[field]))
    for field, words in (("batch_size", "batch {}"), ("optimizer", "{}"), ("epochs", "{} epochs")):
        if given(field):
            parts.append(words.format(_plain(keys[field])))
    return ", ".join(parts)


def _plain(value):
    """A whole number as an int: a column that met a NaN holds 32 as 32.0."""
    return int(value) if isinstance(value, float) and value.is_integer() else value
