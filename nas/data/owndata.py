"""Your own data as a search's dataset: arrays, tensors or in-memory torch Datasets -> `DataSplits`.

    import nas
    data = nas.dataset((x_train, y_train), test=(x_test, y_test))          # val carved from train
    data = nas.dataset({"train": (x, y), "val": (xv, yv)}, num_classes=10)
    data = nas.dataset(torchvision_dataset_already_in_memory, flip=True, crop_padding=4)

Images are (N, C, H, W) or (N, H, W) (one channel), uint8 (0..255) or floating point (kept as
float32); targets are integer class labels for the built-in trainer, or any numeric (N, ...) array
for a search with its own training function (`num_classes` is then the network's output width: the
second dimension of 2-D targets, 1 for 1-D float targets, unless given). A torch Dataset is read once,
item by item, into memory: items are (image, target) pairs, images as tensors, arrays or PIL images.

The validation split, when not given, is carved from the training split (``val_fraction`` of it,
stratified for class labels, from ``seed``), as for the built-in datasets; the test split is optional.
Augmentation is off unless asked for: nothing is known about your images' symmetries. Each problem is
one `DataError` naming the split, the array and what is allowed. The result reaches Ray workers the way
the built-in datasets do: numpy arrays in the object store, mapped without a copy per trial.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from nas.data.registry import register_dataset  # noqa: F401 -- nas.owndata's name, kept importable here
from nas.data.splits import DataError, DataSplits, channel_stats, stratified_split

SPLITS = ("train", "val", "test")
DEFAULT_NAME = "user:arrays"


def dataset(
    data: Any,
    val: Any = None,
    test: Any = None,
    *,
    val_fraction: float = 0.1,
    seed: int = 0,
    num_classes: int | None = None,
    name: str = DEFAULT_NAME,
    flip: bool = False,
    crop_padding: int = 0,
    classes: Sequence[str] = (),
) -> DataSplits:
    """Your data as train / val / test splits; see the module docstring for what each argument may be."""
    if isinstance(data, DataSplits):
        return data
    if isinstance(data, Mapping):
        unknown = sorted(set(data) - set(SPLITS))
        if unknown or "train" not in data:
            raise DataError(f"data: a mapping needs a 'train' entry, and may have 'val' and 'test'; got {sorted(data)}")
        val = data.get("val", val)
        test = data.get("test", test)
        data = data["train"]
    if not isinstance(val_fraction, int | float) or not 0 <= val_fraction < 1:
        raise DataError(f"val_fraction must be in [0, 1), got {val_fraction!r}")
    if not isinstance(crop_padding, int) or crop_padding < 0:
        raise DataError(f"crop_padding must be an integer >= 0, got {crop_padding!r}")
    train_x, train_y = _pair("train", data)
    if val is None:
        labels = train_y if _is_labels(train_y) else np.zeros(len(train_y), dtype=np.int64)
        kept, held = stratified_split(labels, float(val_fraction), seed, "data")
        if len(kept) == 0:
            raise DataError(f"data: no training samples left after holding out val_fraction {val_fraction}")
        (train_x, val_x), (train_y, val_y) = (train_x[kept], train_x[held]), (train_y[kept], train_y[held])
    else:
        val_x, val_y = _pair("val", val)
    test_x, test_y = _pair("test", test) if test is not None else (train_x[:0], train_y[:0])
    xs, ys = (train_x, val_x, test_x), (train_y, val_y, test_y)
    for split, x, y in zip(SPLITS, xs, ys, strict=True):
        if x.shape[1:] != train_x.shape[1:] or x.dtype != train_x.dtype:
            raise DataError(
                f"data: {split} images are {x.dtype} {_shape(x)}, train images {train_x.dtype} {_shape(train_x)}"
            )
        if y.shape[1:] != train_y.shape[1:] or y.dtype != train_y.dtype:
            raise DataError(
                f"data: {split} targets are {y.dtype} {_shape(y)}, train targets {train_y.dtype} {_shape(train_y)}"
            )
    outputs = _outputs(ys, num_classes)
    tx = [torch.from_numpy(np.ascontiguousarray(x)) for x in xs]
    ty = [torch.from_numpy(np.ascontiguousarray(y)) for y in ys]
    mean, std = channel_stats(tx[0]) if tx[0].dtype == torch.uint8 else _float_stats(xs[0])
    return DataSplits(
        name,
        tx[0],
        ty[0],
        tx[1],
        ty[1],
        tx[2],
        ty[2],
        num_classes=outputs,
        mean=mean,
        std=std,
        flip=bool(flip),
        crop_padding=crop_padding,
        classes=tuple(str(c) for c in classes),
        source=f"an image of the x given to nas.dataset, as ({', '.join(map(str, xs[0].shape[1:]))}) {xs[0].dtype} "
        "(an (H, W) image is one channel: (1, H, W))",
    )


def _pair(split: str, value: Any) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) numpy arrays of one split, checked and converted (x: uint8 or float32 (N, C, H, W))."""
    if isinstance(value, torch.utils.data.Dataset):
        return _materialized(split, value)
    if not isinstance(value, tuple | list) or len(value) != 2:
        raise DataError(
            f"data: {split} must be an (x, y) pair of arrays or a torch Dataset, got {type(value).__name__}"
        )
    x = _images(split, _array(f"{split} x", value[0]))
    y = _targets(split, _array(f"{split} y", value[1]))
    if len(x) != len(y):
        raise DataError(f"data: {split} x has {len(x)} samples but {split} y has {len(y)}")
    if split == "train" and len(x) == 0:
        raise DataError("data: the train split is empty")
    return x, y


def _array(what: str, v: Any) -> np.ndarray:
    if isinstance(v, torch.Tensor):
        return v.detach().cpu().numpy()
    if isinstance(v, np.ndarray):
        return v
    if isinstance(v, list | tuple):
        try:
            return np.asarray(v)
        except ValueError as e:
            raise DataError(f"data: {what} is not a rectangular array ({e})") from None
    raise DataError(f"data: {what} must be a numpy array, a torch tensor or a list, got {type(v).__name__}")


def _images(split: str, x: np.ndarray) -> np.ndarray:
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4 or min(x.shape[1:], default=0) < 1:
        raise DataError(f"data: {split} x must be images (N, C, H, W) or (N, H, W), got shape {_shape(x)}")
    if x.dtype == np.uint8:
        return x
    if not np.issubdtype(x.dtype, np.floating):
        raise DataError(f"data: {split} x must be uint8 (0..255) or floating point, got {x.dtype}")
    x = x.astype(np.float32, copy=False)
    if not np.isfinite(x).all():
        raise DataError(f"data: {split} x holds NaN or infinite values")
    return x


def _targets(split: str, y: np.ndarray) -> np.ndarray:
    if y.ndim < 1:
        raise DataError(f"data: {split} y must have one target per image, got a scalar")
    if y.dtype != np.bool_ and np.issubdtype(y.dtype, np.integer):
        if y.ndim != 1:
            raise DataError(f"data: {split} y holds integer labels of shape {_shape(y)}; class labels are (N,)")
        if len(y) and y.min() < 0:
            raise DataError(f"data: {split} y has the negative label {int(y.min())}; labels are 0 .. classes-1")
        return y.astype(np.int64, copy=False)
    if np.issubdtype(y.dtype, np.floating):
        y = y.astype(np.float32, copy=False)
        if not np.isfinite(y).all():
            raise DataError(f"data: {split} y holds NaN or infinite values")
        return y
    raise DataError(f"data: {split} y must be integer class labels or floating point targets, got {y.dtype}")


def _is_labels(y: np.ndarray) -> bool:
    return y.dtype == np.int64 and y.ndim == 1


def _outputs(ys: Sequence[np.ndarray], num_classes: int | None) -> int:
    """The network's output width: the number of classes, or of targets per image."""
    if num_classes is not None and (
        not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 1
    ):
        raise DataError(f"num_classes must be a positive integer, got {num_classes!r}")
    if _is_labels(ys[0]):
        top = max(int(y.max()) for y in ys if len(y)) + 1
        if num_classes is None:
            if top < 2:
                raise DataError("data: the labels hold a single class; a classifier needs at least 2")
            return top
        if top > num_classes:
            raise DataError(f"data: label {top - 1} is out of range for num_classes={num_classes}")
        return num_classes
    width = 1 if ys[0].ndim == 1 else int(np.prod(ys[0].shape[1:]))
    return num_classes if num_classes is not None else width


def _float_stats(x: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of float images (accumulated in float64)."""
    mean = x.mean(axis=(0, 2, 3), dtype=np.float64)
    std = x.std(axis=(0, 2, 3), dtype=np.float64)
    return tuple(float(m) for m in mean), tuple(float(s) for s in std)


def _materialized(split: str, ds: torch.utils.data.Dataset) -> tuple[np.ndarray, np.ndarray]:
    """A map-style Dataset read item by item into (x, y) arrays."""
    try:
        n = len(ds)  # type: ignore[arg-type]
    except TypeError:
        raise DataError(f"data: {split} is a torch Dataset without a length; pass a map-style Dataset") from None
    xs, ys = [], []
    for i in range(n):
        item = ds[i]
        if not isinstance(item, tuple | list) or len(item) != 2:
            raise DataError(f"data: {split} item {i} must be an (image, target) pair, got {type(item).__name__}")
        x = _item_image(split, i, item[0])
        if xs and x.shape != xs[0].shape:
            raise DataError(f"data: {split} item {i} has an image of shape {x.shape}, item 0 {xs[0].shape}")
        xs.append(x)
        ys.append(_array(f"{split} item {i} target", item[1]) if not isinstance(item[1], int | float) else item[1])
    if not xs:
        raise DataError(f"data: {split} is an empty Dataset")
    try:
        y = np.stack([np.asarray(v) for v in ys])
    except ValueError as e:
        raise DataError(f"data: {split} targets do not all have the same shape ({e})") from None
    return _pair(split, (np.stack(xs), y))


def _item_image(split: str, i: int, x: Any) -> np.ndarray:
    if hasattr(x, "getbands"):  # a PIL image: (H, W) or (H, W, C) -> (C, H, W)
        a = np.asarray(x)
        return a[None] if a.ndim == 2 else a.transpose(2, 0, 1)
    a = _array(f"{split} item {i} image", x)
    return a[None] if a.ndim == 2 else a


def _shape(a: np.ndarray) -> str:
    return str(tuple(int(d) for d in a.shape))
