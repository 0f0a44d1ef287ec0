"""Draw the report's figures in worker processes started before the statistics are computed.

A painter (`python -m reports.painters`) imports matplotlib and seaborn while its parent imports
and computes the statistics, then draws the figures from the aggregates the parent wrote
(`figures.figure_frames`, ready before the statistics libraries are loaded), heaviest first,
each figure by the first painter to take it, each PNG written whole into a folder of the
painters' own that the parent then moves them from. That takes the plotting libraries' import
and the drawing off the report's path (benchmarks/RESULTS.md, "The report at any size").
Painters run at a lower priority, so the statistics they wait for are not slowed by them.

Whatever a painter did not draw (it failed, was killed, could not start or did not finish in
time) the parent draws itself: the report is the same either way. Painters run in a session of
their own and ignore Ctrl+C: a stop signal is their parent's to act on, and the parent ends
them. Painters end when their parent says it takes their figures and closes their pipe; those
whose parent died (the system closes the pipe) remove what they drew, the last one out.
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
import threading
import time
from pathlib import Path

from reports import drawing
from reports.console import exit_at_once

WORKERS = 2
NICENESS = 10
# Drawing a 10,000-trial report's figures takes tens of seconds; painters past this are stuck.
WAIT_S = 600
TAKEN = b"taken"  # the parent's last words to a painter: it moves the figures itself
WORK = "work.pickle"  # in the painters' folder: the aggregates every painter draws from


class Painters:
    """Painter processes, ready once their imports are done; used for one report (a second
    `start` after `deliver` or `close` has the parent draw). Use as a context manager.

    `beside_parent`: the parent imports and computes on a core of its own meanwhile (`python
    -m reports`), so the painters get the cores but that one: on two cores a second painter's
    imports only slow the first and the parent (benchmarks/RESULTS.md). A sweep starts them
    with its trials, their imports done long before their work comes: one per core."""

    def __init__(self, beside_parent: bool = False):
        workers = min(WORKERS, max(1, _cores() - 1) if beside_parent else _cores())
        self.processes: list[subprocess.Popen] = []
        self.drawn: dict | None = None  # what `start` was given
        self._scratch: Path | None = None
        self._closed = False
        # `start` may run in a thread (the sweep's), `close` in the main thread.
        self._lock = threading.Lock()
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
                        stderr=subprocess.DEVNULL,  # what fails there is drawn again here
                        env={**os.environ, "PYTHONPATH": path},
                        start_new_session=True,  # a signal to the terminal's group is the parent's
                    )
                )
            except OSError:  # no process to spare: the parent draws
                break

    def start(self, drawn: dict) -> None:
        """Have the painters draw every figure of `drawn` (`figures.figure_frames`), heaviest
        first, each painter the next one no other has taken (`drawing.draw_each`), so that
        they end together. Never waits for a painter: each is sent a few bytes."""
        with self._lock:
            if self._scratch is not None:  # started already: these painters draw that
                return
            self.drawn = drawn
            if self._closed or not self.processes:
                return
            try:
                self._scratch = Path(tempfile.mkdtemp(prefix="bnlab-figures-"))
                (self._scratch / WORK).write_bytes(pickle.dumps(_python_strings(drawn)))
            except Exception:  # no room to draw, or work that cannot be written: the parent draws
                return
        work = pickle.dumps((str(self._scratch), drawing.figure_names(drawn)))
        for process in self.processes:
            with contextlib.suppress(OSError):  # a painter that is gone draws nothing
                process.stdin.write(work)
                process.stdin.flush()  # the pipe stays open: see `_main`

    def deliver(self, folder: Path) -> None:
        """Wait for the painters (at most `WAIT_S` in all), move their figures into `folder`
        and draw here whatever they did not. Every painter has ended when this returns."""
        try:
            deadline = time.monotonic() + WAIT_S
            for process in self.processes:
                with contextlib.suppress(OSError):  # they end once drawn, leaving the figures
                    if self._scratch is not None:  # they were given work
                        process.stdin.write(TAKEN)
                    process.stdin.close()
            for process in self.processes:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=max(0.0, deadline - time.monotonic()))
            self._end()  # one past the deadline writes nothing more
            missing = []
            for name in drawing.figure_names(self.drawn):
                # Written whole or not at all (`atomic_path`), even by a painter killed later.
                painted = self._scratch / f"{name}.png" if self._scratch else None
                if painted is not None and painted.is_file():
                    shutil.move(painted, folder / painted.name)
                else:
                    missing.append(name)
            drawing.draw_each(folder, self.drawn, missing)
        finally:
            self.close()

    def close(self) -> None:
        """End every painter still running, wait for it, and remove what it drew."""
        self._end()
        self.processes = []
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)

    def _end(self) -> None:
        with self._lock:
            self._closed = True
        for process in self.processes:
            if process.poll() is None:
                process.kill()
            process.wait()
            with contextlib.suppress(OSError):
                process.stdin.close()

    def __enter__(self) -> Painters:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _python_strings(drawn: dict) -> dict:
    """`drawn` with its text columns held as Python strings, which a painter's pandas reads
    without pyarrow (`compute` makes them so already: then nothing is copied)."""
    import pandas as pd  # here: painters are started before their parent loads pandas

    def python(kind):
        if isinstance(kind, pd.StringDtype) and kind.storage == "pyarrow":
            return pd.StringDtype("python", na_value=kind.na_value)
        return None

    def converted(frame: pd.DataFrame) -> pd.DataFrame:
        arrow = {c: python(kind) for c, kind in frame.dtypes.items() if python(kind)}
        frame = frame.astype(arrow) if arrow else frame
        for axis in ("index", "columns"):
            labels = getattr(frame, axis)
            if python(labels.dtype):
                frame = frame.set_axis(labels.astype(python(labels.dtype)), axis=axis)
        return frame

    return {k: converted(v) if isinstance(v, pd.DataFrame) else v for k, v in drawn.items()}


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def _main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent's to act on (see above)
    with contextlib.suppress(OSError, AttributeError):  # no os.nice on Windows
        os.nice(NICENESS)
    # Linux shares the CPU between sessions first (autogroups) and by niceness only within
    # one: a painter in a session of its own took as much as its parent, whatever its
    # niceness. Its session's niceness is set too (nothing to set where there are none).
    with contextlib.suppress(OSError):
        Path("/proc/self/autogroup").write_text(f"{NICENESS}\n")
    # seaborn uses scipy only for KDEs and clustering, which no figure here draws, and loads
    # it only if it can: without it a painter is ready a second sooner. pandas takes pyarrow
    # if it can, for text the parent sends as Python strings (`_python_strings`): 0.1 s more.
    sys.modules.update({"scipy.stats": None, "scipy.cluster": None, "pyarrow": None})
    drawing.load_plotting()  # the import the parent need not wait for
    try:
        folder, names = pickle.load(sys.stdin.buffer)
    except EOFError:  # the parent ended without work for us
        return 0
    folder = Path(folder)
    try:
        work = open(folder / WORK, "rb")  # noqa: SIM115 (held, and locked, until the end)
    except FileNotFoundError:  # removed: the work was called off
        return 0
    with work:
        _lock(work, "shared")  # while it draws, no other painter removes the folder
        drawing.draw_each(folder, pickle.load(work), names, shared=True)
        # Until the parent says it takes the figures, or has died (the system closes the
        # pipe; its process id may still be our parent's then): one that died after the
        # figures were drawn leaves nobody else to remove them. The last painter out does.
        if sys.stdin.buffer.read() != TAKEN and _lock(work, "alone"):
            shutil.rmtree(folder, ignore_errors=True)
    return 0


def _lock(work, how: str) -> bool:
    """Hold a shared lock on `work` ("shared"), or trade it for an exclusive one if no other
    painter holds one ("alone"); whether that was done. Where there are no such locks
    (Windows) every painter counts as alone."""
    try:
        import fcntl
    except ImportError:
        return True
    if how == "shared":
        fcntl.flock(work, fcntl.LOCK_SH)
        return True
    fcntl.flock(work, fcntl.LOCK_UN)
    try:
        fcntl.flock(work, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:  # another still draws, and removes the folder after
        return False
    return True


if __name__ == "__main__":
    try:
        code = _main()
    except KeyboardInterrupt:  # pressed before SIGINT was ignored; the parent says it
        sys.exit(130)
    exit_at_once(code)  # the parent waits for this exit, not for matplotlib's teardown
