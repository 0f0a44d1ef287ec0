"""The report's tables as HTML: the computed frames, with numbers written for reading.

With more than one context in the run (several activations, norm kinds, batch sizes, ...),
every table gets a `setting` column naming the context of its row. A table longer than
`MAX_ROWS` shows its first rows and says where all of them are (the CSV beside the page): a run
of 10,000 trials would otherwise make a page of tens of thousands of rows.
"""

from __future__ import annotations

import pandas as pd

from reports.analysis import THRESHOLD
from reports.contexts import CONTEXT_KEYS
from reports.wording import context_label, fmt_num, fmt_p

MAX_ROWS = 200
PROBLEM_COLUMNS = ["placement", "lr", "seed", "status", "epochs_run", "final_loss", "problem", "trial_dir"]  # fmt: skip


def _num(value, digits: int = 3) -> str:
    return fmt_num(float(value), digits) if pd.notna(value) else "n/a"


def _ci(low, high) -> str:
    if pd.isna(low) or pd.isna(high):
        return "n/a"
    return f"{low:.3f} to {high:.3f}"


def _seeds_needed(row) -> str:
    if row["significant"]:
        return "settled"
    return f"{int(row['seeds_needed'])}" if pd.notna(row["seeds_needed"]) else "n/a"


def _test_cells(row) -> dict:
    return {
        "seed pairs": int(row["n_pairs"]),
        "A - B": f"{row['mean_diff']:+.4f}" if pd.notna(row["mean_diff"]) else "n/a",
        "95% CI": _ci(row["diff_ci_low"], row["diff_ci_high"]),
        "p (paired t)": fmt_p(row["p_value"]),
        "p (Holm)": fmt_p(row["p_holm"]),
        "P(A > B)": _num(row["prob_improvement"], 2),
        "P 95% CI": _ci(row["prob_ci_low"], row["prob_ci_high"]),
        "seeds for 80% power": _seeds_needed(row),
        "note": row["note"],
    }


def _verdict(row) -> str:
    verdict = row.get("verdict")
    if not isinstance(verdict, str):
        return ""
    if verdict in ("a_better", "b_better"):
        return f"{'A' if verdict == 'a_better' else 'B'} better"
    return verdict


def _comparison_cells(row) -> dict:
    cells = {"A": row["placement_a"], "B": row["placement_b"], "verdict": _verdict(row), **_test_cells(row)}  # fmt: skip
    if row.get("also_differs"):
        cells["also differs"] = row["also_differs"]
    return cells


def _table(rows: list[dict]) -> str:
    frame = pd.DataFrame(rows)
    if frame.empty:
        return "<p>Nothing to show yet.</p>"
    return frame.to_html(index=False, na_rep="", border=0, classes="data", escape=True)


def _setting(row, skip: tuple[str, ...] = ()) -> str:
    return context_label({k: row.get(k) for k in CONTEXT_KEYS}, skip)


def _outcomes(row) -> str:
    if row["outcome_a"] == row["outcome_b"] == "stable":
        return "both stable"
    return f"A {row['outcome_a']}; B {row['outcome_b']}"


def _capped(
    frame: pd.DataFrame, csv: str, which: str = "all of them are"
) -> tuple[pd.DataFrame, str]:
    """The first `MAX_ROWS` rows of `frame` and, if it has more, the note saying so."""
    if len(frame) <= MAX_ROWS:
        return frame, ""
    note = (
        f'<p class="muted table-note">The first {MAX_ROWS:,} of {len(frame):,} rows; {which} '
        f'in <a href="{csv}">{csv}</a>.</p>'
    )
    return frame.head(MAX_ROWS), note


def render(frames: dict, problems: pd.DataFrame) -> dict[str, str]:
    """Every table of the page, by name."""
    several = len(frames["best_lr"][CONTEXT_KEYS].drop_duplicates()) > 1 if not frames["best_lr"].empty else False  # fmt: skip

    def rows(frame: pd.DataFrame, cells, csv: str, setting: bool = True) -> str:
        shown, note = _capped(frame, csv)
        with_setting = setting and several
        return note + _table(
            [
                {**({"setting": _setting(r)} if with_setting else {}), **cells(r)}
                for _, r in shown.iterrows()
            ]
        )

    shown_problems, problems_note = _capped(
        problems, "trials.csv", "every trial, with its status, is"
    )
    shown_looks, looks_note = _capped(frames["looks"], "looks.csv")
    factors = frames["factor_comparisons"]
    return {
        "best": rows(frames["best_lr"], _best_cells, "best_lr.csv"),
        "best_comparisons": rows(
            frames["best_lr_comparisons"], _comparison_cells, "best_lr_comparisons.csv"
        ),
        "stable": rows(frames["stable_lr"], _stable_cells, "stable_lr.csv"),
        "interaction": rows(frames["interaction"], _interaction_cells, "interaction.csv", False),
        "factor_comparisons": rows(factors, _level_cells, "factor_comparisons.csv", False),
        "comparisons": rows(
            frames["comparisons"],
            lambda r: {"lr": f"{r['lr']:g}", **_comparison_cells(r), "outcomes": _outcomes(r)},
            "comparisons.csv",
        ),
        "summary": rows(frames["summary"], _summary_cells, "summary.csv", False),
        "looks": looks_note + _table(shown_looks.to_dict("records")),
        "problems": problems_note
        + shown_problems[PROBLEM_COLUMNS].to_html(
            index=False, na_rep="", border=0, classes="data", float_format=lambda v: f"{v:.4g}"
        ),
    }


def _best_cells(r) -> dict:
    return {
        "placement": r["placement"],
        "learning rate chosen (per seed)": r["chosen_lrs"],
        "val accuracy": _num(r["val_accuracy_mean"]),
        "test accuracy": _num(r["test_accuracy_mean"]),
        "test 95% CI": _ci(r["test_accuracy_ci_low"], r["test_accuracy_ci_high"]),
    }


def _stable_cells(r) -> dict:
    largest, above = r["largest_stable_lr"], r["unstable_from"]
    return {
        "placement": r["placement"],
        "largest stable lr": f"{largest:g}" if pd.notna(largest) else "none",
        "first unstable lr above it": f"{above:g}" if pd.notna(above) else "none in the grid",
        "what happened there": r["unstable_outcome"],
        "learning rates tested": r["lrs_tested"],
    }


def _interaction_cells(r) -> dict:
    return {
        "placement x": r["factor"],
        "setting": _setting(r, (r["factor"],)),
        "scope": r["scope"],
        "placements": int(r["n_placements"]),
        "levels": int(r["n_levels"]),
        "seeds": int(r["n_seeds"]),
        "F": _num(r["f_value"], 2),
        "df": f"{r['df']:g}, {r['df_resid']:g}" if pd.notna(r["df"]) else "n/a",
        "p": fmt_p(r["p_value"]),
        "note": r["note"],
    }


def _level_cells(r) -> dict:
    return {
        "factor": r["factor"],
        "setting": _setting(r, (r["factor"],)),
        "placement": r["placement"],
        "A": r["level_a"],
        "B": r["level_b"],
        "test accuracy A": _num(r["test_accuracy_a"]),
        "test accuracy B": _num(r["test_accuracy_b"]),
        **_test_cells(r),
    }


def _summary_cells(r) -> dict:
    diverged = r["outcome"] == "diverged"
    return {
        "setting": _setting(r),
        "placement": r["placement"],
        "lr": f"{r['lr']:g}",
        "seeds": int(r["n_seeds"]),
        "outcome": r["outcome"],
        "final val accuracy": "diverged" if diverged else _num(r["final_val_accuracy_mean"], 4),
        "95% CI": "diverged"
        if diverged
        else _ci(r["final_val_accuracy_ci_low"], r["final_val_accuracy_ci_high"]),
        "test accuracy": "diverged" if diverged else _num(r["test_accuracy_mean"], 4),
        f"epochs to {THRESHOLD:g}": _num(r[f"epochs_to_{THRESHOLD:g}"], 1),
        "s / epoch": _num(r["epoch_seconds_mean"], 2),
    }
