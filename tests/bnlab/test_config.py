import json

import pytest

from bnlab import TrialConfig


def test_defaults_are_the_reference_study():
    config = TrialConfig()
    assert (config.placement, config.lr, config.batch_size, config.epochs) == ("none", 1e-3, 32, 10)
    assert (config.optimizer, config.hidden, config.subset) == ("sgd", (300, 100), None)


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
        ({"subset": (5, 100)}, ValueError, r"'subset' .* Got \(5, 100\)"),
        ({"subset": 100}, TypeError, r"'subset' .* Got 100"),
    ],
)
def test_bad_values_are_rejected_with_the_value(changes, error, match):
    with pytest.raises(error, match=match):
        TrialConfig(**changes)


def test_from_dict_rejects_unknown_fields():
    with pytest.raises(ValueError, match=r"\['learning_rate'\]"):
        TrialConfig.from_dict({"learning_rate": 0.1})
