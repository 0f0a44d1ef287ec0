"""The embedded Ray's processes while the sweep runs, when something kills them or the driver.

- Its GCS or raylet killed (the out-of-memory killer, a `kill`): Ray itself would print the
  raylet log's last 20 lines and end the driver seconds later, or let it run on with nothing
  able to start a trial. The driver stops at once instead: Ray's other processes are killed
  and one line says what ended and how to continue; exit 2 (the environment failed). A stop
  signal that ended them, sent to the whole process group (`timeout`, a batch scheduler),
  stops the sweep as Ctrl+C does: interrupted, exit 130.
- The driver killed (`kill -9`), or ended by Ray's core worker itself (it exits at once when
  its raylet stops on SIGTERM): nothing of it runs any more, so a small reaper process
  started beside it (`sweeps/reaper.py`, no imports beyond the standard library) stops the Ray
  processes it left, which would otherwise linger a minute listening on ports, and says how
  to continue.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
from ray._private import worker as ray_worker

from sweeps import startup
from sweeps.reaper import start_ticks

POLL_S = 0.2
EXIT_WAIT_S = 2.0  # for the exit status of a child seen ending
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
KNOWN_EVERY = 5  # polls between two looks for new Ray processes (workers)
NODE_PROCESSES = ("gcs_server", "raylet")
REAPER = Path(__file__).with_name("reaper.py")
REAPER_EXIT_S = 10
DONE = b"done"  # what the reaper reads after its message when Ray was stopped


class NodeGuard:
    """Watches the embedded Ray's node and leaves a reaper behind the driver; `stop_watching`
    before Ray is stopped on purpose, `release` once it is stopped."""

    def __init__(self, continue_with: str, verbose: bool = False):
        ray_processes = psutil.Process().children(recursive=True)
        # Killing them all once the raylet died needs them known before: its agents and
        # workers are then no longer this process's descendants.
        self._known = set(ray_processes)
        self._node = [p for p in ray_processes if _name(p) in NODE_PROCESSES]
        self._continue_with = continue_with
        self._stop = threading.Event()
        self._reaper = _start_reaper(ray_processes, continue_with)
        self._printer = None if verbose else _leave_out_the_raylet_log()
        threading.Thread(target=self._watch, name="ray-node-watch", daemon=True).start()

    def _watch(self) -> None:
        polls = 0
        while not self._stop.wait(POLL_S):
            for process in self._node:
                if _ended(process) and not self._stop.is_set():
                    self._ended(process)
                    return
            polls += 1
            if polls % KNOWN_EVERY == 0:  # new workers; a second's worth may be missed
                alive = {p for p in self._known if p.is_running()}
                self._known = alive | set(psutil.Process().children(recursive=True))

    def _ended(self, process: psutil.Process) -> None:
        name, signum, how = _name(process), *_how(process)
        if signum in STOP_SIGNALS:
            # A stop signal sent to the whole process group (`timeout`, a batch scheduler)
            # reaches Ray's processes too: the sweep stops as for Ctrl+C (SIGINT: in a
            # notebook SIGTERM would end the kernel).
            os.kill(os.getpid(), signal.SIGINT)
            return
        startup.abort(
            2,
            f"error: Ray's {name} (pid {process.pid}) ended during the sweep ({how}); Ray's "
            f"other processes were stopped and the finished trials are kept. Continue with: "
            f"{self._continue_with}",
            also=self._known,
        )

    def stop_watching(self) -> None:
        self._stop.set()
        if self._printer is not None:
            ray_worker.print_to_stdstream = self._printer

    def release(self) -> None:
        """Ray was stopped: the reaper has nothing to do."""
        if self._reaper is None:
            return
        try:
            self._reaper.stdin.write(DONE)
            self._reaper.stdin.close()
            self._reaper.wait(timeout=REAPER_EXIT_S)
        except (OSError, subprocess.TimeoutExpired):
            self._reaper.kill()
            self._reaper.wait()


def _leave_out_the_raylet_log():
    """Ray's driver prints the raylet log's last 20 lines on standard output when the raylet
    dies, sent by Ray's agents faster than the guard can see the death; the guard's own line
    says it (all of it with --verbose). Returns the printer to put back."""
    printer = ray_worker.print_to_stdstream

    def print_all_but_the_raylet_log(data, *args, **kwargs):
        if not any(str(line).startswith("Raylet is terminated") for line in data["lines"]):
            printer(data, *args, **kwargs)

    ray_worker.print_to_stdstream = print_all_but_the_raylet_log
    return printer


def _name(process: psutil.Process) -> str:
    try:
        return process.name()
    except psutil.Error:
        return "process"


def _ended(process: psutil.Process) -> bool:
    try:
        return process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _how(process: psutil.Process) -> tuple[int | None, str]:
    """The signal that ended a child of this process, if one did, and how it ended in words,
    from its exit status (reaping it for Ray)."""
    # Seen ended while still exiting (its /proc entry going away before it is a zombie):
    # not yet waitable, so wait a moment for its status rather than report "exit status 0".
    deadline = time.monotonic() + EXIT_WAIT_S
    while True:
        try:
            pid, status = os.waitpid(process.pid, os.WNOHANG)
        except ChildProcessError:
            return None, "it ended"
        if pid or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    if not pid:
        return None, "it ended"
    if os.WIFSIGNALED(status):
        signum = os.WTERMSIG(status)
        if signum == signal.SIGKILL:
            return signum, "killed by SIGKILL, as the out-of-memory killer does"
        return signum, f"killed by {signal.Signals(signum).name}"
    return None, f"exit status {os.WEXITSTATUS(status)}"


def _start_reaper(ray_processes: list[psutil.Process], continue_with: str):
    """The reaper, told the Ray processes to stop if this process dies without releasing it."""
    started = {process.pid: start_ticks(process.pid) for process in ray_processes}
    targets = [f"{pid}:{ticks}" for pid, ticks in started.items() if ticks]  # not ended meanwhile
    message = (
        "error: the sweep's process ended abruptly (killed, or ended by Ray when its raylet "
        "stopped); the Ray processes it left were stopped and the finished trials are kept. "
        f"Continue with: {continue_with}"
    )
    try:
        reaper = subprocess.Popen(
            [sys.executable, "-I", "-S", str(REAPER), *targets],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl+C and group signals are for the driver
        )
        # On its standard input, not its command line: `pgrep -f sweeps.bn_placement` finds
        # the driver alone.
        reaper.stdin.write(message.encode() + b"\n")
        reaper.stdin.flush()
        return reaper
    except OSError:
        return None  # without it a kill -9 leaves Ray's agents for a minute, as Ray would
