"""One registry of data sources: the built-in ones, the prepared shards, and those plugins register.

Each source is a function of a `Request` that returns a `Pool` (images before the train/val split:
`nas.data.load_dataset` splits, subsets and resizes it the same way for every source) or ready
`DataSplits` (prepared shards and your own data, which split themselves). A built-in source registers
with the `source` decorator in its own module; a plugin's dataset with `nas.register_dataset`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nas.data.splits import DataError, DataSplits, Pool


@dataclass(frozen=True)
class Request:
    """What a search asks of its dataset (`SearchConfig`'s data options)."""

    arg: str | None  # the part after "name:" (a path, a spec), or None
    root: Path  # the data directory (`resolve_data_dir`)
    download: bool = False
    image_size: int | None = None
    limit: int | None = None
    val_fraction: float = 0.1
    seed: int = 0


Load = Callable[[Request], "Pool | DataSplits"]
DatasetFn = Callable[[Path], Any]


@dataclass(frozen=True)
class Source:
    """One entry: how to load it, and how it is named in the help (``usage``)."""

    name: str
    load: Load | None  # None for a plugin's dataset (`plugin`)
    usage: str  # e.g. "imagefolder:PATH"
    takes_arg: bool = False  # whether "name:ARG" is how it is named
    builtin: bool = True
    plugin: DatasetFn | None = None  # a plugin's fn(data_dir) -> what `nas.dataset` takes


SOURCES: dict[str, Source] = {}


def source(name: str, usage: str = "", *, takes_arg: bool = False) -> Callable[[Load], Load]:
    """Decorator: register a built-in source under ``name``."""

    def register(fn: Load) -> Load:
        SOURCES[name] = Source(name, fn, usage or name, takes_arg, True)
        return fn

    return register


def register_dataset(name: str, fn: DatasetFn) -> None:
    """Make ``--dataset name`` (and a config's ``dataset: name``) call ``fn(data_dir)``.

    ``fn`` returns what `nas.dataset` takes as its first argument: a `DataSplits`, a dict of train/val/test
    (x, y) pairs, an (x, y) pair, or an in-memory torch Dataset. The validation split is carved with the
    config's ``val_fraction`` and ``seed`` when it does not give one. ``launch.py prepare name`` shards it.
    """
    if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise DataError(f"dataset name must be lowercase letters, digits and '_', got {name!r}")
    if name in SOURCES and SOURCES[name].builtin:
        raise DataError(f"dataset {name!r} is built in; register yours under another name")
    if not callable(fn):
        raise DataError(f"register_dataset({name!r}, fn): fn must be callable, got {type(fn).__name__}")
    SOURCES[name] = Source(name, None, name, False, False, fn)


def parse_name(name: str) -> tuple[Source, str | None]:
    """The source a dataset name names, and its argument."""
    if not isinstance(name, str):
        raise DataError(f"dataset name must be a string, got {type(name).__name__}")
    base, sep, arg = name.strip().partition(":")
    base = base.lower()
    if base not in SOURCES:
        if base == "user":
            raise DataError(
                f"dataset {name!r} is data a search was given from Python; pass it again there: "
                "nas.Search.resume(DIR, data=...)"
            )
        raise DataError(f"unknown dataset {name!r}; expected one of: {', '.join(names())}, or one a plugin registers")
    entry = SOURCES[base]
    if sep and not entry.takes_arg:
        raise DataError(f"dataset {base!r} takes no ':' argument, got {name!r}")
    return entry, (arg if sep else None)


def names(builtin_only: bool = True) -> tuple[str, ...]:
    """The sources as named in help text (those taking an argument show it): the built-in ones, and unless
    ``builtin_only`` those plugins registered."""
    return tuple(s.usage for s in SOURCES.values() if s.builtin or not builtin_only)
