"""The architectures: an MLP and a small CNN for 28x28 grayscale images, each a stack of blocks
(`bnlab.layers.block`) between an input step and a softmax classifier.

Each builder takes a model's fields (a `TrialConfig`) and returns its `Layer`s after the input,
so the layers, their one-line summary and their parameter counts are known without Keras.
"""

from __future__ import annotations

from collections.abc import Callable

from bnlab.layers import ACTIVATIONS, INPUT_NORMS, Layer, block, get_registered, norm_layer

NUM_CLASSES = 10
IMAGE_SIZE = 28
DEFAULT_HIDDEN = (300, 100)
DEFAULT_CONV = (32, 64)
KERNEL = 3
POOL = 2
# 28 -> 14 -> 7 -> 3 -> 1: a fifth 2x2 pooling would leave no pixels.
MAX_CONV_BLOCKS = 4


def _input_norm(name: str, channels: int) -> list[Layer]:
    kind = get_registered(INPUT_NORMS, name, "input_norm")
    return [] if kind is None else [norm_layer(kind, channels, None)]


def _classifier(features: int) -> Layer:
    return Layer(
        f"Dense({NUM_CLASSES}, softmax)",
        lambda layers: layers.Dense(NUM_CLASSES, activation="softmax"),
        trainable=features * NUM_CLASSES + NUM_CLASSES,
    )


def _initializer(config) -> str:
    return get_registered(ACTIVATIONS, config.activation, "activation").initializer


def mlp(config) -> list[Layer]:
    """Flatten, the input normalization, one block per hidden size, the classifier."""
    init = _initializer(config)
    stack = [Layer("Flatten", lambda layers: layers.Flatten())]
    width = IMAGE_SIZE * IMAGE_SIZE
    stack += _input_norm(config.input_norm, width)
    for units in config.hidden:

        def dense(use_bias: bool, units=units, fan_in=width) -> Layer:
            return Layer(
                f"Dense({units}{'' if use_bias else ', no bias'})",
                lambda layers: layers.Dense(units, use_bias=use_bias, kernel_initializer=init),
                trainable=fan_in * units + (units if use_bias else 0),
            )

        stack += block(
            dense, units, config.placement, config.norm, config.activation, config.groups
        )
        width = units
    return [*stack, _classifier(width)]


def cnn(config) -> list[Layer]:
    """The image as one channel, the input normalization, per size in `conv` a block of a 3x3
    convolution ('same' padding) followed by 2x2 max pooling, then Flatten and the classifier."""
    init = _initializer(config)
    shape = (IMAGE_SIZE, IMAGE_SIZE, 1)
    stack = [Layer("Reshape(28x28x1)", lambda layers: layers.Reshape(shape))]
    stack += _input_norm(config.input_norm, 1)
    channels, side = 1, IMAGE_SIZE
    for filters in config.conv:

        def conv(use_bias: bool, filters=filters, fan_in=channels) -> Layer:
            return Layer(
                f"Conv{KERNEL}x{KERNEL}({filters}{'' if use_bias else ', no bias'})",
                lambda layers: layers.Conv2D(
                    filters, KERNEL, padding="same", use_bias=use_bias, kernel_initializer=init
                ),
                trainable=KERNEL * KERNEL * fan_in * filters + (filters if use_bias else 0),
            )

        stack += block(
            conv, filters, config.placement, config.norm, config.activation, config.groups
        )
        stack.append(Layer(f"MaxPool{POOL}", lambda layers: layers.MaxPooling2D(POOL)))
        channels, side = filters, side // POOL
    stack.append(Layer("Flatten", lambda layers: layers.Flatten()))
    return [*stack, _classifier(side * side * channels)]


ARCHS: dict[str, Callable[..., list[Layer]]] = {"mlp": mlp, "cnn": cnn}
# The field that sizes each architecture; the other one is unused (and kept empty).
SIZE_FIELD = {"mlp": "hidden", "cnn": "conv"}
