"""The optimizer registry: name -> builder taking `keras.optimizers` and a learning rate.

Keras is passed in, as in `bnlab.models`, so the names can be read without TensorFlow.
"""

from __future__ import annotations

from collections.abc import Callable

OPTIMIZERS: dict[str, Callable] = {
    "sgd": lambda optimizers, lr: optimizers.SGD(learning_rate=lr),
    "momentum": lambda optimizers, lr: optimizers.SGD(learning_rate=lr, momentum=0.9),
    "adam": lambda optimizers, lr: optimizers.Adam(learning_rate=lr),
}


def build_optimizer(name: str, lr: float):
    """A fresh Keras optimizer registered under `name`.

    Raises:
        ValueError: If `name` is not registered; the message lists the registered names.
    """
    if name not in OPTIMIZERS:
        raise ValueError(
            f"The 'optimizer' parameter must be one of {sorted(OPTIMIZERS)}. Got {name!r} instead."
        )
    import keras

    return OPTIMIZERS[name](keras.optimizers, lr)
