"""A dataset on its way to other processes (Ray's workers), without importing Ray: its tensors as numpy arrays,
which Ray's object store maps without copying, and whether it fits the store at all."""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any

import numpy as np
import torch

from nas.data.splits import DataSplits

STORE_SHARE = 0.5  # an in-memory dataset may fill at most this share of the smallest node's object store


def over_object_store(data, store_bytes: float) -> str:
    """Why ``data`` cannot go through Ray's object store of ``store_bytes`` (each node holds a copy, and the store
    spills to disk past 80 %), naming ``launch.py prepare``; "" when it fits or the data is memory-mapped."""
    need = data.nbytes() if hasattr(data, "nbytes") else 0
    if not store_bytes or need <= STORE_SHARE * store_bytes:
        return ""
    name = getattr(data, "name", "the dataset")
    source = name.removeprefix("imagefolder:")
    if name.startswith("user:"):  # data given from Python: a plugin's register_dataset makes it preparable
        source = "NAME (your data registered by a --plugin file's nas.register_dataset)"
    return (
        f"{name} holds {_size(need)} in memory, over half of the {_size(store_bytes)} object "
        f"store of the smallest Ray node; prepare it once into shards that trials memory-map: launch.py prepare "
        f"{source} --image-size N --out DIR (on a path every node reads), then --dataset shards:DIR"
    )


def _size(n: float) -> str:
    return f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


def shippable(data: DataSplits) -> dict[str, Any]:
    """The dataset as Ray ships it to workers: its fields, with the tensors as numpy arrays.

    Ray maps numpy arrays from the object store's shared memory without copying; torch tensors it
    deserializes by copying, on every trial (about 0.1 s and one more copy of the images in memory per
    trial for CIFAR-sized data).
    """
    fields = {f.name: getattr(data, f.name) for f in dataclasses.fields(data)}
    return {k: v.numpy() if isinstance(v, torch.Tensor) else v for k, v in fields.items()}


def unshipped(shipped: dict[str, Any]) -> DataSplits:
    """The DataSplits of `shippable`, its tensors sharing the (read-only) arrays; training never writes to them."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return DataSplits(**{k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in shipped.items()})
