import itertools
import json

import pytest

from bnlab import ACTIVATIONS, ARCHS, INPUT_NORMS, NORMS, PLACEMENTS, TrialConfig


def test_defaults_are_the_reference_study():
    config = TrialConfig()
    assert (config.placement, config.lr, config.batch_size, config.epochs) == ("none", 1e-3, 32, 10)
    assert (config.optimizer, config.hidden, config.subset) == ("sgd", (300, 100), None)
    assert (config.arch, config.activation, config.input_norm) == ("mlp", "relu", "none")


def test_unused_fields_are_kept_empty_so_equal_models_are_equal_configs():
    assert TrialConfig(placement="none", norm="layer") == TrialConfig(placement="none")
    assert TrialConfig(placement="none").norm == "none"
    assert TrialConfig(arch="cnn", hidden=(5,)).hidden == ()
    assert TrialConfig(arch="mlp", conv=(5,)).conv == ()
    assert TrialConfig(placement="before_activation", groups=7).groups is None  # not group norm
    cnn = TrialConfig(
        arch="cnn", conv=[16, 32], placement="after_activation", norm="group", groups=8
    )
    assert TrialConfig.from_dict(json.loads(json.dumps(cnn.to_dict()))) == cnn


@pytest.mark.parametrize("preset", [None, "seed"])
def test_every_composed_config_survives_its_dict_round_trip(preset):
    axes = (
        [] if preset else [("arch", sorted(ARCHS)), ("norm", sorted(NORMS)), ("activation", sorted(ACTIVATIONS)), ("input_norm", sorted(INPUT_NORMS))]
    )  # fmt: skip
    for placement in PLACEMENTS:
        for values in itertools.product(*(v for _, v in axes)):
            fields = dict(zip([k for k, _ in axes], values, strict=True))
            config = TrialConfig(placement=placement, preset=preset, **fields)
            assert TrialConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


def test_the_seed_preset_sets_each_placements_model():
    none = TrialConfig(placement="none", preset="seed")
    bn = TrialConfig(placement="before_activation", preset="seed")
    assert (none.activation, none.input_norm) == ("leaky_relu", "none")
    assert (bn.activation, bn.input_norm, bn.norm) == ("relu", "batch", "batch")


def test_dict_round_trip_through_json():
    config = TrialConfig("before_activation", lr=0.1, seed=3, hidden=[64, 32], subset=[500, 100])
    again = TrialConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert again == config and again.hidden == (64, 32) and again.subset == (500, 100)


@pytest.mark.parametrize(
    ("changes", "error", "match"),
    [
        ({"placement": "bogus"}, ValueError, r"'placement' .*'after_activation'.* Got 'bogus'"),
        ({"lr": 0}, ValueError, r"'lr' parameter must be a float in \(0, 100\]. Got 0 instead"),
        ({"lr": -1.0}, ValueError, r"Got -1.0 instead"),
        ({"lr": "abc"}, TypeError, r"'lr' .* Got 'abc' instead"),
        ({"seed": -1}, ValueError, r"'seed' .* Got -1"),
        ({"epochs": 0}, ValueError, r"'epochs' parameter must be an int in \[1, 10000\]. Got 0"),
        ({"epochs": 2.5}, TypeError, r"'epochs' .* Got 2.5"),
        ({"batch_size": 0}, ValueError, r"'batch_size' .* Got 0"),
        ({"optimizer": "rmsprop"}, ValueError, r"'optimizer' .*'adam'.* Got 'rmsprop'"),
        ({"hidden": ()}, ValueError, r"'hidden' .* Got \(\)"),
        ({"hidden": (300, 0)}, ValueError, r"'hidden' .* Got \(300, 0\)"),
        ({"subset": (1, 100)}, ValueError, r"'subset' .* Got \(1, 100\)"),
        ({"subset": 100}, TypeError, r"'subset' .* Got 100"),
        (
            {"arch": "rnn"},
            ValueError,
            r"'arch' parameter must be one of \['cnn', 'mlp'\]. Got 'rnn'",
        ),
        ({"activation": "tanh"}, ValueError, r"'activation' .*'selu'.* Got 'tanh'"),
        ({"norm": "instance"}, ValueError, r"'norm' .*'group'.* Got 'instance'"),
        ({"placement": "after_activation", "norm": "none"}, ValueError, r"'norm' .* Got 'none'"),
        ({"input_norm": "layer"}, ValueError, r"'input_norm' .* Got 'layer'"),
        (
            {"arch": "cnn", "conv": (8,) * 5},
            ValueError,
            r"'conv' .* 1 to 4 .* Got \(8, 8, 8, 8, 8\)",
        ),
        ({"arch": "cnn", "conv": "32x64"}, TypeError, r"'conv' .* Got '32x64'"),
        (
            {"placement": "before_activation", "norm": "group", "groups": 7},
            ValueError,
            r"'groups' parameter must divide every layer width of hidden \(300, 100\) .* Got 7",
        ),
        ({"groups": 0}, ValueError, r"'groups' .* Got 0"),
        ({"preset": "notebook"}, ValueError, r"'preset' .*'seed'.* Got 'notebook'"),
        (
            {"preset": "seed", "activation": "elu"},
            ValueError,
            r"'activation' parameter is set by preset 'seed' to 'leaky_relu' .* Got 'elu'",
        ),
    ],
)
def test_bad_values_are_rejected_with_the_value(changes, error, match):
    with pytest.raises(error, match=match):
        TrialConfig(**changes)


def test_from_dict_rejects_unknown_fields():
    with pytest.raises(ValueError, match=r"\['learning_rate'\]"):
        TrialConfig.from_dict({"learning_rate": 0.1})
