"""Results of searches in pandas: the record loaded as a typed DataFrame, fronts, the best trial.

    from nas.record import results
    df = results.load("results/cifar-evo")            # or several folders at once
    front = results.pareto_front(df, {"val_acc": "max", "params": "min"})
    results.hypervolume(front, ref=[0.0, 5e6])
    results.best(df, max_params=1_000_000)
    results.find_trial(df, "00042")
    results.time_spent(df)                             # where the search's trial- and slot-seconds went

The rows come from the durable record (`nas.record.jsonl`, ``trials.jsonl``).
``trials.parquet`` is a copy for fast loading, rewritten atomically by
`write_parquet`; `load` uses it only when it is at least as new as the JSONL
and holds as many rows. The Pareto maths is `nas.pareto`. Imports neither
torch nor Ray.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from nas import pareto
from nas.objectives import FRONT
from nas.record.folder import Layout
from nas.record.jsonl import JSONL, Record, RecordError, _jsonl_path, _parse, _read, atomic_file
from nas.record.row import PHASES
from nas.status import Status

COLUMNS: dict[str, str] = {
    "search": "str",  # the search a row came from: config.json "name", else the folder name
    "trial": "Int64",  # 0-based position of the row in its record
    "trial_id": "str",  # the driver's id for the trial
    "controller": "str",  # the controller that proposed it (random, evolution, ...)
    "parents": "str",  # JSON list of the trial ids it was derived from
    "generation": "Int64",  # the controller's generation or round
    "status": "str",  # a nas.status.Status value
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
    "latency_ms": "float64",  # inference latency at batch 1 on the trial's device, median ms (`nas.trial.latency`)
    "latency_batch_ms": "float64",  # the same at the serving batch
    "latency_batch": "Int64",  # the serving batch
    "finished": "datetime64[ns, UTC]",  # when the trial ended (stored as unix time)
}

_JSON_COLUMNS = frozenset({"genotype", "parents"})
_INT64 = (-(2**63), 2**63 - 1)
_NONE = type(None)


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
    config = folder / Layout.CONFIG
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


def write_parquet(record: Record, path: str | os.PathLike[str] | None = None) -> Path:
    """Rewrite a record's parquet copy atomically (temp file in the same folder, fsync, rename); returns its path."""
    target = Path(path) if path is not None else record.path.with_suffix(".parquet")
    with atomic_file(target) as f:
        _frame(record.rows(), str(record.path)).to_parquet(f, index=False)
    return target


# ----------------------------------------------------------------------------- fronts and the best trial


def pareto_front(
    df: pd.DataFrame,
    objectives: Mapping[str, str] | None = None,
    *,
    include_failed: bool = False,
) -> pd.DataFrame:
    """The non-dominated trials, best first by the first objective; only ok trials unless include_failed."""
    names, flags = _parse_objectives(objectives, df)
    frame = df if include_failed else _ok(df)
    front = frame[pareto.pareto_mask(_column_values(frame, names), flags)]
    return front.sort_values(names[0], ascending=not flags[0], kind="stable")


def counted(df: pd.DataFrame, objectives: Mapping[str, str] | None = None) -> pd.DataFrame:
    """The ok trials that count for a search with these objectives (default `FRONT`): every objective a column
    with a finite value (`nas.objectives.counts`, row by row)."""
    names, _ = _parse_objectives(objectives, df)
    ok = _ok(df)
    return ok[np.isfinite(_column_values(ok, names)).all(axis=1)]


def best(
    df: pd.DataFrame,
    *,
    metric: str = "val_acc",
    max_params: int | None = None,
    max_flops: int | None = None,
    max_latency: float | None = None,
    mode: str = "max",
    objectives: Mapping[str, str] | None = None,
) -> pd.Series:
    """The ok trial with the best metric within the budgets (max_latency: milliseconds at batch 1). Only trials
    that count (`counted`) for `objectives` -- the search's, when given; else the metric alone -- are candidates;
    ties go to the next objectives in order (so the pick is on their front), then fewer params, then earlier rows."""
    if mode not in ("max", "min"):
        raise ValueError(f"mode must be 'max' or 'min', got {mode!r}")
    budgets = {"params": max_params, "flops": max_flops, "latency_ms": max_latency}
    for name in [metric] + [k for k, v in budgets.items() if v is not None]:
        if name not in df.columns:
            raise ValueError(f"no column {name!r}; columns are {list(df.columns)}")
    needed = {metric: mode} | dict(objectives or {})
    ok = counted(df, needed)
    keep = np.ones(len(ok), dtype=bool)
    for name, limit in budgets.items():
        if limit is not None:
            keep &= _column_values(ok, [name])[:, 0] <= limit  # NaN (unknown) is never within budget
    chosen = ok[keep]
    if chosen.empty:
        within = " and ".join(f"{k} <= {v}" for k, v in budgets.items() if v is not None)
        raise ValueError(
            f"no trial qualifies: {len(df)} trials, {len(_ok(df))} ok, none with a {' and '.join(needed)}"
            + (f" and {within}" if within else "")
        )
    # ties: the other objectives in order (so the pick is on their front), then fewer params
    order = {metric: mode} | {k: v for k, v in needed.items() if k != metric}
    if "params" in chosen.columns:
        order.setdefault("params", "min")
    by, ascending = list(order), [sense == "min" for sense in order.values()]
    return chosen.sort_values(by, ascending=ascending, na_position="last", kind="stable").iloc[0]


def find_trial(
    df: pd.DataFrame,
    trial: str | None = None,
    *,
    metric: str = "val_acc",
    mode: str = "max",
    objectives: Mapping[str, str] | None = None,
) -> pd.Series:
    """The row of trial id `trial` ("search:id" when ids repeat), or for None or "best" the ok trial with the best
    `metric` (the most accurate, unless a search's own metric is named) among those that count for `objectives`."""
    if trial is None or trial == "best":
        return best(df, metric=metric, mode=mode, objectives=objectives)
    rows = _rows_with_id(df, trial)
    search, _, trial_id = trial.rpartition(":")
    if rows.empty and search:
        rows = _rows_with_id(df[(df["search"] == search).to_numpy(dtype=bool, na_value=False)], trial_id)
    if rows.empty:
        ids = df["trial_id"].dropna().astype(str).unique()
        known = ", ".join(ids[:12]) + (", ..." if len(ids) > 12 else "")
        raise ValueError(f"no trial {trial!r}; use 'best' or a trial id ({known})")
    if len(rows) > 1:
        choices = ", ".join(f"{s}:{trial}" for s in rows["search"])
        raise ValueError(f"trial id {trial!r} is in several searches; name one of {choices}")
    return rows.iloc[0]


def _rows_with_id(df: pd.DataFrame, trial_id: str) -> pd.DataFrame:
    return df[(df["trial_id"] == trial_id).to_numpy(dtype=bool, na_value=False)]


def proxy_correlation(df: pd.DataFrame, target: str = "val_acc") -> pd.DataFrame:
    """How well each recorded zero-cost proxy (``proxy_NAME`` columns) ranked this search's trained trials by
    `target`: Spearman's rho, its two-sided p-value and the trials it is over, one row per proxy."""
    from scipy.stats import spearmanr

    trained = _ok(df)  # (duplicates replay a trained trial: not counted twice)
    rows = []
    for column in [c for c in df.columns if c.startswith("proxy_")]:
        pair = trained[[column, target]].apply(pd.to_numeric, errors="coerce").dropna()
        if len(pair) >= 3 and pair[column].nunique() > 1 and pair[target].nunique() > 1:
            rho, p = spearmanr(pair[column], pair[target])
        else:
            rho, p = float("nan"), float("nan")
        rows.append({"proxy": column.removeprefix("proxy_"), "spearman": float(rho), "p": float(p), "n": len(pair)})
    return pd.DataFrame(rows, columns=["proxy", "spearman", "p", "n"])


def phase_seconds(df: pd.DataFrame) -> pd.DataFrame:
    """Seconds per phase (`nas.record.row.PHASES`, columns in that order, 0.0 where a trial had no such phase) of
    each trial that recorded its phases, indexed as `df`; each row adds up to the trial's ``wall_seconds``."""
    columns = list(PHASES)
    found: dict[Any, dict[str, float]] = {}
    if "phases" in df.columns:
        for index, value in df["phases"].items():
            phases = _json_mapping(value)
            if phases:
                found[index] = phases
                columns += [k for k in phases if k not in columns]  # (a phase of a newer version: kept)
    frame = pd.DataFrame.from_dict(found, orient="index", columns=columns, dtype="float64")
    return frame.fillna(0.0)


def _json_mapping(value: Any) -> dict[str, Any] | None:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    return value if isinstance(value, dict) else None


SLOT_PARTS = {  # a search's slot-seconds (`nas.driver.slots`), by what the slots were doing
    "trials": "running trials (their wall_seconds)",
    "start_and_return": "starting trials and taking their results back (slot_seconds - wall_seconds)",
    "idle": "no trial (slot_idle_seconds: the driver choosing, Tune asking, the runtime starting)",
}


def time_spent(df: pd.DataFrame) -> pd.DataFrame:
    """Where a search's time went, one row per part: ``kind`` "phase" (the trials' wall seconds by phase, shares of
    the trial-seconds of trials that recorded phases) and "slot" (the dispatched trials' slot-seconds by
    `SLOT_PARTS`, shares of them); columns kind, part, seconds, share. Empty when no trial recorded its phases (a
    table engine's lookups, a record of an older version)."""
    rows = []
    phases = phase_seconds(df)
    total = float(phases.to_numpy().sum())
    if len(phases) and total > 0:
        rows += [("phase", name, float(v), float(v) / total) for name, v in phases.sum().items() if v > 0]
    if rows and {"slot_seconds", "slot_idle_seconds", "wall_seconds"} <= set(df.columns):
        slotted = df[df["slot_seconds"].notna()]
        on_slot = slotted["slot_seconds"].astype("float64")
        wall = slotted["wall_seconds"].astype("float64").fillna(0.0).clip(upper=on_slot)
        parts = {
            "trials": float(wall.sum()),
            "start_and_return": float((on_slot - wall).sum()),
            "idle": float(slotted["slot_idle_seconds"].astype("float64").fillna(0.0).sum()),
        }
        whole = sum(parts.values())
        if whole > 0:
            rows += [("slot", name, v, v / whole) for name, v in parts.items()]
    return pd.DataFrame(rows, columns=["kind", "part", "seconds", "share"])


def hypervolume(
    points: pd.DataFrame | np.ndarray,
    ref: Sequence[float],
    objectives: Mapping[str, str] | None = None,
    *,
    maximize: Sequence[bool] | None = None,
    include_failed: bool = False,
) -> float:
    """Exact hypervolume dominated by the points up to the reference point (`nas.pareto.hypervolume`).

    A DataFrame is read through `objectives` (default `nas.objectives.FRONT`; only ok trials unless
    include_failed); an array through `maximize` (default: minimise every column). `ref` is in the
    objectives' own units.
    """
    values, flags = _objective_values(points, objectives, maximize, include_failed)
    return pareto.hypervolume(values, ref, flags)


def _parse_objectives(objectives: Mapping[str, str] | None, df: pd.DataFrame) -> tuple[list[str], list[bool]]:
    """Objective column names and their maximize flags, checked against the frame."""
    objectives = FRONT if objectives is None else objectives
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
    return df[(df["status"] == Status.OK).to_numpy(dtype=bool, na_value=False)]


def _column_values(df: pd.DataFrame, names: list[str]) -> np.ndarray:
    """Numeric columns as a float (rows x columns) array, missing values as NaN."""
    columns = []
    for name in names:
        column = df[name]
        if not (pd.api.types.is_numeric_dtype(column.dtype) or pd.api.types.is_bool_dtype(column.dtype)):
            raise ValueError(f"column {name!r} is not numeric (dtype {column.dtype})")
        columns.append(column.to_numpy(dtype="float64", na_value=np.nan))
    return np.column_stack(columns) if columns else np.empty((len(df), 0))
