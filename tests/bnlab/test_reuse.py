"""A kept compiled model, reset for the next trial, gives the numbers of a fresh build."""

import json

import pytest

from bnlab import (  # fmt: skip
    ACTIVATIONS,
    ARCHS,
    INPUT_NORMS,
    NORMS,
    OPTIMIZERS,
    PLACEMENTS,
    PRESETS,
    TrialConfig,
    train,
)
from bnlab.trainer import METRICS

SUBSET = (300, 100)
# Every entry of every registry at least once, the others at their defaults (small sizes).
VARIANTS = {
    **{f"arch-{a}": {"arch": a} for a in ARCHS},
    **{f"placement-{p}": {"placement": p} for p in PLACEMENTS},
    **{f"norm-{n}": {"placement": "before_activation", "norm": n} for n in NORMS},
    **{f"cnn-norm-{n}": {"arch": "cnn", "placement": "after_activation", "norm": n} for n in NORMS},
    **{f"activation-{a}": {"activation": a} for a in ACTIVATIONS},
    **{f"input_norm-{n}": {"input_norm": n} for n in INPUT_NORMS},
    **{f"optimizer-{o}": {"placement": "after_activation", "optimizer": o} for o in OPTIMIZERS},
    **{f"preset-{p}": {"placement": "before_activation", "preset": p} for p in PRESETS},
}


def _numbers(result) -> str:
    """Every number of the run, as text (NaN equals NaN), epoch times left out."""
    rows = [[row[k] for k in ("epoch", *METRICS)] for row in result.history]
    return json.dumps([rows, result.test_loss, result.test_accuracy, result.status])


@pytest.mark.parametrize("fields", VARIANTS.values(), ids=VARIANTS.keys())
def test_a_reused_model_gives_the_numbers_of_a_fresh_build(fmnist, fields):
    config = TrialConfig(
        lr=0.05, seed=3, epochs=2, subset=SUBSET, hidden=(64, 32), conv=(8, 16), **fields
    )
    fresh = train(config, fmnist, reuse=False)
    train(config.replace(seed=5, lr=0.2), fmnist)  # the kept model now holds another trial
    again = train(config, fmnist)
    assert _numbers(again) == _numbers(fresh)
    assert again.params == fresh.params


def test_a_diverged_trial_leaves_nothing_behind(fmnist):
    config = TrialConfig(lr=0.05, epochs=2, subset=SUBSET, hidden=(64,))
    fresh = train(config, fmnist, reuse=False)
    assert train(config.replace(lr=100.0, preset="seed"), fmnist).status == "diverged"
    assert train(config.replace(lr=100.0), fmnist).status in ("completed", "diverged")
    assert _numbers(train(config, fmnist)) == _numbers(fresh)


def test_another_dataset_or_subset_gets_its_own_model(fmnist):
    config = TrialConfig(lr=0.05, epochs=1, subset=SUBSET, hidden=(16,))
    first = train(config, fmnist)
    other = train(config.replace(subset=(200, 50)), fmnist)
    assert first.history[0]["loss"] != other.history[0]["loss"]
    assert _numbers(train(config, fmnist)) == _numbers(first)
