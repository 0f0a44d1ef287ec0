"""sweeps.load / reports.study.load: a local, a partial and an s3:// run, or a report's exported
frames, as one Study with named frames, the answer and figures."""

import matplotlib.figure
import pytest
from pyarrow import fs as pafs

import sweeps


def test_a_study_has_named_frames_the_answer_and_figures(stored_run):
    study = sweeps.load(stored_run)
    for name in ("history", "trials", "summary", "comparisons", "best_lr", "stable_lr", "interaction", "verdicts"):  # fmt: skip
        assert len(getattr(study, name)) > 0, name
    assert repr(study).startswith(f"Study({str(stored_run)!r}): 12 trials (12 completed)")
    assert len(repr(study).splitlines()) == 4
    html = study._repr_html_()
    assert "<table" in html and "Placement [" in html
    assert isinstance(study.plot_final_vs_lr(), matplotlib.figure.Figure)
    assert isinstance(study.plot_gain_per_lr(), matplotlib.figure.Figure)
    assert study.answer[0].startswith(("Best placement", "No placement is clearly best"))


def test_a_partial_run_loads_with_its_unfinished_trials(run_copy):
    trial = sorted(p for p in run_copy.iterdir() if (p / "result.json").exists())[0]
    lines = (trial / "result.json").read_text().splitlines()
    (trial / "result.json").write_text(lines[0] + "\n")  # its final report never came
    study = sweeps.load(run_copy)
    assert (study.trials["status"] == "running").sum() == 1 and len(study.trials) == 12


def test_a_run_in_s3_and_a_report_folder_load_the_same_frames(stored_run, s3_server, tmp_path):
    s3 = s3_server.filesystem()
    s3.create_dir("studies")
    pafs.copy_files(str(stored_run), "studies/runs/fixture", destination_filesystem=s3)
    remote = sweeps.load(s3_server.uri("studies/runs/fixture"))
    local = sweeps.load(stored_run)
    assert remote.trials.drop(columns="trial_dir").equals(local.trials.drop(columns="trial_dir"))
    assert remote.comparisons.equals(local.comparisons)
    page = local.write_report(tmp_path / "report")
    from_report = sweeps.load(page.parent)  # the exported frames, e.g. docs/default-study
    assert from_report.best_lr.equals(local.best_lr)
    with pytest.raises(FileNotFoundError, match="is not a run folder"):
        sweeps.load(tmp_path / "nothing")
