"""Models composed from the registries: described without Keras, built with it.

bnlab.describe_model(bnlab.TrialConfig(placement="before_activation", norm="layer"))
bnlab.build_model(bnlab.TrialConfig(arch="cnn", activation="elu"), seed=0)
bnlab.build_model(config, seed=0, data=my_data)  # another dataset's shape and classes

Without `data` a model is for Fashion-MNIST (28x28 images, 10 classes). A user's architecture
(`bnlab.register_arch`) is described by building it, which needs TensorFlow.
"""

from __future__ import annotations

from dataclasses import dataclass

from bnlab.architectures import ARCHS
from bnlab.config import TrialConfig
from bnlab.data import FASHION_MNIST_SHAPE, Dataset, DataShape
from bnlab.layers import Layer
from bnlab.native import quiet_native_stderr
from bnlab.user_archs import UserArch

INPUT_SHAPE = FASHION_MNIST_SHAPE.input_shape
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


def data_shape(data: Dataset | DataShape | None) -> DataShape:
    """The shape a model is made for: a dataset's, a `DataShape`, or Fashion-MNIST's."""
    if data is None:
        return FASHION_MNIST_SHAPE
    if isinstance(data, Dataset):
        return data.shape
    if isinstance(data, DataShape):
        return data
    raise TypeError(
        "The 'data' parameter must be a bnlab.Dataset, a bnlab.DataShape or None. Got "
        f"{type(data).__name__} {data!r:.80} instead."
    )


def describe_model(
    config: TrialConfig | str | None = None, data: Dataset | DataShape | None = None, **fields
) -> ModelDescription:
    """The layers of a model and their parameter counts, without TensorFlow (but for a user's
    architecture, which is built to be counted).

    Args:
        config: A `TrialConfig`, a placement name, or None for `TrialConfig(**fields)`.
        data: The dataset (or its `DataShape`) the model is for; Fashion-MNIST's by default.
        **fields: `TrialConfig` fields to set or change (e.g. `norm="layer"`, `preset="seed"`).

    Raises:
        ValueError: If the architecture does not fit the data (a cnn on feature vectors).
    """
    config = _config(config, fields)
    return ModelDescription(tuple(ARCHS[config.arch](config, data_shape(data))))


def build_model(
    config: TrialConfig | str | None = None,
    seed: int | None = None,
    data: Dataset | DataShape | None = None,
    **fields,
):
    """A fresh `keras.Sequential` classifier for the data's examples (28x28 images by default).

    Args:
        config: A `TrialConfig`, a placement name, or None for `TrialConfig(**fields)`.
        seed: If given, seeds Python, NumPy and TensorFlow first so initial weights repeat.
        data: The dataset (or its `DataShape`) the model is for; Fashion-MNIST's by default.
        **fields: `TrialConfig` fields to set or change (e.g. `hidden=(64,)`, `preset="seed"`).
    """
    with quiet_native_stderr():
        import keras

    config = _config(config, fields)
    shape = data_shape(data)
    arch = ARCHS[config.arch]
    description = None if isinstance(arch, UserArch) else describe_model(config, shape)
    if seed is not None:
        keras.utils.set_random_seed(seed)
    if description is None:
        made = arch.keras_layers(config, shape)
    else:
        made = [layer.build(keras.layers) for layer in description.layers]
    return keras.Sequential([keras.Input(shape.input_shape), *made], name=config.placement)


def count_params(model) -> ParamCounts:
    """Total, trainable and non-trainable parameter counts of a built Keras model."""
    trainable = sum(int(w.numpy().size) for w in model.trainable_weights)
    non_trainable = sum(int(w.numpy().size) for w in model.non_trainable_weights)
    return ParamCounts(trainable + non_trainable, trainable, non_trainable)
