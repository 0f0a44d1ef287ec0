"""Synthetic stored runs in the sweep's real layout, without training: the report's input at
any size.

A run folder holds `sweep_spec.json` and one folder per trial, as Tune and the sweep write them
(`reports/frames.py`): `params.json` (`{"trial": TrialConfig.to_dict()}`) and `result.json`,
one JSON line per epoch (`final: false`) and the trial's final report (`final: true`) with the
test metrics, status, parameter counts and the whole history. The numbers follow the default
study's (`docs/default-study`): the learning rate's optimum near 0.1, BN ahead at small learning
rates, no BN stuck at chance or diverged from lr 1, BN after the activation diverged at lr 3,
seed-to-seed SDs of about 0.004; each context (architecture, norm kind, activation) shifts them
a little, differently per placement.
"""

from __future__ import annotations

import itertools
import json
import math
import time
from pathlib import Path

import numpy as np

PLACEMENTS = ("none", "after_activation", "before_activation")
LRS = (0.001, 0.01, 0.1, 1.0, 3.0)
EPOCHS = 10
ACTIVATIONS = ("relu", "elu", "gelu", "selu", "leaky_relu")
NORMS = ("batch", "layer", "group", "batch_renorm")
ARCHS = ("mlp", "cnn")
HIDDEN = [300, 100]
CONV = [32, 64]
# Trials -> (archs, norms, activations, seeds): 1, 10, 40 and 40 contexts. Trials are written
# seed after seed, so a size between two whole seeds holds the last seed in part of the cells,
# as a settling run that added seeds only where they were needed.
DESIGNS = {
    45: (("mlp",), ("batch",), ("relu",), 3),
    450: (ARCHS, ("batch",), ACTIVATIONS, 3),
    4500: (ARCHS, NORMS, ACTIVATIONS, 10),
    10000: (ARCHS, NORMS, ACTIVATIONS, 23),
}
SHIFT = {
    "relu": 0.0, "elu": -0.002, "gelu": 0.002, "selu": -0.004, "leaky_relu": 0.001,
    "batch": 0.0, "layer": -0.003, "group": -0.004, "batch_renorm": -0.001, "none": 0.0,
    "mlp": 0.0, "cnn": 0.02,
}  # fmt: skip


def design(trials: int) -> tuple[tuple, tuple, tuple, int]:
    """The axes of a run of `trials` trials: the nearest listed design at or above it."""
    for size in sorted(DESIGNS):
        if trials <= size:
            return DESIGNS[size]
    raise ValueError(f"at most {max(DESIGNS)} trials (the sweep's own limit)")


def configs(trials: int) -> list[dict]:
    """The first `trials` trial configs of the design, seed after seed."""
    archs, norms, activations, seeds = design(trials)
    found = []
    for seed in range(seeds):
        for arch, activation in itertools.product(archs, activations):
            for lr in LRS:
                found.append(_config("none", "none", arch, activation, lr, seed))
                for norm, placement in itertools.product(norms, PLACEMENTS[1:]):
                    found.append(_config(placement, norm, arch, activation, lr, seed))
    return found[:trials]


def _config(placement, norm, arch, activation, lr, seed) -> dict:
    return {
        "placement": placement, "lr": lr, "seed": seed, "epochs": EPOCHS, "batch_size": 32,
        "optimizer": "sgd", "hidden": HIDDEN if arch == "mlp" else [], "subset": None,
        "arch": arch, "activation": activation, "norm": norm, "input_norm": "none",
        "conv": CONV if arch == "cnn" else [], "groups": 4 if norm == "group" else None,
        "preset": None,
    }  # fmt: skip


def _mean_accuracy(config: dict) -> float:
    """The cell's true final val accuracy: a parabola in log10(lr) with its top near 0.1,
    shifted by context, with a placement x context term so contexts differ in spread."""
    lr, placement = config["lr"], config["placement"]
    accuracy = 0.892 - 0.012 * (math.log10(lr) + 1) ** 2
    if placement == "none":
        accuracy -= 0.02 * max(0.0, -1 - math.log10(lr))  # no BN learns slowest at small lrs
    elif placement == "before_activation":
        accuracy += 0.003
    for key in ("arch", "norm", "activation"):
        accuracy += SHIFT[config[key]]
    context = f"{config['arch']}/{config['norm']}/{config['activation']}/{placement}"
    salt = int.from_bytes(context.encode(), "little") % 2**32
    return accuracy + np.random.default_rng(salt).normal(0, 0.004)


def _fate(config: dict, rng: np.random.Generator) -> str:
    """'trained', 'chance' (completed, stuck at chance) or 'diverged'."""
    lr, placement = config["lr"], config["placement"]
    if placement == "none" and lr >= 1:
        return "diverged" if rng.random() < 0.35 else "chance"
    if placement == "after_activation" and lr >= 3:
        return "diverged" if rng.random() < 0.9 else "trained"
    return "diverged" if lr >= 3 and rng.random() < 0.02 else "trained"


def trial_rows(config: dict, rng: np.random.Generator) -> tuple[list[dict], dict]:
    """A trial's epoch rows and the fields of its final report."""
    fate = _fate(config, rng)
    final = _mean_accuracy(config) + rng.normal(0, 0.004)
    cnn = config["arch"] == "cnn"
    seconds = (20.0 if cnn else 1.5) * rng.uniform(0.8, 1.3)
    epochs = int(rng.integers(1, 3)) if fate == "diverged" else EPOCHS
    history = []
    for epoch in range(1, epochs + 1):
        if fate == "trained":
            val = final - (0.07 + rng.uniform(0, 0.05)) * math.exp(-(epoch - 1) / 2.5)
            val += rng.normal(0, 0.003)
            loss = 0.2 + 2.2 * (1 - val) ** 1.5 - 0.01 * epoch
            val_loss = loss + 0.05 + rng.normal(0, 0.01)
            accuracy = val + 0.004 * epoch - 0.02
        else:
            val = 0.1 + rng.normal(0, 0.006)
            loss = val_loss = 2.31 + rng.normal(0, 0.01)
            accuracy = 0.1 + rng.normal(0, 0.005)
        if fate == "diverged" and epoch == epochs:
            loss = val_loss = float("nan") if rng.random() < 0.5 else float("inf")
        history.append(
            {
                "epoch": epoch, "loss": loss, "accuracy": accuracy, "val_loss": val_loss,
                "val_accuracy": float(np.clip(val, 0, 1)),
                "epoch_seconds": seconds * rng.uniform(0.9, 1.1),
            }
        )  # fmt: skip
    norm = config["norm"] != "none" and config["placement"] != "none"
    trainable = (2_400_000 if cnn else 266_610) + (800 if norm else 0)
    moving = 800 if norm and config["norm"] in ("batch", "batch_renorm") else 0
    report = {
        "status": "diverged" if fate == "diverged" else "completed",
        "test_loss": history[-1]["val_loss"] + 0.02,
        "test_accuracy": 0.1 if fate != "trained" else history[-1]["val_accuracy"] - 0.012,
        "params_total": trainable + moving,
        "params_trainable": trainable,
        "params_non_trainable": moving,
        "wall_seconds": sum(r["epoch_seconds"] for r in history) + 1.5,
        "data_source": "/usr/share/datasets/fashion-mnist",
    }
    return history, report


def _lines(config: dict, trial_id: str, history: list[dict], report: dict, clock: float):
    """result.json's lines: what the sweep reports (`sweeps.tune_runner.run_trial`) plus the
    fields Tune adds to every result."""
    info = {"node_id": "9e84da7c599e92e73630d0593756bb900c9e171a64188ba18aa6fdf3",
            "hostname": "bench", "pid": 4242, "cpus": 1.0, "gpus": 0}  # fmt: skip
    elapsed = 0.0
    for row in history:
        elapsed += row["epoch_seconds"]
        last = row is history[-1]
        fields = {**row, **info}
        if last:
            fields.update(report, final=True, history=json.dumps(history))
        else:
            fields.update(status="running", final=False)
        fields.update(
            timestamp=int(clock + elapsed), checkpoint_dir_name=None, done=last,
            training_iteration=row["epoch"], trial_id=trial_id, date="2026-12-02_10-00-00",
            time_this_iter_s=row["epoch_seconds"], time_total_s=elapsed, node_ip="127.0.0.1",
            config={"trial": config}, time_since_restore=elapsed,
            iterations_since_restore=row["epoch"],
        )  # fmt: skip
        yield json.dumps(fields)


def folder_name(config: dict, trial_id: str) -> str:
    """As `sweeps.tune_runner.trial_folder_name` names it."""
    norm = "" if config["norm"] == "none" else f"-{config['norm']}"
    return (
        f"{config['arch']}-{config['placement']}{norm}-{config['activation']}"
        f"-lr{config['lr']:g}-s{config['seed']}_{trial_id}"
    )


def spec(name: str, output_dir: Path, trials: int) -> dict:
    """The run's sweep_spec.json, as `SweepSpec.to_dict` writes it."""
    archs, norms, activations, seeds = design(trials)
    return {
        "placements": list(PLACEMENTS), "lrs": list(LRS), "seeds": list(range(seeds)),
        "epochs": EPOCHS, "batch_sizes": [32], "optimizers": ["sgd"], "hidden": [HIDDEN],
        "subset": None, "data_dir": None, "cpus_per_trial": 1, "gpus_per_trial": 0.0,
        "max_concurrent": 0, "num_cpus": 2, "num_gpus": 0, "address": None,
        "output_dir": str(output_dir), "name": name, "resume": False, "report": True,
        "dry_run": False,
        "command": f"python -m sweeps.bn_placement --archs {','.join(archs)} --norms "
        f"{','.join(norms)} --activations {','.join(activations)} --seeds 0-{seeds - 1} "
        f"--output-dir {output_dir} --name {name}",
        "report_dir": None, "checkpoint_seconds": 10.0, "progress_seconds": 30.0,
        "verbose": False, "archs": list(archs), "activations": list(activations),
        "norms": list(norms), "input_norms": ["none"], "conv": [CONV], "groups": 4,
        "preset": None,
    }  # fmt: skip


def write_run(run_dir: str | Path, trials: int, seed: int = 0) -> Path:
    """Write a synthetic run of `trials` trials into `run_dir` (made; must not exist)."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True)
    (run_dir / "sweep_spec.json").write_text(
        json.dumps(spec(run_dir.name, run_dir.parent, trials), indent=2)
    )
    rng = np.random.default_rng(seed)
    clock = time.time() + 1
    for index, config in enumerate(configs(trials)):
        trial_id = f"b3c4d_{index:05d}"
        folder = run_dir / folder_name(config, trial_id)
        folder.mkdir()
        (folder / "params.json").write_text(json.dumps({"trial": config}))
        history, report = trial_rows(config, rng)
        lines = _lines(config, trial_id, history, report, clock + index)
        (folder / "result.json").write_text("\n".join(lines) + "\n")
    return run_dir
