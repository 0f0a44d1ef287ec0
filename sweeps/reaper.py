"""Run beside a sweep's driver (`sweeps.node_guard`) with `python -I -S reaper.py
PID:START_TICKS...`, a message line on its standard input: waits until the driver closes that.
If `done` followed the message, Ray was stopped and there is nothing to do; if not, the driver
ended abruptly, so kill the listed Ray processes still alive (a pid counts only with its start
time, as pids are reused) and print the message on standard error.

Standard library only, and no `sweeps` import: it starts in milliseconds and cannot fail on
the driver's dependencies."""

import contextlib
import os
import signal
import sys
from pathlib import Path


def start_ticks(pid: int) -> str | None:
    """A process's start time in clock ticks since boot (None if it is gone): with the pid, it
    names the process even once the pid is reused."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def main() -> None:
    # It runs in a session of its own, so Ctrl+C and a group's stop signal reach only the
    # driver, which stops Ray itself; a stray one must not end it before it sees how the
    # driver ended either.
    for stop in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(stop, signal.SIG_IGN)
    message, _, rest = sys.stdin.buffer.read().partition(b"\n")
    if rest == b"done" or not message:
        return
    for target in sys.argv[1:]:
        pid, ticks = target.split(":")
        if start_ticks(int(pid)) == ticks:
            with contextlib.suppress(OSError):
                os.kill(int(pid), signal.SIGKILL)
    with contextlib.suppress(OSError):  # nobody reads the driver's errors any more
        print(message.decode(errors="replace"), file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
