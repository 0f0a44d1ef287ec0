"""Models composed from the registries: described without Keras, built with it.

bnlab.describe_model(bnlab.TrialConfig(placement="before_activation", norm="layer"))
bnlab.build_model(bnlab.TrialConfig(arch="cnn", activation="elu"), seed=0)
"""

from __future__ import annotations

from dataclasses import dataclass

from bnlab.architectures import ARCHS, IMAGE_SIZE
from bnlab.config import TrialConfig
from bnlab.layers import Layer
from bnlab.native import quiet_native_stderr

INPUT_SHAPE = (IMAGE_SIZE, IMAGE_SIZE)
ARROW = " -> "


@dataclass(frozen=True)
class ParamCounts:
    """Parameter accounting; non-trainable are BN's moving statistics."""

    total: int
    trainable: int
    non_trainable: int


@dataclass(frozen=True)
class ModelDescription:
    """A model's layers after the input, and their parameter counts."""

    layers: tuple[Layer, ...]

    @property
    def params(self) -> ParamCounts:
        trainable = sum(layer.trainable for layer in self.layers)
        non_trainable = sum(layer.non_trainable for layer in self.layers)
        return ParamCounts(trainable + non_trainable, trainable, non_trainable)

    def line(self) -> str:
        """The layers in one line: 'Flatten -> Dense(300) -> ReLU -> ... -> Dense(10, softmax)'."""
        return ARROW.join(layer.label for layer in self.layers)


def _config(config: TrialConfig | str | None, fields: dict) -> TrialConfig:
    if config is None:
        return TrialConfig(**fields)
    if isinstance(config, TrialConfig):
        return config.replace(**fields) if fields else config
    if isinstance(config, str):
        return TrialConfig(placement=config, **fields)
    raise TypeError(
        "The 'config' parameter must be a bnlab.TrialConfig, a placement name (str) or None. "
        f"Got {type(config).__name__} {config!r:.80} instead."
    )


def describe_model(config: TrialConfig | str | None = None, **fields) -> ModelDescription:
    """The layers of a model and their parameter counts, without TensorFlow.

    Args:
        config: A `TrialConfig`, a placement name, or None for `TrialConfig(**fields)`.
        **fields: `TrialConfig` fields to set or change (e.g. `norm="layer"`, `preset="seed"`).
    """
    config = _config(config, fields)
    return ModelDescription(tuple(ARCHS[config.arch](config)))


def build_model(config: TrialConfig | str | None = None, seed: int | None = None, **fields):
    """A fresh `keras.Sequential` classifier for 28x28 images.

    Args:
        config: A `TrialConfig`, a placement name, or None for `TrialConfig(**fields)`.
        seed: If given, seeds Python, NumPy and TensorFlow first so initial weights repeat.
        **fields: `TrialConfig` fields to set or change (e.g. `hidden=(64,)`, `preset="seed"`).
    """
    with quiet_native_stderr():
        import keras

    config = _config(config, fields)
    description = describe_model(config)
    if seed is not None:
        keras.utils.set_random_seed(seed)
    layers = [
        keras.Input(INPUT_SHAPE),
        *(layer.build(keras.layers) for layer in description.layers),
    ]
    return keras.Sequential(layers, name=config.placement)


def count_params(model) -> ParamCounts:
    """Total, trainable and non-trainable parameter counts of a built Keras model."""
    trainable = sum(int(w.numpy().size) for w in model.trainable_weights)
    non_trainable = sum(int(w.numpy().size) for w in model.non_trainable_weights)
    return ParamCounts(trainable + non_trainable, trainable, non_trainable)
