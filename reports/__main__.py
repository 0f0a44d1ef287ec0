"""`python -m reports RUN`: (re)generate a run's report, also for an unfinished run.

RUN is a run folder, a storage URI that pyarrow resolves (`s3://bucket/runs/NAME`), or a report
folder (the frames an earlier report exported, such as docs/default-study), which is then
written again from those frames. A run at a URI is read without Ray or TensorFlow and its report
written to a local folder.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from reports import report_folder
from reports.console import error, exit_at_once, guard_streams, say, show_help, stdout_lost
from reports.painters import Painters
from reports.report_folder import is_report_folder
from reports.storage import StorageError, is_uri, readable_run, run_name


class _Parser(argparse.ArgumentParser):
    def print_help(self, file=None):
        show_help(self.format_help())

    def error(self, message):
        # argparse would print its usage block; one line says it, --help shows the rest.
        error(f"error: {message} (see --help)")
        sys.exit(2)


def _problem(run_dir: Path, raw: str) -> str | None:
    """Why the local folder `run_dir` cannot be reported, or None."""
    if not run_dir.is_dir():
        return f"RUN: {raw!r} is not a directory."
    if is_report_folder(run_dir):
        return None
    if not (run_dir / "sweep_spec.json").exists() and not any(run_dir.glob("*/params.json")):
        return (
            f"RUN: {raw!r} holds no sweep (no sweep_spec.json, no trials) and no report's "
            "frames (history.parquet, trials.parquet)."
        )
    return None


def _default_report_dir(run: str) -> Path:
    if is_uri(run):
        return Path(f"{run_name(run)}-report")
    if is_report_folder(run):
        return Path(run)  # written again in place, if it is a report this tool wrote
    return Path(run) / "report"


def main(argv: list[str] | None = None) -> int:
    guard_streams()
    parser = _Parser(prog="python -m reports", description=__doc__.splitlines()[0])
    parser.add_argument(
        "run",
        help="a run folder or storage URI written by python -m sweeps.bn_placement, or a "
        "report folder to write again from its frames",
    )
    parser.add_argument(
        "--report-dir",
        help="where to write the report (default: RUN/report; for a URI: ./NAME-report; for a "
        "report folder: the folder itself)",
    )
    args = parser.parse_args(argv)
    remote = is_uri(args.run)
    try:
        problem = None if remote else _problem(Path(args.run), args.run)
        report_dir = Path(args.report_dir) if args.report_dir else _default_report_dir(args.run)
        if not problem and not remote:
            # A report folder may be written again in place; a run never is.
            protected = () if is_report_folder(args.run) else (Path(args.run),)
            problem = report_folder.problem(report_dir, protected)
        elif not problem:
            problem = report_folder.problem(report_dir)
    except OSError as err:  # a path the system refuses (too long, a loop)
        problem = f"{err.filename!r}: {err.strerror}."
    if problem:
        error(f"error: {problem}")
        return 2
    try:
        # Painters load the plotting libraries while the statistics' load here, and only now:
        # a mistake is answered at once.
        with Painters(beside_parent=True) as painters, readable_run(args.run) as run_dir:
            from reports.html import compute, summary, write_report

            frames = compute(run_dir, painters)
            page = write_report(run_dir, report_dir=report_dir, frames=frames, painters=painters)
    except StorageError as err:
        error(f"error: RUN: {err}")
        return 2
    except (report_folder.ReportFolderError, FileExistsError) as err:
        error(f"error: {err}")
        return 2
    except KeyboardInterrupt:
        error("interrupted; the previous report is as it was (a new one replaces it only whole).")
        return 130
    say(f"report: {page.resolve()}", *(f"  {line}" for line in summary(frames)))
    if stdout_lost():
        error(f"warning: {stdout_lost()}; the report is written: {page.resolve()}")
    return 0


def _stop(signum, frame):
    raise KeyboardInterrupt  # the half-written report folder is removed on the way out


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGHUP, _stop)
    exit_at_once(main())
