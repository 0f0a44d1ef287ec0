"""The study from Python: `sweeps.run(...)` runs a sweep and returns its `Study`.

Every keyword is a flag of `python -m sweeps.bn_placement` with '-' as '_' (`lrs`,
`batch_sizes`, `no_report`, ...), read from the command line's own parser: both go through the
same validation and the same run, so they cannot drift. Values may be Python values (lists,
ranges, tuples of layer sizes, numbers, bools for switches) or the flag's text.

    study = sweeps.run(placements=["none", "before_activation"], lrs=[0.01, 0.1],
                       seeds=range(3), epochs=2, subset=(2000, 500), name="try")
    study.best_lr
"""

from __future__ import annotations

import argparse
import numbers
import os
import re
import threading
from collections.abc import Iterable

import numpy as np

from bnlab import DatasetError
from reports import storage
from sweeps.spec import SpecError, build_parser

# Flags the Python API sets itself, or that make no sense in a call.
_NOT_PARAMETERS = {"help", "dry_run"}


class SweepError(ValueError):
    """A bad argument, or a fault of the environment before the sweep started (the message
    names the parameter, the value and what is allowed)."""


class SweepStopped(RuntimeError):
    """A fault of the environment stopped the sweep once it ran (its disk filled, its folder
    became read-only or was removed); the message says what and the call that continues."""


def parameters() -> dict[str, argparse.Action]:
    """Every keyword `run` takes, with the command line's action behind it."""
    actions = build_parser()._actions
    return {a.dest: a for a in actions if a.option_strings and a.dest not in _NOT_PARAMETERS}


def _sequence(value) -> list | None:
    """The items of a list-like value (list, tuple, range, NumPy array, generator), else None."""
    if isinstance(value, str | bytes | dict) or not isinstance(value, Iterable):
        return None
    items = value.tolist() if hasattr(value, "tolist") else list(value)
    return items if isinstance(items, list) else None


def _text(name: str, value) -> str:
    """A Python value as the flag's text: [0.1, 1] -> '0.1,1', range(3) -> '0,1,2',
    [(300, 100), (64,)] -> '300x100,64', (2000, 500) for subset -> '2000,500'; NumPy numbers
    and arrays, generators and paths as a NumPy or pathlib user passes them."""
    if isinstance(value, str):
        return value
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, bool | np.bool_):
        raise TypeError(f"The '{name}' parameter takes a value, not a bool. Got {value!r} instead.")
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):  # NumPy's own spelling: float32(0.1) reads '0.1'
        return str(value) if hasattr(value, "dtype") else repr(float(value))
    items = _sequence(value)
    if items is not None:
        nested = [_sequence(v) for v in items]
        if name == "subset" or all(n is None for n in nested):
            return ",".join(_text(name, v) for v in items)
        return ",".join("x".join(_text(name, n) for n in inner) if inner is not None else _text(name, v) for v, inner in zip(items, nested, strict=True))  # fmt: skip
    raise TypeError(
        f"The '{name}' parameter must be a str, a number or a list of them. "
        f"Got {type(value).__name__} {value!r:.60} instead."
    )


def to_argv(params: dict) -> list[str]:
    """The command line that `params` stand for.

    Raises:
        TypeError: For an unknown keyword or a value of the wrong type, naming it.
    """
    known = parameters()
    argv = []
    for name, value in params.items():
        if name not in known:
            raise TypeError(
                f"sweeps.run() got an unexpected keyword {name!r}; allowed: {sorted(known)}."
            )
        if value is None:
            continue
        action, flag = known[name], known[name].option_strings[0]
        if isinstance(action, argparse._StoreTrueAction):
            value = bool(value) if isinstance(value, np.bool_) else value
            if not isinstance(value, bool):
                raise TypeError(f"The '{name}' parameter must be a bool. Got {value!r} instead.")
            argv += [flag] if value else []
        else:
            argv += [flag, _text(name, value)]
    return argv


def call_text(params: dict) -> str:
    """The call as a user would write it: "sweeps.run(lrs=[0.1], seeds=range(0, 3))"."""
    given = ", ".join(f"{k}={v!r}" for k, v in params.items() if v is not None)
    return f"sweeps.run({given})"


def api_message(message: str) -> str:
    """A command-line message as the Python API says it: '--lrs: ...' -> 'lrs: ...'."""
    message = re.sub(r"--([a-z][a-z-]*)", lambda m: m[1].replace("-", "_"), message)
    return message.replace("(see _help)", "(see help(sweeps.run))")


def run(**params):
    """Run (or resume) a sweep from Python; returns its `Study`.

    The keywords are the command line's flags (see `parameters()` and `python -m
    sweeps.bn_placement --help`); `quiet=True` draws no progress. Ray is embedded by default,
    `address=` joins a cluster, `resume=True` continues the run named `name`.

    Ray already started in this process (`ray.init()` in the notebook) is used as it is, and
    left running; `address=` is then refused.

    Raises:
        SweepError: A bad argument or an environment fault, before anything started.
        SweepStopped: An environment fault stopped the sweep once it ran, or it ended
            without one trial's results.
        TypeError: An unknown keyword or a value of the wrong type.
        KeyboardInterrupt: The kernel was interrupted; Ray was stopped and the run can be
            continued with `resume=True`.
        RuntimeError: Called from a thread other than the main one.
    """
    from sweeps import bn_placement
    from sweeps.spec import parse_spec

    if threading.current_thread() is not threading.main_thread():
        raise RuntimeError(
            "sweeps.run() must be called from the main thread: stopping a sweep (Ctrl+C, the "
            "kernel's stop button) and Ray's start need it. Call it from the notebook cell or "
            "script itself."
        )
    argv = to_argv(params)
    try:
        spec = parse_spec(argv)
    except SpecError as err:
        raise SweepError(api_message(str(err))) from None
    except OSError as err:  # a path given that the system refuses
        raise SweepError(f"{err.filename!r}: {err.strerror}; check the paths given.") from None
    spec = bn_placement.with_command(spec, call_text(params))
    try:
        code = bn_placement.execute(spec)
    except (DatasetError, SpecError, storage.StorageError) as err:
        raise SweepError(api_message(bn_placement.one_line(err, spec))) from None
    except bn_placement.RunStopped as err:
        raise SweepStopped(api_message(str(err))) from None
    if code == 130:
        raise KeyboardInterrupt(f"interrupted; continue with: {bn_placement.resume_command(spec)}")
    from reports.study import load

    study = load(spec.run_location)
    trials = study.trials
    if code == 1 and not (
        len(trials) and trials["status"].isin(["completed", "diverged", "errored"]).any()
    ):
        # A run whose trials all ended unreadable (cut result files): no Study to return.
        raise SweepStopped(
            f"the sweep ended without one trial's results (the lines above say why); "
            f"the run is in {spec.run_location}"
        )
    page = spec.report_location / "index.html"
    if spec.report and page.exists():
        study.report_path = page
    return study
