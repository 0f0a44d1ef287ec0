import subprocess
import sys

import pytest

from bnlab import PLACEMENTS, build_model, count_params, get_placement


@pytest.mark.parametrize(
    ("placement", "total", "trainable", "non_trainable"),
    [
        ("none", 266_610, 266_610, 0),
        ("after_activation", 271_346, 268_978, 2_368),
        ("before_activation", 270_946, 268_578, 2_368),
    ],
)
def test_reference_parameter_counts(placement, total, trainable, non_trainable):
    counts = count_params(build_model(placement))
    assert (counts.total, counts.trainable, counts.non_trainable) == (
        total,
        trainable,
        non_trainable,
    )


@pytest.mark.parametrize("placement", sorted(PLACEMENTS))
def test_every_placement_builds_a_10_class_classifier(placement):
    model = build_model(placement, hidden=(32, 16))
    assert model.output_shape == (None, 10)
    assert [layer.units for layer in model.layers if hasattr(layer, "units")] == [32, 16, 10]


def test_before_activation_dense_layers_have_no_bias():
    model = build_model("before_activation")
    hidden = [layer for layer in model.layers if hasattr(layer, "units")][:-1]
    assert [layer.use_bias for layer in hidden] == [False, False]


def test_same_seed_same_initial_weights():
    first = build_model("after_activation", seed=7).get_weights()
    second = build_model("after_activation", seed=7).get_weights()
    assert all((a == b).all() for a, b in zip(first, second, strict=True))


def test_unknown_placement_lists_registered_names():
    with pytest.raises(ValueError, match=r"one of \['after_activation', .*\]. Got 'middle'"):
        get_placement("middle")


def test_registries_and_config_do_not_import_tensorflow_or_ray():
    code = (
        "import sys, bnlab; bnlab.TrialConfig(placement='none'); bnlab.load_fashion_mnist;"
        "print(sorted(m for m in ('tensorflow', 'keras', 'ray') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_training_does_not_import_ray():
    code = "import sys, bnlab; bnlab.train; print('ray' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
