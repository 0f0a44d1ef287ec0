"""`TrialConfig`: everything that defines one training run, validated and frozen."""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bnlab.architectures import ARCHS, DEFAULT_CONV, DEFAULT_HIDDEN, MAX_CONV_BLOCKS, SIZE_FIELD
from bnlab.layers import ACTIVATIONS, INPUT_NORMS, NO_NORM, NORMS, PLACEMENTS, uses_norm
from bnlab.optimizers import OPTIMIZERS
from bnlab.presets import PRESETS

# Bounds of any dataset; each dataset's own sizes are checked against it where it is known.
MAX_EXAMPLES = 10**9


@dataclass(frozen=True)
class Constraint:
    """What a parameter accepts: a type test, a value test and how to say what is allowed."""

    is_type: Callable[[Any], bool]
    type_name: str
    is_allowed: Callable[[Any], bool]
    allowed_words: str | Callable[[], str]

    @property
    def allowed(self) -> str:
        words = self.allowed_words
        return words() if callable(words) else words


def _is_int(v) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _is_real(v) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def _is_str(v) -> bool:
    return isinstance(v, str)


def _is_int_tuple(v) -> bool:
    return isinstance(v, tuple | list) and all(_is_int(n) for n in v)


def _one_of(registry, *extra) -> Constraint:
    names = sorted([*registry, *extra])
    return Constraint(_is_str, "str", lambda v: v in names, f"one of {names}")


def _registered(registry) -> Constraint:
    """One of a registry that grows (user architectures), read when a value is checked."""
    return Constraint(_is_str, "str", lambda v: v in registry, lambda: f"one of {sorted(registry)}")


CONSTRAINTS: dict[str, Constraint] = {
    "placement": _one_of(PLACEMENTS),
    "lr": Constraint(_is_real, "float", lambda v: 0 < v <= 100, "a float in (0, 100]"),
    "seed": Constraint(_is_int, "int", lambda v: 0 <= v < 2**31, "an int in [0, 2**31)"),
    "epochs": Constraint(_is_int, "int", lambda v: 1 <= v <= 10000, "an int in [1, 10000]"),
    "batch_size": Constraint(
        _is_int, "int", lambda v: 1 <= v <= MAX_EXAMPLES, f"an int in [1, {MAX_EXAMPLES}]"
    ),
    "optimizer": _one_of(OPTIMIZERS),
    "hidden": Constraint(
        _is_int_tuple,
        "tuple of ints",
        lambda v: 1 <= len(v) <= 16 and all(1 <= n <= 16384 for n in v),
        "1 to 16 layer sizes, each in [1, 16384]",
    ),
    "conv": Constraint(
        _is_int_tuple,
        "tuple of ints",
        lambda v: 1 <= len(v) <= MAX_CONV_BLOCKS and all(1 <= n <= 4096 for n in v),
        f"1 to {MAX_CONV_BLOCKS} filter counts, each in [1, 4096]",
    ),
    "subset": Constraint(
        lambda v: v is None or (_is_int_tuple(v) and len(v) == 2),
        "None or a pair of ints",
        lambda v: v is None or all(2 <= n <= MAX_EXAMPLES for n in v),
        "None or (n_train, n_validation), each an int >= 2 (and at most the data's split)",
    ),
    "arch": _registered(ARCHS),
    "activation": _one_of(ACTIVATIONS),
    "norm": _one_of(NORMS, NO_NORM),
    "input_norm": _one_of(INPUT_NORMS),
    "groups": Constraint(
        lambda v: v is None or _is_int(v),
        "None or int",
        lambda v: v is None or 1 <= v <= 16384,
        "None or an int in [1, 16384]",
    ),
    "preset": Constraint(
        lambda v: v is None or _is_str(v),
        "None or str",
        lambda v: v is None or v in PRESETS,
        f"None or one of {sorted(PRESETS)}",
    ),
}
# Fields that an architecture does not use are kept empty, so equal models have equal configs.
_UNUSED_SIZES = ()


def check_param(name: str, value: Any) -> None:
    """Check one parameter against `CONSTRAINTS`.

    Raises:
        TypeError: If `value` has the wrong type.
        ValueError: If `value` is outside what is allowed.
    """
    _check_type(name, value)
    rule = CONSTRAINTS[name]
    if not rule.is_allowed(value):
        raise ValueError(f"The '{name}' parameter must be {rule.allowed}. Got {value!r} instead.")


@dataclass(frozen=True)
class TrialConfig:
    """One training run: the model, its training and its data. Validated and frozen.

    The model is composed (see `bnlab.describe_model`): an architecture of blocks, each a linear
    layer, a normalization and an activation, with the normalization where `placement` says.

    Attributes:
        placement: Where the normalization sits in each block; a key of `bnlab.PLACEMENTS`
            (`none`, `before_activation`, `after_activation`).
        lr: Learning rate.
        seed: Seeds weight initialization and the shuffling order.
        epochs: Number of passes over the training split.
        batch_size: Examples per gradient step.
        optimizer: A key of `bnlab.OPTIMIZERS` (`sgd`, `momentum`, `adam`).
        hidden: Units of each hidden Dense layer of the `mlp` (empty for the `cnn`).
        subset: Optional `(n_train, n_validation)`: a stratified subset, the same for every seed.
        arch: A key of `bnlab.ARCHS`: `mlp` or `cnn`.
        activation: A key of `bnlab.ACTIVATIONS`.
        norm: A key of `bnlab.NORMS` (`batch`, `layer`, `group`, `batch_renorm`); `none` for
            placement `none`, which has no normalization (set so whatever is given).
        input_norm: A key of `bnlab.INPUT_NORMS`: `none` (pixels in [0, 1]) or `batch`.
        conv: Filters of each 3x3 convolution block of the `cnn` (empty for the `mlp`).
        groups: Groups of the `group` norm; it must divide every layer width (None otherwise).
        preset: A key of `bnlab.PRESETS`; it sets the arch, norm, activation and input_norm of
            each placement (`seed`: the reference notebook's three models).
    """

    placement: str = "none"
    lr: float = 1e-3
    seed: int = 0
    epochs: int = 10
    batch_size: int = 32
    optimizer: str = "sgd"
    hidden: tuple[int, ...] = DEFAULT_HIDDEN
    subset: tuple[int, int] | None = None
    arch: str = "mlp"
    activation: str = "relu"
    norm: str = "batch"
    input_norm: str = "none"
    conv: tuple[int, ...] = DEFAULT_CONV
    groups: int | None = 4
    preset: str | None = None

    def __post_init__(self):
        check_param("placement", self.placement)
        check_param("preset", self.preset)
        if self.preset is not None:
            self._apply_preset()
        check_param("arch", self.arch)
        unused = {"hidden", "conv"} - {SIZE_FIELD.get(self.arch)}  # a user's arch uses neither
        for field in dataclasses.fields(self):
            if field.name in unused:
                _check_type(field.name, getattr(self, field.name))
                object.__setattr__(self, field.name, _UNUSED_SIZES)
            else:
                check_param(field.name, getattr(self, field.name))
        self._check_norm()
        # Normalize so equal configs compare and hash equal, and `to_dict()` is JSON-ready,
        # whatever number or sequence types came in (NumPy scalars, lists).
        object.__setattr__(self, "lr", float(self.lr))
        for name in ("seed", "epochs", "batch_size"):
            object.__setattr__(self, name, int(getattr(self, name)))
        for name in ("hidden", "conv"):
            object.__setattr__(self, name, tuple(int(n) for n in getattr(self, name)))
        if self.subset is not None:
            object.__setattr__(self, "subset", tuple(int(n) for n in self.subset))
        if self.groups is not None:
            object.__setattr__(self, "groups", int(self.groups))

    def _apply_preset(self) -> None:
        models = PRESETS[self.preset]
        if self.placement not in models:
            raise ValueError(
                f"The 'placement' parameter must be one of {sorted(models)} with preset "
                f"{self.preset!r}. Got {self.placement!r} instead."
            )
        defaults = {f.name: f.default for f in dataclasses.fields(self)}
        for name, value in models[self.placement].items():
            given = getattr(self, name)
            if given not in (value, defaults[name]):
                raise ValueError(
                    f"The '{name}' parameter is set by preset {self.preset!r} to {value!r} for "
                    f"placement {self.placement!r}. Got {given!r} instead; leave it out or drop "
                    "the preset."
                )
            object.__setattr__(self, name, value)

    def _check_norm(self) -> None:
        if not uses_norm(self.placement):
            object.__setattr__(self, "norm", NO_NORM)
        elif self.norm == NO_NORM:
            raise ValueError(
                f"The 'norm' parameter must be one of {sorted(NORMS)} for placement "
                f"{self.placement!r}. Got {NO_NORM!r} instead (placement 'none' is the model "
                "without normalization)."
            )
        if self.norm != "group":
            object.__setattr__(self, "groups", None)
            return
        size_field = SIZE_FIELD.get(self.arch)
        widths = getattr(self, size_field) if size_field else ()  # a user's arch: Keras checks
        if self.groups is None or any(width % self.groups for width in widths):
            raise ValueError(
                f"The 'groups' parameter must divide every layer width of {size_field} "
                f"{tuple(widths)} for norm 'group' (divisors: {common_divisors(widths)}). "
                f"Got {self.groups!r} instead."
            )

    @property
    def model_fields(self) -> dict[str, Any]:
        """The fields that define the model (not its training or data)."""
        return {name: getattr(self, name) for name in MODEL_FIELDS}

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; `TrialConfig.from_dict` gives the same config back."""
        d = dataclasses.asdict(self)
        for name in ("hidden", "conv"):
            d[name] = list(getattr(self, name))
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


MODEL_FIELDS = (
    "arch", "hidden", "conv", "placement", "norm", "groups", "activation", "input_norm", "preset"
)  # fmt: skip


def common_divisors(widths) -> list[int]:
    """The numbers that divide every width: the group counts a `group` norm may use."""
    return [g for g in range(1, min(widths, default=1) + 1) if all(w % g == 0 for w in widths)]


def _check_type(name: str, value: Any) -> None:
    rule = CONSTRAINTS[name]
    if not rule.is_type(value):
        raise TypeError(
            f"The '{name}' parameter must be {rule.allowed} ({rule.type_name}). "
            f"Got {value!r} instead."
        )
