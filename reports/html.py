"""Write the report folder of a run."""

from __future__ import annotations

from pathlib import Path

from reports.frames import export_frames, load_frames


def write_report(run_dir: str | Path, sweep_wall_seconds: float | None = None) -> Path:
    """Write `<run_dir>/report/` and return the path of its main file."""
    history, trials = load_frames(run_dir)
    folder = Path(run_dir) / "report"
    export_frames({"history": history, "trials": trials}, folder)
    return folder / "trials.csv"
