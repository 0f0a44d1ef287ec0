"""Read a stored sweep into tidy pandas frames, without Ray or TensorFlow.

A sweep is an ordinary Tune experiment folder: one sub-folder per trial with `params.json`
(the trial's `TrialConfig` fields) and `result.json` (one JSON line per `tune.report`). Each
epoch's report has `final: false`; the trial's last report has `final: true` with the test
metrics, status and the whole history, which is what a finished trial's epochs are read from. A trial with no final report is `errored` if Tune left an error file,
otherwise `running` (unfinished or interrupted; its `problem` says so when it has no
result.json at all, as after the file was deleted).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pandas as pd

from reports.atomic import atomic_path
from reports.report_folder import REPORT_FRAMES, is_report_folder

METRICS = ["loss", "accuracy", "val_loss", "val_accuracy"]
# One column per axis of the grid. Sizes read as on the command line ('300x100'); an axis a
# model does not use is '' (the cnn's hidden sizes, the mlp's conv sizes, no preset), and a
# model without normalization has norm 'none'.
MODEL_COLUMNS = ["arch", "hidden", "conv", "norm", "activation", "input_norm", "preset"]
CONFIG_COLUMNS = ["placement", "lr", "seed", *MODEL_COLUMNS, "batch_size", "optimizer", "epochs"]
REQUIRED_PARAMS = ["placement", "lr", "seed", "batch_size", "optimizer", "hidden", "epochs"]
# Runs made before models were composed hold the reference notebook's models: the seed preset.
_LEGACY_SEED = {
    "none": {"activation": "leaky_relu", "input_norm": "none", "norm": "none"},
    "after_activation": {"activation": "relu", "input_norm": "batch", "norm": "batch"},
    "before_activation": {"activation": "relu", "input_norm": "batch", "norm": "batch"},
}
# A trial folder without result.json: Tune writes it with the first report (or it was deleted).
NO_RESULTS = "no result.json (no report yet, or it was deleted)"
HISTORY_COLUMNS = ["trial_id", *CONFIG_COLUMNS, "epoch", *METRICS, "epoch_seconds"]
TRIAL_COLUMNS = [
    "trial_id",
    *CONFIG_COLUMNS,
    "groups",
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
    "last_timestamp",
    "problem",
    "trial_dir",
]


def hidden_label(hidden) -> str:
    """Hidden sizes as one hashable label, the CLI's own spelling: [300, 100] -> '300x100'."""
    return "x".join(str(n) for n in hidden)


def _read_results(path: Path) -> tuple[list[dict], str]:
    """The report rows of a result.json and what was wrong with it ('' if nothing)."""
    if not path.is_file():
        return [], ""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        return [], f"result.json cannot be read ({err})"
    lines = text.split("\n")
    rows = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            if number == len(lines):  # no newline after it: a line cut short by a killed writer
                break
            return rows, f"result.json line {number} is not JSON"
        if not isinstance(row, dict):
            return rows, f"result.json line {number} is not a JSON object"
        rows.append(row)
    return rows, ""


def _read_params(folder: Path) -> tuple[dict | None, str]:
    path = folder / "params.json"
    if not path.is_file():
        return None, "params.json is missing"
    try:
        params = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        return None, f"params.json is damaged ({err})"
    if isinstance(params, dict) and isinstance(params.get("trial"), dict):
        params = params["trial"]  # the sweep's Tune config: {"trial": TrialConfig.to_dict()}
    if not isinstance(params, dict):
        return None, "params.json is not a JSON object"
    missing = [k for k in REQUIRED_PARAMS if k not in params]
    if missing:
        return None, f"params.json lacks {', '.join(missing)}"
    return params, ""


def _config(params: dict) -> dict:
    placement = str(params["placement"])
    if "arch" not in params:
        params = {**params, "arch": "mlp", "preset": "seed", **_LEGACY_SEED.get(placement, {})}
    return {
        "placement": placement,
        "lr": float(params["lr"]),
        "seed": int(params["seed"]),
        "arch": str(params["arch"]),
        "hidden": hidden_label(params["hidden"]),
        "conv": hidden_label(params.get("conv") or ()),
        "norm": str(params["norm"]),
        "activation": str(params["activation"]),
        "input_norm": str(params["input_norm"]),
        "preset": str(params.get("preset") or ""),
        "batch_size": int(params["batch_size"]),
        "optimizer": str(params["optimizer"]),
        "epochs": int(params["epochs"]),
    }


# Files Tune writes into every trial folder; a folder with none of them is not a trial.
_TRIAL_FILES = ("params.json", "params.pkl", "result.json", "progress.csv")


def _is_trial(folder: Path) -> bool:
    try:
        return folder.is_dir() and any((folder / f).exists() for f in _TRIAL_FILES)
    except OSError:  # a folder that cannot be searched: listed, as damaged
        return folder.name != "report" and not folder.name.startswith(".")


def trial_dirs(run_dir: str | Path) -> list[Path]:
    """Every trial folder of a run, in a stable order (also those whose files are damaged):
    the grid's in the run's folder, a settling run's later looks' in RUN/look-K."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return []
    looks = [p for p in run_dir.iterdir() if p.is_dir() and re.fullmatch(r"look-\d+", p.name)]
    folders = [p for folder in [run_dir, *looks] for p in folder.iterdir() if p.name != "report"]
    return sorted((p for p in folders if _is_trial(p)), key=lambda p: p.relative_to(run_dir).parts)


def load_frames(run_dir: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The `history` (one row per trial and epoch) and `trials` (one row per trial) frames.

    An empty or missing run gives empty frames with the right columns. A trial whose files are
    damaged is one row with status `damaged` and what is wrong in `problem`; it has no history.
    """
    history_rows, trial_rows = [], []
    for folder in trial_dirs(run_dir):
        try:
            rows, row = _read_trial(folder, folder.relative_to(run_dir).as_posix())
        except OSError as err:
            problem = f"cannot be read ({err.strerror or err})"
            rows, row = [], _damaged(folder, folder.relative_to(run_dir).as_posix(), problem)
        except (KeyError, TypeError, ValueError) as err:
            problem = f"unreadable values ({type(err).__name__}: {err})"
            rows, row = [], _damaged(folder, folder.relative_to(run_dir).as_posix(), problem)
        history_rows += rows
        trial_rows.append(row)
    history = pd.DataFrame(history_rows, columns=HISTORY_COLUMNS)
    trials = pd.DataFrame(trial_rows, columns=TRIAL_COLUMNS)
    return history, trials


def read_run(folder: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`history` and `trials` of a run folder (`load_frames`), or of a report folder (the frames
    it exported, such as docs/default-study)."""
    if is_report_folder(folder):
        return tuple(pd.read_parquet(Path(folder) / name) for name in REPORT_FRAMES)
    return load_frames(folder)


def _damaged(folder: Path, label: str, problem: str) -> dict:
    return {
        "trial_id": folder.name,
        "status": "damaged",
        "problem": problem,
        "trial_dir": label,
    }


def _read_trial(folder: Path, label: str) -> tuple[list[dict], dict]:
    """One trial's epochs and row; `label` is its folder relative to the run's."""
    params, problem = _read_params(folder)
    results, results_problem = _read_results(folder / "result.json")
    problem = problem or results_problem
    if problem:
        return [], _damaged(folder, label, problem)
    config = _config(params)
    trial_id = str(results[0].get("trial_id", folder.name)) if results else folder.name
    epochs = {}
    for row in results:
        if not row.get("final") and "epoch" in row:
            epochs[int(row["epoch"])] = row  # a retried epoch replaces its earlier report
    final = next((r for r in reversed(results) if r.get("final")), None)
    if final is not None and "history" in final:
        epochs = _final_history(final["history"])
    history = [
        {
            "trial_id": trial_id,
            **config,
            "epoch": epoch,
            **{k: _float(row.get(k)) for k in [*METRICS, "epoch_seconds"]},
        }
        for epoch, row in sorted(epochs.items())
    ]
    return history, _trial_row(folder, label, trial_id, params, config, results, epochs)


def _final_history(text) -> dict[int, dict]:
    """The epochs of a trial's final report, the trainer's whole history.

    It wins over the epoch rows: those a retried trial reported since Tune last copied its
    results to storage may be missing.

    Raises:
        ValueError: If it is not a JSON list of epoch objects.
    """
    rows = json.loads(text)
    if not isinstance(rows, list) or not all(isinstance(r, dict) and "epoch" in r for r in rows):
        raise ValueError("the final report's history is not a list of epochs")
    return {int(row["epoch"]): row for row in rows}


def _float(value) -> float | None:
    return None if value is None else float(value)


def _trial_row(folder, label, trial_id, params, config, results, epochs) -> dict:
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
        "groups": params.get("groups"),
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
        "last_timestamp": results[-1].get("timestamp") if results else None,
        "problem": "" if results else NO_RESULTS,
        "trial_dir": label,
    }


def export_frames(frames: dict[str, pd.DataFrame], folder: str | Path) -> list[Path]:
    """Write each frame as CSV and Parquet into `folder`; returns the files written."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, frame in frames.items():
        # Text in pandas' default storage, whichever storage computed it (`html.compute`):
        # the same Parquet schema from every report.
        text = [c for c, kind in frame.dtypes.items() if isinstance(kind, pd.StringDtype)]
        frame = frame.astype(dict.fromkeys(text, "str"))
        for suffix, write in ((".csv", frame.to_csv), (".parquet", frame.to_parquet)):
            with atomic_path(folder / f"{name}{suffix}") as tmp:
                write(tmp, index=False)
            written.append(folder / f"{name}{suffix}")
    return written
