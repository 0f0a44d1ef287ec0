import functools
import gzip
import http.server
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from bnlab import data as data_module
from bnlab.data import DatasetError, load_fashion_mnist

FILES = [spec.name + ".gz" for spec in data_module._FILES.values()]


@pytest.fixture
def data_copy(fmnist, tmp_path):
    """A writable copy of the real gzipped files."""
    for name in FILES:
        shutil.copy(Path(fmnist.source) / name, tmp_path / name)
    return tmp_path


@pytest.fixture
def nowhere(tmp_path, monkeypatch):
    """No folder holds the files: system folder, env and Keras cache all point at empty places."""
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setattr(data_module, "SYSTEM_DATA_DIR", empty / "system")
    monkeypatch.setenv("KERAS_HOME", str(empty / "keras"))
    monkeypatch.delenv("BNLAB_DATA_DIR", raising=False)
    return empty


def test_real_dataset_splits_and_dtypes(fmnist):
    assert (len(fmnist.train), len(fmnist.validation), len(fmnist.test)) == (55000, 5000, 10000)
    for split in (fmnist.train, fmnist.validation, fmnist.test):
        assert split.x.dtype == np.uint8 and split.x.shape[1:] == (28, 28)
        assert set(np.unique(split.y)) == set(range(10))
    floats = fmnist.validation.float_x()
    assert floats.dtype == np.float32 and floats.min() >= 0.0 and floats.max() <= 1.0


def test_validation_is_first_5000_of_training_file(fmnist):
    raw = gzip.decompress((Path(fmnist.source) / "train-images-idx3-ubyte.gz").read_bytes())
    images = np.frombuffer(raw, np.uint8, offset=16).reshape(-1, 28, 28)
    np.testing.assert_array_equal(fmnist.validation.x, images[:5000])
    np.testing.assert_array_equal(fmnist.train.x, images[5000:])


def test_explicit_dir_wins_over_env(data_copy, tmp_path, monkeypatch):
    monkeypatch.setenv("BNLAB_DATA_DIR", str(tmp_path / "elsewhere"))
    assert load_fashion_mnist(data_copy, download=False).source == str(data_copy)


def test_env_dir_wins_over_system_dir(data_copy, monkeypatch):
    monkeypatch.setenv("BNLAB_DATA_DIR", str(data_copy))
    assert load_fashion_mnist(download=False).source == str(data_copy)


def test_plain_idx_files_are_read(data_copy, fmnist):
    for name in FILES:
        gz = data_copy / name
        gz.with_suffix("").write_bytes(gzip.decompress(gz.read_bytes()))
        gz.unlink()
    loaded = load_fashion_mnist(data_copy, download=False)
    np.testing.assert_array_equal(loaded.test.y, fmnist.test.y)


def _rewrite(path: Path, change) -> None:
    raw = bytearray(gzip.decompress(path.read_bytes()))
    change(raw)
    path.write_bytes(gzip.compress(bytes(raw)))


def test_flipped_label_fails_checksum(data_copy):
    target = data_copy / "train-labels-idx1-ubyte.gz"
    _rewrite(target, lambda raw: raw.__setitem__(100, (raw[100] + 1) % 10))
    with pytest.raises(DatasetError, match=r"train-labels-idx1-ubyte\.gz is corrupt: SHA-256"):
        load_fashion_mnist(data_copy, download=False)


def test_wrong_magic_is_named(data_copy):
    target = data_copy / "t10k-images-idx3-ubyte.gz"
    _rewrite(target, lambda raw: raw.__setitem__(3, 0))
    with pytest.raises(DatasetError, match=r"t10k-images.*magic number 2048, expected 2051"):
        load_fashion_mnist(data_copy, download=False)


def test_truncated_gzip_cannot_be_read(data_copy):
    target = data_copy / "t10k-labels-idx1-ubyte.gz"
    target.write_bytes(target.read_bytes()[:100])
    with pytest.raises(DatasetError, match=r"t10k-labels-idx1-ubyte\.gz .*cannot be read"):
        load_fashion_mnist(data_copy, download=False)


def test_an_explicit_folder_without_the_files_fails_naming_it(data_copy, fmnist):
    (data_copy / "train-images-idx3-ubyte.gz").unlink()
    # The system folder holds the real files, yet the explicit folder is the only one used.
    with pytest.raises(DatasetError) as err:
        load_fashion_mnist(data_copy)
    message = str(err.value)
    assert f"{data_copy}: missing train-images-idx3-ubyte" in message
    assert "an explicit folder is the only place used" in message
    assert fmnist.source not in message


def test_missing_files_error_lists_every_place_and_the_fix(nowhere, data_copy, monkeypatch):
    (data_copy / "train-images-idx3-ubyte.gz").unlink()
    monkeypatch.setenv("BNLAB_DATA_DIR", str(data_copy))
    with pytest.raises(DatasetError) as err:
        load_fashion_mnist(download=False)
    message = str(err.value)
    assert f"{data_copy}: missing train-images-idx3-ubyte" in message
    assert f"{nowhere / 'system'}: does not exist" in message
    assert str(nowhere / "keras" / "datasets" / "fashion-mnist") in message
    assert "dataset-fashion-mnist" in message and "BNLAB_DATA_DIR" in message


@pytest.fixture
def mirror(fmnist):
    """A real HTTP server on loopback serving the four .gz files, like Keras' origin."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=fmnist.source)
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    thread.join()


def test_keras_download_fills_the_keras_cache(nowhere, mirror, monkeypatch, fmnist):
    monkeypatch.setenv("BNLAB_DATA_URL", mirror)
    loaded = load_fashion_mnist()
    cache = nowhere / "keras" / "datasets" / "fashion-mnist"
    assert loaded.source == str(cache)
    assert sorted(p.name for p in cache.glob("*.gz")) == sorted(FILES)
    np.testing.assert_array_equal(loaded.train.y, fmnist.train.y)
    # The next load finds the cache without downloading.
    monkeypatch.setenv("BNLAB_DATA_URL", "http://127.0.0.1:9/")
    assert load_fashion_mnist().source == str(cache)


def test_failed_download_is_reported(nowhere, monkeypatch):
    monkeypatch.setenv("BNLAB_DATA_URL", "http://127.0.0.1:9/")  # discard port: refused
    with pytest.raises(DatasetError, match=r"Keras download from http://127.0.0.1:9/: failed"):
        load_fashion_mnist()


def test_subset_is_stratified_and_deterministic(fmnist):
    small = fmnist.subset(1000, 200)
    assert (len(small.train), len(small.validation), len(small.test)) == (1000, 200, 10000)
    full_share = np.bincount(fmnist.train.y) / len(fmnist.train)
    np.testing.assert_allclose(np.bincount(small.train.y) / 1000, full_share, atol=0.001)
    again = fmnist.subset(1000, 200)
    np.testing.assert_array_equal(small.train.x, again.train.x)
    other = fmnist.subset(1000, 200, seed=1)
    assert not np.array_equal(small.train.x, other.train.x)


@pytest.mark.parametrize(
    ("n_train", "n_validation", "match"),
    [(5, 100, "'n_train' .* Got 5"), (100, 5001, "'n_validation' .* Got 5001")],
)
def test_subset_rejects_bad_sizes(fmnist, n_train, n_validation, match):
    with pytest.raises(ValueError, match=match):
        fmnist.subset(n_train, n_validation)


def test_a_symlink_loop_is_named_not_called_missing(data_copy, monkeypatch):
    loop = data_copy / "train-images-idx3-ubyte.gz"
    loop.unlink()
    loop.symlink_to(loop)  # points at itself
    with pytest.raises(DatasetError, match=r"train-images-idx3-ubyte is a symbolic link loop"):
        load_fashion_mnist(data_copy)
    monkeypatch.setenv("BNLAB_DATA_DIR", str(data_copy))  # the system's files are not used
    with pytest.raises(DatasetError, match=rf"Fashion-MNIST in {data_copy}: .* link loop"):
        load_fashion_mnist()


# Root reads everything: the folder's owner (root) loses the capabilities that override file
# permissions, as a user without root would be.
WITHOUT_ROOT = ["capsh", "--drop=cap_dac_override,cap_dac_read_search", "--"]


@pytest.mark.skipif(shutil.which("capsh") is None, reason="needs capsh (libcap2-bin)")
def test_an_unreadable_folder_is_one_dataset_error_for_a_user_without_root(data_copy):
    """With the folder by flag and by variable."""
    data_copy.chmod(0o000)
    code = (
        "import sys; from bnlab import load_fashion_mnist, DatasetError\n"
        "try:\n    load_fashion_mnist(sys.argv[1] or None)\n"
        "except DatasetError as err:\n    print('DatasetError:', err)\n"
    )
    root = Path(__file__).resolve().parents[2]
    try:
        for argument, env in ((str(data_copy), {}), ("", {"BNLAB_DATA_DIR": str(data_copy)})):
            done = subprocess.run(
                [*WITHOUT_ROOT, "-c", 'exec "$0" -c "$1" "$2"', sys.executable, code, argument],
                capture_output=True, text=True, cwd=root, env={**os.environ, **env},
            )  # fmt: skip
            assert done.stderr == "" and done.stdout.startswith("DatasetError: "), done.stderr
            assert "cannot be read (Permission denied)" in done.stdout
    finally:
        data_copy.chmod(0o755)
