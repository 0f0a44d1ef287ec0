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
