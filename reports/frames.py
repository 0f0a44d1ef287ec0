"""Read a stored sweep into tidy pandas frames, without Ray or TensorFlow.

A sweep is an ordinary Tune experiment folder: one sub-folder per trial with `params.json`
(the trial's `TrialConfig` fields) and `result.json` (one JSON line per `tune.report`). Each
epoch's report has `final: false`; the trial's last report has `final: true` with the test
metrics and status. A trial with no final report is `errored` if Tune left an error file,
otherwise `running` (unfinished or interrupted).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

METRICS = ["loss", "accuracy", "val_loss", "val_accuracy"]
CONFIG_COLUMNS = ["placement", "lr", "seed", "batch_size", "optimizer", "hidden", "epochs"]
HISTORY_COLUMNS = ["trial_id", *CONFIG_COLUMNS, "epoch", *METRICS, "epoch_seconds"]
TRIAL_COLUMNS = [
    "trial_id",
    *CONFIG_COLUMNS,
    "subset",
    "status",
    "epochs_run",
    "final_val_accuracy",
    "best_val_accuracy",
    "best_epoch",
    "final_loss",
    "test_accuracy",
    "test_loss",
    "params_total",
    "params_trainable",
    "params_non_trainable",
    "wall_seconds",
    "mean_epoch_seconds",
    "node_id",
    "hostname",
    "cpus",
    "gpus",
    "attempts",
    "trial_dir",
]


def hidden_label(hidden) -> str:
    """Hidden sizes as one hashable label, the CLI's own spelling: [300, 100] -> '300x100'."""
    return "x".join(str(n) for n in hidden)


def _read_lines(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            break  # a line cut short by a killed writer: the rest is not trustworthy
    return rows


def _config(params: dict) -> dict:
    return {
        "placement": params["placement"],
        "lr": float(params["lr"]),
        "seed": int(params["seed"]),
        "batch_size": int(params["batch_size"]),
        "optimizer": params["optimizer"],
        "hidden": hidden_label(params["hidden"]),
        "epochs": int(params["epochs"]),
    }


def trial_dirs(run_dir: str | Path) -> list[Path]:
    """Every trial folder of a run, in a stable order."""
    return sorted(p.parent for p in Path(run_dir).glob("*/params.json"))


def load_frames(run_dir: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The `history` (one row per trial and epoch) and `trials` (one row per trial) frames.

    An empty or missing run gives empty frames with the right columns.
    """
    history_rows, trial_rows = [], []
    for folder in trial_dirs(run_dir):
        params = json.loads((folder / "params.json").read_text())
        config = _config(params)
        results = _read_lines(folder / "result.json")
        trial_id = results[0]["trial_id"] if results else folder.name
        epochs = {}
        for row in results:
            if not row.get("final") and "epoch" in row:
                epochs[int(row["epoch"])] = row  # a retried epoch replaces its earlier report
        for epoch, row in sorted(epochs.items()):
            history_rows.append(
                {
                    "trial_id": trial_id,
                    **config,
                    "epoch": epoch,
                    **{k: row.get(k) for k in [*METRICS, "epoch_seconds"]},
                }
            )
        trial_rows.append(_trial_row(folder, trial_id, params, config, results, epochs))
    history = pd.DataFrame(history_rows, columns=HISTORY_COLUMNS)
    trials = pd.DataFrame(trial_rows, columns=TRIAL_COLUMNS)
    return history, trials


def _trial_row(folder, trial_id, params, config, results, epochs) -> dict:
    final = next((r for r in reversed(results) if r.get("final")), None)
    last = final or (results[-1] if results else {})
    if final is not None:
        status = final["status"]
    elif (folder / "error.txt").exists() or (folder / "error.pkl").exists():
        status = "errored"
    else:
        status = "running"
    val = [(row.get("val_accuracy"), epoch) for epoch, row in sorted(epochs.items())]
    finite = [(v, e) for v, e in val if v is not None and math.isfinite(v)]
    best_val, best_epoch = max(finite, key=lambda p: (p[0], -p[1])) if finite else (None, None)
    seconds = [row["epoch_seconds"] for row in epochs.values() if "epoch_seconds" in row]
    subset = params.get("subset")
    return {
        "trial_id": trial_id,
        **config,
        "subset": None if subset is None else hidden_label(subset).replace("x", ","),
        "status": status,
        "epochs_run": len(epochs),
        "final_val_accuracy": val[-1][0] if val else None,
        "best_val_accuracy": best_val,
        "best_epoch": best_epoch,
        "final_loss": epochs[max(epochs)].get("loss") if epochs else None,
        "test_accuracy": final.get("test_accuracy") if final else None,
        "test_loss": final.get("test_loss") if final else None,
        "params_total": last.get("params_total"),
        "params_trainable": last.get("params_trainable"),
        "params_non_trainable": last.get("params_non_trainable"),
        "wall_seconds": final.get("wall_seconds") if final else None,
        "mean_epoch_seconds": sum(seconds) / len(seconds) if seconds else None,
        "node_id": last.get("node_id"),
        "hostname": last.get("hostname"),
        "cpus": last.get("cpus"),
        "gpus": last.get("gpus"),
        "attempts": len({r["pid"] for r in results if "pid" in r}),
        "trial_dir": folder.name,
    }


def export_frames(frames: dict[str, pd.DataFrame], folder: str | Path) -> list[Path]:
    """Write each frame as CSV and Parquet into `folder`; returns the files written."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, frame in frames.items():
        frame.to_csv(folder / f"{name}.csv", index=False)
        frame.to_parquet(folder / f"{name}.parquet", index=False)
        written += [folder / f"{name}.csv", folder / f"{name}.parquet"]
    return written
