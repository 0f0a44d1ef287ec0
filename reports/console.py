"""The terminal: standard output whose reader may go away, standard error that may be closed,
and text from a run's files that must not drive the terminal.

The work is in files by the time it is printed: losing the reader (`| head`, a closed terminal
under `tee`) or the device (`> /dev/full`) must not turn a finished sweep or report into a
traceback. Everything printed is first made `printable`: a run's files (a trial's params, a
folder's name) come from wherever the run came from, and an escape sequence in them could
otherwise clear the screen or write to the clipboard of whoever reads the report.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from typing import NoReturn

# C0 and C1 control characters but newline and tab, and Unicode's bidirectional overrides
# (which reorder what is shown).
_UNPRINTABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")  # fmt: skip
_lost: list[str] = []  # why standard output could not be written, once it could not


def printable(text: str) -> str:
    """`text` with control characters shown as escapes ('\\x1b') instead of acting."""
    return _UNPRINTABLE.sub(lambda m: m[0].encode("unicode_escape").decode("ascii"), str(text))


def _devnull_onto(fd: int) -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    if devnull != fd:  # a closed descriptor is the lowest free one: open may return it
        os.dup2(devnull, fd)
        os.close(devnull)


def guard_streams() -> None:
    """Standard output or error closed when the command started (`2>&-`): /dev/null takes its
    place, so a message costs no traceback and the exit code stays the promised one."""
    for fd, name in ((1, "stdout"), (2, "stderr")):
        try:
            os.fstat(fd)
        except OSError:
            _devnull_onto(fd)
            if fd == 1:
                _lost.append("standard output was closed")
        if getattr(sys, name) is None:  # Python found the descriptor closed at its start
            setattr(sys, name, open(fd, "w", closefd=False))  # noqa: SIM115 (open for the process)


def drop_stdout(reason: str = "") -> None:
    """Send standard output to /dev/null from now on: its reader or its device has gone."""
    if reason and not _lost:
        _lost.append(reason)
    _devnull_onto(sys.stdout.fileno())


def stdout_lost() -> str:
    """Why standard output could not be written ('' while it could): its reader going away is
    not counted (`| head` wanted only the first lines)."""
    return _lost[0] if _lost else ""


def say(*lines: str) -> None:
    """Print `lines` (made `printable`) to standard output, or nothing once it cannot be
    written."""
    try:
        for line in lines:
            print(printable(line))
        sys.stdout.flush()
    except BrokenPipeError:
        drop_stdout()
    except OSError as err:  # a full device, an I/O error: the rest goes nowhere, said once
        drop_stdout(f"standard output could not be written ({err.strerror or err})")


def error(message: str) -> None:
    """Print `message` (made `printable`) as one line on standard error, if it can be."""
    with contextlib.suppress(OSError, ValueError):
        print(printable(message), file=sys.stderr, flush=True)


def show_help(message: str) -> None:
    """argparse's `--help` text to standard output: argparse itself drops a failed write, and
    the command would then exit 0 having shown nothing (`--help > /dev/full`)."""
    say(message.rstrip("\n"))
    if stdout_lost():
        error(f"error: the help could not be shown: {stdout_lost()}.")
        raise SystemExit(2)


def exit_at_once(code: int) -> NoReturn:
    """End the command with `code` once its main() returned (every file written and closed,
    every helper process ended): the interpreter's own teardown of pandas', scipy's,
    matplotlib's (and Ray's) modules takes up to a second that nothing of the command waits
    on (benchmarks/RESULTS.md)."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing to keep
            stream.flush()
    os._exit(code)
