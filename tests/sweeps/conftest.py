"""Run the real CLI in a subprocess, with a real Ray that the command (or the test) starts."""

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Small but real: the Debian Fashion-MNIST files, a stratified subset, real TensorFlow trials.
TINY = ["--subset", "500,100", "--epochs", "2"]
# A trial's folder: what it is, then Tune's trial id ('mlp-none-relu-lr0.05-s0_5e3c0_00024').
TRIAL_FOLDERS = "*_?????_?????"


def sweep_command(*flags: str) -> list[str]:
    return [sys.executable, "-m", "sweeps.bn_placement", *flags]


def run_sweep(*flags: str, env=None, timeout=420) -> subprocess.CompletedProcess:
    return subprocess.run(
        sweep_command(*flags),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )


def wait_for(condition, timeout: float, what: str):
    """Poll an observable condition (a file's content, a process) until it holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"timed out after {timeout}s waiting for {what}")


def result_rows(trial_dir: Path) -> list[dict]:
    """The JSON rows a trial has reported so far (none if its result.json does not exist yet)."""
    path = trial_dir / "result.json"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def start_sweep(*flags: str, log: Path, env=None) -> subprocess.Popen:
    """Start the CLI with a progress line every second written to `log`; stderr is piped."""
    with open(log, "w") as stdout:
        return subprocess.Popen(
            sweep_command(*flags, "--progress-seconds", "1"),
            cwd=ROOT,
            stdout=stdout,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
        )


def progress_shows(log: Path, pattern: str) -> bool:
    """Whether one of the sweep's progress lines so far matches `pattern`: what the driver
    knows now, while the trials' files in storage are only copied there every few seconds."""
    lines = log.read_text().splitlines() if log.exists() else []
    return any(line.startswith("[") and re.search(pattern, line) for line in lines)
