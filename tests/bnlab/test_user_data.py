"""A user's own dataset: a .npz of any image or feature shape, checked array by array; every
bad file is one DatasetError naming it, what is wrong and what is allowed."""

import numpy as np
import pytest

import bnlab
from bnlab import DatasetError, load_dataset

RNG = np.random.default_rng(0)
X = RNG.integers(0, 255, (60, 8, 8), dtype=np.uint8)
Y = np.arange(60) % 3
GOOD = {"x_train": X[:40], "y_train": Y[:40], "x_test": X[40:], "y_test": Y[40:]}


def _saved(tmp_path, **arrays):
    path = tmp_path / "d.npz"
    np.savez(path, **arrays)
    return path


def test_a_user_s_arrays_load_with_their_shape_classes_and_a_validation_split(toy_npz):
    data = load_dataset(toy_npz, val_size=0.1)
    assert (len(data.train), len(data.validation), len(data.test)) == (540, 60, 300)
    assert data.shape == bnlab.DataShape((8, 8), 3) and data.train.x.dtype == np.uint8
    raw = np.load(toy_npz)
    assert np.array_equal(data.validation.x, raw["x_train"][-60:])  # the end of the training set
    assert repr(data).startswith("Dataset('toy.npz': train / validation / test 540 / 60 / 300, 8x8, 3 classes")  # fmt: skip
    assert load_dataset(toy_npz).fingerprint == data.fingerprint
    assert load_dataset(toy_npz, val_size=100).fingerprint != data.fingerprint


def test_features_and_explicit_validation_arrays(tmp_path):
    features = RNG.normal(size=(60, 5))
    path = _saved(tmp_path, x_train=features[:30], y_train=Y[:30], x_val=features[30:40],
                  y_val=Y[30:40], x_test=features[40:], y_test=Y[40:].reshape(-1, 1))  # fmt: skip
    data = load_dataset(path)
    assert data.shape == bnlab.DataShape((5,), 3) and data.train.x.dtype == np.float32
    assert (len(data.train), len(data.validation)) == (30, 10)
    assert np.allclose(data.test.float_x(), features[40:])  # features are fed as they are


BAD = [
    ({k: v for k, v in GOOD.items() if k != "y_test"}, "lacks y_test; give an .npz file (numpy.savez) with x_train, y_train, x_test, y_test"),
    ({**GOOD, "x_vall": X}, "holds arrays a study does not use (x_vall); allowed: x_train, y_train, x_test, y_test, x_val, y_val."),
    ({**GOOD, "x_val": X}, "holds one of x_val and y_val without the other"),
    ({**GOOD, "y_train": Y[:39]}, "y_train has 39 labels for the 40 examples of x_train; they must match."),
    ({**GOOD, "x_train": np.where(X[:40] > 0, np.nan, 0.0)}, "x_train holds NaN or infinite values; inputs must be finite."),
    ({**GOOD, "x_test": np.full((20, 8, 8), np.inf)}, "x_test holds NaN or infinite values"),
    ({**GOOD, "y_train": Y[:40] - 1}, "y_train holds the label -1; labels must be integers 0 .. K-1."),
    ({**GOOD, "y_test": Y[40:] + 5}, "y_test holds the label 7, but y_train's labels are 0 .. 2; every label must occur in training."),
    ({**GOOD, "y_train": Y[:40] * 0.5}, "y_train has type float64; labels must be integers 0 .. K-1."),
    ({**GOOD, "y_train": np.zeros(40, int)}, "y_train has one class; a classifier needs at least 2 classes (labels 0 and 1)."),
    ({**GOOD, "y_train": Y[:40] * 10**6}, "y_train's largest label is 2000000; labels are 0 .. K-1 with at most 100,000 classes."),
    ({**GOOD, "x_test": X[40:, :4]}, "x_test's examples are (4, 8), x_train's (8, 8); every split must have the same shape."),
    ({**GOOD, "x_train": X[:40].reshape(40, 1, 1, 8, 8)}, "x_train has shape (40, 1, 1, 8, 8); inputs must be (N, F) features, (N, H, W) or (N, H, W, C) images."),
    ({**GOOD, "x_train": np.array(["a"] * 40)}, "x_train has type <U1; inputs must be numbers"),
    ({**GOOD, "x_train": np.array([object()] * 40)}, "holds Python objects; only numeric arrays are allowed."),
    ({**GOOD, "x_train": np.full((40, 8, 8), 1e300)}, "x_train holds values too large for float32."),
]  # fmt: skip


@pytest.mark.parametrize(("arrays", "message"), BAD)
def test_a_bad_file_is_one_error_naming_it(tmp_path, arrays, message):
    path = _saved(tmp_path, **arrays)
    with pytest.raises(DatasetError) as raised:
        load_dataset(path)
    assert str(raised.value).startswith(f"{str(path)!r} ") and message in str(raised.value)
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.write_text("not a zip"), "is not an .npz file"),
        (lambda p: p.write_bytes(_zip_cut()), "is damaged or cut short"),
        (lambda p: None, "does not exist"),
        (lambda p: p.mkdir(), "is not a file"),
    ],
    ids=["text", "cut", "missing", "folder"],
)
def test_a_file_that_is_no_npz(tmp_path, make, message):
    path = tmp_path / "d.npz"
    make(path)
    with pytest.raises(DatasetError, match=message):
        load_dataset(path)


def _zip_cut() -> bytes:
    import io

    buffer = io.BytesIO()
    np.savez(buffer, **GOOD)
    return buffer.getvalue()[:-200]


def test_a_file_larger_than_the_memory_available_is_refused_unread(tmp_path, monkeypatch):
    import bnlab.user_data as user_data

    monkeypatch.setattr(user_data, "MEMORY_SHARE", 1e-9)
    with pytest.raises(DatasetError, match=r"holds 0 MB of arrays; this machine has .* MB of memory available"):  # fmt: skip
        load_dataset(_saved(tmp_path, **GOOD))


def test_a_validation_size_that_leaves_nothing(tmp_path):
    path = _saved(tmp_path, **GOOD)
    for size in (40, 0.001):
        with pytest.raises(DatasetError, match="leaves no validation or no training split"):
            load_dataset(path, val_size=size)
    with pytest.raises(TypeError, match="'val_size' parameter"):
        load_dataset(path, val_size="10%")


def test_a_dataset_at_a_storage_uri(s3_server, toy_npz):
    s3 = s3_server.filesystem()
    s3.create_dir("data")
    with s3.open_output_stream("data/toy.npz") as out:
        out.write(toy_npz.read_bytes())
    remote = load_dataset(s3_server.uri("data/toy.npz"))
    assert remote.fingerprint == load_dataset(toy_npz).fingerprint and remote.name == "toy.npz"
    with pytest.raises(DatasetError, match="is not a file there"):
        load_dataset(s3_server.uri("data/nothing.npz"))
