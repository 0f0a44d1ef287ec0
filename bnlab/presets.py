"""Named presets: a set of models fixed per placement.

`seed` is the reference notebook this project grew from. Its models differ in more than the
placement: `none` uses LeakyReLU on raw pixels, the BN models use ReLU and a BatchNormalization
on the input. The preset reproduces them exactly; reports say that its comparisons mix those
differences.
"""

from __future__ import annotations

_SEED_BN = {"arch": "mlp", "norm": "batch", "activation": "relu", "input_norm": "batch"}

PRESETS: dict[str, dict[str, dict[str, str]]] = {
    "seed": {
        "none": {"arch": "mlp", "norm": "none", "activation": "leaky_relu", "input_norm": "none"},
        "after_activation": _SEED_BN,
        "before_activation": _SEED_BN,
    },
}
