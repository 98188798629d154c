"""Image folders: PATH/<class>/<images>, or PATH/train/<class>/... with PATH/test (or val)/<class>/...

Loaded whole into memory (decoded by a pool of threads: Pillow releases the GIL while it decodes and
resizes), for folders that fit; a folder whose images would not fit in half of the memory available
is refused before decoding, naming ``launch.py prepare``, which shards it once (`nas.data.prepare`).
Every file is read by `nas.data.steps.read_image`: EXIF rotation undone, any mode Pillow opens made
RGB, resized without keeping the aspect; a file Pillow cannot read stops the load naming it.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nas.data.registry import Request, source
from nas.data.splits import DataError, Pool, available_memory, carve_test
from nas.data.steps import IMAGE_EXTENSIONS, image_steps, read_image

DEFAULT_IMAGE_SIZE = 32  # side of image-folder images after resizing
MEMORY_SHARE = 0.5  # an in-memory image folder may take at most this share of the memory available


@dataclass(frozen=True)
class Listing:
    """The files of an image folder: class names, and (file, class index) pairs per split (test: None if the
    folder has no test split, which is then carved from train)."""

    name: str
    classes: tuple[str, ...]
    train: tuple[tuple[Path, int], ...]
    test: tuple[tuple[Path, int], ...] | None

    @property
    def source(self) -> str:
        """One sample as the user holds it (`DataSplits.source`)."""
        root = self.name.removeprefix("imagefolder:")
        return f"an image file under {root}/<class>/ ({', '.join(IMAGE_EXTENSIONS)}; any mode Pillow opens)"


def list_folder(arg: str | None) -> Listing:
    """The files of the folder ``arg`` names, checked: class folders alike in train and test, none empty."""
    if not arg:
        raise DataError("imagefolder needs a path: imagefolder:PATH")
    path = Path(arg).expanduser().resolve()
    name = f"imagefolder:{path}"
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
    train = _files(name, train_dir, classes, per_class=True)
    test = _files(name, test_dir, classes, per_class=False) if test_dir is not None else None
    return Listing(name, classes, train, test)


@source("imagefolder", "imagefolder:PATH", takes_arg=True)
def load(req: Request) -> Pool:
    """An image folder, decoded into memory at ``image_size`` (default 32)."""
    listing = list_folder(req.arg)
    size = req.image_size or DEFAULT_IMAGE_SIZE
    _check_fits(listing, size)
    x, y = read_all(listing.train, size)
    if listing.test is None:
        arrays = carve_test(listing.name, x, y)
    else:
        arrays = (x, y, *read_all(listing.test, size))
    classes = listing.classes
    return Pool(
        listing.name, *arrays, len(classes), True, max(1, size // 8), classes, listing.source, image_steps(size)
    )


def read_all(files: tuple[tuple[Path, int], ...], size: int, threads: int | None = None) -> tuple[np.ndarray, ...]:
    """Images (N, 3, size, size) uint8 and int64 labels of (file, class) pairs, decoded by a thread pool."""
    x = np.empty((len(files), 3, size, size), dtype=np.uint8)

    def read(k: int) -> None:
        x[k] = read_image(files[k][0], size)

    with ThreadPoolExecutor(threads or os.cpu_count() or 1) as pool:
        list(pool.map(read, range(len(files))))
    return x, np.array([c for _, c in files], dtype=np.int64)


def _check_fits(listing: Listing, size: int) -> None:
    n = len(listing.train) + len(listing.test or ())
    need, available = n * 3 * size * size, available_memory()
    if need > MEMORY_SHARE * available:
        raise DataError(
            f"{listing.name}: {n:,} images at {size} px are {need / 2**30:.1f} GiB, over half the "
            f"{available / 2**30:.1f} GiB of memory available; prepare them once into shards that trials "
            f"memory-map: launch.py prepare {listing.name.removeprefix('imagefolder:')} --image-size {size} "
            "--out DIR, then --dataset shards:DIR"
        )


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


def _files(name: str, folder: Path, classes: tuple[str, ...], *, per_class: bool) -> tuple[tuple[Path, int], ...]:
    files = tuple((p, i) for i, c in enumerate(classes) for p in _image_files(folder / c))
    empty = sorted(set(classes) - {classes[i] for _, i in files})
    if not files or (per_class and empty):
        raise DataError(
            f"{name}: no images in {folder}/{{{','.join(empty)}}} "
            f"(expected files ending in {', '.join(IMAGE_EXTENSIONS)})"
        )
    return files
