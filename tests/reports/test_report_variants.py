"""The whole report (figures, tables, page) for runs of several contexts and of a preset."""

import pandas as pd
import pytest

from reports.analysis import analyze
from reports.frames import TRIAL_COLUMNS
from reports.html import FIGURES, write_report
from tests.reports.test_findings import _seed_preset, _two_activations


def _history(trials: pd.DataFrame) -> pd.DataFrame:
    """Two epochs per trial, ending at the trial's final val accuracy."""
    rows = []
    for _, trial in trials.iterrows():
        for epoch, share in ((1, 0.9), (2, 1.0)):
            rows.append(
                {
                    **trial.to_dict(),
                    "epoch": epoch,
                    "val_accuracy": trial["final_val_accuracy"] * share,
                    "loss": 1.0 / epoch,
                    "val_loss": 1.1 / epoch,
                }
            )
    return pd.DataFrame(rows)


@pytest.mark.filterwarnings("error")  # a warning would reach the sweep's quiet stderr
@pytest.mark.parametrize("make", [_seed_preset, _two_activations], ids=["preset", "contexts"])
def test_a_report_of_several_contexts_or_a_preset_is_written_whole(make, tmp_path):
    trials = make()
    trials = trials.reindex(columns=list(dict.fromkeys([*TRIAL_COLUMNS, *trials.columns])))
    frames = analyze(_history(trials), trials)
    page = write_report(tmp_path / "run", report_dir=tmp_path / "report", frames=frames)
    text = page.read_text()
    for key in FIGURES:
        assert (tmp_path / "report" / f"{key}.png").stat().st_size > 0
    assert (tmp_path / "report" / "factor_comparisons.csv").exists()
    if make is _seed_preset:
        assert "Caution: these placements differ in more than where the normalization sits" in text
        assert "also differs" in text  # the comparison tables' column
    else:
        assert "<th>setting</th>" in text and "Placement x activation" in text
