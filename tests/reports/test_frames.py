"""Stored sweep -> tidy frames, including runs that are partial or whose files are damaged."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from reports import load_frames
from reports.stats import pairwise_comparisons, summarize


def test_frames_match_the_stored_results(stored_run):
    history, trials = load_frames(stored_run)
    assert len(trials) == 12 and (trials["status"] == "completed").all()
    assert len(history) == 24 and set(history["epoch"]) == {1, 2}
    one = trials.iloc[0]
    rows = [
        json.loads(line)
        for line in (stored_run / one["trial_dir"] / "result.json").read_text().splitlines()
    ]
    final = rows[-1]
    assert final["final"] and one["test_accuracy"] == final["test_accuracy"]
    assert one["final_val_accuracy"] == final["val_accuracy"]  # the last epoch rides on it
    assert one["params_total"] == final["params_total"] and one["hidden"] == "300x100"
    assert (trials["problem"] == "").all()


def test_statistics_of_the_stored_run(stored_run):
    history, trials = load_frames(stored_run)
    summary = summarize(trials, history)
    assert len(summary) == 4 and (summary["n_seeds"] == 3).all()
    comparisons = pairwise_comparisons(trials)
    assert len(comparisons) == 2 and (comparisons["n_pairs"] == 3).all()
    assert set(comparisons["placement_a"]) == {"after_activation"}


def _trial_dirs(run):
    return sorted(p for p in run.iterdir() if (p / "result.json").exists())


def test_a_finished_trial_s_epochs_come_from_its_final_report(run_copy):
    """Epoch rows lost in a retry (Tune copied a stale result.json back) are not lost."""
    path = _trial_dirs(run_copy)[0] / "result.json"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["epoch"] for r in json.loads(rows[-1]["history"])] == [1, 2]
    path.write_text(json.dumps(rows[-1]) + "\n")  # only the final report is left
    history, trials = load_frames(run_copy)
    mine = trials.set_index("trial_dir").loc[path.parent.name]
    epochs = history[history["trial_id"] == mine["trial_id"]]
    assert list(epochs["epoch"]) == [1, 2] and mine["epochs_run"] == 2
    assert list(epochs["val_accuracy"]) == [r["val_accuracy"] for r in rows[:2]]
    assert mine["final_val_accuracy"] == rows[1]["val_accuracy"]


def test_a_damaged_final_history_marks_the_trial_damaged(run_copy):
    path = _trial_dirs(run_copy)[0] / "result.json"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    rows[-1]["history"] = "[1, 2]"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    _, trials = load_frames(run_copy)
    mine = trials.set_index("trial_dir").loc[path.parent.name]
    assert mine["status"] == "damaged" and "history" in mine["problem"]


def test_partial_run_marks_running_and_errored_trials(run_copy):
    dirs = _trial_dirs(run_copy)
    unfinished = dirs[0] / "result.json"
    unfinished.write_text(unfinished.read_text().splitlines()[0] + "\n")  # one epoch, no final row
    errored = dirs[1] / "result.json"
    errored.write_text(errored.read_text().splitlines()[0] + "\n")
    (dirs[1] / "error.txt").write_text("worker died")
    history, trials = load_frames(run_copy)
    by_dir = trials.set_index("trial_dir")["status"]
    assert by_dir[dirs[0].name] == "running" and by_dir[dirs[1].name] == "errored"
    assert (trials["status"] == "completed").sum() == 10
    assert len(summarize(trials, history)) == 4  # statistics from the trials that ended


def test_a_last_line_cut_by_a_killed_writer_is_dropped_not_fatal(run_copy):
    path = _trial_dirs(run_copy)[0] / "result.json"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][: len(lines[-1]) // 2])
    _, trials = load_frames(run_copy)
    row = trials.set_index("trial_dir").loc[path.parent.name]
    # The last epoch came with the final report: what is left is the first epoch's report.
    assert row["status"] == "running" and row["epochs_run"] == 1 and row["problem"] == ""


def _damage(folder, how):
    if how == "garbage line":
        lines = (folder / "result.json").read_text().splitlines()
        (folder / "result.json").write_text("\n".join([lines[0], "#!garbage", *lines[1:]]) + "\n")
    elif how == "params cut":
        text = (folder / "params.json").read_text()
        (folder / "params.json").write_text(text[: len(text) // 2])
    elif how == "params incomplete":
        (folder / "params.json").write_text(json.dumps({"placement": "none"}))
    elif how == "params missing":
        (folder / "params.json").unlink()
    elif how == "params not an object":
        (folder / "params.json").write_text("[1, 2]")
    elif how == "params wrong values":
        params = json.loads((folder / "params.json").read_text())  # {"trial": TrialConfig}
        (folder / "params.json").write_text(json.dumps({"trial": {**params["trial"], "lr": "x"}}))
    elif how == "result not text":
        (folder / "result.json").write_bytes(b"\xff\xfe\x00garbage\n")


DAMAGES = {
    "garbage line": "result.json line 2 is not JSON",
    "params cut": "params.json is damaged",
    "params incomplete": "params.json lacks lr, seed",
    "params missing": "params.json is missing",
    "params not an object": "params.json is not a JSON object",
    "params wrong values": "unreadable values (ValueError",
    "result not text": "result.json cannot be read",
}


@pytest.mark.parametrize("how", sorted(DAMAGES))
def test_a_damaged_trial_is_listed_and_the_others_reported(run_copy, how):
    folder = _trial_dirs(run_copy)[0]
    _damage(folder, how)
    done = subprocess.run(
        [sys.executable, "-m", "reports", str(run_copy)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    _, trials = load_frames(run_copy)
    row = trials.set_index("trial_dir").loc[folder.name]
    assert row["status"] == "damaged" and DAMAGES[how] in row["problem"]
    assert (trials["status"] == "completed").sum() == 11
    page = (run_copy / "report" / "index.html").read_text()
    assert "damaged" in page and folder.name in page


def test_a_run_whose_every_result_json_was_deleted_names_them(run_copy):
    folders = _trial_dirs(run_copy)
    for folder in folders:
        (folder / "result.json").unlink()
    done = subprocess.run(
        [sys.executable, "-m", "reports", str(run_copy)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    _, trials = load_frames(run_copy)
    assert (trials["problem"] == "no result.json (no report yet, or it was deleted)").all()
    line = done.stdout.splitlines()[1]
    assert "No trial has finished yet: nothing to conclude (12 running); 12 with no result.json" in line  # fmt: skip
    assert f"{folders[0].name}, {folders[1].name}, {folders[2].name} and 9 more." in line
    assert folders[0].name in (run_copy / "report" / "index.html").read_text()


def test_a_damaged_sweep_spec_does_not_stop_the_report(run_copy):
    (run_copy / "sweep_spec.json").write_text('{"placements": [')
    done = subprocess.run(
        [sys.executable, "-m", "reports", str(run_copy)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "sweep_spec.json is damaged" in (run_copy / "report" / "index.html").read_text()


def test_empty_run_gives_empty_frames(tmp_path):
    history, trials = load_frames(tmp_path)
    assert history.empty and trials.empty and "val_accuracy" in history.columns
    assert summarize(trials, history).empty and pairwise_comparisons(trials).empty


def test_import_reports_leaves_tensorflow_and_ray_out():
    code = "import sys, reports, reports.plots; print([m for m in ('tensorflow', 'ray', 'keras') if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.skipif(shutil.which("capsh") is None, reason="needs capsh (libcap2-bin)")
def test_an_unreadable_trial_folder_is_listed_as_damaged_for_a_user_without_root(run_copy):
    folder = _trial_dirs(run_copy)[0]
    folder.chmod(0o000)
    try:
        done = subprocess.run(
            ["capsh", "--drop=cap_dac_override,cap_dac_read_search", "--", "-c",
             'exec "$0" -m reports "$1"', sys.executable, str(run_copy)],
            capture_output=True, text=True,
        )  # fmt: skip
    finally:
        folder.chmod(0o755)
    assert done.returncode == 0 and done.stderr == "", done.stderr[-2000:]
    _, trials = load_frames(run_copy)  # read back as root: the report listed it
    page = (run_copy / "report" / "index.html").read_text()
    assert "cannot be read (Permission denied)" in page and folder.name in page
    assert len(trials) == 12


def _loaded_after(code: str, names: tuple[str, ...]) -> list[str]:
    """The modules of `names` that a fresh interpreter has loaded after running `code`."""
    probe = f"{code}\nimport sys\nprint([m for m in {names!r} if m in sys.modules])"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return eval(done.stdout.strip().splitlines()[-1])


STACK = ("pandas", "pyarrow", "scipy", "matplotlib", "seaborn", "statsmodels", "jinja2")


@pytest.mark.parametrize(
    "argv", [["--help"], ["/nonexistent"], ["--bogus"]], ids=["help", "no run", "bad flag"]
)
def test_the_report_command_answers_a_mistake_without_its_libraries(argv):
    code = (  # main() as the command runs it, which then ends the process at once
        "import contextlib, io\n"
        "from reports.__main__ import main\n"
        "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()), "
        "contextlib.redirect_stderr(io.StringIO()):\n"
        f"    main({argv!r})"
    )
    assert _loaded_after(code, STACK) == []


def test_the_sweep_command_line_loads_no_report_libraries():
    assert _loaded_after("import reports.__main__, sweeps.bn_placement", STACK) == []


def test_the_figures_inputs_are_computed_before_the_statistics_libraries_load():
    # What lets the painters draw while scipy.stats and statsmodels load (reports.painters).
    study = Path(__file__).resolve().parents[2] / "docs" / "default-study"
    code = (
        "from reports.analysis import figure_inputs\n"
        "from reports.frames import read_run\n"
        f"inputs = figure_inputs(*read_run({str(study)!r}))\n"
        "assert len(inputs['comparisons']) == 15, inputs['comparisons']"
    )
    assert _loaded_after(code, ("scipy.stats", "statsmodels")) == []
    assert "scipy.stats" in _loaded_after(f"{code}\nimport reports.stats\nreports.stats.load_libraries()", ("scipy.stats",))  # fmt: skip
