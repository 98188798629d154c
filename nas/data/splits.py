"""What every dataset becomes: `DataSplits`, its checks, the shared splitting and statistics.

Rules that hold for every dataset:

- The test set is fixed: the official test split where there is one, otherwise a stratified 20% carved
  with the constant `TEST_SEED`, so every search and every seed scores against the same images.
- The validation set is carved from the training pool only (stratified, ``val_fraction`` of it, from
  ``seed``); it never touches the test set.
- ``mean`` / ``std`` are per-channel statistics of ``train_x / 255`` (of the prepared training pool for
  shards, `nas.data.shards`).

Images are torch tensors in memory, or, for a prepared dataset, `nas.data.shards.ShardImages`: memory-mapped
shards that index like a uint8 tensor (``x[i:j]``, ``x.index_select(0, idx)``, ``len``, ``shape``) and
pickle as file names, so nothing of the set travels through Ray's object store.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nas.errors import NasgraphError

DATA_DIR_ENV = "NASGRAPH_DATA"
DEFAULT_DATA_DIR = "~/.cache/nasgraph/data"
TEST_SEED = 20240607  # fixed: the carved test set is the same for every search and seed
TEST_FRACTION = 0.2  # share of the images held out as test set where there is no official one
MIN_VAL_PER_CLASS = 10  # fewer validation images of a class than this, and accuracies rank architectures by chance

Step = dict[str, Any]  # one preprocessing step: {"op": name, **arguments}; applied by `nas.data.steps`
STEP_OPS = {  # what each step of `DataSplits.preprocessing` does to one sample (numpy semantics)
    "multiply": "x * by",
    "round": "numpy.rint(x): to the nearest integer, halves to even",
    "clip": "numpy.clip(x, min, max)",
    "cast": "x.astype(dtype)",
    "expand_dims": "numpy.expand_dims(x, axis)",
    "transpose": "x.transpose(axes)",
    "open_image": (
        "PIL.Image.open(file); image.draft(mode, draft) when draft is given (JPEG decoded at a reduced scale, "
        "never below draft); PIL.ImageOps.exif_transpose(image) when exif_transpose; image.convert(mode)"
    ),
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
    and shape (N, ...); `num_classes` is then the width of the network's output. A prepared dataset's
    images are `nas.data.shards.ShardImages` (memory-mapped, read a batch at a time).
    """

    name: str  # canonical dataset name, e.g. "cifar10", "synthetic:3x32x32:10:5000" or "shards:/data/prepared"
    train_x: Any  # torch.Tensor uint8 or float32 (N, C, H, W), or ShardImages
    train_y: torch.Tensor  # int64 (N,) class labels (or any numeric (N, ...) targets)
    val_x: Any  # carved from the training pool, never from the test set
    val_y: torch.Tensor
    test_x: Any
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

    @property
    def mapped(self) -> bool:
        """Whether the images are read from memory-mapped shards rather than held in memory."""
        return not isinstance(self.train_x, torch.Tensor)

    def nbytes(self) -> int:
        """Bytes of images and targets held in memory (0 for the images of a mapped dataset)."""
        tensors = [getattr(self, f"{s}_{p}") for s in ("train", "val", "test") for p in "xy"]
        return sum(t.numel() * t.element_size() for t in tensors if isinstance(t, torch.Tensor))

    def image_bytes(self) -> int:
        """Bytes of all images, wherever they are."""
        c, (h, w) = self.in_channels, self.input_size
        item = torch.empty((), dtype=self.train_x.dtype).element_size()
        return sum(len(getattr(self, f"{s}_x")) for s in ("train", "val", "test")) * c * h * w * item

    def normalization(self) -> tuple[tuple[float, ...], tuple[float, ...], float]:
        """(mean, std, scale) of the trainer's input normalisation: x = (pixels * scale - mean) / std per channel;
        scale is 1/255 for uint8 images, 1 for float ones, and std is at least 1e-3."""
        scale = 1 / 255 if self.train_x.dtype == torch.uint8 else 1.0
        return tuple(map(float, self.mean)), tuple(max(float(s), 1e-3) for s in self.std), scale

    def preprocessing(self) -> dict[str, Any]:
        """The whole path from one sample as the user holds it to the network's input, as data.

        ``source`` says what a sample is (e.g. ``sklearn.datasets.load_digits().images[i]``);
        ``steps`` apply to that one sample in order (ops: `nas.data.steps.STEP_OPS`, applied by
        `nas.data.steps.apply_steps`); the last two turn the stored image into the network's float32
        (C, H, W) input, and samples stacked along a new first axis make the (N, C, H, W) batch.
        ``mean`` / ``std`` / ``scale`` repeat those last steps (x = (pixels * scale - mean) / std) for
        readers of earlier preprocessing.json files.
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


def _check_split(split: str, x: Any, y: torch.Tensor) -> None:
    if x.dtype not in (torch.uint8, torch.float32) or x.dim() != 4:
        raise DataError(f"{split}_x must be uint8 or float32 (N, C, H, W), got {x.dtype} {tuple(x.shape)}")
    if y.dtype not in (torch.int64, torch.float32) or y.dim() < 1 or len(y) != len(x):
        raise DataError(f"{split}_y must be int64 or float32 ({len(x)}, ...), got {y.dtype} {tuple(y.shape)}")


@dataclass(frozen=True)
class Pool:
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


def available_memory() -> int:
    """Bytes of memory available to new work: MemAvailable of /proc/meminfo (Linux), else free pages."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def resolve_data_dir(data_dir: str | Path | None = None) -> Path:
    """The data directory: ``data_dir``, else $NASGRAPH_DATA, else ~/.cache/nasgraph/data."""
    chosen = data_dir if data_dir is not None else os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR
    return Path(chosen).expanduser()


def stratified_split(y: np.ndarray, fraction: float, seed: int, name: str) -> tuple[np.ndarray, np.ndarray]:
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


def train_val_indices(
    y: np.ndarray, limit: int | None, val_fraction: float, seed: int, name: str
) -> tuple[np.ndarray, np.ndarray]:
    """Sorted indices (train, val) into a training pool of labels ``y``: ``limit`` keeps a seeded random subset
    first (train + val together), then ``val_fraction`` of it is held out, stratified (`stratified_split`)."""
    keep = np.arange(len(y))
    if limit is not None and limit < len(keep):
        keep = np.sort(np.random.default_rng(seed).permutation(len(keep))[:limit])
    kept, held = stratified_split(y[keep], val_fraction, seed, name)
    return keep[kept], keep[held]


def carve_test(name: str, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, ...]:
    """Split (x, y) into (train_x, train_y, test_x, test_y) with the fixed test seed."""
    train, test = stratified_split(y, TEST_FRACTION, TEST_SEED, name)
    return x[train], y[train], x[test], y[test]


def channel_histograms(x: torch.Tensor | np.ndarray) -> np.ndarray:
    """Counts of each uint8 value per channel, (C, 256) int64: what `channel_stats` needs, summable over parts."""
    t = torch.from_numpy(np.asarray(x)) if isinstance(x, np.ndarray) else x
    return np.stack([torch.bincount(t[:, c].flatten(), minlength=256).numpy() for c in range(t.shape[1])])


def stats_of_histograms(counts: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of pixels / 255 from (C, 256) value counts."""
    values = np.arange(256, dtype=np.float64) / 255
    means, stds = [], []
    for row in np.asarray(counts, dtype=np.float64):
        mean = row @ values / row.sum()
        means.append(float(mean))
        stds.append(float(math.sqrt(row @ (values - mean) ** 2 / row.sum())))
    return tuple(means), tuple(stds)


def channel_stats(x: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of x / 255, exact, from a histogram of the uint8 values."""
    return stats_of_histograms(channel_histograms(x))


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
