"""Where a command's CPU time goes, by kind of process: the sweep driver, trial workers, Ray's
own daemons, TensorFlow-free helpers. Every process on the machine is sampled from /proc while
the command runs (Linux only), so Ray's daemonized processes count too; run it on an otherwise
idle machine.

    python -m benchmarks.cpu_by_process -- python -m pytest
    python -m benchmarks.cpu_by_process -- python -m sweeps.bn_placement --quick

Processes that live less than one sampling interval (0.25 s) are missed; they add little.
"""

from __future__ import annotations

import argparse
import collections
import os
import subprocess
import time
from pathlib import Path

INTERVAL_S = 0.25
TICK = os.sysconf("SC_CLK_TCK")
# First match wins: the command line of each process, as /proc shows it.
KINDS = [
    ("sweeps.bn_placement", "sweep driver"),
    ("ray::ImplicitFunc", "trial worker"),
    ("ray::IDLE", "Ray idle worker"),
    ("DashboardAgent", "Ray agents"),
    ("RuntimeEnvAgent", "Ray agents"),
    ("ray::", "other Ray worker"),
    ("gcs_server", "Ray gcs + raylet"),
    ("raylet", "Ray gcs + raylet"),
    ("log_monitor.py", "Ray Python daemons"),
    ("monitor.py", "Ray Python daemons"),
    ("dashboard.py", "Ray Python daemons"),
    ("xdist", "pytest"),
    ("pytest", "pytest"),
    ("chrom", "chromium"),
    ("moto_server", "moto"),
    ("ipykernel", "notebook kernel"),
    ("-m reports", "reports command"),
    ("ray start", "ray start"),
]


def _kind(command: str) -> str:
    return next((kind for pattern, kind in KINDS if pattern in command), "other")


def _sample(seen: dict) -> None:
    """Each process's CPU seconds so far, keyed by pid and start time (pids are reused)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue  # it ended meanwhile
        fields = stat.rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / TICK
        key = (entry.name, fields[19])
        previous = seen.get(key, (0.0, ""))[1]
        seen[key] = (cpu, command or previous)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cpu_by_process")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND ...")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command to measure after --")
    before: dict = {}
    _sample(before)
    seen: dict = {}
    start = time.monotonic()
    child = subprocess.Popen(command)
    while child.poll() is None:
        _sample(seen)
        time.sleep(INTERVAL_S)
    _sample(seen)
    wall = time.monotonic() - start
    totals, counts = collections.Counter(), collections.Counter()
    for key, (cpu, line) in seen.items():
        spent = cpu - before.get(key, (0.0, ""))[0]
        if spent > 0.01:
            totals[_kind(line)] += spent
            counts[_kind(line)] += 1
    busy = sum(totals.values())
    print(f"\n{command[0]} ... exit {child.returncode}: {wall:.1f} s wall, {busy:.1f} CPU-s "
          f"({busy / wall:.2f} cores of {os.cpu_count()} busy on average)")  # fmt: skip
    print(f"{'CPU-s':>8} {'share':>6} {'procs':>6}  kind")
    for kind, spent in totals.most_common():
        print(f"{spent:8.1f} {spent / busy:6.1%} {counts[kind]:6d}  {kind}")
    return child.returncode


if __name__ == "__main__":
    raise SystemExit(main())
