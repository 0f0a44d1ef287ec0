"""The architectures: an MLP and a small CNN, each a stack of blocks (`bnlab.layers.block`)
between an input step and a softmax classifier, for any data shape (`bnlab.DataShape`: 28x28
grayscale images and 10 classes for Fashion-MNIST).

Each builder takes a model's fields (a `TrialConfig`) and the data's shape and returns its
`Layer`s after the input, so the layers, their one-line summary and their parameter counts are
known without Keras. A user's own architectures join this registry (`bnlab.user_archs`).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from bnlab.data import DataShape
from bnlab.layers import ACTIVATIONS, INPUT_NORMS, Layer, block, get_registered, norm_layer

DEFAULT_HIDDEN = (300, 100)
DEFAULT_CONV = (32, 64)
KERNEL = 3
POOL = 2
# 28 -> 14 -> 7 -> 3 -> 1: a fifth 2x2 pooling would leave no pixels.
MAX_CONV_BLOCKS = 4


def _input_norm(name: str, channels: int) -> list[Layer]:
    kind = get_registered(INPUT_NORMS, name, "input_norm")
    return [] if kind is None else [norm_layer(kind, channels, None)]


def classifier(features: int, classes: int) -> Layer:
    return Layer(
        f"Dense({classes}, softmax)",
        lambda layers: layers.Dense(classes, activation="softmax"),
        trainable=features * classes + classes,
    )


def _initializer(config) -> str:
    return get_registered(ACTIVATIONS, config.activation, "activation").initializer


def mlp(config, shape: DataShape) -> list[Layer]:
    """Flatten, the input normalization, one block per hidden size, the classifier."""
    init = _initializer(config)
    stack = [Layer("Flatten", lambda layers: layers.Flatten())]
    width = math.prod(shape.input_shape)
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
    return [*stack, classifier(width, shape.num_classes)]


def conv_blocks_fit(input_shape: tuple[int, ...]) -> int:
    """How many conv blocks the cnn can stack on images of `input_shape` (each halves the
    sides: 28 -> 14 -> 7 -> 3 -> 1); 0 for inputs that are not images."""
    if len(input_shape) not in (2, 3):
        return 0
    return int(math.log2(min(input_shape[:2]))) if min(input_shape[:2]) >= 2 else 0


def cnn(config, shape: DataShape) -> list[Layer]:
    """The image with its channels, the input normalization, per size in `conv` a block of a
    3x3 convolution ('same' padding) followed by 2x2 max pooling, then Flatten and the
    classifier.

    Raises:
        ValueError: If the data are not images, or too small for the conv blocks.
    """
    fit = conv_blocks_fit(shape.input_shape)
    if len(config.conv) > fit:
        what = "images (N, H, W) or (N, H, W, C)" if fit == 0 else f"{fit} conv blocks on {shape.words()}"  # fmt: skip
        raise ValueError(
            f"The 'conv' parameter has {len(config.conv)} blocks; the cnn takes at most {what}. "
            f"Got {config.conv!r} instead."
        )
    init = _initializer(config)
    height, width, channels = (*shape.input_shape, 1)[:3]
    image = (height, width, channels)
    stack = [Layer(f"Reshape({'x'.join(map(str, image))})", lambda layers: layers.Reshape(image))]
    stack += _input_norm(config.input_norm, channels)
    sides = [height, width]
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
        channels, sides = filters, [n // POOL for n in sides]
    stack.append(Layer("Flatten", lambda layers: layers.Flatten()))
    return [*stack, classifier(sides[0] * sides[1] * channels, shape.num_classes)]


ARCHS: dict[str, Callable[..., list[Layer]]] = {"mlp": mlp, "cnn": cnn}
# The field that sizes each architecture; the other one is unused (and kept empty).
SIZE_FIELD = {"mlp": "hidden", "cnn": "conv"}
