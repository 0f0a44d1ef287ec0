"""The sweep's command line: every flag parsed and validated into one frozen `SweepSpec`.

Nothing here starts Ray, imports TensorFlow or writes a file: a bad value ends the command with
one line naming the flag, the value and what is allowed, before anything starts.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from bnlab import OPTIMIZERS, PLACEMENTS, TrialConfig, check_param

SPEC_FILE = "sweep_spec.json"
DEFAULT_LRS = (1e-3, 1e-2, 1e-1, 1.0, 3.0)  # up to where placements start to diverge
QUICK_SUBSET = (2000, 500)
QUICK_EPOCHS = 2
QUICK_SEEDS = (0, 1)
# What defines the study's numbers; a resumed run must match these exactly.
GRID_FIELDS = (
    "placements",
    "lrs",
    "seeds",
    "epochs",
    "batch_sizes",
    "optimizers",
    "hidden",
    "subset",
)


class SpecError(ValueError):
    """A bad command-line value; the message is the one line the user sees."""


@dataclass(frozen=True)
class SweepSpec:
    """One sweep: the grid, the data, the resources and where results go."""

    placements: tuple[str, ...]
    lrs: tuple[float, ...]
    seeds: tuple[int, ...]
    epochs: int
    batch_sizes: tuple[int, ...]
    optimizers: tuple[str, ...]
    hidden: tuple[tuple[int, ...], ...]
    subset: tuple[int, int] | None
    data_dir: str | None
    cpus_per_trial: int
    gpus_per_trial: float
    max_concurrent: int
    num_cpus: int | None
    num_gpus: float | None
    address: str | None
    output_dir: str
    name: str
    resume: bool
    report: bool
    dry_run: bool
    command: str = ""

    @property
    def run_dir(self) -> Path:
        return Path(self.output_dir) / self.name

    def trial_configs(self) -> list[TrialConfig]:
        """Every trial of the grid; every (placement, lr, ...) cell gets the same seeds."""
        grid = itertools.product(
            self.placements, self.lrs, self.batch_sizes, self.optimizers, self.hidden, self.seeds
        )
        return [
            TrialConfig(p, lr, seed, self.epochs, bs, opt, hidden, self.subset)
            for p, lr, bs, opt, hidden, seed in grid
        ]

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SweepSpec:
        def tuples(value):
            return tuple(tuples(v) for v in value) if isinstance(value, list) else value

        return cls(**{k: tuples(v) for k, v in d.items()})

    def grid_differences(self, other: SweepSpec) -> list[str]:
        """The grid fields where `other` differs, as 'field: stored -> new'."""
        return [
            f"{name}: {getattr(other, name)} -> {getattr(self, name)}"
            for name in GRID_FIELDS
            if getattr(self, name) != getattr(other, name)
        ]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sweeps.bn_placement",
        description=(
            "Train every BN placement x learning rate x seed (x batch size, optimizer, hidden "
            "sizes) on Fashion-MNIST with Ray Tune, then write the report. Lists are "
            "comma-separated."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    grid = parser.add_argument_group("the grid")
    grid.add_argument(
        "--placements",
        default=",".join(PLACEMENTS),
        help=f"BN placements, from: {', '.join(sorted(PLACEMENTS))}",
    )
    grid.add_argument(
        "--lrs", default=",".join(str(lr) for lr in DEFAULT_LRS), help="learning rates, > 0"
    )
    grid.add_argument("--seeds", default="0-2", help="seeds: ranges and lists, e.g. 0-4 or 0,3,7")
    grid.add_argument("--epochs", default="10", help="epochs per trial")
    grid.add_argument("--batch-sizes", default="32", help="batch sizes")
    grid.add_argument(
        "--optimizers", default="sgd", help=f"optimizers, from: {', '.join(sorted(OPTIMIZERS))}"
    )
    grid.add_argument(
        "--hidden",
        default="300x100",
        help="hidden layer sizes, 'x' between layers, e.g. 300x100,64",
    )
    data = parser.add_argument_group("data")
    data.add_argument("--data-dir", help="folder with the four Fashion-MNIST IDX files")
    data.add_argument(
        "--subset", help="N_TRAIN,N_VALIDATION: a stratified subset, the same for every trial"
    )
    data.add_argument(
        "--quick",
        action="store_true",
        help=f"try the tool: subset {QUICK_SUBSET}, {QUICK_EPOCHS} epochs, seeds 0-1 "
        "(explicit flags still win)",
    )
    res = parser.add_argument_group("resources")
    res.add_argument(
        "--cpus-per-trial", default="1", help="CPUs (and TensorFlow threads) per trial"
    )
    res.add_argument("--gpus-per-trial", default="0", help="GPUs per trial; fractions share a GPU")
    res.add_argument(
        "--max-concurrent", default="0", help="most trials at once; 0: as many as resources allow"
    )
    res.add_argument("--num-cpus", help="CPUs of the embedded local Ray (default: this machine's)")
    res.add_argument("--num-gpus", help="GPUs of the embedded local Ray (default: this machine's)")
    res.add_argument("--address", help="join an existing Ray cluster ('auto' or HOST:PORT) instead")
    out = parser.add_argument_group("results")
    out.add_argument("--output-dir", default="runs", help="folder holding the runs")
    out.add_argument("--name", help="run name (default: bn_placement-DATE-TIME)")
    out.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted run (--name, or the newest run in --output-dir)",
    )
    out.add_argument("--no-report", action="store_true", help="skip the report at the end")
    out.add_argument(
        "--dry-run", action="store_true", help="print the trials and resource plan, then exit"
    )
    return parser


def _explicit(argv: list[str], flag: str) -> bool:
    return any(a == flag or a.startswith(flag + "=") for a in argv)


def _list(flag: str, text: str, convert, allowed: str) -> tuple:
    items = [item.strip() for item in text.split(",")]
    if not text.strip() or any(not item for item in items):
        raise SpecError(f"{flag}: {text!r} is not a comma-separated list of {allowed}.")
    values = []
    for item in items:
        try:
            values.append(convert(item))
        except ValueError:
            raise SpecError(f"{flag}: {item!r} is not {allowed}.") from None
    if len(set(values)) != len(values):
        raise SpecError(f"{flag}: {text!r} repeats a value; give each value once.")
    return tuple(values)


def _seeds(text: str) -> tuple[int, ...]:
    seeds: list[int] = []
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
        seeds.extend(range(first, last + 1))
    if len(set(seeds)) != len(seeds):
        raise SpecError(f"--seeds: {text!r} names a seed twice.")
    return tuple(seeds)


def _number(flag: str, text: str | None, convert, low: float, allowed: str):
    try:
        value = convert(text)
    except (TypeError, ValueError):
        raise SpecError(f"{flag}: {text!r} is not {allowed}.") from None
    if value < low:
        raise SpecError(f"{flag}: {text!r} is not {allowed}.")
    return value


def _check(flag: str, param: str, values) -> None:
    """Check values against bnlab's constraint table, naming the flag."""
    for value in values:
        try:
            check_param(param, value)
        except (TypeError, ValueError) as err:
            raise SpecError(f"{flag}: {err}") from None


def machine_gpus() -> int:
    """GPUs this machine shows (respecting CUDA_VISIBLE_DEVICES), without starting anything."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return len([d for d in visible.split(",") if d.strip() and d.strip() != "-1"])
    if shutil.which("nvidia-smi") is None:
        return 0
    listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True)
    return sum(line.startswith("GPU ") for line in listing.stdout.splitlines())


def parse_spec(argv: list[str]) -> SweepSpec:
    """Parse and validate the command line.

    Raises:
        SpecError: For any bad value; its message names the flag, the value and what is allowed.
    """
    args = build_parser().parse_args(argv)
    quick = args.quick
    seeds_text = args.seeds if (_explicit(argv, "--seeds") or not quick) else "0-1"
    epochs_text = args.epochs if (_explicit(argv, "--epochs") or not quick) else str(QUICK_EPOCHS)

    placements = _list("--placements", args.placements, str, f"one of {sorted(PLACEMENTS)}")
    _check("--placements", "placement", placements)
    lrs = _list("--lrs", args.lrs, float, "a float in (0, 100]")
    _check("--lrs", "lr", lrs)
    seeds = _seeds(seeds_text)
    _check("--seeds", "seed", seeds)
    epochs = _number("--epochs", epochs_text, int, 1, "an int >= 1")
    _check("--epochs", "epochs", [epochs])
    batch_sizes = _list("--batch-sizes", args.batch_sizes, int, "an int >= 1")
    _check("--batch-sizes", "batch_size", batch_sizes)
    optimizers = _list("--optimizers", args.optimizers, str, f"one of {sorted(OPTIMIZERS)}")
    _check("--optimizers", "optimizer", optimizers)
    hidden = _list(
        "--hidden", args.hidden, lambda s: tuple(int(n) for n in s.split("x")), "sizes like 300x100"
    )
    _check("--hidden", "hidden", hidden)

    subset = QUICK_SUBSET if quick else None
    if args.subset is not None:
        subset = _list("--subset", args.subset, int, "N_TRAIN,N_VALIDATION (two ints)")
        if len(subset) != 2:
            raise SpecError(f"--subset: {args.subset!r} is not N_TRAIN,N_VALIDATION (two ints).")
    _check("--subset", "subset", [subset])
    if args.data_dir is not None and not Path(args.data_dir).is_dir():
        raise SpecError(f"--data-dir: {args.data_dir!r} is not a directory.")

    cpus = _number("--cpus-per-trial", args.cpus_per_trial, int, 1, "an int >= 1")
    gpus = _number("--gpus-per-trial", args.gpus_per_trial, float, 0, "a number >= 0")
    if gpus > 1 and gpus != int(gpus):
        raise SpecError(
            f"--gpus-per-trial: {args.gpus_per_trial!r} is not a fraction <= 1 or a whole number."
        )
    max_concurrent = _number("--max-concurrent", args.max_concurrent, int, 0, "an int >= 0")
    num_cpus = num_gpus = None
    if args.address is not None:
        if args.num_cpus is not None or args.num_gpus is not None:
            raise SpecError(
                "--num-cpus/--num-gpus: size the cluster when starting it, not with --address."
            )
    else:
        num_cpus = _number(
            "--num-cpus", args.num_cpus or str(os.cpu_count()), int, 1, "an int >= 1"
        )
        num_gpus = _number(
            "--num-gpus", args.num_gpus or str(machine_gpus()), float, 0, "a number >= 0"
        )
        check_fits(cpus, gpus, num_cpus, num_gpus, "this machine's embedded Ray")

    output_dir = Path(args.output_dir)
    if output_dir.exists() and not output_dir.is_dir():
        raise SpecError(f"--output-dir: {args.output_dir!r} is a file, not a directory.")
    name = args.name
    if name is not None and (not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name)):
        raise SpecError(f"--name: {name!r} must be letters, digits, '.', '_' or '-'.")
    if args.resume:
        name = name or _newest_run(output_dir)
        if not (output_dir / name / SPEC_FILE).is_file():
            raise SpecError(f"--resume: no run {name!r} in {str(output_dir)!r} to resume.")
    name = name or datetime.now().strftime("bn_placement-%Y%m%d-%H%M%S")

    return SweepSpec(
        placements=placements,
        lrs=lrs,
        seeds=seeds,
        epochs=epochs,
        batch_sizes=batch_sizes,
        optimizers=optimizers,
        hidden=hidden,
        subset=subset,
        data_dir=args.data_dir,
        cpus_per_trial=cpus,
        gpus_per_trial=gpus,
        max_concurrent=max_concurrent,
        num_cpus=num_cpus,
        num_gpus=num_gpus,
        address=args.address,
        output_dir=str(output_dir.resolve()),
        name=name,
        resume=args.resume or (output_dir / name / SPEC_FILE).is_file(),
        report=not args.no_report,
        dry_run=args.dry_run,
    )


def check_fits(cpus: int, gpus: float, have_cpus: float, have_gpus: float, where: str) -> None:
    """Refuse a per-trial request that no node of the cluster could ever grant."""
    if cpus > have_cpus:
        raise SpecError(f"--cpus-per-trial: {cpus} is more than the {have_cpus:g} CPUs of {where}.")
    if gpus > have_gpus:
        raise SpecError(
            f"--gpus-per-trial: {gpus:g} is more than the {have_gpus:g} GPUs of {where}."
        )


def load_stored_spec(run_dir: Path) -> SweepSpec:
    return SweepSpec.from_dict(json.loads((run_dir / SPEC_FILE).read_text()))


def _newest_run(output_dir: Path) -> str:
    runs = sorted(output_dir.glob(f"*/{SPEC_FILE}"), key=lambda p: p.stat().st_mtime)
    if not runs:
        raise SpecError(f"--resume: no run in {str(output_dir)!r} to resume; give --name.")
    return runs[-1].parent.name
