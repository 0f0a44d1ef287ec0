"""--settle for real: looks that add seeds only where comparisons are undecided, stored decisions,
and Ctrl+C inside or between looks giving the same result as an uninterrupted run."""

import itertools
import json
import signal

import pandas as pd
import pytest

from reports import load_frames
from sweeps.settle import _look_line, seed_sequence
from tests.sweeps.conftest import run_sweep, start_sweep, wait_for

pytestmark = pytest.mark.shared_ray  # sweeps join one Ray (tests/conftest.py)

# At lr 100 both placements diverge (the seed preset's none reaches NaN, and its BN model too
# on this subset): their differences are exactly 0, and a seed where both diverged does not
# count for equivalence, so they stay undecided to the budget. 3 comparisons cannot be decided
# before 8 seeds (sign-flip tests), so the second look goes from 3 seeds straight to 8.
FLAGS = [
    "--settle", "--max-seeds", "8", "--placements", "none,before_activation", "--preset", "seed",
    "--lrs", "0.05,100", "--subset", "200,50", "--epochs", "1", "--margin", "10", "--no-report",
]  # fmt: skip


@pytest.fixture(scope="module")
def straight(tmp_path_factory, shared_ray):
    """An uninterrupted settling run."""
    out = tmp_path_factory.mktemp("settle")
    done = run_sweep(*FLAGS, "--output-dir", str(out), "--name", "s", env=shared_ray)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "look 1: seeds 3-7 for " in done.stdout
    assert " better" not in done.stdout.replace("with one placement better", "")
    assert "/8 seeds)" in done.stdout  # look 1's view counts the first look's seeds too
    return out / "s"


def test_a_look_s_line_speaks_of_placements_not_codes():
    decided = pd.DataFrame({"verdict": ["a_better", "b_better", "equivalent", "undecided"]})
    line = _look_line({"look": 2, "reached": 8}, decided)
    assert line == "look 2 (8 seeds): 4 comparisons: 2 with one placement better, 1 equivalent, 1 undecided"  # fmt: skip


def _looks(run):
    return json.loads((run / "settle.json").read_text())["looks"]


def _candidates(trials) -> dict:
    """Per placement, the lrs some first-look seed chose as its best on validation (a diverged
    trial scores chance, 0.10)."""
    first = trials[~trials["trial_dir"].str.startswith("look-")].copy()
    first["score"] = first["final_val_accuracy"].where(first["status"] != "diverged", 0.1)
    ordered = first.sort_values(["score", "lr"], ascending=[False, True])
    best = ordered.groupby(["placement", "seed"]).head(1)
    return {p: set(group["lr"]) for p, group in best.groupby("placement")}


def _needed_cells(decisions, candidates) -> set:
    cells = set()
    for row in decisions:
        if row["verdict"] != "undecided":
            continue
        c = json.loads(row["comparison"])
        for placement in (c["a"], c["b"]):
            lrs = {c["lr"]} if c["kind"] == "lr" else candidates[placement]
            cells |= {(placement, lr) for lr in lrs}
    return cells


@pytest.mark.slow
def test_each_look_adds_seeds_only_to_the_cells_of_undecided_comparisons(straight):
    looks = _looks(straight)
    assert len(looks) >= 2 and looks[0]["seeds"] == [0, 1, 2]
    _, trials = load_frames(straight)
    assert (trials["status"].isin(["completed", "diverged"])).all()
    candidates = _candidates(trials)
    for previous, look in itertools.pairwise(looks):
        needed = _needed_cells(previous["decisions"], candidates)
        new = trials[trials["trial_dir"].str.startswith(f"look-{look['look']}/")]
        assert set(zip(new["placement"], new["lr"], strict=True)) == needed
        assert sorted(set(new["seed"])) == look["seeds"]
        assert len(new) == len(needed) * len(look["seeds"]) == len(look["trials"])
    final = {json.loads(d["comparison"])["lr"]: d for d in looks[-1]["decisions"]}
    assert final[100.0]["verdict"] == "undecided" and final[100.0]["informative_seeds"] == 0
    # Every seed diverged on both sides: whatever chance scores they stopped at, nothing decides.
    assert final[100.0]["n_seeds"] == 8 and final[100.0]["p_superiority"] > 0.05
    assert looks[0]["decisions"][0]["min_seeds"] == 8


def _run_dir_and_press(tmp_path, moment: str):
    out, log = tmp_path / "runs", tmp_path / "progress.txt"
    # One trial at a time (a resource flag: the numbers do not change), so that a look is still
    # running when its first trial has reported.
    flags = [*FLAGS, "--max-concurrent", "1", "--output-dir", str(out), "--name", "s"]
    driver = start_sweep(*flags, log=log)
    try:
        if moment == "inside a look":  # Tune's experiment for look 1 has begun
            wait_for(lambda: (out / "s" / "look-1").is_dir(), 240, "look 1")
        else:  # as soon as the first look is decided, before the second starts
            wait_for(lambda: "look 0 (3 seeds)" in log.read_text(), 240, "the first decision")
        driver.send_signal(signal.SIGINT)
        _, err = driver.communicate(timeout=120)
    finally:
        driver.kill()
    return out / "s", driver.returncode, err


@pytest.mark.slow
@pytest.mark.parametrize("moment", ["inside a look", "between looks"])
def test_ctrl_c_in_or_between_looks_then_resume_gives_the_uninterrupted_result(
    straight, tmp_path, moment
):
    run, code, err = _run_dir_and_press(tmp_path, moment)
    assert code == 130, err[-3000:]
    assert "--resume --name s" in err
    resumed = run_sweep("--resume", "--name", "s", "--output-dir", str(run.parent), "--no-report")  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert _looks(run) == _looks(straight)
    _, trials = load_frames(run)
    _, expected = load_frames(straight)
    columns = ["placement", "lr", "seed", "status", "final_val_accuracy"]
    assert trials[columns].sort_values(columns[:3]).values.tolist() == (
        expected[columns].sort_values(columns[:3]).values.tolist()
    )


def test_the_seeds_of_later_looks_continue_after_the_grids():
    assert seed_sequence((0, 1, 2), 5) == [0, 1, 2, 3, 4]
    assert seed_sequence((7, 3), 4) == [7, 3, 8, 9]
    assert seed_sequence((0, 1, 2), 2) == [0, 1]


def test_a_one_seed_look_is_stored_though_its_boundaries_are_infinite():
    import json

    import numpy as np
    import pandas as pd

    from sweeps.settle import _records

    rows = _records(pd.DataFrame({"comparison": ["a"], "boundary": [np.inf], "p": [np.nan]}))
    assert rows == [{"comparison": "a", "boundary": None, "p": None}]
    json.dumps(rows, allow_nan=False)
