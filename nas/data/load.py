"""Loading a dataset by name: the registry's source, then the same subset, split and resize for every pool."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from nas.data.owndata import dataset
from nas.data.registry import Request, parse_name
from nas.data.splits import DataError, DataSplits, Pool, channel_stats, resolve_data_dir, train_val_indices
from nas.data.steps import RESIZE_STEP, resize

DEFAULT_DATASET = "digits"


def from_config(cfg: Any) -> DataSplits:
    """The dataset a `SearchConfig` names: a published benchmark's, one a plugin registered, or a built-in one."""
    from nas.registry import BENCHMARKS

    base = cfg.dataset.partition(":")[0]
    if base in BENCHMARKS:  # a published benchmark's dataset (nb201:cifar10): its shapes, no images
        return BENCHMARKS.get(base).load().data(cfg.dataset)  # type: ignore[no-any-return]
    return load_dataset(
        cfg.dataset,
        cfg.data_dir,
        download=cfg.download,
        val_fraction=cfg.val_fraction,
        seed=cfg.seed,
        image_size=cfg.image_size,
        limit=cfg.limit,
    )


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
    """Load a dataset by name (see `nas.data.datasets`) and split it into train / val / test."""
    _check_options(val_fraction, image_size, limit)
    entry, arg = parse_name(name)
    if not entry.builtin and (image_size is not None or limit is not None):
        raise DataError(f"dataset {name!r} is a registered one: image_size and limit do not apply to it")
    req = Request(arg, resolve_data_dir(data_dir), download, image_size, limit, val_fraction, seed)
    if entry.plugin is not None:
        return dataset(entry.plugin(req.root), val_fraction=val_fraction, seed=seed, name=entry.name)
    loaded = entry.load(req)  # type: ignore[misc]
    if isinstance(loaded, DataSplits):
        return loaded
    return split_pool(loaded, val_fraction, seed, image_size, limit)


def split_pool(pool: Pool, val_fraction: float, seed: int, image_size: int | None, limit: int | None) -> DataSplits:
    """A loaded pool as train / val / test tensors: subset, validation split, resize, channel statistics."""
    train_x, train_y = pool.train_x, pool.train_y
    train_idx, val_idx = train_val_indices(train_y, limit, val_fraction, seed, pool.name)
    xs = [train_x[train_idx], train_x[val_idx], pool.test_x]
    ys = [train_y[train_idx], train_y[val_idx], pool.test_y]
    padding, steps = pool.crop_padding, pool.steps
    if image_size is not None and xs[0].shape[2:] != (image_size, image_size):
        padding = max(1, round(padding * image_size / max(xs[0].shape[2:])))
        xs = [resize(x, image_size) for x in xs]
        steps += (RESIZE_STEP | {"size": [image_size, image_size]},)
    (train_x_t, val_x_t, test_x_t), (train_y_t, val_y_t, test_y_t) = _tensors(xs), _tensors(ys)
    mean, std = channel_stats(train_x_t)
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


def _check_options(val_fraction: float, image_size: int | None, limit: int | None) -> None:
    if not isinstance(val_fraction, int | float) or not 0 <= val_fraction < 1:
        raise DataError(f"val_fraction must be in [0, 1), got {val_fraction!r}")
    if image_size is not None and (not _is_int(image_size) or image_size < 1):
        raise DataError(f"image_size must be a positive integer, got {image_size!r}")
    if limit is not None and (not _is_int(limit) or limit < 2):
        raise DataError(f"limit must be an integer >= 2, got {limit!r}")


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)
