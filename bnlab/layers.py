"""The registries a model is composed from: normalization kinds, activations, placements and
input normalizations, and the block they make.

A block is a linear layer (Dense or a 3x3 convolution), a normalization and an activation; the
placement says where the normalization sits. Every layer is described as a `Layer`: a label,
its parameter counts and how to build it from `keras.layers`. Keras is passed in rather than
imported here, so names, labels and parameter counts are known without TensorFlow's start-up.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Layer:
    """One layer of a model, described without Keras.

    Attributes:
        label: How the layer reads in a one-line summary, e.g. 'Dense(300, no bias)'.
        trainable: Trainable parameters.
        non_trainable: Non-trainable parameters (BN's moving statistics).
        build: `keras.layers` -> the Keras layer.
    """

    label: str
    build: Callable[[Any], Any]
    trainable: int = 0
    non_trainable: int = 0


@dataclass(frozen=True)
class Norm:
    """A normalization kind: its Keras layer and what it keeps per channel."""

    label: str
    build: Callable[[Any, int | None], Any]  # (keras.layers, groups) -> layer
    moving_per_channel: int  # non-trainable statistics per channel


NORMS: dict[str, Norm] = {
    "batch": Norm("BN", lambda layers, groups: layers.BatchNormalization(), 2),
    "layer": Norm("LN", lambda layers, groups: layers.LayerNormalization(), 0),
    "group": Norm("GN", lambda layers, groups: layers.GroupNormalization(groups=groups), 0),
    # Batch renormalization (Ioffe 2017): BN plus its own moving mean and stddev, and a moving
    # stddev, all non-trainable.
    "batch_renorm": Norm("BRN", lambda layers, groups: layers.BatchNormalization(renorm=True), 5),
}
NO_NORM = "none"  # the norm of a model without normalization layers (placement 'none')


@dataclass(frozen=True)
class Activation:
    """An activation layer, and the weight initializer its linear layers use."""

    label: str
    build: Callable[[Any], Any]
    initializer: str


ACTIVATIONS: dict[str, Activation] = {
    "relu": Activation("ReLU", lambda layers: layers.ReLU(), "he_normal"),
    "leaky_relu": Activation("LeakyReLU", lambda layers: layers.LeakyReLU(), "he_normal"),
    "elu": Activation("ELU", lambda layers: layers.ELU(), "he_normal"),
    # SELU keeps activations normalized only with LeCun-normal weights (Klambauer et al. 2017).
    "selu": Activation("SELU", lambda layers: layers.Activation("selu"), "lecun_normal"),
    "gelu": Activation("GELU", lambda layers: layers.Activation("gelu"), "he_normal"),
}

# Where the normalization sits in a block, as the block's steps in order. Before the
# activation the linear layer has no bias: the normalization's beta replaces it.
PLACEMENTS: dict[str, tuple[str, ...]] = {
    "none": ("linear", "act"),
    "after_activation": ("linear", "act", "norm"),
    "before_activation": ("linear_no_bias", "norm", "act"),
}

# What happens to the pixels (scaled to [0, 1]) before the first block.
INPUT_NORMS: dict[str, str | None] = {
    "none": None,
    "batch": "batch",  # a BatchNormalization on the input, as the reference notebook does
}


def get_registered(registry: dict, name: str, parameter: str):
    """The entry of `registry` named `name`.

    Raises:
        ValueError: If `name` is not registered; the message lists the registered names.
    """
    if name not in registry:
        raise ValueError(
            f"The '{parameter}' parameter must be one of {sorted(registry)}. Got {name!r} instead."
        )
    return registry[name]


def norm_layer(name: str, channels: int, groups: int | None) -> Layer:
    """The normalization `name` over `channels` channels."""
    norm = get_registered(NORMS, name, "norm")
    label = norm.label if name != "group" else f"GN({groups})"
    return Layer(
        label,
        lambda layers: norm.build(layers, groups),
        trainable=2 * channels,
        non_trainable=norm.moving_per_channel * channels,
    )


def activation_layer(name: str) -> Layer:
    activation = get_registered(ACTIVATIONS, name, "activation")
    return Layer(activation.label, activation.build)


def block(
    linear: Callable[[bool], Layer],
    channels: int,
    placement: str,
    norm: str,
    activation: str,
    groups: int | None,
) -> list[Layer]:
    """One block: `linear(use_bias)` with the normalization and activation in `placement`'s
    order."""
    steps = {
        "linear": lambda: linear(True),
        "linear_no_bias": lambda: linear(False),
        "norm": lambda: norm_layer(norm, channels, groups),
        "act": lambda: activation_layer(activation),
    }
    return [steps[step]() for step in get_registered(PLACEMENTS, placement, "placement")]


def uses_norm(placement: str) -> bool:
    """Whether a placement's blocks hold a normalization layer."""
    return "norm" in get_registered(PLACEMENTS, placement, "placement")
