"""A report replaces only an earlier report of its own: never a folder of the user's, the run,
or a folder that holds it (hostile cases of `--report-dir`, `Study.write_report`)."""

import os
import shutil
import stat
from pathlib import Path

import pytest

from reports import report_folder
from reports.__main__ import main
from reports.html import write_report
from reports.report_folder import MARKER, ReportFolderError
from reports.study import load
from tests.reports.helpers import write_run

ROOT = Path(__file__).resolve().parents[2]
CELLS = {
    ("none", 0.01): [0.80, 0.81, 0.79],
    ("before_activation", 0.01): [0.82, 0.84, 0.83],
    ("none", 1.0): ["diverged", 0.10, "diverged"],
    ("before_activation", 1.0): [0.83, 0.82, 0.84],
}


@pytest.fixture
def run(tmp_path):
    write_run(tmp_path / "runs" / "r", CELLS)
    return tmp_path / "runs" / "r"


class _Done:
    def __init__(self, code, out, err):
        self.returncode, self.stdout, self.stderr = code, out, err


@pytest.fixture
def reports_cli(capsys, monkeypatch):
    """`python -m reports ARGS`, in this process (the command line's main), from `cwd`."""

    def run(*args, cwd=ROOT):
        monkeypatch.chdir(cwd)
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return _Done(code, out, err)

    return run


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _one_error(done, code: int = 2) -> str:
    assert done.returncode == code, done.stderr[-2000:]
    assert done.stdout == "" and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    return done.stderr.strip()


def test_a_folder_of_the_user_s_is_refused_and_kept_whole(run, tmp_path, reports_cli):
    thesis = tmp_path / "thesis"
    (thesis / "sub").mkdir(parents=True)
    (thesis / "thesis.tex").write_text("\\documentclass{article}")
    (thesis / "sub" / "data.csv").write_text("a,b\n1,2\n")
    before = _files(thesis)
    line = _one_error(reports_cli(run, "--report-dir", thesis))
    assert (
        f"error: --report-dir: '{thesis}' exists and is not a report written by this tool" in line
    )
    assert _files(thesis) == before


@pytest.mark.parametrize("where", ["the run", "the output folder", "a folder holding the run", "."])
def test_the_run_and_what_holds_it_are_never_a_report_folder(run, where, reports_cli):
    target = {
        "the run": run,
        "the output folder": run.parent,
        "a folder holding the run": run.parent.parent,
        ".": ".",
    }[where]
    before = _files(run)
    done = reports_cli(run, "--report-dir", target, cwd=run if where == "." else ROOT)
    line = _one_error(done)
    assert "which a report must not replace" in line or "is a run folder" in line
    assert _files(run) == before


def test_an_earlier_report_is_replaced_whole_but_not_with_files_added_to_it(
    run, tmp_path, reports_cli
):
    report = tmp_path / "report"
    assert reports_cli(run, "--report-dir", report).returncode == 0
    assert (report / MARKER).is_file() and (report / "sweep_spec.json").is_file()
    done = reports_cli(run, "--report-dir", report)
    assert done.returncode == 0, done.stderr
    (report / "notes.txt").write_text("mine")
    line = _one_error(reports_cli(run, "--report-dir", report))
    assert "also holds files it did not write (notes.txt)" in line
    assert (report / "notes.txt").read_text() == "mine"


def test_an_empty_folder_may_hold_the_report(run, tmp_path):
    (tmp_path / "empty").mkdir()
    page = write_report(run, report_dir=tmp_path / "empty")
    assert page.is_file()


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_the_report_has_the_permissions_the_umask_allows(run, tmp_path, umask):
    previous = os.umask(umask)
    try:
        page = write_report(run, report_dir=tmp_path / "report")
    finally:
        os.umask(previous)
    assert stat.S_IMODE(page.parent.stat().st_mode) == 0o777 & ~umask
    for path in page.parent.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask, path.name


def test_study_write_report_follows_the_same_rule(run, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "keep.txt").write_text("x")
    study = load(run)
    with pytest.raises(ReportFolderError, match=r"report_dir: .* is not a report written by"):
        study.write_report(mine)
    with pytest.raises(ReportFolderError, match="which a report must not replace"):
        study.write_report(run.parent)
    assert (mine / "keep.txt").read_text() == "x" and (run / "sweep_spec.json").is_file()
    assert study.write_report().is_file()  # RUN/report


def test_a_report_folder_is_reported_again_from_its_frames(tmp_path, reports_cli):
    first = tmp_path / "first"
    done = reports_cli(ROOT / "docs" / "default-study", "--report-dir", first)
    assert done.returncode == 0, done.stderr
    csv = (first / "trials.csv").read_bytes()
    assert csv == (ROOT / "docs" / "default-study" / "trials.csv").read_bytes()
    again = reports_cli(first)  # in place: it is a report this tool wrote
    assert again.returncode == 0, again.stderr
    assert "report: " in again.stdout and "Placement [" in again.stdout
    assert (first / "trials.csv").read_bytes() == csv and (first / "sweep_spec.json").is_file()


def test_a_report_folder_this_tool_did_not_mark_is_not_replaced_in_place(tmp_path, reports_cli):
    copy = shutil.copytree(ROOT / "docs" / "default-study", tmp_path / "ds")
    (copy / MARKER).unlink(missing_ok=True)
    before = _files(copy)
    line = _one_error(reports_cli(copy))
    assert "is not a report written by this tool" in line and "--report-dir" in line
    assert _files(copy) == before


def test_a_symlink_loop_and_a_file_are_one_line(run, tmp_path, reports_cli):
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    assert "symlink loop" in _one_error(reports_cli(run, "--report-dir", loop))
    (tmp_path / "link").symlink_to(tmp_path)
    assert "is a symbolic link; name the folder it leads to" in _one_error(reports_cli(run, "--report-dir", tmp_path / "link"))  # fmt: skip
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert "is a file" in _one_error(reports_cli(run, "--report-dir", afile))


def test_problem_names_nothing_for_a_new_folder(tmp_path):
    assert report_folder.problem(tmp_path / "new" / "report") is None
