"""`--settle`: add seeds look by look, only where a comparison is still undecided.

The grid's seeds are the first look. After each look the pure statistics of
`reports.sequential` decide every comparison of interest (`reports.settling`); the next look
adds the next seeds of the design's schedule to the cells that the undecided comparisons need,
until every one is decided or `--max-seeds` is reached.

Everything stays in the run: the grid in its own folder, look K as the Tune experiment
RUN/look-K, and RUN/settle.json holds the design, each look's seeds and trials and, once the
look has run, its decisions. A resumed run continues the same design: a look without decisions
is finished first, and a stored decision is never computed again.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from bnlab import TrialConfig
from reports import storage
from reports.console import say
from reports.frames import load_frames
from reports.sequential import Design, decide, decision_frame, seeds_to_add
from reports.settling import SETTLE_FILE, cells_needed, differences
from sweeps.spec import SweepSpec

ENDED = ("completed", "diverged", "errored")


def design_of(spec: SweepSpec) -> Design:
    return Design(margin=spec.margin / 100, max_seeds=spec.max_seeds)


def _location(spec: SweepSpec) -> str:
    return storage.join(spec.run_location, SETTLE_FILE)


def load_state(spec: SweepSpec) -> dict | None:
    """The stored looks of the run, or None before its first look was planned."""
    text = storage.read_text(_location(spec))
    return None if text is None else json.loads(text)


def _save(spec: SweepSpec, state: dict) -> None:
    text = json.dumps(state, indent=1, allow_nan=False, default=lambda v: v.item())
    if spec.remote:
        storage.write_text(_location(spec), text)
    else:
        from reports.atomic import write_text

        write_text(_location(spec), text)


def _first_look(spec: SweepSpec) -> dict:
    return {"look": 0, "experiment": None, "seeds": list(spec.seeds), "reached": len(spec.seeds),
            "trials": None, "decisions": None}  # fmt: skip


def look_configs(spec: SweepSpec, look: dict) -> list[TrialConfig]:
    if look["trials"] is None:
        return spec.trial_configs()
    return [TrialConfig.from_dict(d) for d in look["trials"]]


def finished(spec: SweepSpec) -> bool:
    """Whether the design ended: every comparison decided, or the seeds spent."""
    state = load_state(spec)
    return bool(state and state.get("done"))


def planned_trials(spec: SweepSpec) -> int:
    """Every trial the run has planned so far (all looks)."""
    state = load_state(spec)
    looks = state["looks"] if state else [_first_look(spec)]
    return sum(len(look_configs(spec, look)) for look in looks)


def _decisions(state: dict) -> pd.DataFrame | None:
    decided = [look for look in state["looks"] if look["decisions"] is not None]
    return decision_frame(decided[-1]["decisions"]) if decided else None


def settle(spec: SweepSpec, run_look) -> None:
    """Run look after look until every comparison is decided or the seeds are spent.

    Args:
        spec: The sweep (with `settle`).
        run_look: Runs one look's Tune experiment: `run_look(configs, experiment_name)`, with
            `experiment_name` None for the grid; it returns when the trials ended or the run
            was interrupted.
    """
    design = design_of(spec)
    state = load_state(spec) or {"design": design.to_dict(), "looks": [_first_look(spec)]}
    _save(spec, state)
    while True:
        look = state["looks"][-1]
        if look["decisions"] is None:
            earlier = _earlier_trials(spec) if look["look"] > 0 else []
            run_look(look_configs(spec, look), look["experiment"], earlier)
        with storage.readable_run(spec.run_location, "bnlab-look-") as run_dir:
            _, trials = load_frames(run_dir)
            if look["decisions"] is None:
                if not _look_ended(trials, spec):
                    return  # interrupted: the caller counts what is unfinished
                decided = _decide(trials, design, _decisions(state))
                look["decisions"] = _records(decided)
                _save(spec, state)
                if not spec.quiet:
                    say(_look_line(look, decided))
            following = _next_look(spec, design, state, trials, run_dir, _decisions(state))
        if following is None:
            state["done"] = True
            _save(spec, state)
            if not spec.quiet and (line := _beyond_budget_line(_decisions(state), design)):
                say(line)
            return
        state["looks"].append(following)
        _save(spec, state)
        if not spec.quiet:
            say(_plan_line(following))


def _earlier_trials(spec: SweepSpec) -> list[dict]:
    """The ended trials of the looks so far, as the progress view counts them."""
    with storage.readable_run(spec.run_location, "bnlab-look-") as run_dir:
        _, trials = load_frames(run_dir)
        ended = trials[trials["status"].isin(("completed", "diverged"))]
        return [
            {
                "config": _config_of(run_dir / row["trial_dir"]).to_dict(),
                "status": row["status"],
                "epochs": int(row["epochs_run"]),
                "val_accuracy": row["final_val_accuracy"],
            }
            for _, row in ended.iterrows()
        ]


def _records(frame: pd.DataFrame) -> list[dict]:
    """JSON-ready rows: NaN and infinities as null (with one seed a boundary is infinite)."""
    frame = frame.replace([np.inf, -np.inf], np.nan)
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


def _look_ended(trials: pd.DataFrame, spec: SweepSpec) -> bool:
    return int(trials["status"].isin(ENDED).sum()) >= planned_trials(spec)


def _decide(trials: pd.DataFrame, design: Design, previous: pd.DataFrame | None) -> pd.DataFrame:
    _, diffs = differences(trials)
    return decide(diffs, design, previous)


def seed_sequence(first: tuple[int, ...], count: int) -> list[int]:
    """The first `count` seeds of the run: the grid's, then the next unused ones upward."""
    seeds = list(first)
    while len(seeds) < count:
        seeds.append(max(seeds) + 1)
    return seeds[:count]


def _next_look(spec, design, state, trials, run_dir: Path, decided) -> dict | None:
    target = seeds_to_add(decided, design)
    last = state["looks"][-1]
    if not target or target <= last["reached"]:
        return None
    new_seeds = seed_sequence(spec.seeds, target)[last["reached"] :]
    comparisons, _ = differences(trials)
    undecided = decided.loc[decided["needs_seeds"].astype(bool), "comparison"]
    cells = {}
    for _, row in cells_needed(trials, comparisons, undecided).iterrows():
        config = _config_of(run_dir / row["trial_dir"]).replace(seed=0)
        cells.setdefault(json.dumps(config.to_dict(), sort_keys=True), config)
    configs = [cells[key].replace(seed=s) for key in sorted(cells) for s in new_seeds]
    index = last["look"] + 1
    return {"look": index, "experiment": f"look-{index}", "seeds": new_seeds, "reached": target,
            "cells": len(cells), "undecided": len(undecided),
            "trials": [c.to_dict() for c in configs], "decisions": None}  # fmt: skip


def _config_of(trial_dir: Path) -> TrialConfig:
    params = json.loads((trial_dir / "params.json").read_text())
    return TrialConfig.from_dict(params.get("trial", params))


def _look_line(look: dict, decided: pd.DataFrame) -> str:
    """'look 1 (5 seeds): 18 comparisons: 4 with one placement better, 1 equivalent, 13
    undecided'."""
    counts = decided["verdict"].value_counts()
    better = int(counts.get("a_better", 0) + counts.get("b_better", 0))
    parts = [
        f"{better} with one placement better" if better else "",
        f"{counts['equivalent']} equivalent" if "equivalent" in counts else "",
        f"{counts['undecided']} undecided" if "undecided" in counts else "",
    ]
    words = ", ".join(p for p in parts if p)
    return f"look {look['look']} ({look['reached']} seeds): {len(decided)} comparisons: {words}"


def _beyond_budget_line(decided: pd.DataFrame | None, design: Design) -> str | None:
    """Undecided comparisons that no look within --max-seeds could decide, if any."""
    if decided is None or "min_seeds" not in decided:
        return None
    undecided = decided[decided["verdict"] == "undecided"]
    beyond = undecided["min_seeds"].isna() | (undecided["min_seeds"] > design.max_seeds)
    if not beyond.any():
        return None
    least = undecided.loc[beyond, "min_seeds"].min()
    need = f"at least {int(least)}" if pd.notna(least) else "more"
    return (
        f"{int(beyond.sum())} undecided comparisons cannot be decided within --max-seeds "
        f"{design.max_seeds}: their tests need {need} seeds"
    )


def _plan_line(look: dict) -> str:
    seeds = look["seeds"]
    span = f"{seeds[0]}-{seeds[-1]}" if len(seeds) > 1 else f"{seeds[0]}"
    return (
        f"look {look['look']}: seeds {span} for {look['undecided']} undecided comparisons: "
        f"{len(look['trials'])} trials in {look['cells']} cells"
    )
