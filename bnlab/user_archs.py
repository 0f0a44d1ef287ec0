"""A user's own architectures, with every placement, norm kind and activation of the grid.

A builder takes the block factory and the shape of one example and returns Keras layers; bnlab
puts the input normalization before them and the softmax classifier after them:

    import bnlab
    from keras import layers

    def two_block_cnn(block, input_shape):
        return [
            layers.Reshape((*input_shape[:2], 1)),
            *block.conv(16),            # Conv2D(16, 3x3) with the norm and the activation
            layers.MaxPooling2D(2),     #   in the order the trial's placement says
            *block.conv(32),
            layers.GlobalAveragePooling2D(),
        ]

    bnlab.register_arch("two_block_cnn", two_block_cnn)

`--arch-module mypkg.models` imports such a module before the grid is read (a module may also
hold `ARCHS = {"name": builder}` instead of calling `register_arch`). The builder's layers are
built with Keras to count their parameters, so describing a user's model imports TensorFlow.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bnlab.architectures import ARCHS, classifier
from bnlab.data import DataShape
from bnlab.layers import ACTIVATIONS, INPUT_NORMS, Layer, block, get_registered, norm_layer
from bnlab.native import quiet_native_stderr

BUILTIN = frozenset(ARCHS)
_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")


class BlockFactory:
    """Blocks of the trial's model: a linear layer, the normalization and the activation, in
    the order the trial's placement says (before the activation the linear layer has no bias),
    with the activation's weight initializer.

    Call it with a Keras layer class and its width (`block(layers.Conv1D, 8, kernel_size=5)`),
    or use `dense(units)` and `conv(filters)` (a 3x3 Conv2D with 'same' padding).
    """

    def __init__(self, config, keras_layers):
        self.placement, self.norm = config.placement, config.norm
        self.activation, self.groups = config.activation, config.groups
        self._layers = keras_layers
        self._init = get_registered(ACTIVATIONS, config.activation, "activation").initializer

    def __call__(self, layer_class, width: int, **options) -> list:
        def linear(use_bias: bool) -> Layer:
            options.update(use_bias=use_bias, kernel_initializer=self._init)
            return Layer(layer_class.__name__, lambda _: layer_class(width, **options))

        steps = block(linear, width, self.placement, self.norm, self.activation, self.groups)
        return [step.build(self._layers) for step in steps]

    def dense(self, units: int) -> list:
        return self(self._layers.Dense, units)

    def conv(self, filters: int, kernel_size: int = 3, **options) -> list:
        return self(self._layers.Conv2D, filters, kernel_size=kernel_size, padding="same", **options)  # fmt: skip


@dataclass(frozen=True)
class UserArch:
    """A registered builder (see the module docstring)."""

    name: str
    builder: Callable
    _described: dict = field(default_factory=dict, compare=False, repr=False)

    def keras_layers(self, config, shape: DataShape) -> list:
        """The model's layers after its input, made now (under the caller's seed)."""
        with quiet_native_stderr():
            import keras
        made = self.builder(BlockFactory(config, keras.layers), tuple(shape.input_shape))
        if not isinstance(made, list | tuple) or not all(isinstance(m, keras.layers.Layer) for m in made):  # fmt: skip
            raise ValueError(
                f"Architecture {self.name!r} must return a list of Keras layers. Got "
                f"{type(made).__name__} {made!r:.80} instead."
            )
        kind = get_registered(INPUT_NORMS, config.input_norm, "input_norm")
        first = [] if kind is None else [norm_layer(kind, shape.input_shape[-1], None).build(keras.layers)]  # fmt: skip
        return [*first, *made, classifier(0, shape.num_classes).build(keras.layers)]

    def __call__(self, config, shape: DataShape) -> list[Layer]:
        """The model described: each layer's label and parameter counts, from a build (kept:
        a sweep describes each of its models many times)."""
        key = (tuple(config.model_fields.items()), shape)
        if key not in self._described:
            self._described[key] = self._describe(config, shape)
        return self._described[key]

    def _describe(self, config, shape: DataShape) -> list[Layer]:
        # TensorFlow's first op writes its device notes to fd 2 (no CUDA here, ...).
        with quiet_native_stderr():
            import keras

            layers = self.keras_layers(config, shape)
            model = keras.Sequential([keras.Input(shape.input_shape), *layers])
        if tuple(model.output_shape) != (None, shape.num_classes):
            raise ValueError(
                f"Architecture {self.name!r} must end with one vector per example (e.g. "
                f"keras.layers.Flatten()); its layers end in {tuple(model.output_shape[1:-1])} "
                "before the classifier."
            )
        return [_described(layer) for layer in layers]


def _described(layer) -> Layer:
    trainable = sum(int(w.numpy().size) for w in layer.trainable_weights)
    frozen = sum(int(w.numpy().size) for w in layer.non_trainable_weights)
    return Layer(_label(layer), lambda _: layer, trainable=trainable, non_trainable=frozen)


def _label(layer) -> str:
    """'Conv2D(16, no bias)', 'Dense(3, softmax)', 'Reshape(8x8x1)', 'ReLU', ..."""
    config = layer.get_config()
    name = type(layer).__name__
    width = config.get("filters", config.get("units"))
    if width is not None:
        bias = "" if config.get("use_bias", True) else ", no bias"
        activation = config.get("activation")
        activation = f", {activation}" if isinstance(activation, str) and activation != "linear" else ""  # fmt: skip
        return f"{name}({width}{bias}{activation})"
    if "target_shape" in config:
        return f"{name}({'x'.join(map(str, config['target_shape']))})"
    return name


def register_arch(name: str, builder: Callable, replace: bool = False) -> None:
    """Add a user's architecture to `bnlab.ARCHS` (module docstring).

    Args:
        name: Its name in the grid, `--archs` and the reports: snake_case, at most 40
            characters, not a built-in architecture's.
        builder: `builder(block, input_shape) -> list of Keras layers`.
        replace: Whether a user architecture of that name may be replaced (a worker
            registering the driver's builders again).

    Raises:
        ValueError: A bad name, a built-in name, or a name already registered.
        TypeError: If `builder` is not callable.
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(f"The 'name' parameter must be snake_case (a-z, 0-9, _; at most 40 characters, starting with a letter). Got {name!r} instead.")  # fmt: skip
    if name in BUILTIN:
        raise ValueError(f"The 'name' parameter must not be a built-in architecture ({sorted(BUILTIN)}). Got {name!r} instead.")  # fmt: skip
    if not callable(builder):
        raise TypeError(f"The 'builder' parameter must be callable (block, input_shape) -> layers. Got {type(builder).__name__} instead.")  # fmt: skip
    existing = ARCHS.get(name)
    if existing is not None and not replace and existing.builder is not builder:
        raise ValueError(f"The 'name' parameter names an architecture already registered ({name!r}); choose another name.")  # fmt: skip
    ARCHS[name] = UserArch(name, builder)


def user_archs() -> dict[str, Callable]:
    """The registered user architectures' builders, by name (to register them again in a
    worker process)."""
    return {name: arch.builder for name, arch in ARCHS.items() if isinstance(arch, UserArch)}


def import_arch_module(module: str) -> list[str]:
    """Import the module `module` (a dotted name) and register its architectures: those it
    registers itself and those in its `ARCHS` dict.

    Returns:
        The names it added.

    Raises:
        ValueError: If it cannot be imported, or adds no architecture.
    """
    before = set(ARCHS)
    try:
        imported = importlib.import_module(module)
    except (Exception, SystemExit) as err:  # a user's module may fail in any way: one line
        raise ValueError(
            f"cannot import {module!r} ({type(err).__name__}: {' '.join(str(err).split())[:200]}); "
            "it must be importable from the current folder or PYTHONPATH."
        ) from None
    for name, builder in (getattr(imported, "ARCHS", None) or {}).items():
        register_arch(name, builder, replace=True)
    added = sorted(set(ARCHS) - before) or sorted(
        name for name, arch in ARCHS.items() if isinstance(arch, UserArch) and _from(arch, imported)
    )
    if not added:
        raise ValueError(
            f"{module!r} registers no architecture; call bnlab.register_arch(name, builder) in it, "
            "or give it an ARCHS dict of name -> builder."
        )
    return added


def module_root(module: str) -> str:
    """The folder `module` (imported) was found under: what a worker's PYTHONPATH needs."""
    imported = importlib.import_module(module)
    path = Path(imported.__file__).resolve()
    depth = module.count(".") + (1 if path.name == "__init__.py" else 0)
    return str(path.parents[depth])


def _from(arch: UserArch, module) -> bool:
    return getattr(arch.builder, "__module__", None) == module.__name__
