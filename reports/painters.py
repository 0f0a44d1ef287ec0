"""Draw the report's figures in worker processes started before the statistics are computed.

A painter (`python -m reports.painters`) imports matplotlib and seaborn while its parent imports
and computes the statistics, then draws its share of the figures from the aggregates it is sent
(`figures.figure_frames`), each PNG written whole. On two cores that takes the plotting
libraries' import and half of the drawing off the report's path (benchmarks/RESULTS.md, "The
report at any size"). Painters run at a lower priority, so the statistics they wait for are not
slowed by them.

Whatever a painter did not draw (it failed, was killed, or could not start) the parent draws
itself: the report is the same either way. Painters ignore Ctrl+C (their parent decides what
it means), never outlive their parent's `with` block, and one whose parent died ends when its
pipe does.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from reports import drawing

WORKERS = 2
NICENESS = 10
# Drawing a 10,000-trial report's figures takes tens of seconds; a painter past this is stuck.
WAIT_S = 600


class Painters:
    """Painter processes, ready once their imports are done; use as a context manager."""

    def __init__(self, workers: int | None = None):
        workers = workers or min(WORKERS, _cores())
        self.processes: list[subprocess.Popen] = []
        self.drawn: dict | None = None  # what `start` was given
        self._shares: dict = {}
        self._scratch: Path | None = None
        # The same `reports` as the parent's, however the parent found it.
        here = str(Path(__file__).resolve().parents[1])
        path = os.pathsep.join(filter(None, [here, os.environ.get("PYTHONPATH")]))
        for _ in range(workers):
            try:
                self.processes.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "reports.painters"],
                        stdin=subprocess.PIPE,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,  # what fails there is drawn again, and said, here
                        env={**os.environ, "PYTHONPATH": path},
                    )
                )
            except OSError:  # no process to spare: the parent draws
                break

    def start(self, drawn: dict) -> None:
        """Have the painters draw every figure of `drawn` (`figures.figure_frames`), heaviest
        first and dealt in turn, into a folder of their own until `deliver` moves them."""
        self.drawn = drawn
        try:
            self._scratch = Path(tempfile.mkdtemp(prefix="bnlab-figures-"))
        except OSError:  # no room for them to draw: the parent draws
            return
        names = drawing.figure_names(drawn)
        self._shares = {p: names[i :: len(self.processes)] for i, p in enumerate(self.processes)}
        for process, share in self._shares.items():
            # A painter that is gone, or work that cannot be sent, draws nothing: the parent
            # draws its share.
            with contextlib.suppress(Exception):
                pickle.dump((str(self._scratch), drawn, share), process.stdin)
            with contextlib.suppress(OSError):
                process.stdin.close()

    def deliver(self, folder: Path) -> None:
        """Wait for the painters, move their figures into `folder` and draw here whatever
        they did not. Every painter has ended when this returns or raises."""
        try:
            missing = drawing.figure_names(self.drawn)
            for process, share in self._shares.items():
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=WAIT_S)
                for name in share:
                    painted = self._scratch / f"{name}.png"
                    if process.returncode == 0 and painted.is_file():
                        shutil.move(painted, folder / painted.name)
                        missing.remove(name)
            drawing.draw_each(folder, self.drawn, missing)
        finally:
            self.close()

    def close(self) -> None:
        """End every painter still running, wait for it, and remove what it drew."""
        for process in self.processes:
            if process.poll() is None:
                process.kill()
            process.wait()
            with contextlib.suppress(OSError):
                process.stdin.close()
        self.processes = []
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)

    def __enter__(self) -> Painters:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS
        return os.cpu_count() or 1


def _main() -> int:
    # Ctrl+C in a terminal reaches the whole process group: the parent decides (a sweep goes
    # on to its report after the first), and ends its painters itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(OSError):
        os.nice(NICENESS)
    # seaborn uses scipy only for KDEs and clustering, which no figure here draws, and loads
    # it only if it can: without it a painter is ready a second sooner.
    sys.modules.update({"scipy.stats": None, "scipy.cluster": None})
    drawing.load_plotting()  # the import the parent need not wait for
    try:
        folder, drawn, names = pickle.load(sys.stdin.buffer)
    except EOFError:  # the parent ended without work for us
        return 0
    drawing.draw_each(Path(folder), drawn, names)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(_main())
    except KeyboardInterrupt:  # pressed before SIGINT was ignored; the parent says it
        sys.exit(130)
