"""bnlab: a Keras lab for studying where batch normalization goes.

    import bnlab
    data = bnlab.load_fashion_mnist()
    result = bnlab.train(bnlab.TrialConfig(placement="before_activation", lr=1e-2), data)
    result.history_frame()

Names that need TensorFlow (`train`, `build_model` users aside) load it on first use, so reading
the registries or validating a config stays fast.
"""

from bnlab.config import TrialConfig, check_param
from bnlab.data import DatasetError, FashionMNIST, Split, load_fashion_mnist
from bnlab.models import PLACEMENTS, ParamCounts, build_model, count_params, get_placement
from bnlab.optimizers import OPTIMIZERS, build_optimizer

_TRAIN_NAMES = {"train", "TrainResult", "TrainState", "set_threads", "METRICS"}

__all__ = [
    "METRICS",
    "OPTIMIZERS",
    "PLACEMENTS",
    "DatasetError",
    "FashionMNIST",
    "ParamCounts",
    "Split",
    "TrainResult",
    "TrainState",
    "TrialConfig",
    "build_model",
    "build_optimizer",
    "check_param",
    "count_params",
    "get_placement",
    "load_fashion_mnist",
    "set_threads",
    "train",
]


def __getattr__(name):
    # PEP 562: import TensorFlow only when a training name is first used.
    if name in _TRAIN_NAMES:
        import importlib

        return getattr(importlib.import_module("bnlab.trainer"), name)
    raise AttributeError(f"module 'bnlab' has no attribute {name!r}")
