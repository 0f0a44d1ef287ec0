"""`python -m reports RUN`: (re)generate a run's report, also for an unfinished run.

RUN is a run folder, or a storage URI that pyarrow resolves (`s3://bucket/runs/NAME`); a run at
a URI is read without Ray or TensorFlow and its report written to a local folder.
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
from pathlib import Path

from reports.atomic import report_dir_problem
from reports.console import say
from reports.storage import StorageError, fetch_run, is_uri, run_name


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        # argparse would print its usage block; one line says it, --help shows the rest.
        print(f"error: {message} (see --help)", file=sys.stderr)
        sys.exit(2)


def _problem(run_dir: Path, raw: str) -> str | None:
    """Why the local run folder `run_dir` cannot be read, or None."""
    if not run_dir.is_dir():
        return f"RUN: {raw!r} is not a directory."
    if not (run_dir / "sweep_spec.json").exists() and not any(run_dir.glob("*/params.json")):
        return f"RUN: {raw!r} holds no sweep (no sweep_spec.json, no trials)."
    return None


def main(argv: list[str] | None = None) -> int:
    parser = _Parser(prog="python -m reports", description=__doc__.splitlines()[0])
    parser.add_argument(
        "run", help="a run folder or storage URI written by python -m sweeps.bn_placement"
    )
    parser.add_argument(
        "--report-dir",
        help="where to write the report (default: RUN/report; for a URI: ./NAME-report)",
    )
    args = parser.parse_args(argv)
    remote = is_uri(args.run)
    default = Path(f"{run_name(args.run)}-report") if remote else Path(args.run) / "report"
    report_dir = Path(args.report_dir) if args.report_dir else default
    try:
        problem = None if remote else _problem(Path(args.run), args.run)
        problem = problem or report_dir_problem(report_dir)
    except OSError as err:  # a path the system refuses (too long, a loop)
        problem = f"{err.filename!r}: {err.strerror}."
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    try:
        # The statistics and plotting libraries load only now: a mistake is answered at once.
        from reports.html import compute, summary, write_report

        with tempfile.TemporaryDirectory(prefix="bnlab-run-") as scratch:
            run_dir = fetch_run(args.run, scratch) if remote else Path(args.run)
            frames = compute(run_dir)
            page = write_report(run_dir, report_dir=report_dir, frames=frames)
    except StorageError as err:
        print(f"error: RUN: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "interrupted; the previous report is as it was (a new one replaces it only whole).",
            file=sys.stderr,
        )
        return 130
    say(f"report: {page.resolve()}", *(f"  {line}" for line in summary(frames)))
    return 0


def _stop(signum, frame):
    raise KeyboardInterrupt  # the half-written report folder is removed on the way out


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGHUP, _stop)
    sys.exit(main())
