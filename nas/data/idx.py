"""MNIST and Fashion-MNIST from their IDX files (``root/<MNIST|FashionMNIST>/raw/*-idx?-ubyte[.gz]``), parsed
with numpy; ``--download`` fetches them with torchvision's downloader (MD5-checked archives)."""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path

import numpy as np

from nas.data.digits import DIGIT_CLASSES
from nas.data.registry import Request, source
from nas.data.splits import DataError, Pool, Step
from nas.errors import one_line

_IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte")
_IDX_FILES += ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
_FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat")
_FASHION_CLASSES += ("Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
_IDX_SETS = {  # name: (torchvision class and folder, human name, flip, class names)
    "mnist": ("MNIST", "MNIST", False, DIGIT_CLASSES),
    "fashion_mnist": ("FashionMNIST", "Fashion-MNIST", True, _FASHION_CLASSES),
}


def _read_idx(path: Path, ndim: int) -> np.ndarray:
    """An IDX file of uint8 with ``ndim`` dimensions (magic 0x0800 + ndim), gzipped or not."""
    try:
        with (gzip.open if path.suffix == ".gz" else open)(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"{path}: cannot read ({one_line(e)})") from e
    header = 4 + 4 * ndim
    magic = int.from_bytes(data[:4], "big") if len(data) >= header else None
    if magic != 0x0800 + ndim:
        raise DataError(
            f"{path}: not an IDX file of uint8 with {ndim} dimensions "
            f"(expected magic number {0x0800 + ndim}, got {magic})"
        )
    dims = struct.unpack(f">{ndim}I", data[4:header])
    body = np.frombuffer(data, dtype=np.uint8, offset=header)
    if body.size != math.prod(dims):
        raise DataError(f"{path}: {body.size} data bytes, expected {math.prod(dims)} for {dims}")
    return body.reshape(dims)


def _idx_pair(raw: Path, split: str, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    images = _find_idx(raw, f"{split}-images-idx3-ubyte")
    labels = _find_idx(raw, f"{split}-labels-idx1-ubyte")
    x, y = _read_idx(images, 3)[:, None], _read_idx(labels, 1).astype(np.int64)
    if len(x) != len(y):
        raise DataError(f"{images}: {len(x)} images but {labels} has {len(y)} labels")
    if len(y) and y.max() >= num_classes:
        raise DataError(f"{labels}: label {y.max()} out of range 0..{num_classes - 1}")
    return x, y


def _find_idx(raw: Path, stem: str) -> Path:
    for path in (raw / stem, raw / f"{stem}.gz"):
        if path.is_file():
            return path
    raise DataError(f"missing {raw / stem}[.gz]")


def _load_mnist_like(name: str, root: Path, download: bool) -> Pool:
    """MNIST / Fashion-MNIST from ``root/<MNIST|FashionMNIST>/raw/*-idx?-ubyte[.gz]``."""
    tv_class, label, flip, classes = _IDX_SETS[name]
    raw = root / tv_class / "raw"
    found = [s for s in _IDX_FILES if (raw / s).is_file() or (raw / f"{s}.gz").is_file()]
    if download and len(found) < len(_IDX_FILES):
        _download_mnist_like(name, tv_class, root)
    elif not found:
        raise missing(name, label, root, f"{tv_class}/raw/{_IDX_FILES[0]}[.gz] and 3 more")
    try:
        train_x, train_y = _idx_pair(raw, "train", len(classes))
        test_x, test_y = _idx_pair(raw, "t10k", len(classes))
    except DataError as e:
        raise DataError(f"{name}: {e}") from e
    if train_x.shape[1:] != test_x.shape[1:]:
        raise DataError(f"{name}: train images {train_x.shape[2:]} but test {test_x.shape[2:]}")
    h, w = train_x.shape[2:]
    source = (
        f"torchvision.datasets.{tv_class}(root, train=False).data[i].numpy(), an image of the IDX file "
        f"{tv_class}/raw/t10k-images-idx3-ubyte: uint8 ({h}, {w}), values 0..255"
    )
    steps: tuple[Step, ...] = ({"op": "expand_dims", "axis": 0},)
    return Pool(name, train_x, train_y, test_x, test_y, len(classes), flip, 2, classes, source, steps)


def _download_mnist_like(name: str, tv_class: str, root: Path) -> None:
    """Fetch the IDX files with torchvision's downloader (MD5-checked archives)."""
    try:
        torchvision_class(tv_class)(str(root), train=False, download=True)
    except Exception as e:  # network, HTTP and archive errors come in many types
        raise DataError(f"{name}: download failed: {one_line(e)}") from e


@source("mnist")
def load_mnist(req: Request) -> Pool:
    """MNIST handwritten digits, 28x28 grey."""
    return _load_mnist_like("mnist", req.root, req.download)


@source("fashion_mnist")
def load_fashion(req: Request) -> Pool:
    """Fashion-MNIST clothes, 28x28 grey."""
    return _load_mnist_like("fashion_mnist", req.root, req.download)


def missing(name: str, label: str, root: Path, expected: str) -> DataError:
    """The error for a dataset whose files are not where they should be."""
    return DataError(f"{name}: no {label} files under {root} (expected {expected}); pass --data-dir or --download")


def torchvision_class(tv_class: str) -> type:
    """A torchvision dataset class by name (imported only when used)."""
    from torchvision import datasets

    return getattr(datasets, tv_class)
