"""Small hand-made trial frames for the statistics tests."""

import pandas as pd

CONTEXT = {
    "arch": "mlp",
    "hidden": "300x100",
    "conv": "",
    "norm": "batch",
    "activation": "relu",
    "input_norm": "none",
    "preset": "",
    "batch_size": 32,
    "optimizer": "sgd",
    "epochs": 2,
}


def trials_frame(cells: dict, **context) -> pd.DataFrame:
    """{(placement, lr): [val accuracy per seed, or 'diverged']} -> a trials frame.

    Test accuracy is the validation accuracy minus 0.01 unless a cell gives (val, test) pairs.
    `context` overrides `CONTEXT` (e.g. activation="elu"); placement 'none' gets norm 'none',
    as the sweep records it.
    """
    setting = {**CONTEXT, **context}
    rows = []
    for (placement, lr), values in cells.items():
        for seed, value in enumerate(values):
            diverged = value == "diverged"
            val, test = (
                (value if isinstance(value, tuple) else (value, None))
                if not diverged
                else (float("nan"), None)
            )
            rows.append(
                {
                    **setting,
                    "norm": "none" if placement == "none" else setting["norm"],
                    "trial_id": f"{placement}-{lr}-{seed}-{'-'.join(map(str, context.values()))}",
                    "placement": placement,
                    "lr": lr,
                    "seed": seed,
                    "status": "diverged" if diverged else "completed",
                    "final_val_accuracy": val,
                    "best_val_accuracy": val,
                    "test_accuracy": test if test is not None else val - 0.01,
                    "mean_epoch_seconds": 1.0,
                    "params_trainable": 1000,
                    "params_non_trainable": 0 if placement == "none" else 40,
                }
            )
    return pd.DataFrame(rows)


def write_run(folder, cells: dict, epochs: int = 2) -> None:
    """A small run folder in the layout a sweep writes (no training): its spec and, per trial,
    `params.json` and `result.json` with one row per epoch and the final row.

    `cells`: {(placement, lr): [final val accuracy per seed, or 'diverged']}.
    """
    import json
    from pathlib import Path

    from bnlab import TrialConfig

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sweep_spec.json").write_text(
        json.dumps({"command": "made by a test", "margin": 0.3})
    )
    number = 0
    for (placement, lr), values in cells.items():
        for seed, value in enumerate(values):
            config = TrialConfig(placement=placement, lr=lr, seed=seed, epochs=epochs)
            trial = folder / f"mlp-{placement}-lr{lr:g}-s{seed}_aaaaa_{number:05d}"
            number += 1
            trial.mkdir()
            (trial / "params.json").write_text(json.dumps({"trial": config.to_dict()}))
            diverged = value == "diverged"
            history = [
                {
                    "epoch": e + 1,
                    "loss": float("nan") if diverged else 1.0 / (e + 1),
                    "accuracy": 0.1 if diverged else value,
                    "val_loss": float("nan") if diverged else 1.0 / (e + 1),
                    "val_accuracy": 0.1 if diverged else value - 0.01 * (epochs - 1 - e),
                    "epoch_seconds": 0.5,
                }
                for e in range(1 if diverged else epochs)
            ]
            final = {
                **history[-1],
                "final": True,
                "status": "diverged" if diverged else "completed",
                "test_accuracy": 0.1 if diverged else value - 0.01,
                "test_loss": 1.0,
                "params_total": 1000,
                "params_trainable": 1000,
                "params_non_trainable": 0,
                "history": json.dumps(history),
                "trial_id": f"aaaaa_{number:05d}",
                "pid": 1,
                "node_id": "n",
                "hostname": "h",
                "timestamp": 1_700_000_000 + number,
            }
            rows = [{**row, "final": False} for row in history[:-1]] + [final]
            (trial / "result.json").write_text("".join(json.dumps(r) + "\n" for r in rows))
