"""A user's own dataset: a `.npz` file (local, or at a storage URI) of train and test arrays.

    np.savez("my.npz", x_train=..., y_train=..., x_test=..., y_test=...)   # x_val, y_val optional
    data = bnlab.load_dataset("my.npz")

Inputs may be images (N, H, W) or (N, H, W, C), or flat feature vectors (N, F): uint8 arrays
are pixels (scaled to [0, 1] for the model, as Fashion-MNIST's are), any other numeric type is
fed as it is (as float32). Labels are integers 0 .. K-1, and the classifier gets K outputs.
Without `x_val`/`y_val` the validation split is taken from the end of the training arrays.
Every problem is one `DatasetError` naming the file, what is wrong and what is allowed.
"""

from __future__ import annotations

import io
import numbers
import os
import zipfile
from pathlib import Path

import numpy as np
import psutil

from bnlab.data import Dataset, DatasetError, Split

REQUIRED = ("x_train", "y_train", "x_test", "y_test")
OPTIONAL = ("x_val", "y_val")
DEFAULT_VAL_SIZE = 0.1
MAX_CLASSES = 100_000
# A file whose arrays would take more than this share of the memory available is refused.
MEMORY_SHARE = 0.5
_ALLOWED = "an .npz file (numpy.savez) with x_train, y_train, x_test, y_test (and optionally x_val, y_val)"  # fmt: skip


def _fail(source: str, what: str) -> DatasetError:
    return DatasetError(f"{source!r} {what}")


def _read_bytes(source: str) -> io.BytesIO | Path:
    """The file at `source`: a local path, or a storage URI read with pyarrow.fs."""
    if "://" not in source:
        path = Path(source)
        if not path.exists():
            raise _fail(source, "does not exist; give " + _ALLOWED + ".")
        if not path.is_file():
            raise _fail(source, "is not a file; give " + _ALLOWED + ".")
        if not os.access(path, os.R_OK):
            raise _fail(source, "cannot be read (permission denied).")
        return path
    from pyarrow import fs as pafs

    try:
        filesystem, path = pafs.FileSystem.from_uri(source)
        info = filesystem.get_file_info(path)
        if info.type != pafs.FileType.File:
            raise _fail(source, f"is not a file there ({info.type.name.lower()}).")
        _check_memory(source, info.size)
        with filesystem.open_input_file(path) as stream:
            return io.BytesIO(stream.read())
    except (OSError, ValueError) as err:  # pyarrow's errors for a URI it cannot reach or read
        raise _fail(source, f"cannot be read ({' '.join(str(err).split())[:200]}).") from None


def _check_memory(source: str, size: int) -> None:
    available = psutil.virtual_memory().available
    if size > MEMORY_SHARE * available:
        raise _fail(
            source,
            f"holds {size / 2**20:,.0f} MB of arrays; this machine has {available / 2**20:,.0f} "
            f"MB of memory available, and the data may take at most half of it.",
        )


def _arrays(source: str) -> dict[str, np.ndarray]:
    """Every array of the file, after checking its names and its size."""
    file = _read_bytes(source)
    if not zipfile.is_zipfile(file):
        if _starts_as_zip(file):
            raise _fail(source, "is damaged or cut short (a zip without its index at the end).")
        raise _fail(source, "is not an .npz file; give " + _ALLOWED + ".")
    try:
        with zipfile.ZipFile(file) as archive:
            members = archive.infolist()
        _check_memory(source, sum(m.file_size for m in members))
        names = {m.filename.removesuffix(".npy") for m in members}
        missing = [k for k in REQUIRED if k not in names]
        if missing:
            raise _fail(source, f"lacks {', '.join(missing)}; give " + _ALLOWED + ".")
        unknown = sorted(names - {*REQUIRED, *OPTIONAL})
        if unknown:
            raise _fail(source, f"holds arrays a study does not use ({', '.join(unknown)}); allowed: {', '.join((*REQUIRED, *OPTIONAL))}.")  # fmt: skip
        if ("x_val" in names) != ("y_val" in names):
            raise _fail(source, "holds one of x_val and y_val without the other; give both or neither.")  # fmt: skip
        if isinstance(file, io.BytesIO):
            file.seek(0)
        with np.load(file, allow_pickle=False) as npz:
            return {name: npz[name] for name in names}
    except DatasetError:
        raise
    except ValueError as err:
        if "allow_pickle" in str(err):
            raise _fail(source, "holds Python objects; only numeric arrays are allowed.") from None  # fmt: skip
        raise _fail(source, f"is damaged ({err}).") from None
    except (OSError, EOFError, zipfile.BadZipFile) as err:
        raise _fail(source, f"is damaged or cut short ({err}).") from None


def _starts_as_zip(file: io.BytesIO | Path) -> bool:
    if isinstance(file, io.BytesIO):
        return file.getvalue()[:4] == b"PK\x03\x04"
    with open(file, "rb") as stream:
        return stream.read(4) == b"PK\x03\x04"


def _check_inputs(source: str, arrays: dict) -> tuple[int, ...]:
    shape = None
    for key in ("x_train", "x_val", "x_test"):
        if key not in arrays:
            continue
        x = arrays[key]
        if x.dtype.kind not in "uif":
            raise _fail(source, f"{key} has type {x.dtype}; inputs must be numbers (uint8 pixels, ints or floats).")  # fmt: skip
        if not 2 <= x.ndim <= 4:
            raise _fail(source, f"{key} has shape {x.shape}; inputs must be (N, F) features, (N, H, W) or (N, H, W, C) images.")  # fmt: skip
        if len(x) == 0:
            raise _fail(source, f"{key} holds no examples.")
        if shape is not None and x.shape[1:] != shape:
            raise _fail(source, f"{key}'s examples are {x.shape[1:]}, x_train's {shape}; every split must have the same shape.")  # fmt: skip
        shape = x.shape[1:]
        if x.dtype.kind == "f" and not np.isfinite(x).all():
            raise _fail(source, f"{key} holds NaN or infinite values; inputs must be finite.")
        if x.dtype.kind in "if" and x.dtype != np.uint8 and np.abs(x).max() > np.finfo(np.float32).max:  # fmt: skip
            raise _fail(source, f"{key} holds values too large for float32.")
    return shape


def _check_labels(source: str, arrays: dict) -> int:
    """The number of classes: one more than the largest training label."""
    for key in ("y_train", "y_val", "y_test"):
        if key not in arrays:
            continue
        y = arrays[key]
        if y.ndim == 2 and y.shape[1] == 1:
            y = arrays[key] = y[:, 0]
        if y.ndim != 1:
            raise _fail(source, f"{key} has shape {y.shape}; labels must be one integer per example (N,).")  # fmt: skip
        if y.dtype.kind not in "ui":
            raise _fail(source, f"{key} has type {y.dtype}; labels must be integers 0 .. K-1.")
        x = arrays["x" + key[1:]]
        if len(y) != len(x):
            raise _fail(source, f"{key} has {len(y)} labels for the {len(x)} examples of x{key[1:]}; they must match.")  # fmt: skip
        if len(y) and y.min() < 0:
            raise _fail(source, f"{key} holds the label {int(y.min())}; labels must be integers 0 .. K-1.")  # fmt: skip
    classes = int(arrays["y_train"].max()) + 1
    if classes > MAX_CLASSES:
        raise _fail(source, f"y_train's largest label is {classes - 1}; labels are 0 .. K-1 with at most {MAX_CLASSES:,} classes.")  # fmt: skip
    if classes < 2:
        raise _fail(
            source, "y_train has one class; a classifier needs at least 2 classes (labels 0 and 1)."
        )
    for key in ("y_val", "y_test"):
        if key in arrays and len(arrays[key]) and int(arrays[key].max()) >= classes:
            raise _fail(source, f"{key} holds the label {int(arrays[key].max())}, but y_train's labels are 0 .. {classes - 1}; every label must occur in training.")  # fmt: skip
    return classes


def validation_count(val_size, n_train: int, source: str) -> int:
    """Examples the validation split takes from the end of the training arrays: `val_size` as
    a fraction in (0, 1) or a count."""
    if isinstance(val_size, bool) or not isinstance(val_size, numbers.Real):
        raise TypeError(f"The 'val_size' parameter must be a fraction in (0, 1) or a count >= 1. Got {val_size!r} instead.")  # fmt: skip
    count = round(val_size * n_train) if 0 < val_size < 1 else val_size
    if not (count == int(count) and 1 <= count < n_train):
        raise _fail(source, f"has {n_train} training examples, so a validation size of {val_size:g} leaves no validation or no training split; give a fraction in (0, 1) or a count in [1, {n_train - 1}].")  # fmt: skip
    return int(count)


def load_dataset(source: str | os.PathLike, val_size: float = DEFAULT_VAL_SIZE) -> Dataset:
    """A user's dataset from a `.npz` file or storage URI (module docstring).

    Args:
        source: A local path or a URI that pyarrow resolves (`s3://bucket/data/my.npz`).
        val_size: Without x_val/y_val, the validation split taken from the end of the
            training arrays: a fraction in (0, 1) or a count.

    Raises:
        DatasetError: What is wrong with the file, and what is allowed.
        TypeError: If `source` or `val_size` has the wrong type.
    """
    if not isinstance(source, str | os.PathLike):
        raise TypeError(f"The 'source' parameter must be a path or a URI. Got {type(source).__name__} {source!r:.60} instead.")  # fmt: skip
    source = os.fspath(source)
    arrays = _arrays(source)
    _check_inputs(source, arrays)
    classes = _check_labels(source, arrays)
    if "x_val" in arrays:
        train = Split(arrays["x_train"], arrays["y_train"])
        validation = Split(arrays["x_val"], arrays["y_val"])
    else:
        n_val = validation_count(val_size, len(arrays["y_train"]), source)
        cut = len(arrays["y_train"]) - n_val
        train = Split(arrays["x_train"][:cut], arrays["y_train"][:cut])
        validation = Split(arrays["x_train"][cut:], arrays["y_train"][cut:])
    splits = [train, validation, Split(arrays["x_test"], arrays["y_test"])]
    splits = [_compact(split) for split in splits]
    return Dataset(*splits, source=source, name=Path(source.split("?")[0]).name, num_classes=classes)  # fmt: skip


def _compact(split: Split) -> Split:
    """uint8 pixels stay as they are; other inputs become float32, labels int32."""
    x = split.x if split.x.dtype == np.uint8 else split.x.astype(np.float32)
    return Split(np.ascontiguousarray(x), np.ascontiguousarray(split.y.astype(np.int32)))
