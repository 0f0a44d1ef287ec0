"""The sweep's command line: every flag parsed and validated into one frozen `SweepSpec`.

Nothing here starts Ray, imports TensorFlow or writes a file: a bad value ends the command with
one line naming the flag, the value and what is allowed, before anything starts.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from bnlab import DatasetError, DataShape, TrialConfig, describe_model, load_dataset
from bnlab.data import FASHION_MNIST_SHAPE, VALIDATION_SIZE
from bnlab.user_archs import import_arch_module
from bnlab.user_data import DEFAULT_VAL_SIZE
from reports import report_folder, storage
from reports.console import show_help
from sweeps import grid as grid_flags
from sweeps import room
from sweeps.grid import GRID_FIELDS, GRID_FLAGS, QUICK_EPOCHS, QUICK_FIELDS, QUICK_SUBSET, explicit
from sweeps.run_folder import (
    SPEC_FILE,
    RunFolder,
    check_name,
    check_path_length,
    check_tune_state,
    check_writable,
    newest_run,
    read_stored_spec,
    refuse_if_in_use,
)
from sweeps.values import MAX_SEEDS as MAX_SEEDS_LIMIT
from sweeps.values import SpecError, parse_address, parse_number

MAX_SEEDS = 30  # --settle's default budget per cell
FASHION_MNIST_SIZES = (60000 - VALIDATION_SIZE, VALIDATION_SIZE, 10000)
# Two models within 0.3 accuracy points count as equivalent: about one seed's own spread of a
# model's final accuracy here (the default study's seed SDs are 0.002-0.006), a difference no
# single run could show.
MARGIN_POINTS = 0.3


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
    report_dir: str | None = None
    checkpoint_seconds: float = 10.0
    progress_seconds: float = 30.0
    verbose: bool = False
    archs: tuple[str, ...] = ("mlp",)
    activations: tuple[str, ...] = ("relu",)
    norms: tuple[str, ...] = ("batch",)
    input_norms: tuple[str, ...] = ("none",)
    conv: tuple[tuple[int, ...], ...] = ((32, 64),)
    groups: int = grid_flags.DEFAULT_GROUPS
    preset: str | None = None
    settle: bool = False
    max_seeds: int = 3
    margin: float = MARGIN_POINTS
    quiet: bool = False
    address_source: str = "--address"  # or RAY_ADDRESS, for the messages
    # A user's dataset (--data: a .npz file or URI) and what it is; None: Fashion-MNIST.
    data: str | None = None
    val_size: float = DEFAULT_VAL_SIZE
    data_fingerprint: str | None = None
    data_shape: tuple[int, ...] = FASHION_MNIST_SHAPE.input_shape
    num_classes: int = FASHION_MNIST_SHAPE.num_classes
    data_sizes: tuple[int, int, int] = FASHION_MNIST_SIZES
    arch_module: str | None = None  # imported before the grid is read, and on every node

    @property
    def shape(self) -> DataShape:
        """The shape and classes of the data every model of the grid is made for."""
        return DataShape(self.data_shape, self.num_classes)

    @property
    def report_location(self) -> Path:
        """Where the report goes: --report-dir, RUN/report, or ./NAME-report for a URI."""
        if self.report_dir:
            return Path(self.report_dir)
        return Path(f"{self.name}-report") if self.remote else self.run_dir / "report"

    @property
    def remote(self) -> bool:
        """Whether results go to a storage URI (s3://...) rather than a local or NFS folder."""
        return storage.is_uri(self.output_dir)

    @property
    def run_dir(self) -> Path:
        """The local run folder (for a URI, see `run_location`)."""
        return Path(self.output_dir) / self.name

    @property
    def run_location(self) -> str:
        """Where the run lives: a local path or a storage URI."""
        return storage.join(self.output_dir, self.name) if self.remote else str(self.run_dir)

    def trial_configs(self) -> list[TrialConfig]:
        """Every trial of the grid; every (placement, lr, ...) cell gets the same seeds."""
        return grid_flags.trial_configs(self)

    def variants(self) -> list[TrialConfig]:
        """One config per distinct model of the grid (its first trial's)."""
        models = {}
        for config in self.trial_configs():
            models.setdefault(tuple(config.model_fields.values()), config)
        return list(models.values())

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SweepSpec:
        """Rebuild a spec from `to_dict()` output.

        Raises:
            ValueError: If `d` lacks a field or has one a spec does not know.
        """
        names = {f.name for f in dataclasses.fields(cls)}
        required = {f.name for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING}
        problems = []
        if set(d) - names:
            problems.append(f"unknown fields {sorted(set(d) - names)}")
        if required - set(d):
            problems.append(f"missing fields {sorted(required - set(d))}")
        if problems:
            raise ValueError(", ".join(problems))

        def tuples(value):
            return tuple(tuples(v) for v in value) if isinstance(value, list) else value

        return cls(**{k: tuples(v) for k, v in d.items()})


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows a flag's default unless it has none or its help already says it."""

    def _get_help_string(self, action):
        if action.default is None or "(default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    def print_help(self, file=None):
        show_help(self.format_help())

    def error(self, message):
        # argparse would print its whole usage block; one line says it, --help shows the rest.
        raise SpecError(f"{message} (see --help)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m sweeps.bn_placement",
        description=(
            "Train every BN placement x learning rate x seed (x batch size, optimizer, hidden "
            "sizes) on Fashion-MNIST with Ray Tune, then write the report. Lists are "
            "comma-separated."
        ),
        formatter_class=_HelpFormatter,
    )
    grid_flags.add_arguments(parser)
    data = parser.add_argument_group("data")
    data.add_argument("--data-dir", help="folder with the four Fashion-MNIST IDX files")
    data.add_argument(
        "--data",
        help="your own dataset instead of Fashion-MNIST: a .npz file (or storage URI) with "
        "x_train, y_train, x_test, y_test and optionally x_val, y_val (see docs/own-data.md)",
    )
    data.add_argument(
        "--val-size",
        default=str(DEFAULT_VAL_SIZE),
        help="with --data and no x_val: the validation split taken from the end of the training "
        "arrays, a fraction in (0, 1) or a count",
    )
    data.add_argument(
        "--arch-module",
        help="a Python module (dotted name) that registers your own architectures for --archs "
        "(bnlab.register_arch); it must import on every node",
    )
    data.add_argument(
        "--subset", help="N_TRAIN,N_VALIDATION: a stratified subset, the same for every trial"
    )
    data.add_argument(
        "--quick",
        action="store_true",
        help=f"try the tool: subset {QUICK_SUBSET}, {QUICK_EPOCHS} epochs, seeds "
        f"{grid_flags.QUICK_SEEDS} "
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
        "--report-dir",
        help="where to write the report (default: RUN/report; for a storage URI: ./NAME-report)",
    )
    out.add_argument(
        "--checkpoint-seconds",
        default="10",
        help="checkpoint a trial at most this often (0: every epoch); a retried or resumed "
        "trial repeats what it ran since. Below 5 s Tune may warn that it saves its "
        "experiment state too often",
    )
    out.add_argument(
        "--dry-run", action="store_true", help="print the trials and resource plan, then exit"
    )
    settle = parser.add_argument_group("settling (look by look)")
    settle.add_argument(
        "--settle",
        action="store_true",
        help="add seeds look by look, only to the cells whose comparisons are still undecided, "
        "until every comparison is decided or --max-seeds is reached (the grid's seeds are the "
        "first look)",
    )
    settle.add_argument(
        "--max-seeds", default=str(MAX_SEEDS), help="the seed budget of each cell, with --settle"
    )
    settle.add_argument(
        "--margin",
        default=str(MARGIN_POINTS),
        help="accuracy points within which two models count as equivalent (TOST)",
    )
    shown = parser.add_argument_group("terminal")
    shown.add_argument(
        "--progress-seconds",
        default="30",
        help="seconds between progress lines when the output is not a terminal",
    )
    shown.add_argument(
        "--quiet",
        action="store_true",
        help="no progress and nothing on standard output (errors still go to standard error)",
    )
    shown.add_argument(
        "--verbose",
        action="store_true",
        help="also show Tune's trial table and Ray's and Tune's info messages",
    )
    return parser


def _parse_settling(
    args, argv: list[str], seeds: tuple[int, ...], placements: tuple[str, ...]
) -> dict[str, Any]:
    margin = parse_number("--margin", args.margin, float, 0, "accuracy points in (0, 100)", 100)
    if margin in (0, 100):
        raise SpecError(f"--margin: {args.margin!r} is not accuracy points in (0, 100).")
    if not args.settle:
        if explicit(argv, "--max-seeds"):
            raise SpecError("--max-seeds: it sets the budget of --settle; add --settle.")
        return {"settle": False, "max_seeds": len(seeds), "margin": margin}
    if len(placements) < 2:
        raise SpecError(
            f"--settle: the grid has one placement ({placements[0]}), so there is nothing to "
            "compare and nothing to settle; give two or more --placements."
        )
    low = max(2, len(seeds))
    max_seeds = parse_number(
        "--max-seeds", args.max_seeds, int, low, f"an int in [{low}, {MAX_SEEDS_LIMIT}] (at "
        f"least the {len(seeds)} seeds of the first look, and 2)", MAX_SEEDS_LIMIT,
    )  # fmt: skip
    return {"settle": True, "max_seeds": max_seeds, "margin": margin}


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

    With `--resume` (or the `--name` of an existing run) the grid comes from the run's stored
    spec; grid flags given as well must match it.

    Raises:
        SpecError: For any bad value; its message names the flag, the value and what is allowed.
    """
    args = build_parser().parse_args(argv)
    if args.arch_module is not None:
        _import_archs(args.arch_module, "--arch-module")
    grid = grid_flags.parse_grid(args, argv)
    grid.update(_parse_settling(args, argv, grid["seeds"], grid["placements"]))
    grid_flags.check_size(grid)
    if args.data_dir is not None and not Path(args.data_dir).is_dir():
        raise SpecError(f"--data-dir: {args.data_dir!r} is not a directory.")
    data = _parse_data(args, argv)

    cpus = parse_number("--cpus-per-trial", args.cpus_per_trial, int, 1, "an int >= 1")
    gpus = parse_number("--gpus-per-trial", args.gpus_per_trial, float, 0, "a number >= 0")
    if gpus > 1 and gpus != int(gpus):
        raise SpecError(
            f"--gpus-per-trial: {args.gpus_per_trial!r} is not a fraction <= 1 or a whole number."
        )
    max_concurrent = parse_number("--max-concurrent", args.max_concurrent, int, 0, "an int >= 0")
    day = 86400.0
    checkpoint_seconds = parse_number(
        "--checkpoint-seconds", args.checkpoint_seconds, float, 0, "seconds in [0, 86400]", day
    )
    progress_seconds = parse_number(
        "--progress-seconds", args.progress_seconds, float, 1, "seconds in [1, 86400]", day
    )
    num_cpus = num_gpus = None
    # RAY_ADDRESS (set on cluster nodes and inside Ray jobs) joins that cluster, as Ray does.
    address_text, source = args.address, "--address"
    if address_text is None and os.environ.get("RAY_ADDRESS", "").strip():
        address_text, source = os.environ["RAY_ADDRESS"].strip(), "RAY_ADDRESS"
    address = None if address_text is None else parse_address(address_text, source)
    if address is not None:
        if args.num_cpus is not None or args.num_gpus is not None:
            raise SpecError(
                f"--num-cpus/--num-gpus: size the cluster when starting it, not with {source} "
                "(unset RAY_ADDRESS to start an embedded Ray)."
            )
    else:
        num_cpus = parse_number(
            "--num-cpus", args.num_cpus or str(os.cpu_count()), int, 1, "an int >= 1"
        )
        num_gpus = parse_number(
            "--num-gpus", args.num_gpus or str(machine_gpus()), int, 0, "a whole number >= 0"
        )
        check_fits(cpus, gpus, num_cpus, num_gpus, "this machine's embedded Ray")

    if not args.output_dir.strip():
        raise SpecError("--output-dir: '' is empty; give a folder, e.g. runs.")
    if args.name is not None:
        check_name(args.name)
    if storage.is_uri(args.output_dir):
        output, run = _remote_run(args)
    else:
        output, run = _local_run(args)

    spec = SweepSpec(
        **grid,
        # absolute, so that the printed resume command works from any folder
        data_dir=None if args.data_dir is None else str(Path(args.data_dir).resolve()),
        cpus_per_trial=cpus,
        gpus_per_trial=gpus,
        max_concurrent=max_concurrent,
        num_cpus=num_cpus,
        num_gpus=num_gpus,
        address=address,
        output_dir=output,
        name=run.name,
        resume=False,
        report=not args.no_report,
        dry_run=args.dry_run,
        report_dir=args.report_dir,
        checkpoint_seconds=checkpoint_seconds,
        progress_seconds=progress_seconds,
        verbose=args.verbose,
        quiet=args.quiet,
        address_source=source,
        arch_module=args.arch_module,
        **data,
    )
    if spec.report:
        protected = () if spec.remote else (spec.run_dir, Path(spec.output_dir))
        problem = report_folder.problem(spec.report_location, protected)
        if problem:
            raise SpecError(problem)
    with storage.waiting_note(spec.output_dir) if spec.remote else contextlib.nullcontext():
        holds = run.holds_a_sweep()  # the first contact with remote storage: fails if unreachable
        if spec.remote:
            _check_bucket(spec.output_dir)
    if holds:
        if not spec.remote:
            refuse_if_in_use(spec.run_dir)
        flag = "--resume" if args.resume else "--name"
        explicit = _explicit_grid_fields(argv)
        spec = _resumed(spec, run, explicit, args.data_dir is not None, flag)
    _check_data_fit(spec)
    _check_room(spec)
    return spec


def _import_archs(module: str, flag: str) -> None:
    try:
        import_arch_module(module)
    except ValueError as err:
        raise SpecError(f"{flag}: {err}") from None


# Datasets read while checking the flags, kept for the sweep that follows in this process.
_loaded: dict[tuple, object] = {}


def _data_key(source: str, val_size: float) -> tuple:
    """A dataset read once per process, again if its local file changed since."""
    try:
        found = os.stat(source)
        return source, val_size, found.st_mtime_ns, found.st_size
    except OSError:  # a URI, or a file gone (reading it says so)
        return source, val_size


def loaded_data(spec: SweepSpec):
    """The user's dataset the spec names, as read (and checked) when it was parsed."""
    key = _data_key(spec.data, spec.val_size)
    if key not in _loaded:
        _loaded[key] = _read_data(spec.data, spec.val_size)
    return _loaded[key]


def _read_data(source: str, val_size: float):
    try:
        return load_dataset(source, val_size)
    except DatasetError as err:
        raise SpecError(f"--data: {err}") from None


def _parse_data(args, argv: list[str]) -> dict[str, Any]:
    """The SweepSpec fields of --data: where, how it is split and what it is."""
    val_size = parse_number("--val-size", args.val_size, float, 0, "a fraction in (0, 1) or a count >= 1")  # fmt: skip
    if val_size == 0 or (val_size >= 1 and val_size != int(val_size)):
        raise SpecError(f"--val-size: {args.val_size!r} is not a fraction in (0, 1) or a count >= 1.")  # fmt: skip
    val_size = int(val_size) if val_size >= 1 else val_size
    if args.data is None:
        if explicit(argv, "--val-size"):
            raise SpecError("--val-size: it splits --data's training arrays; add --data.")
        return {}
    if args.data_dir is not None:
        raise SpecError("--data: give --data (your .npz) or --data-dir (Fashion-MNIST's folder), not both.")  # fmt: skip
    source = args.data if storage.is_uri(args.data) else str(Path(args.data).resolve())
    return data_facts(source, val_size)


def data_facts(source: str, val_size: float) -> dict[str, Any]:
    """What the spec keeps of a user's dataset (reading it, once per process)."""
    key = _data_key(source, val_size)
    _loaded[key] = dataset = _loaded.get(key) or _read_data(source, val_size)
    return {
        "data": source,
        "val_size": val_size,
        "data_fingerprint": dataset.fingerprint,
        "data_shape": dataset.shape.input_shape,
        "num_classes": dataset.num_classes,
        "data_sizes": (len(dataset.train), len(dataset.validation), len(dataset.test)),
    }


def _check_data_fit(spec: SweepSpec) -> None:
    """Refuse a grid its data cannot feed: a subset or a batch larger than the data's splits,
    an architecture that does not fit its examples (a cnn on feature vectors)."""
    n_train, n_val, _ = spec.data_sizes
    low = spec.num_classes
    what = "the data's" if spec.data else "Fashion-MNIST's"
    if spec.subset is not None and not (low <= spec.subset[0] <= n_train and low <= spec.subset[1] <= n_val):  # fmt: skip
        raise SpecError(
            f"--subset: {grid_flags.show(spec.subset)} does not fit {what} {n_train} training "
            f"and {n_val} validation examples; give N_TRAIN in [{low}, {n_train}] and "
            f"N_VALIDATION in [{low}, {n_val}] (at least one per class)."
        )
    train = spec.subset[0] if spec.subset is not None else n_train
    too_big = [b for b in spec.batch_sizes if b > train]
    if too_big:
        where = f"--subset {grid_flags.show(spec.subset)}" if spec.subset is not None else "the data" if spec.data else "Fashion-MNIST"  # fmt: skip
        raise SpecError(
            f"--batch-sizes: {too_big[0]} is more than the {train} training examples of "
            f"{where}; use at most {train}."
        )
    for config in spec.variants():
        try:
            describe_model(config, spec.shape)
        except Exception as err:  # a user's architecture may fail in any way: one line
            raise SpecError(
                f"--archs: {config.arch} ({config.placement}, {config.norm}, {config.activation}) "
                f"cannot be built for {spec.shape.words()}: {' '.join(str(err).split())[:300]}"
            ) from None


def _check_room(spec: SweepSpec) -> None:
    """Refuse a run that cannot fit: too little disk for its results and checkpoints, or
    trials that cannot fit in this machine's memory together (`sweeps.room`)."""
    configs = spec.trial_configs()
    slots = spec.max_concurrent or max(1, (spec.num_cpus or 1) // spec.cpus_per_trial)
    if spec.address is None:
        refusal, _ = room.memory_problem(configs, slots, spec.shape)
        if refusal:
            raise SpecError(refusal)
    if not spec.remote and not spec.dry_run:
        problem = room.disk_problem(spec.run_dir, configs, slots, spec.shape)
        if problem:
            raise SpecError(problem)


def _explicit_grid_fields(argv: list[str]) -> set[str]:
    fields = {field for field, flag in GRID_FLAGS.items() if explicit(argv, flag)}
    return fields | (set(QUICK_FIELDS) if explicit(argv, "--quick") else set())


def _local_run(args) -> tuple[str, RunFolder]:
    output_dir = Path(args.output_dir)
    check_path_length(output_dir / (args.name or _new_name()))
    if output_dir.exists() and not output_dir.is_dir():
        raise SpecError(f"--output-dir: {args.output_dir!r} is a file, not a directory.")
    name = args.name
    if args.resume:
        name = name or newest_run(output_dir)
        if not RunFolder(str(output_dir / name), name).holds_a_sweep():
            raise SpecError(f"--resume: no run {name!r} in {str(output_dir)!r} to resume.")
    name = name or _new_name()
    check_writable(output_dir, output_dir / name)
    return str(output_dir.resolve()), RunFolder(str(output_dir.resolve() / name), name)


def _remote_run(args) -> tuple[str, RunFolder]:
    try:
        _, path = storage.resolve(args.output_dir)
    except storage.StorageError as err:
        raise SpecError(f"--output-dir: {err}") from None
    if not path.strip("/"):
        raise SpecError(
            f"--output-dir: {args.output_dir!r} names no bucket or folder; e.g. s3://bucket/runs."
        )
    if args.resume and args.name is None:
        raise SpecError("--resume: give --name with a storage URI as --output-dir.")
    name = args.name or _new_name()
    run = RunFolder(storage.join(args.output_dir, name), name)
    if args.resume and not run.holds_a_sweep():
        raise SpecError(f"--resume: no run {name!r} in {args.output_dir!r} to resume.")
    return args.output_dir, run


def _check_bucket(uri: str) -> None:
    """A run cannot be written into a bucket that does not exist; say so before Ray starts."""
    from pyarrow import fs as pafs  # only for a URI: a local run's checks do without pyarrow

    filesystem, path = storage.resolve(uri)
    bucket = path.strip("/").split("/")[0]
    try:
        kind = filesystem.get_file_info(bucket).type
    except OSError as err:
        raise SpecError(f"--output-dir: cannot see bucket {bucket!r} ({err}).") from None
    if kind != pafs.FileType.Directory:
        raise SpecError(
            f"--output-dir: bucket {bucket!r} of {uri!r} does not exist or is not visible with "
            "these credentials; create it first."
        )


def _new_name() -> str:
    return datetime.now().strftime("bn_placement-%Y%m%d-%H%M%S")


def _resumed(spec: SweepSpec, run: RunFolder, explicit: set[str], data_dir_given: bool, flag: str):
    """The spec to continue `run` with: its stored grid, checked against explicit flags."""
    stored_dict = read_stored_spec(run, flag)
    check_tune_state(run, flag)
    if "archs" not in stored_dict:
        raise SpecError(
            f"{flag}: run {spec.name!r} was made by an earlier bnlab, whose grid this one cannot "
            f"continue; its results can still be reported (python -m reports "
            f"{shlex.quote(run.location)}); start a new run with another --name."
        )
    if stored_dict.get("arch_module"):  # its architectures name the stored grid's models
        _import_archs(stored_dict["arch_module"], flag)
    try:
        stored = SweepSpec.from_dict(stored_dict)
        stored.trial_configs()  # every stored value must still be a valid config
    except (TypeError, ValueError) as err:
        raise SpecError(
            f"{flag}: {storage.join(run.location, SPEC_FILE)!r} is damaged ({err}); it cannot "
            "be resumed; start a new run with another --name."
        ) from None
    differences = [
        f"{GRID_FLAGS[field]} {grid_flags.show(getattr(stored, field))} -> "
        f"{grid_flags.show(getattr(spec, field))}"
        for field in GRID_FIELDS
        if field in explicit and getattr(spec, field) != getattr(stored, field)
    ]
    if differences:
        raise SpecError(
            f"{flag}: run {spec.name!r} was started with another grid "
            f"({'; '.join(differences)}); drop those flags to continue it, or choose a new --name."
        )
    grid = {field: getattr(stored, field) for field in GRID_FIELDS}
    data_dir = spec.data_dir if data_dir_given else stored.data_dir
    facts = {}
    if stored.data is not None:  # the same arrays, or the run's numbers would mix two datasets
        facts = data_facts(stored.data, stored.val_size)
        if facts["data_fingerprint"] != stored.data_fingerprint:
            raise SpecError(
                f"{flag}: the data at {stored.data!r} changed since run {spec.name!r} started "
                f"(fingerprint {stored.data_fingerprint[:12]}..., now "
                f"{facts['data_fingerprint'][:12]}...); continue it with the data it began "
                "with, or start a new run with another --name."
            )
    return dataclasses.replace(spec, **{**grid, **facts}, data_dir=data_dir, resume=True)


def check_fits(cpus: int, gpus: float, have_cpus: float, have_gpus: float, where: str) -> None:
    """Refuse a per-trial request that no node of the cluster could ever grant."""
    if cpus > have_cpus:
        raise SpecError(f"--cpus-per-trial: {cpus} is more than the {have_cpus:g} CPUs of {where}.")
    if gpus > have_gpus:
        raise SpecError(
            f"--gpus-per-trial: {gpus:g} is more than the {have_gpus:g} GPUs of {where}."
        )
