"""The report at any size, and what the sweep adds after its last trial.

    python -m benchmarks.report [--sizes 45,450,4500,10000] [--repeats N] [--runs DIR]
    python -m benchmarks.report --tail [--repeats 2]

Report: for each size, a synthetic stored run (`benchmarks/synthetic_run.py`: the sweep's real
files, no training; 1, 10, 40 and 40 contexts) and `python -m reports RUN --report-dir OUT` as
a user runs it, a subprocess, timed: wall seconds, CPU seconds (user + system of the process and
its children), seconds per 1,000 trials, and the ratio of each to the smallest run's time,
measured in the same run; beside it, the same report written by `reports.write_report` in one
fresh interpreter (no painter processes: the figures drawn after the statistics, as a notebook
does), alternating with the command. Then the default study's report from its exported frames
(`python -m reports docs/default-study --report-dir OUT`), and the statistics alone
(`reports.analysis.analyze` on the loaded frames, in this process, their libraries loaded
first) at each size. `--runs DIR`
keeps the runs there and reuses them.

Tail (`--tail`): `python -m sweeps.bn_placement --quick` (a real sweep: Ray, 30 trials) in a
process that marks when each step after the trials began and ended, then prints the time from
the last trial's end (its last result.json write, by Tune's driver) to the command's exit, and
its parts: Tune's own wind-down, stopping Ray (the report's frames are computed meanwhile, in
a thread), the report's files, the process's exit, and the CPU seconds the machine and the
sweep's process used meanwhile. Ray runs without token authentication here:
other Ray sessions on a shared machine rewrite ~/.ray/auth_token.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from benchmarks.synthetic_run import DESIGNS, write_run

ROOT = Path(__file__).resolve().parents[1]
MARKS = "BNLAB_BENCH_MARKS"  # the probe writes its marks to this file


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(command: list[str], **kwargs) -> tuple[float, float, subprocess.CompletedProcess]:
    """Wall and CPU seconds of a command run to its end (it must succeed)."""
    cpu, start = _children_cpu(), time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, **kwargs)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"failed ({done.returncode}): {' '.join(command)}\n{done.stderr[-3000:]}")
    return wall, _children_cpu() - cpu, done


def run_of(size: int, runs: Path) -> Path:
    run = runs / f"run-{size}"
    if not (run / "sweep_spec.json").exists():
        shutil.rmtree(run, ignore_errors=True)
        write_run(run, size)
    return run


def report_sizes(sizes: list[int], repeats: int | None, runs: Path) -> None:
    print(f"machine: {os.uname().machine}, cores: {os.cpu_count()}, load {os.getloadavg()[0]:.1f}")
    each = f"{repeats} runs" if repeats else "3 runs up to 450 trials, 1 above"
    print(f"python -m reports RUN --report-dir OUT on synthetic runs (median of {each})")
    print(
        f"{'trials':>7} {'contexts':>8} {'wall s':>7} {'cpu s':>6} {'s/1k trials':>11} {'ratio':>6}  vs trials"
        f"  {'one process: wall s':>19} {'cpu s':>6}"
    )
    rows = []
    for size in sizes:
        run = run_of(size, runs)
        walls, cpus, alone_walls, alone_cpus = [], [], [], []
        for _ in range(repeats or (3 if size <= 450 else 1)):
            out = runs / f"report-{size}"
            for command, wall_list, cpu_list in (
                (
                    [sys.executable, "-m", "reports", str(run), "--report-dir", str(out)],
                    walls,
                    cpus,
                ),
                ([sys.executable, "-c", ONE_PROCESS, str(run), str(out)], alone_walls, alone_cpus),
            ):
                shutil.rmtree(out, ignore_errors=True)
                wall, cpu, _ = timed(command)
                wall_list.append(wall)
                cpu_list.append(cpu)
        wall, cpu = statistics.median(walls), statistics.median(cpus)
        base = rows[0] if rows else (size, wall)
        contexts = len(DESIGNS[size][0]) * len(DESIGNS[size][1]) * len(DESIGNS[size][2])
        rows.append((size, wall))
        print(
            f"{size:>7} {contexts:>8} {wall:>7.2f} {cpu:>6.2f} {wall / size * 1000:>11.2f} "
            f"{wall / base[1]:>6.2f}  {size / base[0]:>5.0f}x"
            f"  {statistics.median(alone_walls):>19.2f} {statistics.median(alone_cpus):>6.2f}"
        )
    if len(rows) > 2:  # the largest against the one before it (the issue's: 10,000 against 450)
        (small, small_wall), (large, large_wall) = rows[-2], rows[-1]
        print(f"{large} trials / {small} trials: {large_wall / small_wall:.1f}x the time for {large / small:.0f}x the trials")  # fmt: skip


# The report as a notebook writes it: one process, the figures drawn after the statistics.
ONE_PROCESS = "import sys; from reports import write_report; write_report(sys.argv[1], report_dir=sys.argv[2])"  # fmt: skip


def default_study(repeats: int) -> None:
    """The default study's report from its exported frames (docs/default-study: its trial
    folders are not in the repository), as a user writes it again."""
    walls, cpus = [], []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as scratch:
            out = f"{scratch}/report"
            wall, cpu, _ = timed([sys.executable, "-m", "reports", "docs/default-study", "--report-dir", out])  # fmt: skip
        walls.append(wall)
        cpus.append(cpu)
    print(
        f"\ndefault study (45 trials, docs/default-study's frames): python -m reports "
        f"docs/default-study --report-dir OUT: {statistics.median(walls):.2f} s wall, "
        f"{statistics.median(cpus):.2f} s CPU"
    )


def statistics_alone(sizes: list[int], runs: Path) -> None:
    from reports.analysis import analyze
    from reports.frames import load_frames
    from reports.stats import load_libraries

    start = time.perf_counter()
    load_libraries()  # which the statistics would otherwise load on first use
    print(
        f"\nin this process: scipy.stats and statsmodels loaded in {time.perf_counter() - start:.2f} s;"
    )
    print("reading the run, then reports.analysis.analyze on its frames")
    for size in sizes:
        start = time.perf_counter()
        history, trials = load_frames(run_of(size, runs))
        loaded = time.perf_counter()
        frames = analyze(history, trials)
        done = time.perf_counter()
        print(
            f"{size:>7} trials: load {loaded - start:5.2f} s, analyze {done - loaded:5.2f} s "
            f"({len(frames['comparisons'])} comparisons)"
        )


# The tail: what runs after the last trial, marked in the sweep's own process.


def probe(argv: list[str]) -> int:
    """Run the sweep's command line here, marking its steps (time.time()) into $BNLAB_BENCH_MARKS."""
    from sweeps import bn_placement, tune_runner

    marks: list[tuple[str, float]] = []

    def marked(owner, name: str):
        original = getattr(owner, name)

        def wrapper(*args, **kwargs):
            marks.append((f"{name} start", time.time()))
            try:
                return original(*args, **kwargs)
            finally:
                marks.append((f"{name} end", time.time()))

        setattr(owner, name, wrapper)

    import reports.html  # the sweep loads it while its trials run

    marked(reports.html, "compute")  # in the thread that computes while Ray stops
    marked(reports.html, "write_report")
    for name in ("run_sweep", "stop_ray"):
        marked(tune_runner, name)
    marked(bn_placement, "_finish")

    def cpu(at: str) -> None:
        """CPU seconds so far, as marks: the machine's busy time and this process's."""
        machine = psutil.cpu_times()
        busy = sum(machine) - machine.idle - getattr(machine, "iowait", 0.0)
        marks.extend([(f"machine cpu {at}", busy), (f"own cpu {at}", time.process_time())])

    run_sweep = tune_runner.run_sweep

    def run_sweep_then_cpu(*args, **kwargs):
        try:
            return run_sweep(*args, **kwargs)
        finally:
            cpu("from")

    tune_runner.run_sweep = run_sweep_then_cpu

    def save(name: str | None = None) -> None:
        if name:
            marks.append((name, time.time()))
        Path(os.environ[MARKS]).write_text(json.dumps(marks))

    import threading

    def threads(at: str):
        original = getattr(bn_placement, at)

        def wrapper(*args, **kwargs):
            names = sorted(t.name for t in threading.enumerate())
            marks.append((f"threads at {at}: {', '.join(names)}", time.time()))
            return original(*args, **kwargs)

        setattr(bn_placement, at, wrapper)

    threads("_summarize")
    atexit.register(save, "atexit end")  # registered first: runs last (if the exit runs them)
    code = 1
    try:
        code = bn_placement.main(argv)
    finally:
        marks.append(("main end", time.time()))
        cpu("to")
        # The interpreter joins the threads still running, then runs atexit handlers (LIFO).
        atexit.register(save, "atexit start")
        save()
    bn_placement.exit_at_once(code)  # as the command ends


def _last_result(run: Path) -> float:
    return max(p.stat().st_mtime for p in run.glob("*/result.json"))


def tail(repeats: int) -> None:
    print("python -m sweeps.bn_placement --quick: from the last trial's end to the command's exit")
    steps = [
        ("Tune's wind-down (last result to run_sweep's return)", "last", "run_sweep end"),
        ("stopping Ray (stop_ray)", "stop_ray start", "stop_ray end"),
        (
            "the statistics (compute: a thread from run_sweep's return)",
            "compute start",
            "compute end",
        ),
        (
            "stop_ray's end to write_report's start (compute's end)",
            "stop_ray end",
            "write_report start",
        ),
        ("the report's files (write_report)", "write_report start", "write_report end"),
        ("the rest of _finish (the summary lines)", "write_report end", "_finish end"),
        ("the process's exit", "main end", "exit"),
    ]
    for attempt in range(repeats):
        with tempfile.TemporaryDirectory(prefix="bnlab-tail-") as scratch:
            marks_file = Path(scratch) / "marks.json"
            # No token file: other Ray sessions on a shared machine rewrite ~/.ray/auth_token.
            env = {**os.environ, MARKS: str(marks_file), "RAY_AUTH_MODE": "disabled"}
            command = [sys.executable, "-m", "benchmarks.report", "--probe", "--", "--quick",
                       "--output-dir", scratch, "--name", "quick"]  # fmt: skip
            start = time.time()
            done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
            if done.returncode != 0:
                sys.exit(f"the sweep failed ({done.returncode}):\n{done.stderr[-3000:]}")
            marks = json.loads(marks_file.read_text())
            at = {name: t for name, t in marks}
            at["exit"] = time.time()
            at["last"] = _last_result(Path(scratch) / "quick")
        print(f"\nrun {attempt + 1}: {at['exit'] - start:.1f} s in all; tail {at['exit'] - at['last']:.2f} s")  # fmt: skip
        for words, begin, end in steps:
            if begin in at and end in at:
                print(f"  {words:<75} {at[end] - at[begin]:6.2f} s")
        print("  " + "; ".join(name for name, _ in marks if name.startswith("threads at")))
        used = {k: at[f"{k} cpu to"] - at[f"{k} cpu from"] for k in ("machine", "own")}
        print(
            f"  CPU seconds from run_sweep's return to main's end: {used['machine']:.2f} on the "
            f"machine ({os.cpu_count()} cores), of which this process {used['own']:.2f}"
        )


def main() -> None:
    if sys.argv[1:2] == ["--probe"]:
        sys.exit(probe(sys.argv[3:]))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(map(str, DESIGNS)))
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--runs", help="keep the synthetic runs here (and reuse them)")
    parser.add_argument("--tail", action="store_true", help="time the --quick sweep's tail")
    args = parser.parse_args()
    if args.tail:
        tail(args.repeats or 2)
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory(prefix="bnlab-bench-") as scratch:
        runs = Path(args.runs) if args.runs else Path(scratch)
        runs.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        report_sizes(sizes, args.repeats, runs)
        default_study(args.repeats or 3)
        statistics_alone(sizes, runs)
        print(f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
