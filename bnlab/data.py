"""Datasets: Fashion-MNIST found, verified and split from its four IDX files, and the `Dataset`
every trial trains on (a user's own arrays come through `bnlab.user_data`).

Pixels stay uint8 (4x smaller than float32) until a model needs them; `Split.float_x()`
gives inputs scaled to [0, 1] as in the reference study.
"""

from __future__ import annotations

import errno
import gzip
import hashlib
import os
import socket
import stat
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from bnlab.native import quiet_native_stderr

CLASS_NAMES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
VALIDATION_SIZE = 5000
IMAGE_SIDE = 28
SYSTEM_DATA_DIR = Path("/usr/share/datasets/fashion-mnist")
# The same origin keras.datasets.fashion_mnist downloads from; BNLAB_DATA_URL points at a mirror.
KERAS_ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
DOWNLOAD_TIMEOUT_S = 30  # per network wait


@dataclass(frozen=True)
class _IdxFile:
    name: str
    magic: int
    shape: tuple[int, ...]
    sha256: str  # of the decompressed content
    gz_sha256: str  # of the .gz file, for Keras' download check


_FILES = {
    "train_images": _IdxFile(
        "train-images-idx3-ubyte",
        2051,
        (60000, 28, 28),
        "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",
    ),
    "train_labels": _IdxFile(
        "train-labels-idx1-ubyte",
        2049,
        (60000,),
        "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
    ),
    "test_images": _IdxFile(
        "t10k-images-idx3-ubyte",
        2051,
        (10000, 28, 28),
        "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
    ),
    "test_labels": _IdxFile(
        "t10k-labels-idx1-ubyte",
        2049,
        (10000,),
        "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
    ),
}

_HOW_TO_FIX = (
    "Install Debian's 'dataset-fashion-mnist' package, point BNLAB_DATA_DIR (or --data-dir) at "
    "a folder holding the four IDX files (.gz or plain), or allow the Keras download (needs "
    "internet)."
)


class DatasetError(RuntimeError):
    """A dataset's files are missing, corrupt or not what a study can use."""


@dataclass(frozen=True)
class DataShape:
    """What a model needs to know of its data: one example's shape and the number of classes."""

    input_shape: tuple[int, ...] = (IMAGE_SIDE, IMAGE_SIDE)
    num_classes: int = len(CLASS_NAMES)

    def words(self) -> str:
        """'28x28, 10 classes'."""
        return f"{'x'.join(map(str, self.input_shape))}, {self.num_classes} classes"


FASHION_MNIST_SHAPE = DataShape()


@dataclass(frozen=True, repr=False)
class Split:
    """Inputs (N, ...) and integer labels (N,): uint8 pixels (scaled to [0, 1] for a model) or
    float32 features (fed as they are)."""

    x: np.ndarray
    y: np.ndarray

    def __len__(self) -> int:
        return len(self.y)

    def __repr__(self) -> str:
        shape = "x".join(map(str, self.x.shape[1:])) or "scalar"
        return f"Split({len(self)} examples of {shape} {self.x.dtype}, labels {self.y.dtype})"

    def float_x(self) -> np.ndarray:
        """Inputs as float32: pixels scaled to [0, 1], as the reference study feeds them;
        features as they are."""
        if self.x.dtype == np.uint8:
            return self.x.astype(np.float32) / 255.0
        return self.x.astype(np.float32)


@dataclass(frozen=True, repr=False, eq=False)
class Dataset:
    """The train / validation / test splits, where they were read from and what they are.

    Attributes:
        train, validation, test: The splits.
        source: Where the data came from (a folder, a file or a storage URI).
        name: A short name for reports ('fashion-mnist', or the file's name).
        num_classes: The classifier's outputs; labels are 0 .. num_classes - 1.
    """

    train: Split
    validation: Split
    test: Split
    source: str
    name: str = "fashion-mnist"
    num_classes: int = len(CLASS_NAMES)

    def __repr__(self) -> str:
        sizes = f"{len(self.train)} / {len(self.validation)} / {len(self.test)}"
        return (
            f"Dataset({self.name!r}: train / validation / test {sizes}, "
            f"{self.shape.words()}, {self.train.x.dtype}; from {self.source})"
        )

    @property
    def shape(self) -> DataShape:
        return DataShape(tuple(int(n) for n in self.train.x.shape[1:]), self.num_classes)

    @cached_property
    def fingerprint(self) -> str:
        """A SHA-256 of every array (shape, type and content): the same data, the same value."""
        digest = hashlib.sha256()
        for split in (self.train, self.validation, self.test):
            for array in (split.x, split.y):
                digest.update(f"{array.dtype.str}{array.shape}".encode())
                digest.update(np.ascontiguousarray(array).tobytes())
        return digest.hexdigest()

    def subset(self, n_train: int, n_validation: int, seed: int = 0) -> Dataset:
        """A deterministic class-stratified subset of train and validation; test is kept whole.

        Args:
            n_train: Number of training examples to keep (at most the full split).
            n_validation: Number of validation examples to keep.
            seed: Chooses which examples; the same seed gives the same subset.

        Raises:
            ValueError: If a size is below the number of classes (one each) or above the
                split's size.
        """
        low = self.num_classes
        return Dataset(
            train=_stratified(self.train, n_train, seed, "n_train", low),
            validation=_stratified(self.validation, n_validation, seed + 1, "n_validation", low),
            test=self.test,
            source=self.source,
            name=self.name,
            num_classes=self.num_classes,
        )


FashionMNIST = Dataset  # the name the first versions used


def load_fashion_mnist(
    data_dir: str | os.PathLike | None = None,
    *,
    subset: tuple[int, int] | None = None,
    download: bool = True,
) -> Dataset:
    """Load Fashion-MNIST: 55,000 train / 5,000 validation / 10,000 test, uint8 pixels.

    The validation split is the first 5,000 images of the training file, as in the reference.
    An explicit `data_dir` is a promise: the files are read from there or not at all. Without
    it they are looked for, in order, in `$BNLAB_DATA_DIR`, Debian's
    `/usr/share/datasets/fashion-mnist` and the Keras cache; only then does Keras download them.

    Args:
        data_dir: A folder holding the four IDX files, gzipped or not; nothing else is tried.
        subset: Optional `(n_train, n_validation)` for a stratified deterministic subset.
        download: Whether Keras may download the files when no folder holds them.

    Returns:
        The splits and the folder they came from.

    Raises:
        DatasetError: If no folder holds the files, or a file is corrupt; the message names the
            file, what was wrong, every place searched and how to fix it.
    """
    searched = [Path(data_dir)] if data_dir is not None else _search_dirs(None)
    folder = None
    for place in searched:
        if _find_all(place) is not None:
            folder = place
            break
        if _unusable(place):
            raise DatasetError(
                f"Fashion-MNIST in {place}: {_describe(place)}. Fix its permissions or links, or "
                f"point BNLAB_DATA_DIR (or --data-dir) elsewhere. {_HOW_TO_FIX}"
            )
    download_note = "  - Keras download: not allowed (download=False)"
    if data_dir is not None:
        download_note = "  - nothing else: an explicit folder is the only place used"
    elif folder is None and download:
        folder, download_note = _download_with_keras()
    if folder is None:
        places = "\n".join(f"  - {d}: {_describe(d)}" for d in searched)
        raise DatasetError(
            f"Fashion-MNIST not found. Searched, in order:\n{places}\n{download_note}\n"
            + _HOW_TO_FIX
        )
    arrays = {
        key: _read_idx(path, _FILES[key], searched) for key, path in _find_all(folder).items()
    }
    images, labels = arrays["train_images"], arrays["train_labels"]
    data = Dataset(
        train=Split(images[VALIDATION_SIZE:], labels[VALIDATION_SIZE:]),
        validation=Split(images[:VALIDATION_SIZE], labels[:VALIDATION_SIZE]),
        test=Split(arrays["test_images"], arrays["test_labels"]),
        source=str(folder),
    )
    return data.subset(*subset) if subset is not None else data


def keras_cache_dir() -> Path:
    """Where keras.datasets.fashion_mnist keeps its downloads (honours KERAS_HOME)."""
    keras_home = os.environ.get("KERAS_HOME", os.path.join(os.path.expanduser("~"), ".keras"))
    return Path(keras_home) / "datasets" / "fashion-mnist"


def _search_dirs(data_dir) -> list[Path]:
    dirs = [data_dir, os.environ.get("BNLAB_DATA_DIR"), SYSTEM_DATA_DIR, keras_cache_dir()]
    unique: list[Path] = []
    for d in dirs:
        if d and Path(d) not in unique:
            unique.append(Path(d))
    return unique


def _problem(path: Path) -> str | None:
    """What keeps `path` from being read as a file ('missing', a link loop, no permission), or
    None if it can be."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "a broken symbolic link" if path.is_symlink() else "missing"
    except OSError as err:  # a link loop, a folder that cannot be searched
        return (
            "a symbolic link loop" if err.errno == errno.ELOOP else f"not readable ({err.strerror})"
        )
    if not stat.S_ISREG(mode):
        return "not a file"
    return None if os.access(path, os.R_OK) else "not readable (permission denied)"


def _find(folder: Path, spec: _IdxFile) -> Path | None:
    for name in (spec.name + ".gz", spec.name):
        if _problem(folder / name) is None:
            return folder / name
    return None


def _find_all(folder: Path) -> dict[str, Path] | None:
    found = {key: _find(folder, spec) for key, spec in _FILES.items()}
    return None if None in found.values() else found


def _describe(folder: Path) -> str:
    try:
        if not folder.is_dir():
            return "does not exist" if not folder.exists() else "is not a folder"
        os.listdir(folder)
    except OSError as err:
        return f"cannot be read ({err.strerror})"
    missing, broken = [], []
    for spec in _FILES.values():
        if _find(folder, spec) is None:
            seen = [_problem(folder / n) for n in (spec.name + ".gz", spec.name)]
            why = next((p for p in seen if p != "missing"), None)
            if why:
                broken.append(f"{spec.name} is {why}")
            else:
                missing.append(spec.name)
    return "; ".join(broken + (["missing " + ", ".join(missing)] if missing else []))


def _unusable(folder: Path) -> bool:
    """A searched folder that holds some of the files, but not all readable: an error, not a
    reason to quietly use another folder's data."""
    description = _describe(folder)
    return any(w in description for w in ("cannot be read", "link", "not readable", "not a file"))


def _read_idx(path: Path, spec: _IdxFile, searched: list[Path]) -> np.ndarray:
    def corrupt(what: str) -> DatasetError:
        places = ", ".join(str(d) for d in searched)
        return DatasetError(
            f"Fashion-MNIST file {path} is corrupt: {what}. Searched: {places}. "
            f"Delete or replace it. {_HOW_TO_FIX}"
        )

    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as err:
        raise corrupt(f"cannot be read ({err})") from err
    header_size = 4 + 4 * len(spec.shape)
    if len(raw) < header_size:
        raise corrupt(f"only {len(raw)} bytes")
    header = np.frombuffer(raw, ">u4", count=1 + len(spec.shape))
    if header[0] != spec.magic:
        raise corrupt(f"magic number {header[0]}, expected {spec.magic}")
    if tuple(int(n) for n in header[1:]) != spec.shape:
        raise corrupt(f"shape {tuple(header[1:].tolist())}, expected {spec.shape}")
    if hashlib.sha256(raw).hexdigest() != spec.sha256:
        raise corrupt("SHA-256 of the content does not match the published dataset")
    return np.frombuffer(raw, np.uint8, offset=header_size).reshape(spec.shape)


def _download_with_keras() -> tuple[Path | None, str]:
    """Let Keras download the four files into its cache: (folder, "") or (None, what failed).

    Each network wait is bounded (`DOWNLOAD_TIMEOUT_S`): a mirror that accepts and never
    answers fails instead of hanging.
    """
    with quiet_native_stderr():  # only here: loading local files must not need TensorFlow
        from keras.utils import get_file

    origin = os.environ.get("BNLAB_DATA_URL", KERAS_ORIGIN).rstrip("/") + "/"
    cache = keras_cache_dir()
    previous_timeout = socket.getdefaulttimeout()
    try:
        cache.mkdir(parents=True, exist_ok=True)  # else Keras silently falls back to /tmp/.keras
        socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
        for spec in _FILES.values():
            path = get_file(
                spec.name + ".gz",
                origin=origin + spec.name + ".gz",
                file_hash=spec.gz_sha256,
                cache_dir=str(cache.parent.parent),
                cache_subdir=str(Path("datasets") / "fashion-mnist"),
            )
    except Exception as err:  # Keras raises bare Exception subclasses for network failures
        return None, f"  - Keras download from {origin}: failed ({err})"
    finally:
        socket.setdefaulttimeout(previous_timeout)
    return Path(path).parent, ""


def _stratified(split: Split, n: int, seed: int, name: str, low: int) -> Split:
    if isinstance(n, bool) or not isinstance(n, int | np.integer):
        raise TypeError(f"The '{name}' parameter must be an int. Got {n!r} instead.")
    if not low <= n <= len(split):
        raise ValueError(
            f"The '{name}' parameter must be an int in [{low}, {len(split)}] (at least one "
            f"example per class). Got {n!r} instead."
        )
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(split.y, return_counts=True)
    # Largest-remainder allocation keeps class proportions and sums exactly to n.
    quota = counts * n / counts.sum()
    take = np.floor(quota).astype(int)
    take[np.argsort(-(quota - take), kind="stable")[: n - take.sum()]] += 1
    chosen = [
        rng.choice(np.flatnonzero(split.y == c), size=k, replace=False)
        for c, k in zip(classes, take, strict=True)
    ]
    index = np.sort(np.concatenate(chosen))
    return Split(split.x[index], split.y[index])
