"""What a user sees during a real tiny sweep: progress lines with an ETA, a quiet stderr."""

import logging
import re
import subprocess
import time

import pytest

from reports import load_frames
from tests.sweeps.conftest import ROOT, TINY, run_sweep, sweep_command

PROGRESS = re.compile(r"^\[\d+:\d\d\] trials \d+/\d+ done ")
RAY_LOG = re.compile(r"\b(INFO|WARNING|ERROR)\b.*\.py:\d+ --")


def test_off_a_terminal_progress_lines_have_counts_and_eta_and_stderr_is_quiet(tmp_path):
    out = tmp_path / "runs"
    started = time.monotonic()
    done = run_sweep(
        "--placements", "none,before_activation", "--lrs", "0.05,100", "--seeds", "0-1",
        *TINY, "--output-dir", str(out), "--name", "t", "--progress-seconds", "1",
    )  # fmt: skip
    wall = time.monotonic() - started
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stderr == ""  # nothing to act on: no Tune or Ray message at all

    lines = done.stdout.splitlines()
    progress = [line for line in lines if PROGRESS.match(line)]
    assert 2 <= len(progress) <= wall / 1 + 2  # one per interval and one at the end
    assert any(re.search(r"\| ETA \d+:\d\d \|", line) for line in progress[:-1])
    final = progress[-1]
    assert "trials 8/8 done (" in final and "diverged, 0 errored), 0 running, 0 pending" in final
    assert re.search(r"epochs (\d+)/\1 \| ETA 0:00 \|", final)
    assert re.search(
        r"best mean val_accuracy: before_activation 0\.\d{3} \(lr 0\.05, 2/2 seeds\)", final
    )

    # After the progress: where the report is, then the answer in three lines; nothing else.
    rest = lines[lines.index(final) + 1 :]
    assert rest[0] == f"report: {out / 't' / 'report' / 'index.html'}"
    assert [line.split(" [")[0].split(":")[0] for line in rest[1:]] == [
        "  Placement", "  Learning rate", "  Largest stable lr",
    ]  # fmt: skip
    assert len(lines) == 2 + len(progress) + 4  # the plan's two lines first


def test_verbose_brings_tune_s_table_and_info_messages_back(tmp_path):
    done = run_sweep(
        "--placements", "none", "--lrs", "0.05", "--seeds", "0", *TINY,
        "--output-dir", str(tmp_path), "--name", "v", "--no-report", "--verbose",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "== Status ==" in done.stdout and "Trial name" in done.stdout
    assert "val_accuracy" in done.stdout.split("== Status ==")[-1]
    assert any(PROGRESS.match(line) for line in done.stdout.splitlines())
    assert RAY_LOG.search(done.stderr)  # Ray's and Tune's INFO lines


def test_only_messages_the_command_says_its_own_way_are_dropped():
    from sweeps.tune_progress import _SaidOurWay

    def kept(message, local=True):
        return _SaidOurWay(local).filter(
            logging.LogRecord("x", logging.WARNING, "", 0, message, (), None)
        )

    assert not kept("NaN or Inf found in input tensor.")
    assert not kept("Experiment has been interrupted, but the most recent state was saved.")
    assert kept("Trial run_trial_0 errored after 3 attempts")
    saving = "Saving experiment state to storage at 's3://b/r' failed with exception:"
    assert not kept(saving) and kept(saving, local=False)  # a storage URI has no guard


@pytest.mark.shared_ray
def test_a_reader_that_goes_away_does_not_end_the_sweep(tmp_path):
    """`... | head -1`, or a closed terminal under `tee`: the sweep finishes all the same."""
    driver = subprocess.Popen(
        sweep_command(
            "--placements", "none", "--lrs", "0.05", "--seeds", "0-1", *TINY,
            "--output-dir", str(tmp_path), "--name", "h", "--progress-seconds", "1",
        ),
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert driver.stdout.readline().startswith("2 trials on ")
        driver.stdout.close()  # the reader is gone: every later write meets a broken pipe
        driver.stdout = None  # so that communicate reads stderr alone
        _, err = driver.communicate(timeout=400)
    finally:
        driver.kill()
    assert driver.returncode == 0 and err == ""
    _, trials = load_frames(tmp_path / "h")
    assert (trials["status"] == "completed").sum() == 2
    assert (tmp_path / "h" / "report" / "index.html").exists()
