"""`TrialConfig`: everything that defines one training run, validated and frozen."""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bnlab.data import VALIDATION_SIZE
from bnlab.models import DEFAULT_HIDDEN, PLACEMENTS
from bnlab.optimizers import OPTIMIZERS

TRAIN_SIZE = 60000 - VALIDATION_SIZE


@dataclass(frozen=True)
class Constraint:
    """What a parameter accepts: a type test, a value test and how to say what is allowed."""

    is_type: Callable[[Any], bool]
    type_name: str
    is_allowed: Callable[[Any], bool]
    allowed: str


def _is_int(v) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _is_real(v) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def _is_str(v) -> bool:
    return isinstance(v, str)


def _is_int_tuple(v) -> bool:
    return isinstance(v, tuple | list) and all(_is_int(n) for n in v)


CONSTRAINTS: dict[str, Constraint] = {
    "placement": Constraint(
        _is_str,
        "str",
        lambda v: v in PLACEMENTS,
        f"one of {sorted(PLACEMENTS)}",
    ),
    "lr": Constraint(_is_real, "float", lambda v: 0 < v <= 100, "a float in (0, 100]"),
    "seed": Constraint(_is_int, "int", lambda v: 0 <= v < 2**31, "an int in [0, 2**31)"),
    "epochs": Constraint(_is_int, "int", lambda v: 1 <= v <= 10000, "an int in [1, 10000]"),
    "batch_size": Constraint(
        _is_int, "int", lambda v: 1 <= v <= TRAIN_SIZE, f"an int in [1, {TRAIN_SIZE}]"
    ),
    "optimizer": Constraint(
        _is_str,
        "str",
        lambda v: v in OPTIMIZERS,
        f"one of {sorted(OPTIMIZERS)}",
    ),
    "hidden": Constraint(
        _is_int_tuple,
        "tuple of ints",
        lambda v: 1 <= len(v) <= 16 and all(1 <= n <= 16384 for n in v),
        "1 to 16 layer sizes, each in [1, 16384]",
    ),
    "subset": Constraint(
        lambda v: v is None or (_is_int_tuple(v) and len(v) == 2),
        "None or a pair of ints",
        lambda v: v is None or (10 <= v[0] <= TRAIN_SIZE and 10 <= v[1] <= VALIDATION_SIZE),
        f"None or (n_train, n_validation) with n_train in [10, {TRAIN_SIZE}] "
        f"and n_validation in [10, {VALIDATION_SIZE}]",
    ),
}


def check_param(name: str, value: Any) -> None:
    """Check one parameter against `CONSTRAINTS`.

    Raises:
        TypeError: If `value` has the wrong type.
        ValueError: If `value` is outside what is allowed.
    """
    rule = CONSTRAINTS[name]
    if not rule.is_type(value):
        raise TypeError(
            f"The '{name}' parameter must be {rule.allowed} ({rule.type_name}). "
            f"Got {value!r} instead."
        )
    if not rule.is_allowed(value):
        raise ValueError(f"The '{name}' parameter must be {rule.allowed}. Got {value!r} instead.")


@dataclass(frozen=True)
class TrialConfig:
    """One training run. The reference study's settings are the defaults.

    Attributes:
        placement: Where batch normalization goes; a key of `bnlab.PLACEMENTS`.
        lr: Learning rate.
        seed: Seeds weight initialization and the shuffling order.
        epochs: Number of passes over the training split.
        batch_size: Examples per gradient step.
        optimizer: A key of `bnlab.OPTIMIZERS` (`sgd`, `momentum`, `adam`).
        hidden: Units of each hidden Dense layer.
        subset: Optional `(n_train, n_validation)`: a stratified subset, the same for every seed.
    """

    placement: str = "none"
    lr: float = 1e-3
    seed: int = 0
    epochs: int = 10
    batch_size: int = 32
    optimizer: str = "sgd"
    hidden: tuple[int, ...] = DEFAULT_HIDDEN
    subset: tuple[int, int] | None = None

    def __post_init__(self):
        for field in dataclasses.fields(self):
            check_param(field.name, getattr(self, field.name))
        # Normalize so equal configs compare and hash equal, and `to_dict()` is JSON-ready,
        # whatever number or sequence types came in (NumPy scalars, lists).
        object.__setattr__(self, "lr", float(self.lr))
        for name in ("seed", "epochs", "batch_size"):
            object.__setattr__(self, name, int(getattr(self, name)))
        object.__setattr__(self, "hidden", tuple(int(n) for n in self.hidden))
        if self.subset is not None:
            object.__setattr__(self, "subset", tuple(int(n) for n in self.subset))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; `TrialConfig.from_dict` gives the same config back."""
        d = dataclasses.asdict(self)
        d["hidden"] = list(self.hidden)
        d["subset"] = None if self.subset is None else list(self.subset)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrialConfig:
        """Rebuild a config from `to_dict()` output.

        Raises:
            ValueError: If `d` has keys that are not config fields.
        """
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"Unknown TrialConfig fields {unknown}; allowed: {sorted(names)}.")
        return cls(**d)

    def replace(self, **changes) -> TrialConfig:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)
