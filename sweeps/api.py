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
import re

from bnlab import DatasetError
from reports import storage
from sweeps.spec import SpecError, build_parser

# Flags the Python API sets itself, or that make no sense in a call.
_NOT_PARAMETERS = {"help", "dry_run"}


class SweepError(ValueError):
    """A bad argument, or a fault of the environment before the sweep started (the message
    names the parameter, the value and what is allowed)."""


def parameters() -> dict[str, argparse.Action]:
    """Every keyword `run` takes, with the command line's action behind it."""
    actions = build_parser()._actions
    return {a.dest: a for a in actions if a.option_strings and a.dest not in _NOT_PARAMETERS}


def _text(name: str, value) -> str:
    """A Python value as the flag's text: [0.1, 1] -> '0.1,1', range(3) -> '0,1,2',
    [(300, 100), (64,)] -> '300x100,64', (2000, 500) for subset -> '2000,500'."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        raise TypeError(f"The '{name}' parameter takes a value, not a bool. Got {value!r} instead.")
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, range | list | tuple):
        items = list(value)
        if name == "subset" or all(not isinstance(v, list | tuple) for v in items):
            return ",".join(_text(name, v) for v in items)
        return ",".join("x".join(_text(name, n) for n in v) if isinstance(v, list | tuple) else _text(name, v) for v in items)  # fmt: skip
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

    Raises:
        SweepError: A bad argument or an environment fault, before anything started.
        TypeError: An unknown keyword or a value of the wrong type.
        KeyboardInterrupt: The kernel was interrupted; Ray was stopped and the run can be
            continued with `resume=True`.
    """
    from sweeps import bn_placement
    from sweeps.spec import parse_spec

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
    if code == 130:
        raise KeyboardInterrupt(f"interrupted; continue with: {bn_placement.resume_command(spec)}")
    from reports.study import load

    study = load(spec.run_location)
    page = spec.report_location / "index.html"
    if spec.report and page.exists():
        study.report_path = page
    return study
