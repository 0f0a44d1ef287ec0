"""`python -m reports RUN_DIR`: (re)generate a run's report, also for an unfinished run."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from reports.html import write_report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reports", description=__doc__)
    parser.add_argument("run_dir", help="a run folder written by python -m sweeps.bn_placement")
    args = parser.parse_args(argv)
    run_dir = Path(args.run_dir)
    if not run_dir.is_dir():
        print(f"error: RUN_DIR: {args.run_dir!r} is not a directory.", file=sys.stderr)
        return 2
    if not (run_dir / "sweep_spec.json").exists() and not any(run_dir.glob("*/params.json")):
        print(
            f"error: RUN_DIR: {args.run_dir!r} holds no sweep (no sweep_spec.json, no trials).",
            file=sys.stderr,
        )
        return 2
    print(f"report: {write_report(run_dir)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
