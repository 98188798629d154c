"""Datasets for trial training, loaded whole into memory as uint8 tensors.

    splits = load_dataset("digits")                      # embedded, no files needed
    splits = load_dataset("cifar10", "~/data", limit=5000)
    splits = load_dataset("imagefolder:/data/flowers", image_size=64)

Every dataset becomes a `DataSplits`: train / validation / test tensors of
shape (N, C, H, W), uint8, on the CPU, plus what the trainer needs to
normalise and augment them. Rules that hold for every dataset:

- The test set is fixed: the official test split where there is one,
  otherwise a stratified 20% carved with the constant `TEST_SEED`, so every
  search and every seed scores against the same images.
- The validation set is carved from the training pool only (stratified,
  ``val_fraction`` of it, from ``seed``); it never touches the test set.
- ``limit`` keeps a seeded random subset of the training pool *before* the
  validation split (train + val together hold at most ``limit`` images);
  the test set is kept whole.
- ``mean`` / ``std`` are per-channel statistics of ``train_x / 255``.
- Nothing a user hands in is unpickled. MNIST-style IDX files and the CIFAR
  binary version are parsed with numpy. The CIFAR python version is read
  through torchvision only after every file's MD5 matches the official release.

Augmentation defaults (``flip`` / ``crop_padding``): digits and MNIST are not
mirror-symmetric (a flipped 2 is no digit), so no flip; Fashion-MNIST clothes
keep their class when mirrored, so flip; CIFAR, image folders and synthetic
data flip. Crop padding is about 1/8 of the side: 1 for 8x8 digits, 2 for
28x28 MNIST, 4 for 32x32 CIFAR, ``size // 8`` for image folders and synthetic
data, scaled along when ``image_size`` resizes a dataset.
"""

from __future__ import annotations

import gzip
import math
import os
import re
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nas.errors import NasgraphError, one_line

DATASETS = (
    "digits",
    "mnist",
    "fashion_mnist",
    "cifar10",
    "cifar100",
    "imagefolder:PATH",
    "synthetic[:CxHxW:K[:N]]",
)  # accepted names, as shown in help text (the last two take arguments)
DEFAULT_DATASET = "digits"
DATA_DIR_ENV = "NASGRAPH_DATA"
DEFAULT_DATA_DIR = "~/.cache/nasgraph/data"
TEST_SEED = 20240607  # fixed: the carved test set is the same for every search and seed
TEST_FRACTION = 0.2  # share of the images held out as test set where there is no official one
DEFAULT_IMAGE_SIZE = 32  # side of image-folder images after resizing
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
SYNTHETIC_DEFAULT = (3, 32, 32, 10, 5000)  # C, H, W, classes, train images (test: N // 5)
SYNTHETIC_MAX_BYTES = 2**31  # refuse synthetic specs whose training set exceeds 2 GiB
_RESIZE_CHUNK = 4096  # images resized per call, to bound temporary memory

Step = dict[str, Any]  # one preprocessing step: {"op": name, **arguments}
STEP_OPS = {  # what each step of `DataSplits.preprocessing` does to one sample (numpy semantics)
    "multiply": "x * by",
    "round": "numpy.rint(x): to the nearest integer, halves to even",
    "clip": "numpy.clip(x, min, max)",
    "cast": "x.astype(dtype)",
    "expand_dims": "numpy.expand_dims(x, axis)",
    "transpose": "x.transpose(axes)",
    "open_image": "PIL.Image.open(file).convert(mode)",
    "resize": "to size [height, width] with the named library, interpolation and antialias; no aspect kept",
    "to_array": "numpy.asarray(image, dtype): (H, W, C) for an RGB image",
    "normalize": "(x - mean[c]) / std[c] for each channel c along axis",
}


class DataError(NasgraphError, ValueError):
    """A dataset name, spec or file that cannot be used; the message says what and why."""


@dataclass(frozen=True, eq=False)
class DataSplits:
    """Train / validation / test images (uint8 or float32, N x C x H x W, CPU) with targets and stats.

    The built-in datasets are uint8 images with int64 class labels. Your own data (`nas.dataset`) may
    be float32 images, and, for a search with its own training function, targets of any numeric dtype
    and shape (N, ...); `num_classes` is then the width of the network's output.
    """

    name: str  # canonical dataset name, e.g. "cifar10" or "synthetic:3x32x32:10:5000"
    train_x: torch.Tensor  # uint8 or float32 (N, C, H, W)
    train_y: torch.Tensor  # int64 (N,) class labels (or any numeric (N, ...) targets)
    val_x: torch.Tensor  # carved from the training pool, never from the test set
    val_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    num_classes: int  # classes, or outputs of the network
    mean: tuple[float, ...]  # per-channel mean of train_x / 255 (uint8), or of train_x (float32)
    std: tuple[float, ...]  # per-channel std of train_x / 255 (uint8), or of train_x (float32)
    flip: bool  # whether horizontal-flip augmentation keeps the class
    crop_padding: int  # padding for random-crop augmentation; 0 = no crop
    classes: tuple[str, ...] = ()  # class names where the dataset has them
    source: str = ""  # one sample as the user holds it (see `preprocessing`)
    steps: tuple[Step, ...] = ()  # from that sample to the stored (C, H, W) image (see `preprocessing`)

    def __post_init__(self) -> None:
        for split in ("train", "val", "test"):
            _check_split(split, getattr(self, f"{split}_x"), getattr(self, f"{split}_y"))
        shapes = {tuple(t.shape[1:]) for t in (self.train_x, self.val_x, self.test_x)}
        if len(shapes) != 1:
            raise DataError(f"{self.name}: splits have different image shapes {sorted(shapes)}")
        if len(self.train_x) == 0:
            raise DataError(f"{self.name}: the training split is empty")
        if not len(self.mean) == len(self.std) == self.in_channels:
            raise DataError(f"{self.name}: mean/std need one value per channel")
        if len({t.dtype for t in (self.train_x, self.val_x, self.test_x)}) != 1:
            raise DataError(f"{self.name}: splits have different image dtypes")
        if len({(t.dtype, tuple(t.shape[1:])) for t in (self.train_y, self.val_y, self.test_y)}) != 1:
            raise DataError(f"{self.name}: splits have targets of different dtypes or shapes")

    @property
    def labelled(self) -> bool:
        """Whether the targets are class labels (int64, one per image): what the built-in trainer needs."""
        return self.train_y.dtype == torch.int64 and self.train_y.dim() == 1

    def normalization(self) -> tuple[tuple[float, ...], tuple[float, ...], float]:
        """(mean, std, scale) of the trainer's input normalisation: x = (pixels * scale - mean) / std per channel;
        scale is 1/255 for uint8 images, 1 for float ones, and std is at least 1e-3."""
        scale = 1 / 255 if self.train_x.dtype == torch.uint8 else 1.0
        return tuple(map(float, self.mean)), tuple(max(float(s), 1e-3) for s in self.std), scale

    def preprocessing(self) -> dict[str, Any]:
        """The whole path from one sample as the user holds it to the network's input, as data.

        ``source`` says what a sample is (e.g. ``sklearn.datasets.load_digits().images[i]``);
        ``steps`` apply to that one sample in order (ops: `STEP_OPS`); the last two turn the stored
        image into the network's float32 (C, H, W) input, and samples stacked along a new first
        axis make the (N, C, H, W) batch. ``mean`` / ``std`` / ``scale`` repeat those last steps
        (x = (pixels * scale - mean) / std) for readers of earlier preprocessing.json files.
        """
        mean, std, scale = self.normalization()
        c, (h, w) = self.in_channels, self.input_size
        last: list[Step] = [{"op": "cast", "dtype": "float32"}]
        if scale != 1:
            last.append({"op": "multiply", "by": scale})
        last.append({"op": "normalize", "mean": list(mean), "std": list(std), "axis": 0})
        steps = [dict(step) for step in self.steps] + last
        stored = f"a stored image: {str(self.train_x.dtype).removeprefix('torch.')} ({c}, {h}, {w})"
        return {
            "source": self.source or stored,
            "steps": steps,
            "ops": {str(s.get("op")): STEP_OPS.get(str(s.get("op")), "") for s in steps},  # what each op does
            "input": {"shape": [c, h, w], "dtype": "float32", "batch": "samples stacked along a new first axis"},
            "classes": list(self.classes),
            "mean": list(mean),
            "std": list(std),
            "scale": scale,
        }

    @property
    def in_channels(self) -> int:
        """Number of image channels."""
        return int(self.train_x.shape[1])

    @property
    def input_size(self) -> tuple[int, int]:
        """Image height and width."""
        return int(self.train_x.shape[2]), int(self.train_x.shape[3])

    def __repr__(self) -> str:
        c, (h, w) = self.in_channels, self.input_size
        return (
            f"DataSplits({self.name!r}, train={len(self.train_x)}, val={len(self.val_x)}, "
            f"test={len(self.test_x)}, shape={c}x{h}x{w}, classes={self.num_classes})"
        )


def _check_split(split: str, x: torch.Tensor, y: torch.Tensor) -> None:
    if x.dtype not in (torch.uint8, torch.float32) or x.dim() != 4:
        raise DataError(f"{split}_x must be uint8 or float32 (N, C, H, W), got {x.dtype} {tuple(x.shape)}")
    if y.dtype not in (torch.int64, torch.float32) or y.dim() < 1 or len(y) != len(x):
        raise DataError(f"{split}_y must be int64 or float32 ({len(x)}, ...), got {y.dtype} {tuple(y.shape)}")


@dataclass(frozen=True)
class _Pool:
    """A loaded dataset before splitting: numpy uint8 images (N, C, H, W) and int64 labels."""

    name: str
    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    num_classes: int
    flip: bool
    crop_padding: int
    classes: tuple[str, ...] = ()
    source: str = ""  # one sample as the user holds it
    steps: tuple[Step, ...] = ()  # from that sample to the stored uint8 (C, H, W) image


Loader = Callable[[str | None, Path, bool, int | None], _Pool]


# ------------------------------------------------------------------ entry point


def load_dataset(
    name: str = DEFAULT_DATASET,
    data_dir: str | Path | None = None,
    *,
    download: bool = False,
    val_fraction: float = 0.1,
    seed: int = 0,
    image_size: int | None = None,
    limit: int | None = None,
) -> DataSplits:
    """Load a dataset by name (see `DATASETS`) and split it into train / val / test."""
    _check_options(val_fraction, image_size, limit)
    base, arg = _parse_name(name)
    pool = _LOADERS[base](arg, resolve_data_dir(data_dir), download, image_size)
    train_x, train_y = pool.train_x, pool.train_y
    if limit is not None and limit < len(train_y):
        keep = np.sort(np.random.default_rng(seed).permutation(len(train_y))[:limit])
        train_x, train_y = train_x[keep], train_y[keep]
    train_idx, val_idx = _stratified_split(train_y, val_fraction, seed, pool.name)
    xs = [train_x[train_idx], train_x[val_idx], pool.test_x]
    ys = [train_y[train_idx], train_y[val_idx], pool.test_y]
    padding, steps = pool.crop_padding, pool.steps
    if image_size is not None and xs[0].shape[2:] != (image_size, image_size):
        padding = max(1, round(padding * image_size / max(xs[0].shape[2:])))
        xs = [_resize(x, image_size) for x in xs]
        steps += (RESIZE_STEP | {"size": [image_size, image_size]},)
    (train_x_t, val_x_t, test_x_t), (train_y_t, val_y_t, test_y_t) = _tensors(xs), _tensors(ys)
    mean, std = _channel_stats(train_x_t)
    return DataSplits(
        pool.name,
        train_x_t,
        train_y_t,
        val_x_t,
        val_y_t,
        test_x_t,
        test_y_t,
        num_classes=pool.num_classes,
        mean=mean,
        std=std,
        flip=pool.flip,
        crop_padding=padding,
        classes=pool.classes,
        source=pool.source,
        steps=steps,
    )


def _tensors(arrays: list[np.ndarray]) -> list[torch.Tensor]:
    return [torch.from_numpy(np.require(a, requirements=("C", "W"))) for a in arrays]


def resolve_data_dir(data_dir: str | Path | None = None) -> Path:
    """The data directory: ``data_dir``, else $NASGRAPH_DATA, else ~/.cache/nasgraph/data."""
    chosen = data_dir if data_dir is not None else os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR
    return Path(chosen).expanduser()


def _check_options(val_fraction: float, image_size: int | None, limit: int | None) -> None:
    if not isinstance(val_fraction, int | float) or not 0 <= val_fraction < 1:
        raise DataError(f"val_fraction must be in [0, 1), got {val_fraction!r}")
    if image_size is not None and (not _is_int(image_size) or image_size < 1):
        raise DataError(f"image_size must be a positive integer, got {image_size!r}")
    if limit is not None and (not _is_int(limit) or limit < 2):
        raise DataError(f"limit must be an integer >= 2, got {limit!r}")


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _parse_name(name: str) -> tuple[str, str | None]:
    if not isinstance(name, str):
        raise DataError(f"dataset name must be a string, got {type(name).__name__}")
    base, sep, arg = name.strip().partition(":")
    base = base.lower()
    if base not in _LOADERS:
        if base == "user":
            raise DataError(
                f"dataset {name!r} is data a search was given from Python; pass it again there: "
                "nas.Search.resume(DIR, data=...)"
            )
        raise DataError(f"unknown dataset {name!r}; expected one of: {', '.join(DATASETS)}, or one a plugin registers")
    if sep and base not in ("imagefolder", "synthetic"):
        raise DataError(f"dataset {base!r} takes no ':' argument, got {name!r}")
    return base, arg if sep else None


# ------------------------------------------------------------------ splitting and stats


def _stratified_split(y: np.ndarray, fraction: float, seed: int, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Sorted indices (kept, held out), ``fraction`` held out, stratified where the labels allow."""
    idx = np.arange(len(y))
    if fraction == 0:
        return idx, idx[:0]
    from sklearn.model_selection import train_test_split

    try:
        kept, held = train_test_split(idx, test_size=fraction, random_state=seed, stratify=y)
    except ValueError:  # a class too small to stratify: fall back to a plain shuffle split
        try:
            kept, held = train_test_split(idx, test_size=fraction, random_state=seed)
        except ValueError as e:
            raise DataError(f"{name}: cannot hold out {fraction} of {len(y)} images ({e})") from e
    return np.sort(kept), np.sort(held)


def _carve_test(name: str, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, ...]:
    """Split (x, y) into (train_x, train_y, test_x, test_y) with the fixed test seed."""
    train, test = _stratified_split(y, TEST_FRACTION, TEST_SEED, name)
    return x[train], y[train], x[test], y[test]


def _channel_stats(x: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of x / 255, exact, from a histogram of the uint8 values."""
    values = np.arange(256, dtype=np.float64) / 255
    means, stds = [], []
    for c in range(x.shape[1]):
        counts = torch.bincount(x[:, c].flatten(), minlength=256).double().numpy()
        mean = counts @ values / counts.sum()
        var = counts @ (values - mean) ** 2 / counts.sum()
        means.append(float(mean))
        stds.append(float(math.sqrt(var)))
    return tuple(means), tuple(stds)


RESIZE_STEP: Step = {  # what `_resize` does, as a preprocessing step (its size added)
    "op": "resize",
    "library": "torchvision.transforms.v2.functional.resize, on the uint8 (C, H, W) tensor",
    "interpolation": "bilinear",
    "antialias": True,
}


def _resize(x: np.ndarray, size: int) -> np.ndarray:
    """Bilinear (antialiased) resize of uint8 images to size x size, in chunks (`RESIZE_STEP`)."""
    from torchvision.transforms.v2 import functional as F

    out = np.empty((len(x), x.shape[1], size, size), dtype=np.uint8)
    for i in range(0, len(x), _RESIZE_CHUNK):
        chunk = torch.from_numpy(np.require(x[i : i + _RESIZE_CHUNK], requirements=("C", "W")))  # (IDX: read-only)
        out[i : i + _RESIZE_CHUNK] = F.resize(chunk, [size, size], antialias=True).numpy()
    return out


def _missing(name: str, label: str, root: Path, expected: str) -> DataError:
    return DataError(f"{name}: no {label} files under {root} (expected {expected}); pass --data-dir or --download")


# ------------------------------------------------------------------ digits


def _load_digits(arg: str | None, root: Path, download: bool, image_size: int | None) -> _Pool:
    """scikit-learn's 1797 8x8 handwritten digits (values 0..16 scaled to 0..255)."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = np.rint(bunch.images * (255 / 16)).clip(0, 255).astype(np.uint8)[:, None]
    y = bunch.target.astype(np.int64)
    return _Pool("digits", *_carve_test("digits", x, y), 10, False, 1, _DIGIT_CLASSES, _DIGITS_SOURCE, _DIGITS_STEPS)


_DIGITS_SOURCE = "sklearn.datasets.load_digits().images[i]: float64 (8, 8), values 0..16"
_DIGITS_STEPS: tuple[Step, ...] = (  # what _load_digits does, as preprocessing steps
    {"op": "multiply", "by": 255 / 16},
    {"op": "round"},
    {"op": "clip", "min": 0, "max": 255},
    {"op": "cast", "dtype": "uint8"},
    {"op": "expand_dims", "axis": 0},
)


# ------------------------------------------------------------------ MNIST-style IDX files

_IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte")
_IDX_FILES += ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
_DIGIT_CLASSES = tuple(str(i) for i in range(10))
_FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat")
_FASHION_CLASSES += ("Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
_IDX_SETS = {  # name: (torchvision class and folder, human name, flip, class names)
    "mnist": ("MNIST", "MNIST", False, _DIGIT_CLASSES),
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


def _load_mnist_like(name: str, root: Path, download: bool) -> _Pool:
    """MNIST / Fashion-MNIST from ``root/<MNIST|FashionMNIST>/raw/*-idx?-ubyte[.gz]``."""
    tv_class, label, flip, classes = _IDX_SETS[name]
    raw = root / tv_class / "raw"
    found = [s for s in _IDX_FILES if (raw / s).is_file() or (raw / f"{s}.gz").is_file()]
    if download and len(found) < len(_IDX_FILES):
        _download_mnist_like(name, tv_class, root)
    elif not found:
        raise _missing(name, label, root, f"{tv_class}/raw/{_IDX_FILES[0]}[.gz] and 3 more")
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
    return _Pool(name, train_x, train_y, test_x, test_y, len(classes), flip, 2, classes, source, steps)


def _download_mnist_like(name: str, tv_class: str, root: Path) -> None:
    """Fetch the IDX files with torchvision's downloader (MD5-checked archives)."""
    try:
        _torchvision_class(tv_class)(str(root), train=False, download=True)
    except Exception as e:  # network, HTTP and archive errors come in many types
        raise DataError(f"{name}: download failed: {one_line(e)}") from e


def _torchvision_class(tv_class: str) -> type:
    from torchvision import datasets

    return getattr(datasets, tv_class)


def _load_mnist(arg: str | None, root: Path, download: bool, image_size: int | None) -> _Pool:
    """MNIST handwritten digits, 28x28 grey."""
    return _load_mnist_like("mnist", root, download)


def _load_fashion(arg: str | None, root: Path, download: bool, image_size: int | None) -> _Pool:
    """Fashion-MNIST clothes, 28x28 grey."""
    return _load_mnist_like("fashion_mnist", root, download)


# ------------------------------------------------------------------ CIFAR


@dataclass(frozen=True)
class _Cifar:
    """Where one CIFAR variant lives on disk and how its binary records look."""

    name: str
    label: str  # human name, e.g. "CIFAR-10"
    bin_dir: str  # binary version: records of label byte(s) + 3072 pixel bytes
    train_files: tuple[str, ...]
    test_files: tuple[str, ...]
    label_bytes: int  # CIFAR-100 records carry (coarse, fine); the fine label is the last one
    num_classes: int
    py_dir: str  # python (pickle) version, read only through torchvision after MD5 checks
    tv_class: str
    names_file: str  # plain-text class names shipped with the binary version


_CIFAR = {
    "cifar10": _Cifar(
        name="cifar10",
        label="CIFAR-10",
        bin_dir="cifar-10-batches-bin",
        train_files=tuple(f"data_batch_{i}.bin" for i in range(1, 6)),
        test_files=("test_batch.bin",),
        label_bytes=1,
        num_classes=10,
        py_dir="cifar-10-batches-py",
        tv_class="CIFAR10",
        names_file="batches.meta.txt",
    ),
    "cifar100": _Cifar(
        name="cifar100",
        label="CIFAR-100",
        bin_dir="cifar-100-binary",
        train_files=("train.bin",),
        test_files=("test.bin",),
        label_bytes=2,
        num_classes=100,
        py_dir="cifar-100-python",
        tv_class="CIFAR100",
        names_file="fine_label_names.txt",
    ),
}
_CIFAR_PIXELS = 3 * 32 * 32


def _read_cifar_bin(path: Path, spec: _Cifar) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 3, 32, 32) and fine labels from one binary batch file."""
    record = spec.label_bytes + _CIFAR_PIXELS
    if not path.is_file():
        raise DataError(f"{spec.name}: missing {path}")
    size = path.stat().st_size
    if size == 0 or size % record:
        raise DataError(
            f"{spec.name}: {path} has {size} bytes, expected a positive multiple of "
            f"the {record}-byte {spec.label} record"
        )
    records = np.fromfile(path, dtype=np.uint8).reshape(-1, record)
    y = records[:, spec.label_bytes - 1].astype(np.int64)
    if y.max() >= spec.num_classes:
        raise DataError(f"{spec.name}: {path} has label {y.max()}, expected < {spec.num_classes}")
    return records[:, spec.label_bytes :].reshape(-1, 3, 32, 32), y


def _cifar_binary(spec: _Cifar, folder: Path) -> tuple[np.ndarray, ...]:
    train = [_read_cifar_bin(folder / f, spec) for f in spec.train_files]
    test = [_read_cifar_bin(folder / f, spec) for f in spec.test_files]
    return *_concat(train), *_concat(test)


def _concat(pairs: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    return np.concatenate([x for x, _ in pairs]), np.concatenate([y for _, y in pairs])


def _cifar_python(spec: _Cifar, root: Path, download: bool) -> tuple[tuple[np.ndarray, ...], tuple[str, ...]]:
    """The python version through torchvision (arrays, class names), refusing any file that is not the official one.

    torchvision 0.29.1 (datasets/cifar.py) already checks, in ``CIFAR10.__init__``, every
    batch file's MD5 against the official release (``_check_integrity``) before its
    ``pickle.load``, and ``_load_meta`` checks the meta file's MD5 before unpickling it. We
    check the same MD5s here first as well, so that an unofficial file is never unpickled
    even if a later torchvision loosens its checks.
    """
    from torchvision.datasets.utils import download_and_extract_archive

    cls = _torchvision_class(spec.tv_class)
    if download and _cifar_unverified(cls, root) is not None:
        try:  # torchvision's downloader checks the archive's MD5
            download_and_extract_archive(cls.url, str(root), filename=cls.filename, md5=cls.tgz_md5)
        except Exception as e:  # network, HTTP and archive errors come in many types
            raise DataError(f"{spec.name}: download failed: {one_line(e)}") from e
    bad = _cifar_unverified(cls, root)
    if bad is not None:
        problem = "is not the official" if bad.is_file() else "is missing, expected the official"
        raise DataError(
            f"{spec.name}: {bad} {problem} {spec.label} file (MD5 check); refusing to unpickle "
            f"anything in {spec.py_dir}/. Use the binary version ({spec.bin_dir}/) or --download"
        )
    try:
        train, test = cls(str(root), train=True), cls(str(root), train=False)
    except (RuntimeError, OSError) as e:
        raise DataError(f"{spec.name}: cannot read {root / spec.py_dir}: {one_line(e)}") from e
    to_chw = (0, 3, 1, 2)  # torchvision keeps HWC
    train_y, test_y = (np.asarray(d.targets, dtype=np.int64) for d in (train, test))
    arrays = train.data.transpose(to_chw), train_y, test.data.transpose(to_chw), test_y
    names = tuple(map(str, train.classes))
    return arrays, names if len(names) == spec.num_classes else ()


def _cifar_unverified(cls: type, root: Path) -> Path | None:
    """The first python-version file that is missing or fails its official MD5, or None."""
    from torchvision.datasets.utils import check_integrity

    meta = (cls.meta["filename"], cls.meta["md5"])
    for filename, md5 in [*cls.train_list, *cls.test_list, meta]:
        path = root / cls.base_folder / filename
        if not check_integrity(str(path), md5):
            return path
    return None


def _load_cifar(spec: _Cifar, root: Path, download: bool) -> _Pool:
    """CIFAR from the binary version if present, else the verified python version."""
    if (root / spec.bin_dir).is_dir():
        arrays = _cifar_binary(spec, root / spec.bin_dir)
        classes = _cifar_names(root / spec.bin_dir / spec.names_file, spec.num_classes)
        record = f"{spec.label_bytes} label byte{'s' if spec.label_bytes > 1 else ''}"
        source = f"a record of {spec.bin_dir}/{spec.test_files[0]} after its {record}: uint8 (3, 32, 32), RGB"
        steps: tuple[Step, ...] = ()
    elif download or (root / spec.py_dir).is_dir():
        arrays, classes = _cifar_python(spec, root, download)
        source = f"torchvision.datasets.{spec.tv_class}(root).data[i]: uint8 (32, 32, 3), RGB"
        steps = ({"op": "transpose", "axes": [2, 0, 1]},)
    else:
        raise _missing(spec.name, spec.label, root, f"{spec.bin_dir}/ or {spec.py_dir}/")
    return _Pool(spec.name, *arrays, spec.num_classes, True, 4, classes, source, steps)


def _cifar_names(path: Path, num_classes: int) -> tuple[str, ...]:
    """Class names from the binary version's text file, or () if absent or malformed."""
    try:
        names = tuple(n.strip() for n in path.read_text().splitlines() if n.strip())
    except (OSError, UnicodeDecodeError):
        return ()
    return names if len(names) == num_classes else ()


def _load_cifar10(arg: str | None, root: Path, download: bool, image_size: int | None) -> _Pool:
    """CIFAR-10: 32x32 colour images, 10 classes."""
    return _load_cifar(_CIFAR["cifar10"], root, download)


def _load_cifar100(arg: str | None, root: Path, download: bool, image_size: int | None) -> _Pool:
    """CIFAR-100: 32x32 colour images, 100 fine classes."""
    return _load_cifar(_CIFAR["cifar100"], root, download)


# ------------------------------------------------------------------ image folders


def _load_imagefolder(arg: str | None, root: Path, download: bool, image_size: int | None) -> _Pool:
    """PATH/<class>/<images>, or PATH/train/<class>/... with PATH/test (or val)/<class>/..."""
    if not arg:
        raise DataError("imagefolder needs a path: imagefolder:PATH")
    path = Path(arg).expanduser().resolve()
    name, size = f"imagefolder:{path}", image_size or DEFAULT_IMAGE_SIZE
    if not path.is_dir():
        raise DataError(f"{name}: not a directory (expected PATH/<class>/<image files>)")
    train_dir, test_dir = _folder_roots(path)
    classes = _class_names(name, train_dir)
    if test_dir is not None and (test_classes := _class_names(name, test_dir)) != classes:
        odd = sorted(set(classes) ^ set(test_classes))
        raise DataError(
            f"{name}: class folders in {train_dir.name}/ and {test_dir.name}/ differ: {odd} "
            "(expected the same class folders in both)"
        )
    x, y = _read_folder(name, train_dir, classes, size, per_class=True)
    if test_dir is None:
        arrays = _carve_test(name, x, y)
    else:
        arrays = (x, y, *_read_folder(name, test_dir, classes, size, per_class=False))
    steps: tuple[Step, ...] = (
        {"op": "open_image", "library": "PIL", "mode": "RGB"},
        {
            "op": "resize",
            "library": "PIL: image.resize((width, height), Image.Resampling.BILINEAR)",
            "interpolation": "bilinear",
            "antialias": True,
            "size": [size, size],
        },
        {"op": "to_array", "dtype": "uint8"},
        {"op": "transpose", "axes": [2, 0, 1]},
    )
    source = f"an image file under {path}/<class>/ ({', '.join(IMAGE_EXTENSIONS)}; any mode Pillow opens)"
    return _Pool(name, *arrays, len(classes), True, max(1, size // 8), classes, source, steps)


def _folder_roots(path: Path) -> tuple[Path, Path | None]:
    """(train root, test root or None) of an image-folder dataset."""
    if not (path / "train").is_dir():
        return path, None
    test = next((path / d for d in ("test", "val") if (path / d).is_dir()), None)
    return path / "train", test


def _class_names(name: str, folder: Path) -> tuple[str, ...]:
    classes = tuple(sorted(p.name for p in folder.iterdir() if p.is_dir() and p.name[0] != "."))
    if not classes:
        raise DataError(f"{name}: no class folders in {folder} (expected {folder}/<class>/<images>)")
    return classes


def _image_files(folder: Path) -> list[Path]:
    files = (p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS)
    return sorted(p for p in files if p.is_file())


def _read_folder(
    name: str, folder: Path, classes: tuple[str, ...], size: int, *, per_class: bool
) -> tuple[np.ndarray, np.ndarray]:
    """All images under folder/<class>/ as uint8 RGB (N, 3, size, size), with class indices."""
    files = [(p, i) for i, c in enumerate(classes) for p in _image_files(folder / c)]
    empty = sorted(set(classes) - {classes[i] for _, i in files})
    if not files or (per_class and empty):
        raise DataError(
            f"{name}: no images in {folder}/{{{','.join(empty)}}} "
            f"(expected files ending in {', '.join(IMAGE_EXTENSIONS)})"
        )
    x = np.empty((len(files), 3, size, size), dtype=np.uint8)
    for k, (path, _) in enumerate(files):
        x[k] = _read_image(path, size)
    return x, np.array([i for _, i in files], dtype=np.int64)


def _read_image(path: Path, size: int) -> np.ndarray:
    """One image as uint8 RGB (3, size, size), resized (bilinear) without keeping aspect."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            rgb = im.convert("RGB").resize((size, size), Image.Resampling.BILINEAR)
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        raise DataError(f"{path}: cannot read image ({one_line(e)})") from e
    return np.asarray(rgb, dtype=np.uint8).transpose(2, 0, 1)


# ------------------------------------------------------------------ synthetic

_SYNTHETIC_SPEC = re.compile(r"(\d+)x(\d+)x(\d+):(\d+)(?::(\d+))?")
_SYNTHETIC_SEED = 1234  # fixed: the same images for every search and seed


def parse_synthetic(arg: str | None) -> tuple[int, int, int, int, int]:
    """(C, H, W, classes, train images) from a synthetic spec such as ``3x32x32:10:5000``."""
    if arg is None:
        return SYNTHETIC_DEFAULT
    m = _SYNTHETIC_SPEC.fullmatch(arg.strip())
    if m is None:
        raise DataError(f"bad synthetic spec {arg!r}; expected CxHxW:K[:N], e.g. 3x32x32:10:5000")
    c, h, w, k = (int(g) for g in m.groups()[:4])
    n = int(m.group(5)) if m.group(5) else SYNTHETIC_DEFAULT[4]
    if min(c, h, w) < 1 or k < 2 or n < 2:
        raise DataError(f"bad synthetic spec {arg!r}: need C, H, W >= 1, K >= 2 and N >= 2")
    if n * c * h * w > SYNTHETIC_MAX_BYTES:
        raise DataError(f"synthetic spec {arg!r} needs {n * c * h * w} bytes, over the 2 GiB cap")
    return c, h, w, k, n


def _load_synthetic(arg: str | None, root: Path, download: bool, image_size: int | None) -> _Pool:
    """Seeded random uint8 images and labels, for speed tests (N train, N // 5 test)."""
    c, h, w, k, n = parse_synthetic(arg)
    gen = torch.Generator().manual_seed(_SYNTHETIC_SEED)
    n_test = max(1, n // 5)
    x = torch.randint(0, 256, (n + n_test, c, h, w), dtype=torch.uint8, generator=gen).numpy()
    y = torch.randint(0, k, (n + n_test,), generator=gen).numpy()
    name = f"synthetic:{c}x{h}x{w}:{k}:{n}"
    source = f"a synthetic image: uint8 ({c}, {h}, {w}), seeded uniform noise"
    return _Pool(name, x[:n], y[:n], x[n:], y[n:], k, True, max(1, min(h, w) // 8), (), source)


_LOADERS: dict[str, Loader] = {
    "digits": _load_digits,
    "mnist": _load_mnist,
    "fashion_mnist": _load_fashion,
    "cifar10": _load_cifar10,
    "cifar100": _load_cifar100,
    "imagefolder": _load_imagefolder,
    "synthetic": _load_synthetic,
}


MIN_VAL_PER_CLASS = 10  # fewer validation images of a class than this, and accuracies rank architectures by chance


def small_validation(data: DataSplits, val_fraction: float | None = None) -> str | None:
    """A warning when the validation split is too small to rank architectures (under `MIN_VAL_PER_CLASS`
    images of some class), else None. Targets that are not class labels are not checked."""
    if not data.labelled:
        return None
    counts = torch.bincount(data.val_y, minlength=data.num_classes).tolist()
    few = [i for i, n in enumerate(counts) if n < MIN_VAL_PER_CLASS]
    if not few:
        return None
    low = min(few, key=lambda i: counts[i])
    name = data.classes[low] if low < len(data.classes) else str(low)
    now = f" (now {val_fraction:g})" if val_fraction is not None else ""
    return (
        f"warning: the validation split has {counts[low]} images of class {name!r} and under {MIN_VAL_PER_CLASS} "
        f"of {len(few)} of the {data.num_classes} classes ({len(data.val_y)} in all): accuracies that close apart "
        f"rank architectures by chance; hold out more with --val-fraction{now} or add images"
    )


def normalizer(data: DataSplits, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """x_float = x * scale + shift == (x * unit - mean) / std per channel (`DataSplits.normalization`)."""
    mean_, std_, unit = data.normalization()
    mean = torch.tensor(mean_, device=device).view(1, -1, 1, 1)
    std = torch.tensor(std_, device=device).view(1, -1, 1, 1)
    return unit / std, -mean / std
