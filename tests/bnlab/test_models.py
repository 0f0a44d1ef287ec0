import itertools
import subprocess
import sys

import pytest

from bnlab import (
    ACTIVATIONS,
    ARCHS,
    INPUT_NORMS,
    NORMS,
    PLACEMENTS,
    TrialConfig,
    build_model,
    count_params,
    describe_model,
)

SEED_MODELS = {
    "none": "Flatten -> Dense(300) -> LeakyReLU -> Dense(100) -> LeakyReLU -> Dense(10, softmax)",
    "after_activation": "Flatten -> BN -> Dense(300) -> ReLU -> BN -> Dense(100) -> ReLU -> BN -> "
    "Dense(10, softmax)",
    "before_activation": "Flatten -> BN -> Dense(300, no bias) -> BN -> ReLU -> Dense(100, no bias) "
    "-> BN -> ReLU -> Dense(10, softmax)",
}


@pytest.mark.parametrize(
    ("placement", "total", "trainable", "non_trainable"),
    [
        ("none", 266_610, 266_610, 0),
        ("after_activation", 271_346, 268_978, 2_368),
        ("before_activation", 270_946, 268_578, 2_368),
    ],
)
def test_the_seed_preset_is_the_reference_notebook(placement, total, trainable, non_trainable):
    model = build_model(placement, preset="seed")
    counts = count_params(model)
    assert (counts.total, counts.trainable, counts.non_trainable) == (
        total,
        trainable,
        non_trainable,
    )
    assert describe_model(placement, preset="seed").line() == SEED_MODELS[placement]
    assert describe_model(placement, preset="seed").params == counts


# Every registry key at least once, and every architecture x placement x norm kind.
_COMBINATIONS = [
    *(
        {"arch": arch, "placement": placement, "norm": norm}
        for arch, placement, norm in itertools.product(ARCHS, PLACEMENTS, NORMS)
        if placement != "none" or norm == "batch"
    ),
    *({"placement": "before_activation", "activation": a} for a in ACTIVATIONS),
    *({"arch": arch, "input_norm": n} for arch in ARCHS for n in INPUT_NORMS),
]


@pytest.mark.parametrize("fields", _COMBINATIONS, ids=lambda f: "-".join(map(str, f.values())))
def test_described_parameters_are_keras_own_count(fields):
    config = TrialConfig(hidden=(40, 20), conv=(8, 16), **fields)
    model = build_model(config)
    assert describe_model(config).params == count_params(model)
    assert model.output_shape == (None, 10)
    assert len(model.layers) == len(describe_model(config).layers)


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_before_activation_linear_layers_have_no_bias(arch):
    model = build_model("before_activation", arch=arch, hidden=(32, 16), conv=(8, 16))
    linear = [layer for layer in model.layers if hasattr(layer, "use_bias")][:-1]
    assert linear and [layer.use_bias for layer in linear] == [False] * len(linear)


def test_the_cnn_is_two_conv_blocks_and_a_classifier():
    line = describe_model(TrialConfig(arch="cnn", placement="before_activation")).line()
    assert line == (
        "Reshape(28x28x1) -> Conv3x3(32, no bias) -> BN -> ReLU -> MaxPool2 -> "
        "Conv3x3(64, no bias) -> BN -> ReLU -> MaxPool2 -> Flatten -> Dense(10, softmax)"
    )


def test_selu_gets_lecun_normal_weights():
    model = build_model("none", activation="selu", hidden=(8,))
    assert type(model.layers[1].kernel_initializer).__name__ == "LecunNormal"


def test_group_norm_uses_the_configured_groups():
    model = build_model("after_activation", norm="group", groups=5, hidden=(20, 10))
    groups = [layer.groups for layer in model.layers if hasattr(layer, "groups")]
    assert groups == [5, 5]


def test_same_seed_same_initial_weights():
    first = build_model("after_activation", seed=7).get_weights()
    second = build_model("after_activation", seed=7).get_weights()
    assert all((a == b).all() for a, b in zip(first, second, strict=True))


def test_build_model_refuses_what_is_not_a_config():
    with pytest.raises(TypeError, match=r"'config' parameter must be .* Got int 3 instead"):
        build_model(3)


def test_registries_and_config_do_not_import_tensorflow_or_ray():
    code = (
        "import sys, bnlab; bnlab.TrialConfig(placement='none'); bnlab.load_fashion_mnist;"
        "bnlab.describe_model('before_activation', arch='cnn', norm='group').line();"
        "print(sorted(m for m in ('tensorflow', 'keras', 'ray') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_training_does_not_import_ray():
    code = "import sys, bnlab; bnlab.train; print('ray' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
