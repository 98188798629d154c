"""Prepared datasets: fixed-size uint8 shards that trials memory-map (``--dataset shards:DIR``).

A prepared folder (written by ``launch.py prepare``, `nas.data.prepare`) holds

    manifest.json             what `Manifest` describes: classes, splits, shard files with counts and
                              SHA-256, the preprocessing steps, the training pool's channel statistics
                              and the source's fingerprint
    train-00000.x.npy ...     images, uint8 (n, C, H, W), a plain .npy file each
    train-00000.y.npy ...     their int64 class labels
    test-00000.x.npy ...

Trials read it through `ShardImages`: the shards are opened with ``numpy.load(mmap_mode="r")``, so a
batch is a gather from the page cache, which every trial on a node shares; nothing of the set goes
through Ray's object store (a `ShardImages` pickles as file names and an index), and on a CPU no process
holds more of it than the batches it is working on (on a GPU a set under a quarter of the device's memory
is copied there whole, as in-memory sets are: `nas.trial.images.resident`). The labels (8 bytes an image) are read whole. The
validation split is carved from the training pool by index (stratified, ``val_fraction``, ``seed``),
and ``limit`` keeps a seeded subset, as for every dataset; the test split is the prepared one.

Where DIR is on a network file system, ``NASGRAPH_SHARD_CACHE=/local/disk/folder`` on the nodes makes each
node copy a shard once to its own disk (named by the shard's SHA-256, so any number of searches and datasets
share the cache safely) and map it from there.
"""

from __future__ import annotations

import json
import mmap
import os
import shutil
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nas.data.registry import Request, source
from nas.data.splits import DataError, DataSplits, train_val_indices

FORMAT, VERSION = "nasgraph-shards", 1
CACHE_ENV = "NASGRAPH_SHARD_CACHE"  # a node-local folder: shards are copied there once and mapped from there
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class Shard:
    """One shard file of images and its labels file."""

    images: str  # file name inside the prepared folder
    labels: str
    count: int
    sha256: str = ""  # of the images file


@dataclass(frozen=True)
class Manifest:
    """What a prepared folder holds (manifest.json)."""

    name: str  # the source, e.g. "imagefolder:/data/flowers" or "cifar10"
    shape: tuple[int, int, int]  # (C, H, W) of every image
    num_classes: int
    classes: tuple[str, ...]
    splits: dict[str, tuple[Shard, ...]]  # "train" (the pool val is carved from) and "test"
    mean: tuple[float, ...]  # per-channel statistics of the training pool's pixels / 255
    std: tuple[float, ...]
    flip: bool
    crop_padding: int
    source: str  # one sample as the user holds it
    steps: tuple[dict[str, Any], ...]  # from that sample to the stored image
    subset: dict[str, Any] = field(default_factory=dict)  # --classes / --per-class / seed, when used
    fingerprint: dict[str, Any] = field(default_factory=dict)  # of the source (files, bytes, SHA-256 of the listing)
    skipped: tuple[dict[str, str], ...] = ()  # files that could not be read: {"file", "error"}

    def count(self, split: str) -> int:
        return sum(s.count for s in self.splits[split])

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "name": self.name,
            "image": {"shape": list(self.shape), "dtype": "uint8"},
            "num_classes": self.num_classes,
            "classes": list(self.classes),
            "splits": {
                split: {"count": self.count(split), "shards": [vars(s) for s in shards]}
                for split, shards in self.splits.items()
            },
            "stats": {"mean": list(self.mean), "std": list(self.std), "of": "the train split's pixels / 255"},
            "augment": {"flip": self.flip, "crop_padding": self.crop_padding},
            "source": self.source,
            "steps": list(self.steps),
            "subset": self.subset,
            "fingerprint": self.fingerprint,
            "skipped": list(self.skipped),
        }

    @classmethod
    def read(cls, folder: Path) -> Manifest:
        path = folder / MANIFEST
        try:
            raw = json.loads(path.read_text())
        except FileNotFoundError:
            hint = " (a prepare that did not finish: run the same prepare command again)" if folder.is_dir() else ""
            raise DataError(f"shards:{folder}: no {MANIFEST}{hint}; make one with launch.py prepare") from None
        except (OSError, ValueError) as e:
            raise DataError(f"shards:{folder}: cannot read {MANIFEST} ({e})") from None
        if not isinstance(raw, dict) or raw.get("format") != FORMAT:
            raise DataError(f"shards:{folder}: {MANIFEST} is not a nasgraph shards manifest")
        if raw.get("version") != VERSION:
            raise DataError(f"shards:{folder}: manifest version {raw.get('version')!r}, this nasgraph reads {VERSION}")
        try:
            return cls(
                name=str(raw["name"]),
                shape=tuple(int(v) for v in raw["image"]["shape"]),  # type: ignore[arg-type]
                num_classes=int(raw["num_classes"]),
                classes=tuple(map(str, raw["classes"])),
                splits={k: tuple(Shard(**s) for s in v["shards"]) for k, v in raw["splits"].items()},
                mean=tuple(map(float, raw["stats"]["mean"])),
                std=tuple(map(float, raw["stats"]["std"])),
                flip=bool(raw["augment"]["flip"]),
                crop_padding=int(raw["augment"]["crop_padding"]),
                source=str(raw["source"]),
                steps=tuple(raw["steps"]),
                subset=dict(raw.get("subset") or {}),
                fingerprint=dict(raw.get("fingerprint") or {}),
                skipped=tuple(raw.get("skipped") or ()),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise DataError(f"shards:{folder}: {MANIFEST} is malformed ({type(e).__name__}: {e})") from None


class ShardImages:
    """The images of one split as memory-mapped shards, indexed like a uint8 (N, C, H, W) tensor.

    ``x[i:j]``, ``x[indices]`` and ``x.index_select(0, indices)`` return a new CPU tensor of those images
    (``out=`` a pinned buffer, for copies to a GPU); ``len``, ``shape``, ``dtype`` and ``dim()`` answer as a
    tensor's would. ``index`` picks and orders images of the shards (a split carved from the pool). The
    maps open on first use in each process and are not pickled.
    """

    dtype = torch.uint8
    advice = True  # madvise(MADV_RANDOM) on the maps: from disk, default readahead read 2.9 GB for 90 MB of images

    def __init__(
        self, folder: str | Path, shards: Sequence[Shard], shape: Sequence[int], index: np.ndarray | None = None
    ) -> None:
        self.folder = str(folder)
        self.files = tuple(s.images for s in shards)
        self.sums = tuple(s.sha256 for s in shards)
        self.offsets = np.cumsum([0, *(s.count for s in shards)])
        self.image_shape = tuple(int(v) for v in shape)
        self.index = None if index is None else np.ascontiguousarray(index, dtype=np.int64)
        self._maps: list[np.ndarray] | None = None
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in ("_maps", "_lock")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._maps, self._lock = None, threading.Lock()

    def __len__(self) -> int:
        return int(self.offsets[-1]) if self.index is None else len(self.index)

    @property
    def shape(self) -> torch.Size:
        return torch.Size((len(self), *self.image_shape))

    def dim(self) -> int:
        return 4

    def numel(self) -> int:
        return int(np.prod(self.shape))

    def element_size(self) -> int:
        return 1

    def subset(self, positions: np.ndarray) -> ShardImages:
        """The images at these positions of this split, as a split of their own."""
        positions = np.asarray(positions, dtype=np.int64)
        index = positions if self.index is None else self.index[positions]
        out = ShardImages.__new__(ShardImages)
        out.__setstate__(self.__getstate__() | {"index": index})
        return out

    def __getitem__(self, key: Any) -> torch.Tensor:
        if isinstance(key, torch.Tensor):
            key = key.cpu().numpy()
        if isinstance(key, np.ndarray) and key.ndim == 0:
            key = key.item()
        if isinstance(key, int | np.integer):
            if not -len(self) <= key < len(self):
                raise IndexError(f"index {key} is out of bounds for {len(self)} images")
            return self.take(np.array([int(key) % len(self)]))[0]
        if isinstance(key, slice):
            return self.take(np.arange(len(self))[key])
        key = np.asarray(key)
        if key.dtype == np.bool_:
            if key.shape != (len(self),):
                raise IndexError(f"a boolean mask of {key.shape} for {len(self)} images")
            key = np.flatnonzero(key)
        if key.size and (key.min() < -len(self) or key.max() >= len(self)):
            raise IndexError(f"indices out of bounds for {len(self)} images")
        return self.take(np.asarray(key, dtype=np.int64) % max(len(self), 1))

    def index_select(self, dim: int, index: torch.Tensor) -> torch.Tensor:
        if dim != 0:
            raise ValueError("ShardImages.index_select selects images (dim 0) only")
        return self.take(index.cpu().numpy())

    def take(self, positions: np.ndarray, out: torch.Tensor | None = None) -> torch.Tensor:
        """Images at these positions, (len(positions), C, H, W) uint8, gathered shard by shard.

        With numpy, single-threaded and without the GIL: `batches` gathers on a thread beside the training
        step, and torch's own parallel copies there would contend with the step's threads for the cores."""
        pool = np.asarray(positions, dtype=np.int64) if self.index is None else self.index[positions]
        if out is None:
            out = torch.empty((len(pool), *self.image_shape), dtype=torch.uint8)
        if len(pool) == 0:
            return out
        maps, dest = self._open(), out.numpy()
        order = np.argsort(pool, kind="stable")
        ranked = pool[order]
        shard = np.searchsorted(self.offsets, ranked, side="right") - 1
        cuts = np.flatnonzero(np.diff(shard)) + 1
        for lo, hi in zip([0, *cuts], [*cuts, len(ranked)], strict=True):
            s = int(shard[lo])
            dest[order[lo:hi]] = maps[s].take(ranked[lo:hi] - self.offsets[s], axis=0)
        return out

    def _open(self) -> list[np.ndarray]:
        if self._maps is None:
            with self._lock:
                if self._maps is None:
                    cache = os.environ.get(CACHE_ENV)
                    self._maps = [self._map(k, cache) for k in range(len(self.files))]
        return self._maps

    def _map(self, k: int, cache: str | None) -> np.ndarray:
        name, sha256 = self.files[k], self.sums[k]
        path = Path(self.folder) / name
        if cache and sha256:
            path = _cached(path, Path(cache).expanduser(), sha256)
        try:
            arr = np.load(path, mmap_mode="r")
        except (OSError, ValueError) as e:
            raise DataError(f"shards:{self.folder}: cannot map {name} ({e})") from None
        if arr.dtype != np.uint8 or arr.shape[1:] != self.image_shape:
            raise DataError(
                f"shards:{self.folder}: {name} holds {arr.dtype} {arr.shape}, expected uint8 (n, *{self.image_shape})"
            )
        count = int(self.offsets[k + 1] - self.offsets[k])
        if len(arr) != count:
            raise DataError(
                f"shards:{self.folder}: {name} holds {len(arr)} images, the manifest {count}; prepare again"
            )
        if self.advice and hasattr(arr, "_mmap") and hasattr(mmap, "MADV_RANDOM"):
            arr._mmap.madvise(mmap.MADV_RANDOM)  # batches read images at random: no readahead (BENCHMARKS 18)
        return arr

    def __repr__(self) -> str:
        return f"ShardImages({self.folder!r}, {len(self)} images of {self.image_shape})"


def _cached(path: Path, cache: Path, sha256: str) -> Path:
    """The node-local copy of a shard (`CACHE_ENV`), named by its SHA-256: copied once per node, whichever search
    or process asks first (a temporary name, then an atomic rename), shared by all after."""
    local = cache / f"{sha256}.npy"
    if not local.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        tmp = cache / f".{sha256}.{os.getpid()}.{threading.get_ident()}.tmp"
        try:
            shutil.copyfile(path, tmp)
            os.replace(tmp, local)
        except OSError as e:
            tmp.unlink(missing_ok=True)
            raise DataError(f"shards: cannot copy {path} to the cache {cache} ({e})") from None
    return local


def batches(x: Any, positions: torch.Tensor, batch_size: int, pin: bool = False) -> Iterator[torch.Tensor]:
    """CPU batches of ``x`` (a tensor or `ShardImages`) at ``positions``, each gathered by a thread while the
    caller works on the one before (into pinned memory when ``pin``, for copies to a GPU that overlap)."""
    from concurrent.futures import ThreadPoolExecutor

    cuts = list(range(0, len(positions), batch_size))

    def gather(lo: int) -> torch.Tensor:
        idx = positions[lo : lo + batch_size]
        if isinstance(x, ShardImages):
            out = torch.empty((len(idx), *x.image_shape), dtype=torch.uint8, pin_memory=pin)
            return x.take(idx.numpy(), out=out)
        batch = x.index_select(0, idx)
        return batch.pin_memory() if pin else batch

    with ThreadPoolExecutor(1) as pool:
        ahead = pool.submit(gather, cuts[0]) if cuts else None
        for k in range(len(cuts)):
            batch = ahead.result()  # type: ignore[union-attr]
            ahead = pool.submit(gather, cuts[k + 1]) if k + 1 < len(cuts) else None
            yield batch


def labels(folder: Path, shards: Sequence[Shard]) -> np.ndarray:
    """The int64 labels of a split, read whole."""
    parts = []
    for s in shards:
        try:
            y = np.load(folder / s.labels)
        except (OSError, ValueError) as e:
            raise DataError(f"shards:{folder}: cannot read {s.labels} ({e})") from None
        if y.shape != (s.count,):
            raise DataError(f"shards:{folder}: {s.labels} holds {y.shape}, expected ({s.count},)")
        parts.append(y.astype(np.int64, copy=False))
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


@source("shards", "shards:DIR", takes_arg=True)
def load(req: Request) -> DataSplits:
    """A prepared folder as train / val / test splits over its memory-mapped shards."""
    if not req.arg:
        raise DataError("shards needs the prepared folder: shards:DIR (made by launch.py prepare)")
    folder = Path(req.arg).expanduser().resolve()
    m = Manifest.read(folder)
    c, h, w = m.shape
    if req.image_size is not None and req.image_size != h:
        raise DataError(
            f"shards:{folder} was prepared at {h} px, not --image-size {req.image_size}; prepare again with "
            f"launch.py prepare {m.name} --image-size {req.image_size} --out NEWDIR"
        )
    pool_y = labels(folder, m.splits["train"])
    test_y = labels(folder, m.splits["test"])
    for y in (pool_y, test_y):
        if len(y) and (y.min() < 0 or y.max() >= m.num_classes):
            raise DataError(f"shards:{folder}: a label outside 0..{m.num_classes - 1}; prepare again")
    pool = ShardImages(folder, m.splits["train"], m.shape)
    train_idx, val_idx = train_val_indices(pool_y, req.limit, req.val_fraction, req.seed, f"shards:{folder}")
    test = ShardImages(folder, m.splits["test"], m.shape)
    return DataSplits(
        f"shards:{folder}",
        pool.subset(train_idx),
        torch.from_numpy(pool_y[train_idx]),
        pool.subset(val_idx),
        torch.from_numpy(pool_y[val_idx]),
        test,
        torch.from_numpy(test_y),
        num_classes=m.num_classes,
        mean=m.mean,
        std=m.std,
        flip=m.flip,
        crop_padding=m.crop_padding,
        classes=m.classes,
        source=m.source,
        steps=m.steps,
    )
