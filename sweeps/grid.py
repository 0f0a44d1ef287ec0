"""The grid: its flags, parsed and checked, and the trials it makes.

Every axis is a list of values; the grid is their product, every cell with the same seeds. Values
that a model does not use collapse (placement `none` has no norm kind, the `mlp` no conv sizes,
the `cnn` no hidden sizes), so such trials are run once, not once per unused value.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

from bnlab import (
    ACTIVATIONS,
    ARCHS,
    INPUT_NORMS,
    NORMS,
    OPTIMIZERS,
    PLACEMENTS,
    PRESETS,
    TrialConfig,
)
from bnlab.architectures import DEFAULT_CONV, DEFAULT_HIDDEN
from bnlab.config import common_divisors
from bnlab.layers import uses_norm
from sweeps.values import SpecError, check_values, parse_list, parse_number, parse_seeds

DEFAULT_LRS = (1e-3, 1e-2, 1e-1, 1.0, 3.0)  # up to where placements start to diverge
DEFAULT_GROUPS = 4  # divides the default widths (300, 100; 32, 64): 75, 25; 8, 16 per group
QUICK_SUBSET = (2000, 500)
QUICK_EPOCHS = 2
QUICK_SEEDS = "0-1"
MAX_TRIALS = 10000

# What defines the study's numbers, and the flag that sets each; a resumed run must match.
GRID_FLAGS = {
    "placements": "--placements",
    "lrs": "--lrs",
    "seeds": "--seeds",
    "epochs": "--epochs",
    "batch_sizes": "--batch-sizes",
    "optimizers": "--optimizers",
    "hidden": "--hidden",
    "subset": "--subset",
    "archs": "--archs",
    "activations": "--activations",
    "norms": "--norms",
    "input_norms": "--input-norm",
    "conv": "--conv",
    "groups": "--groups",
    "preset": "--preset",
    "settle": "--settle",
    "max_seeds": "--max-seeds",
    "margin": "--margin",
    "data": "--data",
    "val_size": "--val-size",
    "arch_module": "--arch-module",
}
GRID_FIELDS = tuple(GRID_FLAGS)
QUICK_FIELDS = ("seeds", "epochs", "subset")
# The grid fields a preset sets per placement, and the flags that would contradict it.
PRESET_AXES = {"archs": "arch", "activations": "activation", "norms": "norm", "input_norms": "input_norm"}  # fmt: skip
# Axes of one value: "a,b" is refused where the flag takes a single value.
AXIS_NAMES = {
    "placements": "placements",
    "lrs": "learning rates",
    "seeds": "seeds",
    "batch_sizes": "batch sizes",
    "optimizers": "optimizers",
    "hidden": "hidden sizes",
    "archs": "architectures",
    "activations": "activations",
    "norms": "norm kinds",
    "input_norms": "input norms",
    "conv": "conv sizes",
}


def _names(registry) -> str:
    return ", ".join(sorted(registry))


def add_arguments(parser) -> None:
    """The grid's flags, as one argparse group."""
    grid = parser.add_argument_group("the grid")
    grid.add_argument(
        "--placements",
        default=",".join(PLACEMENTS),
        help=f"where the normalization sits in each block, from: {_names(PLACEMENTS)}",
    )
    grid.add_argument(
        "--lrs", default=",".join(str(lr) for lr in DEFAULT_LRS), help="learning rates, > 0"
    )
    grid.add_argument("--seeds", default="0-2", help="seeds: ranges and lists, e.g. 0-4 or 0,3,7")
    grid.add_argument("--epochs", default="10", help="epochs per trial")
    grid.add_argument("--batch-sizes", default="32", help="batch sizes")
    grid.add_argument("--optimizers", default="sgd", help=f"optimizers, from: {_names(OPTIMIZERS)}")
    grid.add_argument("--archs", default="mlp", help=f"architectures, from: {_names(ARCHS)}")
    grid.add_argument(
        "--hidden",
        default="x".join(map(str, DEFAULT_HIDDEN)),
        help="mlp hidden layer sizes, 'x' between layers, e.g. 300x100,64",
    )
    grid.add_argument(
        "--conv",
        default="x".join(map(str, DEFAULT_CONV)),
        help="cnn filters per 3x3 conv + 2x2 max-pool block, 'x' between blocks, e.g. 32x64,16x32",
    )
    grid.add_argument(
        "--activations", default="relu", help=f"activations, from: {_names(ACTIVATIONS)}"
    )
    grid.add_argument(
        "--norms", default="batch", help=f"normalization kinds, from: {_names(NORMS)}"
    )
    grid.add_argument(
        "--input-norm",
        default="none",
        help=f"what happens to the pixels first, from: {_names(INPUT_NORMS)} (batch: a "
        "BatchNormalization on the input)",
    )
    grid.add_argument(
        "--groups",
        default=str(DEFAULT_GROUPS),
        help="groups of the group norm; must divide every layer width",
    )
    grid.add_argument(
        "--preset",
        help=f"a named set of models, from: {_names(PRESETS)} (seed: the reference notebook's "
        "three models, which also differ in activation and input normalization); sets "
        "--archs, --activations, --norms and --input-norm per placement",
    )


def explicit(argv: list[str], flag: str) -> bool:
    return any(a == flag or a.startswith(flag + "=") for a in argv)


def _sizes(flag: str, text: str, field: str, example: str) -> tuple:
    sizes = parse_list(flag, text, lambda s: tuple(int(n) for n in s.split("x")), f"sizes like {example}")  # fmt: skip
    check_values(flag, field, sizes)
    return sizes


def _names_list(flag: str, text: str, registry, param: str) -> tuple[str, ...]:
    names = parse_list(flag, text, str, f"one of {sorted(registry)}")
    for name in names:
        if name not in registry:
            raise SpecError(
                f"{flag}: The '{param}' parameter must be one of {sorted(registry)}. "
                f"Got {name!r} instead."
            )
    return names


def parse_grid(args, argv: list[str]) -> dict[str, Any]:
    """The grid's fields from parsed flags; `--quick` fills what is not given explicitly.

    Raises:
        SpecError: For a bad value, naming the flag.
    """
    quick = args.quick
    seeds_text = args.seeds if (explicit(argv, "--seeds") or not quick) else QUICK_SEEDS
    epochs_text = args.epochs if (explicit(argv, "--epochs") or not quick) else str(QUICK_EPOCHS)
    lrs = parse_list("--lrs", args.lrs, float, "a float in (0, 100]")
    check_values("--lrs", "lr", lrs)
    seeds = parse_seeds(seeds_text)
    check_values("--seeds", "seed", seeds)
    epochs = parse_number("--epochs", epochs_text, int, 1, "an int >= 1")
    check_values("--epochs", "epochs", [epochs])
    batch_sizes = parse_list("--batch-sizes", args.batch_sizes, int, "an int >= 1")
    check_values("--batch-sizes", "batch_size", batch_sizes)
    subset = QUICK_SUBSET if quick else None
    if args.subset is not None:
        subset = parse_list(
            "--subset", args.subset, int, "N_TRAIN,N_VALIDATION (two ints)", unique=False
        )
        if len(subset) != 2:
            raise SpecError(f"--subset: {args.subset!r} is not N_TRAIN,N_VALIDATION (two ints).")
    check_values("--subset", "subset", [subset])
    grid = {
        "placements": _names_list("--placements", args.placements, PLACEMENTS, "placement"),
        "lrs": lrs,
        "seeds": seeds,
        "epochs": epochs,
        "batch_sizes": batch_sizes,
        "optimizers": _names_list("--optimizers", args.optimizers, OPTIMIZERS, "optimizer"),
        "hidden": _sizes("--hidden", args.hidden, "hidden", "300x100"),
        "subset": subset,
        "archs": _names_list("--archs", args.archs, ARCHS, "arch"),
        "activations": _names_list("--activations", args.activations, ACTIVATIONS, "activation"),
        "norms": _names_list("--norms", args.norms, NORMS, "norm"),
        "input_norms": _names_list("--input-norm", args.input_norm, INPUT_NORMS, "input_norm"),
        "conv": _sizes("--conv", args.conv, "conv", "32x64"),
        "groups": parse_number("--groups", args.groups, int, 1, "an int >= 1", 16384),
        "preset": None,
    }
    if args.preset is not None:
        grid.update(_preset(args.preset, grid["placements"], argv))
    _check_unused(grid, argv)
    check_groups(grid)
    return grid


def _check_unused(grid: dict[str, Any], argv: list[str]) -> None:
    """A flag given for a part no model of the grid has would be ignored: refuse it instead."""
    archs = set(grid["archs"]) if grid["preset"] is None else {"mlp"}
    for flag, arch in (("--hidden", "mlp"), ("--conv", "cnn")):
        if explicit(argv, flag) and arch not in archs:
            raise SpecError(
                f"{flag}: it sizes the {arch}, which --archs {','.join(grid['archs'])} does not "
                f"include; drop {flag} or add {arch} to --archs."
            )
    norms = grid["norms"] if any(uses_norm(p) for p in grid["placements"]) else ()
    if explicit(argv, "--groups") and "group" not in norms:
        raise SpecError(
            "--groups: only the group norm uses it, and no model of the grid has one; drop "
            "--groups or add group to --norms (with a placement that normalizes)."
        )


def small_batch_warning(grid) -> str | None:
    """A warning for batch norm on batches of one example, which it cannot normalize."""
    batch_norms = {"batch", "batch_renorm"} & set(grid.norms)
    if 1 in grid.batch_sizes and batch_norms and any(uses_norm(p) for p in grid.placements):
        return (
            "warning: --batch-sizes 1 with batch norm: each batch is one example, whose own "
            "mean and variance leave nothing to learn from (expect chance accuracy or worse); "
            "the trials run as asked."
        )
    return None


def _preset(name: str, placements: tuple[str, ...], argv: list[str]) -> dict[str, Any]:
    if name not in PRESETS:
        raise SpecError(f"--preset: {name!r} is not one of {sorted(PRESETS)}.")
    models = PRESETS[name]
    for field in PRESET_AXES:
        if explicit(argv, GRID_FLAGS[field]):
            raise SpecError(
                f"{GRID_FLAGS[field]}: preset {name!r} sets each placement's "
                f"{PRESET_AXES[field]}; drop {GRID_FLAGS[field]} or --preset."
            )
    unknown = [p for p in placements if p not in models]
    if unknown:
        raise SpecError(
            f"--placements: preset {name!r} has no placement {unknown[0]!r}; it has "
            f"{sorted(models)}."
        )
    # TrialConfig sets the preset's values per placement over the axes' defaults.
    return {"preset": name}


def check_groups(grid: dict[str, Any]) -> None:
    """With the group norm, --groups must divide every width it normalizes."""
    if "group" not in grid["norms"] or not any(uses_norm(p) for p in grid["placements"]):
        return
    groups = grid["groups"]
    for arch, field, flag in (("mlp", "hidden", "--hidden"), ("cnn", "conv", "--conv")):
        if arch not in grid["archs"]:
            continue
        for sizes in grid[field]:
            bad = [w for w in sizes if w % groups]
            if bad:
                raise SpecError(
                    f"--groups: {groups} does not divide {bad[0]}, a width of {flag} "
                    f"{'x'.join(map(str, sizes))}; use a divisor of every width "
                    f"({', '.join(map(str, common_divisors(sizes)))})."
                )


def upper_bound(grid: dict[str, Any]) -> tuple[int, str]:
    """The product of the axes' sizes (before unused values collapse; with --settle at the full
    seed budget), and its shape in words."""
    axes = {name: len(grid[field]) for field, name in AXIS_NAMES.items()}
    if grid.get("settle"):
        axes["seeds"] = grid["max_seeds"]
    shape = " x ".join(f"{size} {name}" for name, size in axes.items() if size > 1)
    return math.prod(axes.values()), shape or "1 trial"


def check_size(grid: dict[str, Any]) -> None:
    n, shape = upper_bound(grid)
    if n > MAX_TRIALS:
        raise SpecError(
            f"the grid has up to {n} trials ({shape}); the most is {MAX_TRIALS}: split it into "
            "several runs."
        )


def trial_configs(grid) -> list[TrialConfig]:
    """Every trial of the grid (any object with the grid's fields as attributes), in a stable
    order, the seeds of a cell together; collapsed duplicates are kept once."""
    axes = itertools.product(
        grid.archs, grid.hidden, grid.conv, grid.activations, grid.norms, grid.input_norms,
        grid.batch_sizes, grid.optimizers, grid.placements, grid.lrs, grid.seeds,
    )  # fmt: skip
    configs = {}
    for arch, hidden, conv, act, norm, input_norm, bs, opt, placement, lr, seed in axes:
        config = TrialConfig(
            placement=placement, lr=lr, seed=seed, epochs=grid.epochs, batch_size=bs,
            optimizer=opt, hidden=hidden, subset=grid.subset, arch=arch, activation=act,
            norm=norm, input_norm=input_norm, conv=conv, groups=grid.groups, preset=grid.preset,
        )  # fmt: skip
        configs.setdefault(config, None)
    return list(configs)


def model_label(config: TrialConfig) -> str:
    """A model in a few words: 'mlp 300x100, before_activation batch, relu, input none'."""
    sizes = "x".join(map(str, config.hidden if config.arch == "mlp" else config.conv))
    sizes = f" {sizes}" if sizes else ""  # a user's architecture has no size flag
    norm = f" {config.norm}" if config.norm != "none" else ""
    groups = f"({config.groups})" if config.groups is not None else ""
    preset = f", preset {config.preset}" if config.preset else ""
    return (
        f"{config.arch}{sizes}, {config.placement}{norm}{groups}, {config.activation}, "
        f"input {config.input_norm}{preset}"
    )


def show(value) -> str:
    """A grid value spelled as on the command line: (0.1, 1.0) -> '0.1,1', ((300, 100),) -> '300x100'."""
    if value is None:
        return "none"
    if isinstance(value, tuple):
        return ",".join("x".join(map(str, v)) if isinstance(v, tuple) else show(v) for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)
