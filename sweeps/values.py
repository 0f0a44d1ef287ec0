"""Parse one flag's text into values, or raise `SpecError` naming the flag, the value and what
is allowed. Nothing here starts or writes anything."""

from __future__ import annotations

import math
import re

from bnlab import check_param

MAX_SEEDS = 1000
ADDRESS_FORMAT = "'auto' or HOST:PORT (a port in 1-65535), e.g. 127.0.0.1:6379"


class SpecError(ValueError):
    """A bad command-line value; the message is the one line the user sees."""


def parse_list(flag: str, text: str, convert, allowed: str, unique: bool = True) -> tuple:
    """A comma-separated list, each item converted; `unique` refuses repeated values."""
    items = [item.strip() for item in text.split(",")]
    if not text.strip() or any(not item for item in items):
        raise SpecError(f"{flag}: {text!r} is not a comma-separated list of {allowed}.")
    values = []
    for item in items:
        try:
            values.append(convert(item))
        except (ValueError, OverflowError):
            raise SpecError(f"{flag}: {item!r} is not {allowed}.") from None
    if unique and len(set(values)) != len(values):
        raise SpecError(f"{flag}: {text!r} repeats a value; give each value once.")
    return tuple(values)


def parse_seeds(text: str) -> tuple[int, ...]:
    """'0-4' or '0,3,7' or both; at most `MAX_SEEDS`, counted before any range is expanded."""
    bounds = []
    for part in text.split(","):
        match = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        if not match:
            raise SpecError(
                f"--seeds: {part.strip()!r} is not a seed or range; use e.g. 0-4 or 0,3,7."
            )
        first, last = int(match[1]), int(match[2] or match[1])
        if last < first:
            raise SpecError(
                f"--seeds: range {part.strip()!r} is empty; write it low-high, e.g. 1-3."
            )
        bounds.append((first, last))
    count = sum(last - first + 1 for first, last in bounds)
    if count > MAX_SEEDS:
        raise SpecError(f"--seeds: {text!r} names {count} seeds; the most is {MAX_SEEDS}.")
    seeds = [seed for first, last in bounds for seed in range(first, last + 1)]
    if len(set(seeds)) != len(seeds):
        raise SpecError(f"--seeds: {text!r} names a seed twice.")
    return tuple(seeds)


def parse_number(
    flag: str, text: str | None, convert, low: float, allowed: str, high: float = math.inf
):
    """One finite number in [`low`, `high`]."""
    try:
        value = convert(text)
    except (TypeError, ValueError, OverflowError):
        raise SpecError(f"{flag}: {text!r} is not {allowed}.") from None
    if not math.isfinite(value) or not low <= value <= high:
        raise SpecError(f"{flag}: {text!r} is not {allowed}.")
    return value


def check_values(flag: str, param: str, values) -> None:
    """Check values against bnlab's constraint table, naming the flag."""
    for value in values:
        try:
            check_param(param, value)
        except (TypeError, ValueError) as err:
            raise SpecError(f"{flag}: {err}") from None


def parse_address(text: str, source: str = "--address") -> str:
    """`auto` or HOST:PORT; whether a cluster answers there is checked when joining it.
    `source` names where the text came from (the flag, or the RAY_ADDRESS variable)."""
    if text == "auto":
        return text
    match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9.-]*):(\d{1,5})", text)
    if not match or not 1 <= int(match[2]) <= 65535:
        raise SpecError(f"{source}: {text!r} is not {ADDRESS_FORMAT}.")
    return text
