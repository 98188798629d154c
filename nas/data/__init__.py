"""Datasets for trials: one module per source, one registry, one function for the preprocessing steps.

    splits = load_dataset("digits")                            # embedded, no files needed
    splits = load_dataset("cifar10", "~/data", limit=5000)
    splits = load_dataset("imagefolder:/data/flowers", image_size=64)
    splits = load_dataset("shards:/data/flowers-64")           # prepared once by `launch.py prepare`

Every dataset becomes a `DataSplits` (`splits`): train / validation / test images (N, C, H, W) with
targets and what the trainer needs to normalise and augment them. A source (`registry`) returns either
a `Pool` -- images before the validation split, which `load_dataset` subsets, splits and resizes the same
way for all -- or ready `DataSplits`:

- `digits`: scikit-learn's 8x8 digits, shipped in the package (the default);
- `idx`: MNIST and Fashion-MNIST from their IDX files; `cifar`: CIFAR-10/100 (binary, or the python
  version after MD5 checks: nothing a user hands in is unpickled);
- `imagefolder`: PATH/<class>/<images>, decoded into memory by a pool of threads;
- `synthetic`: seeded noise for speed tests;
- `shards`: a prepared folder, memory-mapped (`prepare` writes it, on the Ray runtime);
- `load`: `load_dataset` by name and `from_config`, the same subset, split and resize for every pool;
- `owndata`: your own arrays, tensors or Datasets (`nas.dataset`), and plugins' datasets
  (`nas.register_dataset`, kept in the same registry);
- `steps`: preprocessing steps as data, and `apply_steps`, which the image readers decode with and a
  server can reproduce the network's input with.
- `shipping`: a dataset on its way to Ray's workers: its tensors as numpy arrays the object store maps,
  and whether it fits the store (no Ray import).

Rules for every source: ``limit`` keeps a seeded random subset of the training pool *before* the
validation split (train + val together hold at most ``limit`` images; the test set is kept whole);
``image_size`` resizes (bilinear, antialiased) and scales the crop padding along. Augmentation defaults
(``flip`` / ``crop_padding``): digits and MNIST are not mirror-symmetric (a flipped 2 is no digit), so
no flip; Fashion-MNIST clothes keep their class when mirrored, CIFAR, image folders and synthetic data
flip. Crop padding is about 1/8 of the side.
"""

from __future__ import annotations

import importlib
import pkgutil

from nas.data.imagefolder import DEFAULT_IMAGE_SIZE
from nas.data.load import DEFAULT_DATASET, from_config, load_dataset
from nas.data.registry import SOURCES, names, register_dataset
from nas.data.splits import (
    DATA_DIR_ENV,
    DEFAULT_DATA_DIR,
    MIN_VAL_PER_CLASS,
    TEST_FRACTION,
    TEST_SEED,
    DataError,
    DataSplits,
    Step,
    normalizer,
    resolve_data_dir,
    small_validation,
    stratified_split,
)
from nas.data.steps import IMAGE_EXTENSIONS, RESIZE_STEP, STEP_OPS, apply_steps
from nas.data.synthetic import SYNTHETIC_DEFAULT, SYNTHETIC_MAX_BYTES, parse_synthetic

__all__ = [  # (with the names nas.trial.data had: that path still imports, as this package)
    "DATASETS",
    "DATA_DIR_ENV",
    "DEFAULT_DATASET",
    "DEFAULT_DATA_DIR",
    "DEFAULT_IMAGE_SIZE",
    "IMAGE_EXTENSIONS",
    "MIN_VAL_PER_CLASS",
    "RESIZE_STEP",
    "SYNTHETIC_DEFAULT",
    "SYNTHETIC_MAX_BYTES",
    "Step",
    "SOURCES",
    "STEP_OPS",
    "TEST_FRACTION",
    "TEST_SEED",
    "DataError",
    "DataSplits",
    "apply_steps",
    "datasets",
    "from_config",
    "load_dataset",
    "normalizer",
    "parse_synthetic",
    "register_dataset",
    "resolve_data_dir",
    "small_validation",
    "stratified_split",
]

DATASETS = names()  # the built-in names, as help text shows them (plugins' come later: `datasets`)


def datasets() -> tuple[str, ...]:
    """The dataset names as help text shows them: the built-in ones (those taking an argument show it), then
    those plugins registered."""
    return names(builtin_only=False)


for _module in pkgutil.iter_modules(__path__):  # each source module registers itself: a new source is a new module
    importlib.import_module(f"{__name__}.{_module.name}")
