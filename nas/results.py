"""Results of a search: the append-only trial record, loading into pandas, Pareto fronts.

    from nas import results
    df = results.load("results/cifar-evo")            # or several folders at once
    front = results.pareto_front(df, {"val_acc": "max", "params": "min"})
    results.hypervolume(front, ref=[0.0, 5e6])
    results.best(df, max_params=1_000_000)

A search writes ``results/<name>/trials.jsonl``: one JSON object per finished
trial, one per line, each written whole with a single ``write`` on an
``O_APPEND`` descriptor and fsync'd. It is the source of truth. A line is the
row's canonical JSON (`canonical_json`: sorted keys, no spaces, ASCII; NaN and
inf stored as null) with ``"crc"`` added last: the CRC32 (8 hex digits) of that
canonical JSON. The check is on content, so a line re-laid-out by hand still
passes; rows written by hand may leave ``"crc"`` out.

Only the last line of a record may be damaged, by a crash mid-write: a final
line without a newline is torn (even if it parses), and so is a final line that
fails to parse or fails its checksum. `Record.open` moves torn bytes aside to
``trials.jsonl.torn-<n>`` and truncates the record; `read_rows` and `load`
skip them without touching the file (a search may still be running). A bad
line anywhere else raises `RecordError`. Blank lines are skipped.

``trials.parquet`` is a copy for fast loading, rewritten atomically by
`Record.write_parquet`; `load` uses it only when it is at least as new as the
JSONL and holds as many rows. This module imports neither torch nor Ray.
"""

from __future__ import annotations

import bisect
import errno
import gc
import json
import math
import os
import tempfile
import warnings
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

JSONL = "trials.jsonl"
CONFIG = "config.json"
STATUSES = ("ok", "diverged", "oom", "invalid", "error", "timeout", "rejected", "duplicate")
DEFAULT_OBJECTIVES = {"val_acc": "max", "params": "min"}

COLUMNS: dict[str, str] = {
    "search": "str",  # the search a row came from: config.json "name", else the folder name
    "trial": "Int64",  # 0-based position of the row in its record
    "trial_id": "str",  # the driver's id for the trial
    "controller": "str",  # the controller that proposed it (random, evolution, ...)
    "parents": "str",  # JSON list of the trial ids it was derived from
    "generation": "Int64",  # the controller's generation or round
    "status": "str",  # one of STATUSES
    "error": "str",  # one line saying what went wrong, for failed trials
    "fingerprint": "str",  # searchspace.fingerprint of the genotype
    "genotype": "str",  # the genotype as compact JSON
    "params": "Int64",  # trainable parameters
    "flops": "Int64",  # FLOPs of one forward pass at the search resolution
    "val_acc": "float64",  # validation accuracy, 0..1
    "val_loss": "float64",
    "test_acc": "float64",
    "test_loss": "float64",
    "train_loss": "float64",
    "epochs": "Int64",  # epochs actually trained
    "train_seconds": "float64",  # time spent training
    "images_per_second": "float64",  # training throughput
    "peak_memory_mb": "float64",  # peak accelerator memory (CUDA: allocated by tensors); CPU: process peak RSS
    "resident_memory_mb": "float64",  # CUDA memory the worker still reserved after the trial was freed
    "seed": "Int64",
    "wall_seconds": "float64",  # whole trial, setup included
    "finished": "datetime64[ns, UTC]",  # when the trial ended (stored as unix time)
}

_JSON_COLUMNS = frozenset({"genotype", "parents"})
_INT64 = (-(2**63), 2**63 - 1)
_NONE = type(None)


class RecordError(ValueError):
    """A trial record that cannot be trusted: a bad line before the last one, or an unreadable file."""


# ----------------------------------------------------------------------------- the record


def canonical_json(row: Mapping[str, Any]) -> str:
    """The canonical JSON text of a row (sorted keys, no spaces, ASCII), as its checksum covers it."""
    return json.dumps(row, sort_keys=True, separators=(",", ":"), allow_nan=False)


def checksum(row: Mapping[str, Any]) -> str:
    """CRC32, as 8 hex digits, of the canonical JSON of a row without its "crc" key."""
    body = {k: v for k, v in row.items() if k != "crc"}
    return f"{zlib.crc32(canonical_json(body).encode()):08x}"


class Record:
    """Append-only JSONL record of finished trials; each line fsync'd; a torn last line is detected and dropped."""

    def __init__(self, path: Path, fd: int, rows: list[dict[str, Any]]) -> None:
        """Wrap an open descriptor; use `Record.open`."""
        self.path = path
        self._fd: int | None = fd
        self._rows = rows

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, create: bool = True) -> Record:
        """Open (or create) a record for appending, repairing a torn tail; path is trials.jsonl or its folder."""
        path = _jsonl_path(Path(path))
        if create:
            path.parent.mkdir(parents=True, exist_ok=True)
        existed = path.exists()
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | (os.O_CREAT if create else 0), 0o644)
        try:
            if not existed:
                _fsync_dir(path.parent)
            rows = _repair(path, fd)
        except BaseException:
            os.close(fd)
            raise
        return cls(path, fd, rows)

    def rows(self) -> list[dict[str, Any]]:
        """All complete rows, in order (copies)."""
        return [dict(row) for row in self._rows]

    def append(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """Append one finished trial as one fsync'd line; returns the stored row, "crc" included."""
        if self._fd is None:
            raise ValueError(f"{self.path}: the record is closed")
        if not isinstance(row, Mapping):
            raise TypeError(f"a trial row must be a dict, got {type(row).__name__}")
        plain = _plain({k: v for k, v in row.items() if k != "crc"}, "row")
        body = canonical_json(plain)  # the line is the canonical JSON with "crc" added last
        crc = f"{zlib.crc32(body.encode()):08x}"
        line = f'{body[:-1]}{"," if plain else ""}"crc":"{crc}"}}\n'
        _append_line(self._fd, line.encode(), self.path)
        stored = json.loads(line)  # exactly what a reader of the file gets back
        self._rows.append(stored)
        return dict(stored)

    def write_parquet(self, path: str | os.PathLike[str] | None = None) -> Path:
        """Rewrite the parquet copy atomically (temp file in the same folder, fsync, rename); returns its path."""
        target = Path(path) if path is not None else self.path.with_suffix(".parquet")
        with atomic_file(target) as f:
            _frame(self._rows, str(self.path)).to_parquet(f, index=False)
        return target

    def close(self) -> None:
        """Close the descriptor; closing twice is fine."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __len__(self) -> int:
        return len(self._rows)

    def __enter__(self) -> Record:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def read_rows(path: str | os.PathLike[str]) -> tuple[list[dict[str, Any]], int]:
    """Complete, checksum-valid rows and the bytes of torn tail ignored; never modifies the file."""
    path = _jsonl_path(Path(path))
    data = _read(path)
    rows, end = _parse(data, path)
    return rows, len(data) - end


def _jsonl_path(path: Path) -> Path:
    """The record a path names: itself if it is a file or ends in .jsonl, else the folder's trials.jsonl."""
    if path.is_file() or (path.suffix == ".jsonl" and not path.is_dir()):
        return path
    return path / JSONL


def _read(path: Path) -> bytes:
    """The bytes of a record; unreadable files raise RecordError (missing ones FileNotFoundError)."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise
    except OSError as e:
        raise RecordError(f"{path}: cannot read the trial record: {e}") from e


def _parse(data: bytes, path: Path) -> tuple[list[dict[str, Any]], int]:
    """The complete, valid rows and the byte offset where the good part of the record ends."""
    with _gc_paused():
        return _parse_lines(data.split(b"\n"), path)


def _parse_lines(lines: list[bytes], path: Path) -> tuple[list[dict[str, Any]], int]:
    """Rows of the newline-terminated lines (all but the last item) and where the good part ends."""
    last = len(lines) - 2  # index of the final newline-terminated line
    rows: list[dict[str, Any]] = []
    end = 0
    for i, raw in enumerate(lines[:-1]):
        if raw.strip():
            row, why = _parse_line(raw)
            if row is None:
                if i == last and not lines[-1]:
                    break  # a bad final line: torn, like one without a newline
                raise RecordError(
                    f"{path}:{i + 1}: {why}; only the last line of a record may be torn, "
                    "so the record is corrupt (fix or remove that line by hand)"
                )
            rows.append(row)
        end += len(raw) + 1
    return rows, end


def _parse_line(raw: bytes) -> tuple[dict[str, Any] | None, str]:
    """One line as a row, or None and why it is bad."""
    try:
        row = json.loads(raw)
    except (ValueError, RecursionError) as e:
        return None, f"not valid JSON ({e})"
    if not isinstance(row, dict):
        return None, f"not a JSON object but a {type(row).__name__}"
    if "crc" in row and not _line_crc_ok(raw) and row["crc"] != _checksum_or_none(row):
        return None, f"checksum mismatch (stored {row['crc']!r})"
    return row, ""


def _line_crc_ok(raw: bytes) -> bool:
    """Fast check of a line laid out as `Record.append` writes it: canonical JSON, then "crc" last."""
    line = raw.rstrip(b" \t\r")
    tail = line[-18:]  # ,"crc":"xxxxxxxx"}
    if len(tail) < 18 or tail[1:8] != b'"crc":"' or tail[16:] != b'"}':
        return False
    if tail[:1] == b",":
        body = line[:-18] + b"}"
    elif line == tail and tail[:1] == b"{":
        body = b"{}"
    else:
        return False
    return f"{zlib.crc32(body):08x}".encode() == tail[8:16]


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cycle collector while parsing: JSON makes no cycles, and collections triple the time."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _checksum_or_none(row: Mapping[str, Any]) -> str | None:
    """The row's checksum, or None where it has no canonical form (NaN written by hand)."""
    try:
        return checksum(row)
    except ValueError:
        return None


def _repair(path: Path, fd: int) -> list[dict[str, Any]]:
    """Read the record; move a torn tail aside and truncate the file to its last good line."""
    data = _read(path)
    rows, end = _parse(data, path)
    if end < len(data):
        aside = _set_aside(path, data[end:])
        os.ftruncate(fd, end)
        os.fsync(fd)
        _fsync_dir(path.parent)
        warnings.warn(
            f"{path}: moved a torn last line ({len(data) - end} bytes) to {aside.name} "
            f"and kept the {len(rows)} complete rows before it",
            RuntimeWarning,
            stacklevel=3,
        )
    return rows


def _set_aside(path: Path, data: bytes) -> Path:
    """Write torn bytes to the first free trials.jsonl.torn-<n> next to the record."""
    n = 1
    while True:
        aside = path.with_name(f"{path.name}.torn-{n}")
        try:
            fd = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            n += 1
            continue
        try:
            with os.fdopen(fd, "wb", closefd=False) as f:
                f.write(data)
            os.fsync(fd)
        finally:
            os.close(fd)
        return aside


def _append_line(fd: int, line: bytes, path: Path) -> None:
    """Write one whole line with a single write, then fsync; roll a partial line back on failure.

    A line written whole stays when an interrupt (Ctrl-C, SIGTERM) arrives during its fsync: a reader
    may already have seen it, and it is a finished trial (resume replays it); only a failed write or
    a failed fsync (the disk said no) rolls the line back.
    """
    size = os.fstat(fd).st_size
    try:
        written = os.write(fd, line)
        if written != len(line):
            raise OSError(errno.EIO, f"short write ({written} of {len(line)} bytes)", str(path))
        os.fsync(fd)
    except BaseException as e:
        whole = not isinstance(e, OSError) and _size_or_none(fd) == size + len(line)
        if whole:
            with suppress(OSError):
                os.fsync(fd)
            raise
        with suppress(OSError):
            os.ftruncate(fd, size)  # so the next append does not land after half a line
        if isinstance(e, OSError) and e.filename is None:
            raise OSError(e.errno, e.strerror or str(e), str(path)) from e  # say which file
        raise


def _size_or_none(fd: int) -> int | None:
    try:
        return os.fstat(fd).st_size
    except OSError:
        return None


def _fsync_dir(folder: Path) -> None:
    """Make a folder's entries (a new or renamed file) durable."""
    with suppress(OSError):  # some filesystems refuse fsync on folders; the data itself is synced
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _plain(value: Any, where: str) -> Any:
    """Value as plain JSON data: str keys, lists, Python scalars; NaN and inf become None."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, np.ndarray):
        return _plain(value.tolist(), where)
    if isinstance(value, np.generic):
        return _plain(value.item(), where)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {_key(k, where): _plain(v, f"{where}[{k!r}]") for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    raise TypeError(
        f"cannot store a {type(value).__name__} at {where} in a trial record; use JSON data "
        "(str, int, float, bool, None, lists, dicts; genotypes via to_dict())"
    )


def _key(key: Any, where: str) -> str:
    """A dict key as a JSON object key."""
    if isinstance(key, str):
        return str(key)
    if isinstance(key, int) and not isinstance(key, bool):
        return str(key)
    raise TypeError(f"cannot store dict key {key!r} at {where} in a trial record; use str keys")


@contextmanager
def atomic_file(target: str | os.PathLike[str], mode: str = "wb") -> Iterator[Any]:
    """Write `target` so that readers see the old or the new file, never a mix.

    Yields a temporary file beside it (``.NAME.*.tmp``); on success it is fsync'd, renamed over
    `target` and the folder fsync'd; on any failure it is removed, and an OSError names `target`.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as f:
            yield f
            f.flush()
            os.fchmod(f.fileno(), 0o644)
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException as e:
        with suppress(OSError):
            os.unlink(tmp)
        if isinstance(e, OSError):
            raise OSError(e.errno, e.strerror or str(e), str(target)) from e  # name the file, not its temporary
        raise
    _fsync_dir(target.parent)


# ----------------------------------------------------------------------------- loading


def load(paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]) -> pd.DataFrame:
    """Trials of one or more searches as a DataFrame: the COLUMNS in order, then any extra keys.

    Each path is a results folder or a trials.jsonl file. The "search" column is the folder's
    config.json "name", else the folder's name; "trial" is the row's position in its record.
    A search's trials.parquet is used when it is no older than its JSONL and has as many rows;
    otherwise the JSONL is read without modifying it, skipping a torn last line. Genotypes and
    parents become compact JSON text; other non-string values in str columns too. Extra keys
    become boolean, Int64 or float64 columns when all their values fit, else str.
    """
    if isinstance(paths, str | os.PathLike):
        paths = [paths]
    frames = [_load_one(Path(p)) for p in paths]
    if not frames:
        return _with_search(_frame([], ""), "")
    if len(frames) == 1:
        return frames[0]
    merged = pd.concat(frames, ignore_index=True)
    return merged.astype({name: dtype for name, dtype in COLUMNS.items()})


def _load_one(path: Path) -> pd.DataFrame:
    """One search's trials, from its fresh parquet copy or else its JSONL."""
    jsonl = _jsonl_path(path)
    if not jsonl.is_file():
        raise FileNotFoundError(f"no {JSONL} at {path}: expected a results folder or a {JSONL} file")
    parquet = jsonl.with_suffix(".parquet")
    fresh = _parquet_is_newer(parquet, jsonl)
    data = _read(jsonl)
    frame = _from_parquet(parquet, _count_lines(data)) if fresh else None
    if frame is None:
        frame = _frame(_parse(data, jsonl)[0], str(jsonl))
    return _with_search(frame, _search_name(jsonl))


def _parquet_is_newer(parquet: Path, jsonl: Path) -> bool:
    """Whether the parquet copy exists and was written no earlier than the JSONL."""
    try:
        return parquet.stat().st_mtime_ns >= jsonl.stat().st_mtime_ns
    except FileNotFoundError:
        return False


def _count_lines(data: bytes) -> int:
    """The number of non-blank, newline-terminated lines."""
    return sum(1 for line in data.split(b"\n")[:-1] if line.strip())


def _from_parquet(parquet: Path, rows: int) -> pd.DataFrame | None:
    """The parquet copy if it holds `rows` rows in the current layout, else None."""
    try:
        if pq.read_metadata(parquet).num_rows != rows:
            return None
        frame = _read_parquet(parquet)
    except (OSError, ValueError, pa.ArrowException) as e:
        warnings.warn(f"{parquet}: unreadable ({e}); reading the JSONL instead", RuntimeWarning, stacklevel=4)
        return None
    expected = {k: v for k, v in COLUMNS.items() if k != "search"}
    found = {k: str(v) for k, v in frame.dtypes.iloc[: len(expected)].items()}
    return frame if found == expected and len(frame) == rows else None


def _read_parquet(path: Path) -> pd.DataFrame:
    """Read a parquet file into pandas."""
    return pd.read_parquet(path)


def _search_name(jsonl: Path) -> str:
    """config.json's "name" next to the record if it has one, else the folder's name."""
    folder = jsonl.resolve().parent
    config = folder / CONFIG
    if config.is_file():
        try:
            name = json.loads(config.read_text()).get("name")
        except (OSError, ValueError, AttributeError) as e:
            warnings.warn(
                f"{config}: unreadable ({e}); naming the search after its folder", RuntimeWarning, stacklevel=4
            )
            name = None
        if isinstance(name, str) and name:
            return name
    return folder.name


def _with_search(frame: pd.DataFrame, search: str) -> pd.DataFrame:
    """The frame (freshly built here, so changed in place) with a leading "search" column."""
    frame.insert(0, "search", pd.array([search] * len(frame), dtype="str"))
    return frame


def _frame(rows: list[dict[str, Any]], source: str) -> pd.DataFrame:
    """Rows as a DataFrame with every column but "search" (row keys "search" and "trial" are ignored)."""
    data: dict[str, Any] = {"trial": pd.array(range(len(rows)), dtype="Int64")}
    for name in list(COLUMNS)[2:]:
        data[name] = _column([row.get(name) for row in rows], name, source)
    for name in _extra_keys(rows):
        data[name] = _extra_column([row.get(name) for row in rows])
    return pd.DataFrame(data)


def _extra_keys(rows: list[dict[str, Any]]) -> list[str]:
    """Keys outside COLUMNS (and "crc"), in order of first appearance."""
    seen: dict[str, None] = {}
    for row in rows:
        seen.update(dict.fromkeys(row))
    return [k for k in seen if k not in COLUMNS and k != "crc"]


def _column(values: list[Any], name: str, source: str) -> Any:
    """One documented column, converted to its dtype; bad values raise RecordError."""
    dtype = COLUMNS[name]
    convert = _json_strings if name in _JSON_COLUMNS else _CONVERTERS[dtype]
    try:
        return convert(values)
    except (TypeError, ValueError, OverflowError) as e:
        raise RecordError(f"{source}: column {name!r}: {e}") from e


def _extra_column(values: list[Any]) -> Any:
    """An extra key's values: boolean, Int64, float64 when they all fit, else str (JSON for non-strings)."""
    kinds = {type(v) for v in values} - {_NONE}
    if kinds == {bool}:
        return pd.array(values, dtype="boolean")
    if kinds == {int} and all(_INT64[0] <= v <= _INT64[1] for v in values if v is not None):
        return pd.array(values, dtype="Int64")
    if kinds and kinds <= {int, float}:
        return np.array(values, dtype="float64")
    return _strings(values)


def _strings(values: list[Any]) -> Any:
    """A str array; non-strings become compact JSON, None and NaN missing."""
    return pd.array([_text(v) for v in values], dtype="str")


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value if isinstance(value, str) else _compact(value)


def _json_strings(values: list[Any]) -> Any:
    """A str array of compact JSON, from values stored as JSON data or as JSON text."""
    return pd.array([_json_text(v) for v in values], dtype="str")


def _json_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):
            return value  # not JSON: kept as written
    return _compact(value)


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _ints(values: list[Any]) -> Any:
    """An Int64 array; integral floats are accepted, None and NaN become <NA>."""
    if {type(v) for v in values} <= {int, _NONE}:
        return pd.array(values, dtype="Int64")
    out = []
    for i, v in enumerate(values):
        if type(v) is float:
            v = None if math.isnan(v) else int(v) if v.is_integer() else v
        if v is not None and type(v) is not int:
            raise ValueError(f"trial {i}: expected an integer, got {v!r}")
        out.append(v)
    return pd.array(out, dtype="Int64")


def _floats(values: list[Any]) -> np.ndarray:
    """A float64 array; None becomes NaN."""
    allowed = (int, float, _NONE)
    if not {type(v) for v in values} <= set(allowed):
        i, v = next((i, v) for i, v in enumerate(values) if type(v) not in allowed)
        raise ValueError(f"trial {i}: expected a number, got {v!r}")
    return np.array(values, dtype="float64")


def _times(values: list[Any]) -> Any:
    """A datetime64[ns, UTC] array from unix times in seconds."""
    return pd.to_datetime(_floats(values), unit="s", utc=True).as_unit("ns").array


_CONVERTERS = {"str": _strings, "Int64": _ints, "float64": _floats, "datetime64[ns, UTC]": _times}


# ----------------------------------------------------------------------------- Pareto fronts


def pareto_mask(values: np.ndarray, maximize: Sequence[bool]) -> np.ndarray:
    """Mask of non-dominated rows; rows with NaN are never on the front, identical rows are both kept."""
    v = _minimized(values, maximize)
    mask = np.zeros(len(v), dtype=bool)
    rows = np.flatnonzero(~np.isnan(v).any(axis=1))
    if rows.size:
        unique, inverse = np.unique(v[rows], axis=0, return_inverse=True)
        mask[rows] = _front_of_unique(unique)[inverse.reshape(-1)]
    return mask


def pareto_rank(values: np.ndarray, maximize: Sequence[bool]) -> np.ndarray:
    """Non-dominated sorting rank of every row (0 = the front); rows with NaN get the last rank."""
    v = _minimized(values, maximize)
    ranks = np.zeros(len(v), dtype=np.int64)
    valid = ~np.isnan(v).any(axis=1)
    rows = np.flatnonzero(valid)
    if rows.size:
        unique, inverse = np.unique(v[rows], axis=0, return_inverse=True)
        ranks[rows] = _ranks_of_unique(unique)[inverse.reshape(-1)]
        ranks[~valid] = ranks[rows].max() + 1
    return ranks


def crowding_distance(values: np.ndarray, maximize: Sequence[bool]) -> np.ndarray:
    """NSGA-II crowding distance of each row within the set (inf at the extremes, 0 for rows with NaN)."""
    v = _minimized(values, maximize)
    distance = np.zeros(len(v))
    valid = ~np.isnan(v).any(axis=1)
    w = v[valid]
    if len(w) < 3:
        distance[valid] = np.inf
        return distance
    part = np.zeros(len(w))
    for j in range(w.shape[1]):
        order = np.argsort(w[:, j], kind="stable")
        column = w[order, j]
        span = column[-1] - column[0]
        if span > 0 and np.isfinite(span):
            part[order[1:-1]] += (column[2:] - column[:-2]) / span
        part[order[[0, -1]]] = np.inf
    distance[valid] = part
    return distance


def hypervolume(
    points: pd.DataFrame | np.ndarray,
    ref: Sequence[float],
    objectives: Mapping[str, str] | None = None,
    *,
    maximize: Sequence[bool] | None = None,
    include_failed: bool = False,
) -> float:
    """Exact hypervolume dominated by the points up to the reference point, in any number of objectives.

    A DataFrame is read through `objectives` (default DEFAULT_OBJECTIVES; only ok trials unless
    include_failed); an array through `maximize` (default: minimise every column). `ref` is in the
    objectives' own units. Points that do not strictly dominate `ref`, and rows with NaN, add nothing.
    """
    values, flags = _objective_values(points, objectives, maximize, include_failed)
    v = _minimized(values, flags)
    r = np.asarray(ref, dtype="float64").reshape(-1)
    if r.shape != (v.shape[1],) or np.isnan(r).any():
        raise ValueError(f"ref needs one number per objective ({v.shape[1]}), got {list(ref)!r}")
    r = np.where(flags, -r, r)
    v = v[~np.isnan(v).any(axis=1)]
    v = v[(v < r).all(axis=1)]
    if not len(v):
        return 0.0
    return float(_hv(_nondominated(v), r))


def pareto_front(
    df: pd.DataFrame,
    objectives: Mapping[str, str] | None = None,
    *,
    include_failed: bool = False,
) -> pd.DataFrame:
    """The non-dominated trials, best first by the first objective; only ok trials unless include_failed."""
    names, flags = _parse_objectives(objectives, df)
    frame = df if include_failed else _ok(df)
    front = frame[pareto_mask(_column_values(frame, names), flags)]
    return front.sort_values(names[0], ascending=not flags[0], kind="stable")


def best(
    df: pd.DataFrame,
    *,
    metric: str = "val_acc",
    max_params: int | None = None,
    max_flops: int | None = None,
    mode: str = "max",
) -> pd.Series:
    """The ok trial with the best metric within the budgets; ties go to fewer params, then earlier rows."""
    if mode not in ("max", "min"):
        raise ValueError(f"mode must be 'max' or 'min', got {mode!r}")
    budgets = {"params": max_params, "flops": max_flops}
    for name in [metric] + [k for k, v in budgets.items() if v is not None]:
        if name not in df.columns:
            raise ValueError(f"no column {name!r}; columns are {list(df.columns)}")
    ok = _ok(df)
    keep = ~np.isnan(_column_values(ok, [metric])[:, 0])
    for name, limit in budgets.items():
        if limit is not None:
            keep &= _column_values(ok, [name])[:, 0] <= limit  # NaN (unknown) is never within budget
    chosen = ok[keep]
    if chosen.empty:
        within = " and ".join(f"{k} <= {v}" for k, v in budgets.items() if v is not None)
        raise ValueError(
            f"no trial qualifies: {len(df)} trials, {len(ok)} ok, none with a {metric}"
            + (f" and {within}" if within else "")
        )
    by = [metric] + (["params"] if "params" in chosen.columns else [])
    ascending = [mode == "min"] + [True] * (len(by) - 1)
    return chosen.sort_values(by, ascending=ascending, na_position="last", kind="stable").iloc[0]


def _minimized(values: Any, maximize: Sequence[bool]) -> np.ndarray:
    """Values as a float (trials x objectives) array to be minimised (maximised columns negated)."""
    v = np.asarray(values, dtype="float64")
    if v.ndim != 2:
        raise ValueError(f"values must be a 2-D array (trials x objectives), got shape {v.shape}")
    flags = list(maximize)
    if len(flags) != v.shape[1] or not all(isinstance(f, bool | np.bool_) for f in flags):
        raise ValueError(f"maximize needs one bool per objective ({v.shape[1]}), got {flags!r}")
    return np.where(flags, -v, v)


def _nondominated(v: np.ndarray) -> np.ndarray:
    """The distinct non-dominated rows of a NaN-free minimisation array, sorted lexicographically."""
    unique = np.unique(v, axis=0)
    return unique[_front_of_unique(unique)]


def _front_of_unique(u: np.ndarray) -> np.ndarray:
    """Front mask of distinct rows sorted lexicographically (minimisation)."""
    n, d = u.shape
    if d == 1:
        return np.arange(n) == 0
    if d == 2:
        # Every earlier row is no worse in the first objective and is a different point, so it
        # dominates this one exactly when it is no worse in the second.
        mask = np.ones(n, dtype=bool)
        mask[1:] = u[1:, 1] < np.minimum.accumulate(u[:-1, 1])
        return mask
    return _cull(u)


def _cull(u: np.ndarray) -> np.ndarray:
    """Front mask by repeatedly taking the first remaining row (non-dominated) and dropping what it dominates."""
    mask = np.zeros(len(u), dtype=bool)
    ids = np.arange(len(u))
    rest = u
    while len(ids):
        mask[ids[0]] = True
        keep = ~(rest[1:] >= rest[0]).all(axis=1)  # rows are distinct: >= everywhere means dominated
        ids, rest = ids[1:][keep], rest[1:][keep]
    return mask


def _ranks_of_unique(u: np.ndarray) -> np.ndarray:
    """Non-dominated sorting ranks of distinct rows sorted lexicographically."""
    n, d = u.shape
    if d == 1:
        return np.arange(n, dtype=np.int64)
    if d == 2:
        return _ranks_2d(u)
    ranks = np.empty(n, dtype=np.int64)
    left = np.arange(n)
    rank = 0
    while len(left):
        on_front = _front_of_unique(u[left])
        ranks[left[on_front]] = rank
        left = left[~on_front]
        rank += 1
    return ranks


def _ranks_2d(u: np.ndarray) -> np.ndarray:
    """2-D ranks in O(n log n): each front's lowest second objective so far, found by bisection."""
    lowest: list[float] = []  # non-decreasing in the rank
    ranks = []
    for y in u[:, 1].tolist():
        k = bisect.bisect_right(lowest, y)  # the first front none of whose rows dominates this one
        if k == len(lowest):
            lowest.append(y)
        else:
            lowest[k] = y
        ranks.append(k)
    return np.array(ranks, dtype=np.int64)


def _hv(v: np.ndarray, ref: np.ndarray) -> float:
    """Hypervolume of minimisation points that all strictly dominate ref, by slicing on the last objective."""
    d = v.shape[1]
    if d == 1:
        return float(ref[0] - v[:, 0].min())
    if d == 2:
        return _hv_2d(v, ref)
    v = v[np.argsort(v[:, -1], kind="stable")]
    tops = np.append(v[1:, -1], ref[-1])
    total = 0.0
    for i in range(len(v)):
        height = tops[i] - v[i, -1]
        if height > 0:
            below = v[: i + 1, :-1]
            total += height * _hv(below if d == 3 else _nondominated(below), ref[:-1])
    return total


def _hv_2d(v: np.ndarray, ref: np.ndarray) -> float:
    """2-D hypervolume by a sweep over the first objective."""
    order = np.lexsort((v[:, 1], v[:, 0]))
    x = v[order, 0]
    lowest = np.minimum.accumulate(v[order, 1])
    widths = np.diff(np.append(x, ref[0]))
    return float(np.sum(widths * (ref[1] - lowest)))


def _parse_objectives(objectives: Mapping[str, str] | None, df: pd.DataFrame) -> tuple[list[str], list[bool]]:
    """Objective column names and their maximize flags, checked against the frame."""
    objectives = DEFAULT_OBJECTIVES if objectives is None else objectives
    if not isinstance(objectives, Mapping) or not objectives:
        raise ValueError(f"objectives must be a non-empty dict of column -> 'max' or 'min', got {objectives!r}")
    for name, mode in objectives.items():
        if mode not in ("max", "min"):
            raise ValueError(f"objective {name!r}: {mode!r} is not 'max' or 'min'")
        if name not in df.columns:
            raise ValueError(f"objective {name!r} is not a column; columns are {list(df.columns)}")
    return list(objectives), [mode == "max" for mode in objectives.values()]


def _objective_values(
    points: Any, objectives: Mapping[str, str] | None, maximize: Sequence[bool] | None, include_failed: bool
) -> tuple[np.ndarray, list[bool]]:
    """Objective values and maximize flags from a DataFrame (by objectives) or an array (by maximize)."""
    if isinstance(points, pd.DataFrame):
        if maximize is not None:
            raise ValueError("for a DataFrame pass objectives ({column: 'max' or 'min'}), not maximize")
        names, flags = _parse_objectives(objectives, points)
        return _column_values(points if include_failed else _ok(points), names), flags
    if objectives is not None:
        raise ValueError("for an array pass maximize (one bool per column), not objectives")
    values = np.asarray(points, dtype="float64")
    if values.ndim != 2:
        raise ValueError(f"points must be a 2-D array (points x objectives), got shape {values.shape}")
    return values, [False] * values.shape[1] if maximize is None else list(maximize)


def _ok(df: pd.DataFrame) -> pd.DataFrame:
    """The rows with status "ok" (all rows if there is no status column)."""
    if "status" not in df.columns:
        return df
    return df[(df["status"] == "ok").to_numpy(dtype=bool, na_value=False)]


def _column_values(df: pd.DataFrame, names: list[str]) -> np.ndarray:
    """Numeric columns as a float (rows x columns) array, missing values as NaN."""
    columns = []
    for name in names:
        column = df[name]
        if not (pd.api.types.is_numeric_dtype(column.dtype) or pd.api.types.is_bool_dtype(column.dtype)):
            raise ValueError(f"column {name!r} is not numeric (dtype {column.dtype})")
        columns.append(column.to_numpy(dtype="float64", na_value=np.nan))
    return np.column_stack(columns) if columns else np.empty((len(df), 0))
