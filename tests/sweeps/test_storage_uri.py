"""A sweep whose results live in S3-compatible storage: run, interrupt, resume, report."""

import json
import shlex
import signal
import time

import pandas as pd
import pytest
from pyarrow import fs as pafs

from reports import load_frames
from reports.storage import fetch_run
from tests.storage import CREDENTIALS, SwitchableProxy
from tests.sweeps.conftest import progress_shows, run_sweep, start_sweep, wait_for


@pytest.mark.shared_ray
def test_sweep_to_s3_interrupted_resumed_and_reported(s3_server, tmp_path):
    s3 = s3_server.filesystem()
    s3.create_dir("sweeps")
    output = s3_server.uri("sweeps/runs")
    flags = [
        "--placements", "none", "--lrs", "0.01,0.02", "--seeds", "0", "--epochs", "3",
        "--subset", "55000,200", "--max-concurrent", "1", "--output-dir", output, "--name", "s3run",
        "--report-dir", str(tmp_path / "report"), "--checkpoint-seconds", "0",
    ]  # fmt: skip
    log = tmp_path / "progress.txt"
    driver = start_sweep(*flags, log=log, env=CREDENTIALS)
    try:
        wait_for(lambda: progress_shows(log, r"epochs [1-5]/6 "), 180, "a trial's first epoch")
        driver.send_signal(signal.SIGINT)
        _, err = driver.communicate(timeout=120)
    finally:
        driver.kill()
    assert driver.returncode == 130, err[-3000:]
    stored = json.loads(s3.open_input_stream("sweeps/runs/s3run/sweep_spec.json").read())
    assert stored["lrs"] == [0.01, 0.02]
    printed = shlex.split(err.strip().splitlines()[-1].split("continue with: ", 1)[1])
    resumed = run_sweep(*printed[3:], "--report-dir", str(tmp_path / "report"), env=CREDENTIALS)
    assert resumed.returncode == 0, resumed.stderr[-3000:]

    history, trials = load_frames(fetch_run(s3_server.uri("sweeps/runs/s3run"), tmp_path / "copy"))
    assert len(trials) == 2 and (trials["status"] == "completed").all()
    for _, epochs in history.groupby("trial_id")["epoch"]:
        assert list(epochs) == [1, 2, 3]
    report = pd.read_csv(tmp_path / "report" / "trials.csv")
    assert len(report) == 2 and (tmp_path / "report" / "index.html").exists()
    checkpoints = s3.get_file_info(pafs.FileSelector("sweeps/runs/s3run", recursive=True))
    assert any(info.path.endswith("state.npz") for info in checkpoints)  # checkpoints in S3 too


def test_a_bucket_that_does_not_exist_is_refused_before_ray_starts(s3_server, capsys):
    from sweeps import bn_placement

    assert bn_placement.main(["--output-dir", s3_server.uri("no-such-bucket/runs")]) == 2
    err = capsys.readouterr().err
    assert (
        "bucket 'no-such-bucket' of 's3://no-such-bucket/runs?" in err and "create it first" in err
    )
    assert err.count("\n") == 1


OUTAGE_S = 8  # how long the storage endpoint is down: the fault itself, not a wait for an event


@pytest.mark.shared_ray
@pytest.mark.slow
def test_a_storage_outage_of_seconds_mid_run_is_ridden_out_without_failing_a_trial(s3_server, tmp_path):  # fmt: skip
    """The S3 endpoint unreachable (connections refused and cut) for seconds while trials
    checkpoint every epoch: requests back off and retry, no trial fails, nothing is printed."""
    s3_server.filesystem().create_dir("outage")
    proxy = SwitchableProxy(s3_server.port)
    uri = f"s3://outage/runs?endpoint_override=127.0.0.1:{proxy.port}&scheme=http"
    flags = [
        "--placements", "none", "--lrs", "0.01,0.02", "--seeds", "0", "--epochs", "6",
        "--subset", "20000,200", "--checkpoint-seconds", "0", "--no-report",
        "--output-dir", uri, "--name", "out",
    ]  # fmt: skip
    log = tmp_path / "progress.txt"
    driver = start_sweep(*flags, log=log, env=CREDENTIALS)
    try:
        wait_for(lambda: progress_shows(log, r"epochs [1-9]\d*/12 "), 240, "an epoch")
        proxy.down()
        time.sleep(OUTAGE_S)
        proxy.up()
        _, err = driver.communicate(timeout=400)
    finally:
        driver.kill()
    assert driver.returncode == 0, err[-3000:]
    assert err == ""
    _, trials = load_frames(fetch_run(s3_server.uri("outage/runs/out"), tmp_path / "copy"))
    assert len(trials) == 2 and (trials["status"] == "completed").all()
    assert (trials["attempts"] == 1).all()  # no trial failed and was retried
