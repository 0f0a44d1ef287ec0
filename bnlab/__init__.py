"""bnlab: a Keras lab for studying where batch normalization goes.

    import bnlab
    data = bnlab.load_fashion_mnist()          # or bnlab.load_dataset("my.npz"): your arrays
    result = bnlab.train(bnlab.TrialConfig(placement="before_activation", lr=1e-2), data)
    result.history_frame()

A model is composed from registries (plain dicts; a new entry is a new variant): `ARCHS`
(mlp, cnn, and yours through `register_arch`), `PLACEMENTS` (where the normalization sits),
`NORMS`, `ACTIVATIONS`, `INPUT_NORMS`; `PRESETS` names fixed sets of models (`seed`: the
reference notebook's).

Names that need TensorFlow (`train`, `build_model` users aside) load it on first use, so reading
the registries or validating a config stays fast.
"""

from bnlab.architectures import ARCHS
from bnlab.config import TrialConfig, check_param
from bnlab.data import Dataset, DatasetError, DataShape, FashionMNIST, Split, load_fashion_mnist
from bnlab.layers import ACTIVATIONS, INPUT_NORMS, NORMS, PLACEMENTS
from bnlab.models import ModelDescription, ParamCounts, build_model, count_params, describe_model
from bnlab.optimizers import OPTIMIZERS, build_optimizer
from bnlab.presets import PRESETS
from bnlab.user_archs import BlockFactory, register_arch
from bnlab.user_data import load_dataset

_TRAIN_NAMES = {"train", "TrainResult", "TrainState", "set_threads", "METRICS"}

__all__ = [
    "ACTIVATIONS",
    "ARCHS",
    "INPUT_NORMS",
    "METRICS",
    "NORMS",
    "OPTIMIZERS",
    "PLACEMENTS",
    "PRESETS",
    "BlockFactory",
    "DataShape",
    "Dataset",
    "DatasetError",
    "FashionMNIST",
    "ModelDescription",
    "ParamCounts",
    "Split",
    "TrainResult",
    "TrainState",
    "TrialConfig",
    "build_model",
    "build_optimizer",
    "check_param",
    "count_params",
    "describe_model",
    "load_dataset",
    "load_fashion_mnist",
    "register_arch",
    "set_threads",
    "train",
]


def __getattr__(name):
    # PEP 562: import TensorFlow only when a training name is first used.
    if name in _TRAIN_NAMES:
        import importlib

        from bnlab.native import quiet_native_stderr

        with quiet_native_stderr():
            trainer = importlib.import_module("bnlab.trainer")
        return getattr(trainer, name)
    raise AttributeError(f"module 'bnlab' has no attribute {name!r}")
