"""Reports from a run kept in S3-compatible storage, read through pyarrow without Ray or TF."""

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from pyarrow import fs as pafs

from reports import storage
from tests.storage import CREDENTIALS

ROOT = Path(__file__).resolve().parents[2]


def _reports(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "reports", *args],
        capture_output=True, text=True, cwd=cwd, timeout=300,
        env={**os.environ, **CREDENTIALS, "PYTHONPATH": str(ROOT)},  # this checkout, from any cwd
    )  # fmt: skip


def _upload(stored_run, s3_server, bucket):
    s3 = s3_server.filesystem()
    s3.create_dir(bucket)
    pafs.copy_files(str(stored_run), f"{bucket}/runs/fixture", destination_filesystem=s3)
    return s3_server.uri(f"{bucket}/runs/fixture")


def test_a_report_from_an_s3_uri_into_a_chosen_folder(stored_run, s3_server, tmp_path):
    uri = _upload(stored_run, s3_server, "reports-a")
    done = _reports(uri, "--report-dir", str(tmp_path / "rep"))
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.splitlines()[0] == f"report: {tmp_path / 'rep' / 'index.html'}"
    assert len(done.stdout.splitlines()) == 4  # and the answer in three lines
    trials = pd.read_csv(tmp_path / "rep" / "trials.csv")
    assert len(trials) == 12 and (trials["status"] == "completed").all()
    assert "Run <code>fixture</code>" in (tmp_path / "rep" / "index.html").read_text()


def test_the_default_report_folder_for_a_uri_is_named_after_the_run(
    stored_run, s3_server, tmp_path
):
    uri = _upload(stored_run, s3_server, "reports-b")
    done = _reports(uri, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "fixture-report" / "index.html").exists()


def test_a_uri_without_a_run_is_one_line(s3_server, tmp_path):
    s3_server.filesystem().create_dir("reports-empty")
    for uri in (s3_server.uri("reports-empty/nothing"), s3_server.uri("no-such-bucket/run")):
        done = _reports(uri, "--report-dir", str(tmp_path / "rep"))
        assert done.returncode == 2 and done.stderr.startswith("error: RUN: ")
        assert done.stderr.count("\n") == 1 and not (tmp_path / "rep").exists()


def test_storage_failures_are_storage_errors_naming_the_location(tmp_path):
    (tmp_path / "file").write_text("")
    blocked = str(tmp_path / "file" / "run" / "sweep_spec.json")
    with pytest.raises(storage.StorageError, match=r"cannot write '.*file/run/sweep_spec.json'"):
        storage.write_text(blocked, "{}")
    (tmp_path / "binary.json").write_bytes(b"\xff\xfe")
    with pytest.raises(storage.StorageError, match="not UTF-8 text"):
        storage.read_text(str(tmp_path / "binary.json"))
    assert storage.read_text(str(tmp_path / "absent.json")) is None
    assert storage.list_names(str(tmp_path / "absent")) == []


def test_a_running_sweep_s_s3_filesystem_keeps_its_retries_when_pickled_into_a_trial():
    import pickle

    from pyarrow import fs as pafs

    from reports.storage import PatientS3FileSystem, resolve

    uri = "s3://bucket/runs?endpoint_override=127.0.0.1:9&scheme=http&region=eu-west-1"
    patient, path = resolve(uri, patient=True)
    copy = pickle.loads(pickle.dumps(patient))
    assert isinstance(copy, PatientS3FileSystem) and path == "bucket/runs"
    assert copy.region == "eu-west-1"  # the URI's options travel too
    first_contact, _ = resolve(uri)
    assert type(first_contact) is pafs.S3FileSystem  # fails fast instead
