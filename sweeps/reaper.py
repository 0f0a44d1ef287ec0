"""Run beside a sweep's driver (`sweeps.node_guard`) with `python -I -S reaper.py MESSAGE
PID:START_TICKS...`: waits until the driver closes this process's standard input. If it wrote
`done` first, Ray was stopped and there is nothing to do; if not, the driver was killed, so
kill the listed Ray processes still alive (a pid counts only with its start time, as pids are
reused) and print MESSAGE on standard error.

Standard library only, and no `sweeps` import: it starts in milliseconds and cannot fail on
the driver's dependencies."""

import contextlib
import os
import signal
import sys
from pathlib import Path


def _start_ticks(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def main() -> None:
    # Ctrl+C, a closed terminal or a kill of the whole group reach the driver too, which
    # stops Ray itself; this process must outlive it to see how it ended.
    for stop in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(stop, signal.SIG_IGN)
    message, targets = sys.argv[1], sys.argv[2:]
    if sys.stdin.buffer.read() == b"done":
        return
    for target in targets:
        pid, ticks = target.split(":")
        if _start_ticks(int(pid)) == ticks:
            with contextlib.suppress(OSError):
                os.kill(int(pid), signal.SIGKILL)
    with contextlib.suppress(OSError):  # nobody reads the driver's errors any more
        print(message, file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
