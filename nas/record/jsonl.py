"""The durable trial record: ``trials.jsonl``, one fsync'd line per finished trial. Standard library only.

    from nas.record.jsonl import Record, read_rows
    with Record.open("results/digits-evolution") as record:
        record.append({"trial_id": "00001", "status": "ok", "val_acc": 0.97})
    rows, torn_bytes = read_rows("results/digits-evolution")

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
``trials.jsonl.torn-<n>`` and truncates the record; `read_rows` (and
`nas.record.results.load`) skip them without touching the file (a search may still be
running). A bad line anywhere else raises `RecordError`. Blank lines are skipped.

``trials.parquet`` is a copy for fast loading, written by `nas.record.results`.
`atomic_file` writes any file so that readers see the old or the new content.
"""

from __future__ import annotations

import errno
import gc
import json
import math
import os
import tempfile
import warnings
import zlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from types import TracebackType
from typing import Any

from nas.errors import NasgraphError

JSONL = "trials.jsonl"


class RecordError(NasgraphError, ValueError):
    """A trial record that cannot be trusted: a bad line before the last one, or an unreadable file."""


def canonical_json(row: Mapping[str, Any]) -> str:
    """The canonical JSON text of a row (sorted keys, no spaces, ASCII), as its checksum covers it."""
    return json.dumps(row, sort_keys=True, separators=(",", ":"), allow_nan=False)


def checksum(row: Mapping[str, Any]) -> str:
    """CRC32, as 8 hex digits, of the canonical JSON of a row without its "crc" key."""
    body = {k: v for k, v in row.items() if k != "crc"}
    return f"{zlib.crc32(canonical_json(body).encode()):08x}"


class Record:
    """Append-only JSONL record of finished trials; each line fsync'd; a torn last line is detected and dropped."""

    def __init__(self, path: Path, fd: int, count: int) -> None:
        """Wrap an open descriptor; use `Record.open`. Rows are not kept in memory: `rows` reads the file."""
        self.path = path
        self._fd: int | None = fd
        self._count = count

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, create: bool = True) -> Record:
        """Open (or create) a record for appending, repairing a torn tail; path is trials.jsonl or its folder."""
        return cls.open_with_rows(path, create=create)[0]

    @classmethod
    def open_with_rows(
        cls, path: str | os.PathLike[str], *, create: bool = True
    ) -> tuple[Record, list[dict[str, Any]]]:
        """`open`, and the rows it read on the way (a resumed search needs them once; reading is the cost)."""
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
        return cls(path, fd, len(rows)), rows

    def rows(self) -> list[dict[str, Any]]:
        """All complete rows, in order, read from the file."""
        return read_rows(self.path)[0]

    def append(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """Append one finished trial as one fsync'd line; returns the stored row, "crc" included."""
        if self._fd is None:
            raise ValueError(f"{self.path}: the record is closed")
        if not isinstance(row, Mapping):
            raise TypeError(f"a trial row must be a dict, got {type(row).__name__}")
        plain = _json_data({k: v for k, v in row.items() if k != "crc"}, "row")
        body = canonical_json(plain)  # the line is the canonical JSON with "crc" added last
        crc = f"{zlib.crc32(body.encode()):08x}"
        line = f'{body[:-1]}{"," if plain else ""}"crc":"{crc}"}}\n'
        _append_line(self._fd, line.encode(), self.path)
        self._count += 1
        return json.loads(line)  # exactly what a reader of the file gets back

    def close(self) -> None:
        """Close the descriptor; closing twice is fine."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __len__(self) -> int:
        return self._count

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
    a failed fsync (the disk said no) rolls the line back. A short write (a disk filling up) is followed
    by one write of the rest, which either finishes the line or says why not (no space left on device).
    """
    size = os.fstat(fd).st_size
    try:
        written = os.write(fd, line)
        if 0 < written < len(line):
            written += os.write(fd, line[written:])
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


def _json_data(value: Any, where: str) -> Any:
    """Value as plain JSON data: str keys, lists, Python scalars; NaN and inf become None."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return str(value)
    if type(value).__module__ == "numpy" and hasattr(value, "tolist"):  # arrays and scalars (no numpy import)
        return _json_data(value.tolist(), where)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {_key(k, where): _json_data(v, f"{where}[{k!r}]") for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_data(v, f"{where}[{i}]") for i, v in enumerate(value)]
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
