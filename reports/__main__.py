"""`python -m reports RUN_DIR`: (re)generate a run's report, also for an unfinished run."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from reports.html import write_report


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        # argparse would print its usage block; one line says it, --help shows the rest.
        print(f"error: {message} (see --help)", file=sys.stderr)
        sys.exit(2)


def _problem(run_dir: Path, raw: str) -> str | None:
    """Why `run_dir` cannot get a report, or None."""
    if not run_dir.is_dir():
        return f"RUN_DIR: {raw!r} is not a directory."
    if not (run_dir / "sweep_spec.json").exists() and not any(run_dir.glob("*/params.json")):
        return f"RUN_DIR: {raw!r} holds no sweep (no sweep_spec.json, no trials)."
    report = run_dir / "report"
    if report.exists() and not report.is_dir():
        return f"RUN_DIR: {str(report)!r} is a file; move it away so the report can be written."
    writable = report if report.is_dir() else run_dir
    if not os.access(writable, os.W_OK | os.X_OK):
        return (
            f"RUN_DIR: {str(writable)!r} is not writable (read-only filesystem or no permission)."
        )
    return None


def main(argv: list[str] | None = None) -> int:
    parser = _Parser(prog="python -m reports", description=__doc__)
    parser.add_argument("run_dir", help="a run folder written by python -m sweeps.bn_placement")
    args = parser.parse_args(argv)
    run_dir = Path(args.run_dir)
    problem = _problem(run_dir, args.run_dir)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    try:
        print(f"report: {write_report(run_dir)}")
    except KeyboardInterrupt:
        print("interrupted; the previous report files are intact.", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
