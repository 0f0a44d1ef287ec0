"""A user's own architecture gets every placement, norm kind and activation through the block
factory, on the user's own data, with the same determinism as the built-in ones."""

import numpy as np
import pytest

import bnlab
from bnlab.user_archs import import_arch_module
from tests.user_archs import two_block_cnn

SHAPE = bnlab.DataShape((8, 8), 3)


@pytest.fixture(autouse=True)
def _registered():
    bnlab.register_arch("two_block_cnn", two_block_cnn, replace=True)


@pytest.mark.parametrize(
    ("placement", "line"),
    [
        ("none", "Reshape(8x8x1) -> Conv2D(8) -> ReLU -> MaxPooling2D -> Conv2D(16) -> ReLU"),
        ("before_activation", "Reshape(8x8x1) -> Conv2D(8, no bias) -> BatchNormalization -> ReLU"),
        ("after_activation", "Reshape(8x8x1) -> Conv2D(8) -> ReLU -> BatchNormalization -> MaxPooling2D"),
    ],
)  # fmt: skip
def test_the_block_factory_puts_the_norm_where_the_placement_says(placement, line):
    config = bnlab.TrialConfig(arch="two_block_cnn", placement=placement)
    description = bnlab.describe_model(config, SHAPE)
    assert description.line().startswith(line)
    assert description.line().endswith("GlobalAveragePooling2D -> Dense(3, softmax)")
    assert description.params == bnlab.count_params(bnlab.build_model(config, seed=0, data=SHAPE))
    assert (config.hidden, config.conv) == ((), ())  # its sizes are its own


@pytest.mark.parametrize(("norm", "activation"), [("layer", "elu"), ("group", "gelu"), ("batch_renorm", "selu")])  # fmt: skip
def test_every_norm_kind_and_activation_reaches_a_user_s_blocks(norm, activation):
    config = bnlab.TrialConfig(arch="two_block_cnn", placement="before_activation", norm=norm, activation=activation)  # fmt: skip
    model = bnlab.build_model(config, seed=0, data=SHAPE)
    kinds = {type(layer).__name__ for layer in model.layers}
    expected = {"layer": "LayerNormalization", "group": "GroupNormalization", "batch_renorm": "BatchNormalization"}  # fmt: skip
    assert expected[norm] in kinds


def test_a_user_s_architecture_trains_deterministically_on_a_user_s_data(toy_npz):
    data = bnlab.load_dataset(toy_npz)
    config = bnlab.TrialConfig(arch="two_block_cnn", placement="before_activation", lr=0.1, epochs=2, seed=3)  # fmt: skip
    first, again = bnlab.train(config, data), bnlab.train(config, data, reuse=False)
    assert first.history == [{**row, "epoch_seconds": r["epoch_seconds"]} for row, r in zip(again.history, first.history, strict=True)]  # fmt: skip
    assert first.test_accuracy == again.test_accuracy and first.status == "completed"
    weights = bnlab.build_model(config, seed=3, data=data).get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(weights, bnlab.build_model(config, seed=3, data=data).get_weights(), strict=True))  # fmt: skip


@pytest.mark.parametrize(
    ("name", "builder", "error", "match"),
    [
        ("Mine", two_block_cnn, ValueError, "'name' parameter must be snake_case"),
        ("cnn", two_block_cnn, ValueError, "must not be a built-in architecture"),
        ("two_block_cnn", lambda block, shape: [], ValueError, "already registered"),
        ("mine", "not callable", TypeError, "'builder' parameter must be callable"),
    ],
)
def test_register_arch_refuses_what_it_cannot_keep(name, builder, error, match):
    with pytest.raises(error, match=match):
        bnlab.register_arch(name, builder)


def test_a_builder_that_does_not_end_flat_or_returns_no_layers_is_named():
    bnlab.register_arch("not_flat", lambda block, shape: [*block.dense(4)] and _unflat(block, shape), replace=True)  # fmt: skip
    with pytest.raises(ValueError, match="'not_flat' must end with one vector per example"):
        bnlab.describe_model(bnlab.TrialConfig(arch="not_flat"), SHAPE)
    bnlab.register_arch("no_layers", lambda block, shape: "Dense", replace=True)
    with pytest.raises(ValueError, match="'no_layers' must return a list of Keras layers"):
        bnlab.describe_model(bnlab.TrialConfig(arch="no_layers"), SHAPE)


def _unflat(block, shape):
    from keras import layers

    return [layers.Reshape((*shape, 1)), *block.conv(4)]


def test_the_cnn_needs_images_big_enough_for_its_blocks():
    with pytest.raises(ValueError, match="the cnn takes at most images"):
        bnlab.describe_model(bnlab.TrialConfig(arch="cnn"), bnlab.DataShape((20,), 3))
    with pytest.raises(ValueError, match="the cnn takes at most 2 conv blocks on 4x4"):
        bnlab.describe_model(bnlab.TrialConfig(arch="cnn", conv=(8, 8, 8)), bnlab.DataShape((4, 4), 3))  # fmt: skip


@pytest.mark.parametrize(
    ("module", "match"),
    [
        ("no_such_module_here", r"cannot import 'no_such_module_here' \(ModuleNotFoundError"),
        ("json", "'json' registers no architecture; call bnlab.register_arch"),
    ],
)
def test_an_arch_module_that_cannot_be_used_is_named(module, match):
    with pytest.raises(ValueError, match=match):
        import_arch_module(module)
