import math
import subprocess
import sys

import keras
import pytest

from bnlab import PLACEMENTS, TrainState, TrialConfig, train
from bnlab.trainer import METRICS

SMALL = (2000, 500)
# Beyond the placements: a CNN, LayerNorm, GroupNorm, batch renormalization, other activations
# and the reference notebook's models.
VARIANTS = {
    "cnn-before-batch": {"arch": "cnn", "placement": "before_activation", "conv": (8, 16)},
    "cnn-after-group": {
        "arch": "cnn",
        "placement": "after_activation",
        "norm": "group",
        "conv": (8, 16),
    },
    "mlp-before-layer-elu": {
        "placement": "before_activation",
        "norm": "layer",
        "activation": "elu",
    },
    "mlp-after-renorm-gelu": {
        "placement": "after_activation",
        "norm": "batch_renorm",
        "activation": "gelu",
    },
    "seed-none": {"placement": "none", "preset": "seed"},
}


def _metrics(history):
    return [{k: row[k] for k in ("epoch", *METRICS)} for row in history]


class _Capture(keras.callbacks.Callback):
    """Keeps the logs of every epoch and the state after `at_epoch` epochs."""

    def __init__(self, at_epoch: int):
        super().__init__()
        self.at_epoch, self.logs, self.state = at_epoch, [], None

    def on_epoch_end(self, epoch, logs=None):
        self.logs.append({"epoch": epoch + 1, **logs})
        if epoch + 1 == self.at_epoch:
            self.state = TrainState.capture(self.model, self.logs)


@pytest.mark.parametrize("placement", sorted(PLACEMENTS))
def test_every_placement_learns_on_a_small_subset(fmnist, placement):
    config = TrialConfig(placement=placement, lr=0.05, epochs=3, subset=SMALL)
    result = train(config, fmnist)
    assert result.status == "completed"
    assert [row["epoch"] for row in result.history] == [1, 2, 3]
    assert result.history[-1]["val_accuracy"] > 0.6  # chance is 0.1
    assert result.history[-1]["loss"] < result.history[0]["loss"]
    assert result.test_accuracy > 0.6
    assert all(row["epoch_seconds"] > 0 for row in result.history)
    assert result.params.total > 0 and result.data_source == fmnist.source


@pytest.mark.parametrize(
    "fields", [{"placement": "after_activation"}, *VARIANTS.values()],
    ids=["after_activation", *VARIANTS],
)  # fmt: skip
def test_same_config_gives_identical_numbers(fmnist, fields):
    config = TrialConfig(lr=0.02, seed=5, epochs=2, subset=SMALL, **fields)
    first, second = train(config, fmnist), train(config, fmnist)
    assert _metrics(first.history) == _metrics(second.history)
    assert (first.test_loss, first.test_accuracy) == (second.test_loss, second.test_accuracy)


def test_different_seeds_give_different_runs(fmnist):
    config = TrialConfig(epochs=1, subset=SMALL, lr=0.02)
    assert _metrics(train(config, fmnist).history) != _metrics(
        train(config.replace(seed=1), fmnist).history
    )


@pytest.mark.parametrize("optimizer", ["momentum", "adam"])
def test_resume_from_checkpoint_matches_uninterrupted_run(fmnist, tmp_path, optimizer):
    config = TrialConfig(
        placement="before_activation", optimizer=optimizer, lr=0.005, epochs=3, subset=SMALL
    )
    capture = _Capture(at_epoch=1)
    straight = train(config, fmnist, callbacks=[capture])
    capture.state.save(tmp_path / "ckpt")
    restored = TrainState.load(tmp_path / "ckpt")
    assert restored.epoch == 1 and len(restored.optimizer_variables) > 2  # slots, not just lr
    resumed = train(config, fmnist, initial_state=restored)
    assert _metrics(resumed.history) == _metrics(straight.history)
    assert resumed.test_accuracy == straight.test_accuracy


def test_callbacks_see_keras_metric_names_and_epoch_seconds(fmnist):
    capture = _Capture(at_epoch=0)
    train(TrialConfig(epochs=2, subset=SMALL), fmnist, callbacks=[capture])
    assert len(capture.logs) == 2
    assert {*METRICS, "epoch_seconds"} <= set(capture.logs[0])


# Normalized models do not always reach NaN at a huge learning rate (their loss can stay huge
# but finite, as a CNN without normalization's did here); these do.
@pytest.mark.parametrize(
    "fields",
    [
        {"placement": "none"},
        {"arch": "cnn", "placement": "after_activation", "conv": (8, 16)},
        {"placement": "after_activation", "norm": "layer"},
    ],
    ids=["none", "cnn-after-batch", "mlp-after-layer"],
)
def test_huge_learning_rate_is_recorded_as_diverged(fmnist, fields):
    config = TrialConfig(lr=100.0, epochs=3, subset=SMALL, **fields)
    result = train(config, fmnist)
    assert result.status == "diverged"
    assert not math.isfinite(result.history[-1]["loss"])
    assert len(result.history) == 1  # stopped in the first epoch, not after all three


def test_resuming_a_diverged_state_trains_no_further(fmnist):
    config = TrialConfig(lr=100.0, epochs=3, subset=SMALL)
    capture = _Capture(at_epoch=1)
    train(config, fmnist, callbacks=[capture])
    resumed = train(config, fmnist, initial_state=capture.state)
    assert resumed.status == "diverged" and len(resumed.history) == 1


def test_state_from_another_model_is_rejected(fmnist):
    capture = _Capture(at_epoch=1)
    train(TrialConfig(epochs=1, subset=SMALL, hidden=(16,)), fmnist, callbacks=[capture])
    with pytest.raises(ValueError, match=r"do not fit this model \(Flatten -> Dense\(300\)"):
        train(TrialConfig(epochs=2, subset=SMALL), fmnist, initial_state=capture.state)


def test_history_frame_has_one_row_per_epoch(fmnist):
    result = train(TrialConfig(epochs=2, subset=SMALL), fmnist)
    frame = result.history_frame()
    assert list(frame["epoch"]) == [1, 2] and "val_accuracy" in frame.columns
    assert result.to_dict()["config"]["subset"] == list(SMALL)


def test_threads_cap_tensorflow_in_a_fresh_process():
    code = (
        "import bnlab, tensorflow as tf;"
        "bnlab.train(bnlab.TrialConfig(epochs=1, subset=(100, 20)), bnlab.load_fashion_mnist(),"
        " threads=1);"
        "print(tf.config.threading.get_intra_op_parallelism_threads(),"
        " tf.config.threading.get_inter_op_parallelism_threads());"
        "bnlab.set_threads(2)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.split() == ["1", "1"]
    assert "cannot switch to 2" in out.stderr


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        (("placement=none", None), {}, r"'config' parameter must be a bnlab.TrialConfig.*Got str"),
        ((TrialConfig(), {"x": 1}), {}, r"'data' parameter must be a bnlab.Dataset.*Got dict"),
        ((TrialConfig(),), {"callbacks": keras.callbacks.History()}, r"'callbacks' parameter must be a list"),
        ((TrialConfig(),), {"callbacks": ["early"]}, r"'callbacks' parameter must be a list.*Got str"),
        ((TrialConfig(),), {"initial_state": {"epoch": 1}}, r"'initial_state' parameter must be None or a bnlab.TrainState"),
    ],
)  # fmt: skip
def test_wrong_argument_types_are_named(fmnist, args, kwargs, match):
    if len(args) == 1:
        args = (*args, fmnist)
    with pytest.raises(TypeError, match=match):
        train(*args, **kwargs)


@pytest.mark.parametrize(
    "fields", [{"placement": p} for p in sorted(PLACEMENTS)] + list(VARIANTS.values()),
    ids=[*sorted(PLACEMENTS), *VARIANTS],
)  # fmt: skip
def test_compiled_loop_resumed_and_fresh_runs_have_identical_histories(fmnist, tmp_path, fields):
    config = TrialConfig(lr=0.05, seed=3, epochs=3, subset=SMALL, **fields)
    capture = _Capture(at_epoch=2)
    fresh = train(config, fmnist, callbacks=[capture])
    capture.state.save(tmp_path / "ckpt")
    resumed = train(config, fmnist, initial_state=TrainState.load(tmp_path / "ckpt"))
    assert [row["epoch"] for row in resumed.history] == [1, 2, 3]
    assert _metrics(resumed.history) == _metrics(fresh.history)
    assert (resumed.test_loss, resumed.test_accuracy) == (fresh.test_loss, fresh.test_accuracy)


class _StopAfter(keras.callbacks.Callback):
    def __init__(self, epochs: int):
        super().__init__()
        self.epochs = epochs

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.epochs:
            self.model.stop_training = True


def test_a_keras_callback_can_stop_training(fmnist):
    result = train(TrialConfig(epochs=4, subset=SMALL), fmnist, callbacks=[_StopAfter(2)])
    assert [row["epoch"] for row in result.history] == [1, 2] and result.status == "completed"


def test_trial_after_trial_in_one_process_does_not_retrace(fmnist):
    code = (
        "import bnlab, logging, io, tensorflow as tf;"
        "stream = io.StringIO(); tf.get_logger().addHandler(logging.StreamHandler(stream));"
        "data = bnlab.load_fashion_mnist(subset=(200, 50));"
        "[bnlab.train(bnlab.TrialConfig(placement=p, epochs=1, seed=s), data) for p in bnlab.PLACEMENTS for s in range(3)];"
        "print('retracing' in stream.getvalue())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.split()[-1:] == ["False"], out.stderr[-2000:]
