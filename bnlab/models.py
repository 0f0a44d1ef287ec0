"""The model variants: a registry of batch-normalization placements.

Each builder takes the `keras.layers` module and the hidden sizes and returns the layers after
the input. Keras is passed in rather than imported here so the registry's names can be read
(CLI choices, validation) without paying TensorFlow's start-up.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

NUM_CLASSES = 10
INPUT_SHAPE = (28, 28)
DEFAULT_HIDDEN = (300, 100)


def _no_bn(layers, hidden: Sequence[int]) -> list:
    """The baseline: He-initialised Dense layers with LeakyReLU, no normalization."""
    stack = [layers.Flatten()]
    for units in hidden:
        stack += [layers.Dense(units, kernel_initializer="he_normal"), layers.LeakyReLU()]
    return stack


def _bn_after_activation(layers, hidden: Sequence[int]) -> list:
    """BN on the input and after every activation (Dense with its activation built in)."""
    stack = [layers.Flatten(), layers.BatchNormalization()]
    for units in hidden:
        stack += [
            layers.Dense(units, activation="relu", kernel_initializer="he_normal"),
            layers.BatchNormalization(),
        ]
    return stack


def _bn_before_activation(layers, hidden: Sequence[int]) -> list:
    """BN between a bias-free Dense and its activation (BN's beta replaces the bias)."""
    stack = [layers.Flatten(), layers.BatchNormalization()]
    for units in hidden:
        stack += [
            layers.Dense(units, use_bias=False, kernel_initializer="he_normal"),
            layers.BatchNormalization(),
            layers.ReLU(),
        ]
    return stack


PLACEMENTS: dict[str, Callable[..., list]] = {
    "none": _no_bn,
    "after_activation": _bn_after_activation,
    "before_activation": _bn_before_activation,
}


def get_placement(name: str) -> Callable[..., list]:
    """The layer builder registered under `name`.

    Raises:
        ValueError: If `name` is not registered; the message lists the registered names.
    """
    if name not in PLACEMENTS:
        raise ValueError(
            f"The 'placement' parameter must be one of {sorted(PLACEMENTS)}. Got {name!r} instead."
        )
    return PLACEMENTS[name]


def build_model(placement: str, hidden: Sequence[int] = DEFAULT_HIDDEN, seed: int | None = None):
    """A fresh `keras.Sequential` classifier for 28x28 images with the given BN placement.

    Args:
        placement: A key of `PLACEMENTS`.
        hidden: Units of each hidden Dense layer.
        seed: If given, seeds Python, NumPy and TensorFlow first so initial weights repeat.
    """
    import keras

    builder = get_placement(placement)
    if seed is not None:
        keras.utils.set_random_seed(seed)
    layers = [keras.Input(INPUT_SHAPE), *builder(keras.layers, hidden)]
    layers.append(keras.layers.Dense(NUM_CLASSES, activation="softmax"))
    return keras.Sequential(layers, name=placement)


@dataclass(frozen=True)
class ParamCounts:
    """Parameter accounting; non-trainable are BN's moving mean and variance."""

    total: int
    trainable: int
    non_trainable: int


def count_params(model) -> ParamCounts:
    """Total, trainable and non-trainable parameter counts of a built Keras model."""
    trainable = sum(int(w.numpy().size) for w in model.trainable_weights)
    non_trainable = sum(int(w.numpy().size) for w in model.non_trainable_weights)
    return ParamCounts(trainable + non_trainable, trainable, non_trainable)
