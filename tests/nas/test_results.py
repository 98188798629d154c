"""Tests for nas.results: the trial record, loading, Pareto fronts, hypervolume and best."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from nas import results
from nas.pareto import crowding_distance, pareto_mask, pareto_rank
from nas.record import Record, RecordError, atomic_file, checksum, read_rows
from nas.results import COLUMNS, best, hypervolume, load, pareto_front

ROOT = Path(__file__).resolve().parents[2]

# ----------------------------------------------------------------------------- references


def brute_mask(values: np.ndarray, maximize: list[bool]) -> np.ndarray:
    """O(n^2) front: a valid row is on it unless another valid row dominates it."""
    m = np.where(maximize, -values, values)
    valid = ~np.isnan(m).any(axis=1)
    le = (m[:, None, :] <= m[None, :, :]).all(axis=2)  # le[j, i]: row j no worse than row i
    lt = (m[:, None, :] < m[None, :, :]).any(axis=2)
    dominated = (le & lt & valid[:, None]).any(axis=0)
    return valid & ~dominated


def brute_rank(values: np.ndarray, maximize: list[bool]) -> np.ndarray:
    """Ranks by peeling brute-force fronts; rows with NaN get one past the last front."""
    ranks = np.full(len(values), -1)
    left = ~np.isnan(values).any(axis=1)
    rank = 0
    while left.any():
        idx = np.flatnonzero(left)
        on = brute_mask(values[idx], maximize)
        ranks[idx[on]] = rank
        left[idx[on]] = False
        rank += 1
    ranks[ranks < 0] = rank
    return ranks


def grid_hypervolume(points: np.ndarray, ref: np.ndarray) -> float:
    """Exact hypervolume of integer minimisation points by counting dominated unit cells."""
    axes = [np.arange(0, int(r)) for r in ref]
    cells = np.array(list(itertools.product(*axes)), dtype=float).reshape(-1, len(ref))
    if not len(points):
        return 0.0
    covered = (points[None, :, :] <= cells[:, None, :]).all(axis=2).any(axis=1)
    return float(covered.sum())


@st.composite
def objective_sets(draw: st.DrawFn, min_d: int = 1, max_d: int = 4) -> tuple[np.ndarray, list[bool]]:
    """Small integer objective values with many ties and some NaN, plus mixed max/min flags."""
    d = draw(st.integers(min_d, max_d))
    n = draw(st.integers(0, 40))
    cell = st.sampled_from([0.0, 1.0, 2.0, 3.0, 4.0, 0.0, 1.0, 2.0, 3.0, np.nan])
    values = draw(arrays(np.float64, (n, d), elements=cell))
    maximize = draw(st.lists(st.booleans(), min_size=d, max_size=d))
    return values, maximize


def seeded_sets() -> list[tuple[np.ndarray, list[bool]]]:
    """Larger seeded cases with ties and NaN for 2, 3 and 4 objectives."""
    rng = np.random.default_rng(7)
    cases = []
    for d in (2, 3, 4):
        for _ in range(3):
            values = rng.integers(0, 8, size=(300, d)).astype(float)
            values[rng.random((300, d)) < 0.02] = np.nan
            cases.append((values, [bool(b) for b in rng.integers(0, 2, d)]))
    return cases


# ----------------------------------------------------------------------------- Pareto


@settings(max_examples=300, deadline=None)
@given(objective_sets())
def test_pareto_mask_matches_brute_force(case: tuple[np.ndarray, list[bool]]) -> None:
    values, maximize = case
    np.testing.assert_array_equal(pareto_mask(values, maximize), brute_mask(values, maximize))


@pytest.mark.parametrize("case", seeded_sets())
def test_pareto_mask_matches_brute_force_seeded(case: tuple[np.ndarray, list[bool]]) -> None:
    values, maximize = case
    np.testing.assert_array_equal(pareto_mask(values, maximize), brute_mask(values, maximize))


def test_pareto_mask_keeps_identical_rows_and_drops_nan() -> None:
    values = np.array([[1.0, 1.0], [1.0, 1.0], [0.0, np.nan], [2.0, 2.0], [-0.0, 5.0], [0.0, 5.0]])
    mask = pareto_mask(values, [False, False])
    assert mask.tolist() == [True, True, False, False, True, True]


def test_pareto_mask_rejects_bad_shapes() -> None:
    with pytest.raises(ValueError, match="2-D"):
        pareto_mask(np.zeros(3), [False])
    with pytest.raises(ValueError, match="one bool per objective"):
        pareto_mask(np.zeros((3, 2)), [False])
    with pytest.raises(ValueError, match="one bool per objective"):
        pareto_mask(np.zeros((3, 2)), ["max", "min"])


@settings(max_examples=200, deadline=None)
@given(objective_sets())
def test_pareto_rank_matches_peeling(case: tuple[np.ndarray, list[bool]]) -> None:
    values, maximize = case
    np.testing.assert_array_equal(pareto_rank(values, maximize), brute_rank(values, maximize))


@pytest.mark.parametrize("case", seeded_sets())
def test_pareto_rank_matches_peeling_seeded(case: tuple[np.ndarray, list[bool]]) -> None:
    values, maximize = case
    np.testing.assert_array_equal(pareto_rank(values, maximize), brute_rank(values, maximize))


def test_pareto_rank_puts_nan_rows_last() -> None:
    values = np.array([[0.0, 0.0], [1.0, 1.0], [np.nan, 0.0], [2.0, 2.0]])
    assert pareto_rank(values, [False, False]).tolist() == [0, 1, 3, 2]


def test_crowding_distance_hand_example() -> None:
    values = np.array([[4.0, 2.0], [1.0, 5.0], [5.0, 1.0], [2.0, 3.0]])
    distance = crowding_distance(values, [False, False])
    # f0 spans 4, f1 spans 4: (2,3) gets (4-1)/4 + (5-2)/4; (4,2) gets (5-2)/4 + (3-1)/4.
    np.testing.assert_allclose(distance, [1.25, np.inf, np.inf, 1.5])
    np.testing.assert_allclose(crowding_distance(-values, [True, True]), distance)


def test_crowding_distance_small_sets_and_nan() -> None:
    assert crowding_distance(np.array([[1.0, 2.0], [2.0, 1.0]]), [False, False]).tolist() == [np.inf] * 2
    values = np.array([[0.0, 3.0], [1.0, 2.0], [np.nan, 1.0], [3.0, 0.0]])
    distance = crowding_distance(values, [False, False])
    assert distance[2] == 0.0
    np.testing.assert_allclose(distance[1], 1 + 1)


# ----------------------------------------------------------------------------- hypervolume


def test_hypervolume_2d_by_hand() -> None:
    assert hypervolume(np.array([[1.0, 2.0]]), [3.0, 5.0]) == 6.0
    # Boxes [1,4]x[3,4] (3) and [2,4]x[1,4] (6) overlap in [2,4]x[3,4] (2).
    assert hypervolume(np.array([[1.0, 3.0], [2.0, 1.0]]), [4.0, 4.0]) == 7.0
    # A point beyond the reference adds nothing; a duplicate adds nothing; NaN adds nothing.
    points = np.array([[1.0, 3.0], [5.0, 0.0], [1.0, 3.0], [np.nan, 0.0], [4.0, 0.0]])
    assert hypervolume(points, [4.0, 4.0]) == 3.0
    assert hypervolume(np.empty((0, 2)), [1.0, 1.0]) == 0.0
    # Maximised accuracy, minimised params: ref is the worst corner in the objectives' own units.
    assert hypervolume(np.array([[0.9, 100.0]]), [0.0, 1000.0], maximize=[True, False]) == pytest.approx(810.0)


def test_hypervolume_3d_by_hand() -> None:
    assert hypervolume(np.array([[1.0, 1.0, 1.0]]), [2.0, 3.0, 4.0]) == 6.0
    # Boxes 2x2x1 and 1x1x2 overlap in a unit cube.
    assert hypervolume(np.array([[0.0, 0.0, 1.0], [1.0, 1.0, 0.0]]), [2.0, 2.0, 2.0]) == 5.0
    assert hypervolume(np.array([[0.0, 0.0, 3.0]]), [2.0, 2.0, 2.0]) == 0.0
    # A dominated point inside another's box changes nothing.
    assert hypervolume(np.array([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]]), [2.0, 2.0, 2.0]) == 8.0


@settings(max_examples=150, deadline=None)
@given(objective_sets(min_d=1, max_d=4))
def test_hypervolume_matches_cell_count(case: tuple[np.ndarray, list[bool]]) -> None:
    values, maximize = case
    d = values.shape[1]
    ref = np.full(d, 4.0)  # points at 4 touch the reference and add nothing
    minimised = values[~np.isnan(values).any(axis=1)]
    expected = grid_hypervolume(minimised, ref)
    assert hypervolume(values, ref) == pytest.approx(expected)
    flipped = np.where(maximize, -values, values)  # the same geometry through maximize flags
    flipped_ref = np.where(maximize, -ref, ref)
    assert hypervolume(flipped, flipped_ref, maximize=maximize) == pytest.approx(expected)


def test_hypervolume_monte_carlo_3d() -> None:
    rng = np.random.default_rng(3)
    points = rng.random((400, 3))
    points /= np.linalg.norm(points, axis=1, keepdims=True)  # a curved front
    front = points[pareto_mask(points, [False] * 3)][:60]
    ref = np.array([1.1, 1.2, 1.3])
    low = front.min(axis=0)
    samples = low + rng.random((200_000, 3)) * (ref - low)
    covered = np.zeros(len(samples), dtype=bool)
    for p in front:
        covered |= (samples >= p).all(axis=1)
    box = float(np.prod(ref - low))
    share = covered.mean()
    estimate, stderr = box * share, box * np.sqrt(share * (1 - share) / len(samples))
    assert abs(hypervolume(front, ref) - estimate) < 5 * stderr


def test_hypervolume_of_dataframe_uses_ok_rows() -> None:
    df = pd.DataFrame(
        {
            "status": pd.array(["ok", "error", "ok"], dtype="str"),
            "val_acc": [0.5, 0.99, 0.8],
            "params": pd.array([100, 1, 500], dtype="Int64"),
        }
    )
    # Boxes [0,0.5]x[100,1000] (450) and [0,0.8]x[500,1000] (400), overlapping in 0.5x500 (250).
    assert hypervolume(df, [0.0, 1000.0]) == pytest.approx(600.0)
    assert hypervolume(df, [0.0, 1000.0], include_failed=True) > 600.0
    with pytest.raises(ValueError, match="one number per objective"):
        hypervolume(df, [0.0])
    with pytest.raises(ValueError, match="not maximize"):
        hypervolume(df, [0.0, 1000.0], maximize=[True, False])


# ----------------------------------------------------------------------------- the record


def trial(i: int, **changes: object) -> dict[str, object]:
    """A plausible finished trial row."""
    row: dict[str, object] = {
        "trial_id": f"t{i:04d}",
        "controller": "evolution",
        "parents": [f"t{i - 1:04d}"] if i else [],
        "generation": i // 4,
        "status": "ok",
        "fingerprint": f"fp{i}",
        "genotype": {"stages": [{"nodes": [{"op": "conv3x3", "inputs": [-1]}]}], "width": 16 + i},
        "params": 1000 * (i + 1),
        "flops": 10_000 * (i + 1),
        "val_acc": 0.5 + 0.01 * i,
        "val_loss": 1.0 - 0.01 * i,
        "epochs": 3,
        "seed": i,
        "wall_seconds": 12.5,
        "finished": 1_700_000_000.25 + i,
    }
    row.update(changes)
    return row


def write_record(folder: Path, rows: list[dict[str, object]]) -> Path:
    with Record.open(folder) as record:
        for row in rows:
            record.append(row)
    return folder / "trials.jsonl"


def test_append_and_reopen_round_trip(tmp_path: Path) -> None:
    folder = tmp_path / "search"
    with Record.open(folder / "trials.jsonl") as record:
        stored = [record.append(trial(i)) for i in range(3)]
        assert len(record) == 3
    assert all(row["crc"] == checksum(row) for row in stored)
    data = (folder / "trials.jsonl").read_bytes()
    assert data.count(b"\n") == 3 and data.endswith(b"\n")
    with Record.open(folder, create=False) as record:
        assert record.rows() == stored
    assert read_rows(folder) == (stored, 0)


def test_append_stores_plain_json(tmp_path: Path) -> None:
    with Record.open(tmp_path) as record:
        stored = record.append(
            {"val_loss": float("nan"), "params": np.int64(7), "acc": np.float32(0.5), "shape": (1, 2), "crc": "x"}
        )
        assert stored == {"val_loss": None, "params": 7, "acc": 0.5, "shape": [1, 2], "crc": checksum(stored)}
        with pytest.raises(TypeError, match="cannot store a set"):
            record.append({"bad": {1, 2}})
        assert len(record) == 1
    with pytest.raises(ValueError, match="closed"):
        record.append({})
    assert read_rows(tmp_path)[0] == [stored]


def test_checksum_covers_content_not_layout(tmp_path: Path) -> None:
    with Record.open(tmp_path) as record:
        empty = record.append({})
        row = record.append(trial(0))
    path = tmp_path / "trials.jsonl"
    assert path.read_bytes().splitlines()[0] == f'{{"crc":"{checksum({})}"}}'.encode()
    reordered = json.dumps(dict(reversed(row.items())), indent=None)  # other key order, spaces
    path.write_text(reordered + "\n" + json.dumps(empty) + "\n")
    assert read_rows(path) == ([row, empty], 0)
    path.write_text(reordered.replace('"epochs": 3', '"epochs": 4') + "\n" + json.dumps(empty) + "\n")
    with pytest.raises(RecordError, match=":1: checksum mismatch"):
        read_rows(path)


def test_open_missing_without_create(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        Record.open(tmp_path / "nope" / "trials.jsonl", create=False)


def test_torn_last_line_is_moved_aside(tmp_path: Path) -> None:
    path = write_record(tmp_path, [trial(i) for i in range(3)])
    data = path.read_bytes()
    cut = len(data) - 7  # mid-way through the third line
    os.truncate(path, cut)
    rows, torn = read_rows(path)
    assert len(rows) == 2 and torn == cut - data.index(b"\n", data.index(b"\n") + 1) - 1
    assert path.read_bytes() == data[:cut]  # reading changed nothing
    with pytest.warns(RuntimeWarning, match="torn"), Record.open(path) as record:
        assert [r["trial_id"] for r in record.rows()] == ["t0000", "t0001"]
    good = data[: data.index(b"\n", data.index(b"\n") + 1) + 1]
    assert path.read_bytes() == good
    assert (tmp_path / "trials.jsonl.torn-1").read_bytes() == data[len(good) : cut]
    with Record.open(path) as record:  # nothing left to repair: no warning, no second file
        record.append(trial(2))
    assert not (tmp_path / "trials.jsonl.torn-2").exists()
    assert [r["trial_id"] for r in read_rows(path)[0]] == ["t0000", "t0001", "t0002"]


def test_final_line_without_newline_is_torn_even_if_it_parses(tmp_path: Path) -> None:
    path = write_record(tmp_path, [trial(0)])
    with open(path, "ab") as f:
        f.write(b'{"trial_id": "by-hand"}')
    assert len(read_rows(path)[0]) == 1
    with pytest.warns(RuntimeWarning, match="torn"), Record.open(path) as record:
        assert len(record) == 1
    assert (tmp_path / "trials.jsonl.torn-1").read_bytes() == b'{"trial_id": "by-hand"}'


def test_checksum_mismatch_on_last_line_is_torn(tmp_path: Path) -> None:
    path = write_record(tmp_path, [trial(i) for i in range(3)])
    data = path.read_bytes()
    lines = data.splitlines(keepends=True)
    changed = lines[2].replace(b'"epochs":3', b'"epochs":4')
    assert changed != lines[2]
    path.write_bytes(b"".join(lines[:2]) + changed)
    rows, torn = read_rows(path)
    assert len(rows) == 2 and torn == len(changed)
    with pytest.warns(RuntimeWarning, match="torn"), Record.open(path) as record:
        assert len(record) == 2
    assert (tmp_path / "trials.jsonl.torn-1").read_bytes() == changed


@pytest.mark.parametrize("damage", ["garbage", "checksum", "array"])
def test_bad_middle_line_raises(tmp_path: Path, damage: str) -> None:
    path = write_record(tmp_path, [trial(i) for i in range(3)])
    lines = path.read_bytes().splitlines(keepends=True)
    if damage == "garbage":
        lines[1] = lines[1][:20] + b"\n"
    elif damage == "checksum":
        lines[1] = lines[1].replace(b'"epochs":3', b'"epochs":9')
    else:
        lines[1] = b"[1, 2]\n"
    path.write_bytes(b"".join(lines))
    before = path.read_bytes()
    with pytest.raises(RecordError, match=r"trials\.jsonl:2: "):
        read_rows(path)
    with pytest.raises(RecordError, match=r"trials\.jsonl:2: "):
        Record.open(path)
    with pytest.raises(RecordError, match=r"trials\.jsonl:2: "):
        load(tmp_path)
    assert path.read_bytes() == before
    assert not list(tmp_path.glob("*.torn-*"))


def test_bad_line_before_a_torn_tail_raises(tmp_path: Path) -> None:
    path = write_record(tmp_path, [trial(0)])
    with open(path, "ab") as f:
        f.write(b"{oops\n" + b'{"trial_id": "t1"')
    with pytest.raises(RecordError, match=":2: not valid JSON"):
        read_rows(path)


def test_hand_written_rows_and_blank_lines_are_accepted(tmp_path: Path) -> None:
    path = write_record(tmp_path, [trial(0)])
    with open(path, "ab") as f:
        f.write(b'\n{"trial_id": "hand", "status": "ok", "val_acc": 0.1}\n\n')
    rows, torn = read_rows(path)
    assert [r["trial_id"] for r in rows] == ["t0000", "hand"] and torn == 0
    with Record.open(path) as record:
        record.append(trial(2))
    assert len(read_rows(path)[0]) == 3


def test_read_rows_while_appending(tmp_path: Path) -> None:
    path = tmp_path / "trials.jsonl"
    with Record.open(path) as record:
        record.append(trial(0))
        line = (json.dumps(trial(1) | {"crc": checksum(trial(1))}) + "\n").encode()
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        try:
            os.write(fd, line[:25])  # a writer caught mid-line
            before = path.read_bytes()
            stat = path.stat()
            rows, torn = read_rows(path)
            assert [r["trial_id"] for r in rows] == ["t0000"] and torn == 25
            assert path.read_bytes() == before and path.stat().st_mtime_ns == stat.st_mtime_ns
            assert len(load(path)) == 1
            os.write(fd, line[25:])
        finally:
            os.close(fd)
        assert [r["trial_id"] for r in read_rows(path)[0]] == ["t0000", "t0001"]


WRITER = """
import sys
from nas.record import Record
with Record.open(sys.argv[1]) as record:
    for i in range(200):
        if i == 100:
            print("half", flush=True)
            sys.stdin.readline()
        record.append({"trial_id": f"t{i:04d}", "status": "ok", "genotype": {"w": [i] * 50}})
"""


def test_read_rows_sees_prefixes_of_a_concurrent_writer(tmp_path: Path) -> None:
    path = tmp_path / "trials.jsonl"
    args = [sys.executable, "-c", WRITER, str(path)]
    with subprocess.Popen(args, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as writer:
        try:
            assert writer.stdout is not None and writer.stdin is not None
            assert writer.stdout.readline() == "half\n"  # the writer waits here
            assert len(read_rows(path)[0]) == 100
            writer.stdin.write("go\n")
            writer.stdin.close()
            seen = []
            while writer.poll() is None:  # ends when the writer does, whether it finishes or fails
                seen.append([r["trial_id"] for r in read_rows(path)[0]])
        finally:
            writer.kill()
    assert writer.returncode == 0
    final = [r["trial_id"] for r in read_rows(path)[0]]
    assert final == [f"t{i:04d}" for i in range(200)]
    assert all(len(ids) >= 100 and ids == final[: len(ids)] for ids in seen)


# ----------------------------------------------------------------------------- loading


def expected_dtypes(frame: pd.DataFrame) -> dict[str, str]:
    return {name: str(dtype) for name, dtype in frame.dtypes.items()}


def mixed_rows() -> list[dict[str, object]]:
    """Rows exercising every conversion: JSON text vs objects, missing values, failures, extras."""
    return [
        trial(0, note="first", lr=0.1, widths=[16, 32], flag=True, count=3),
        trial(1, genotype=json.dumps({"stages": [], "width": 8}, indent=2), parents='["t0000"]', lr=1),
        trial(2, status="oom", error="CUDA out of memory", val_acc=None, val_loss=None, flag=False),
        {"trial_id": "t0003", "status": "diverged", "genotype": {"width": 4}, "val_loss": None, "mixed": 1},
        trial(4, params=2000.0, mixed="two", test_acc=0.7, train_seconds=3, peak_memory_mb=512.5),
    ]


def test_load_gives_documented_columns_and_dtypes(tmp_path: Path) -> None:
    write_record(tmp_path / "evo", mixed_rows())
    df = load(tmp_path / "evo")
    assert list(df.columns[: len(COLUMNS)]) == list(COLUMNS)
    assert list(df.columns[len(COLUMNS) :]) == ["count", "flag", "lr", "note", "widths", "mixed"]
    assert {k: v for k, v in expected_dtypes(df).items() if k in COLUMNS} == COLUMNS
    extras = {k: v for k, v in expected_dtypes(df).items() if k not in COLUMNS}
    assert extras == {
        "note": "str",
        "lr": "float64",
        "widths": "str",
        "flag": "boolean",
        "count": "Int64",
        "mixed": "str",
    }
    assert df["search"].tolist() == ["evo"] * 5
    assert df["trial"].tolist() == [0, 1, 2, 3, 4]
    assert df.loc[1, "genotype"] == '{"stages":[],"width":8}'
    assert df.loc[0, "genotype"] == json.dumps(trial(0)["genotype"], separators=(",", ":"), sort_keys=True)
    assert df.loc[0, "parents"] == "[]" and df.loc[1, "parents"] == '["t0000"]'
    assert pd.isna(df.loc[3, "parents"]) and pd.isna(df.loc[3, "params"]) and pd.isna(df.loc[2, "val_acc"])
    assert df.loc[4, "params"] == 2000
    assert df.loc[0, "finished"] == pd.Timestamp(1_700_000_000.25, unit="s", tz="UTC")
    assert df.loc[0, "widths"] == "[16,32]" and df.loc[4, "mixed"] == "two" and df.loc[3, "mixed"] == "1"
    assert df["status"].tolist() == ["ok", "ok", "oom", "diverged", "ok"]


def test_load_rejects_badly_typed_values(tmp_path: Path) -> None:
    write_record(tmp_path, [trial(0), trial(1, params=12.5)])
    with pytest.raises(RecordError, match=r"column 'params': trial 1: expected an integer"):
        load(tmp_path)


def test_parquet_is_atomic_and_loads_identically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "evo"
    with Record.open(folder) as record:
        for row in mixed_rows():
            record.append(row)
        written = results.write_parquet(record)
    assert written == folder / "trials.parquet"
    assert sorted(p.name for p in folder.iterdir()) == ["trials.jsonl", "trials.parquet"]  # no temp left

    reads: list[Path] = []
    real = results._read_parquet
    monkeypatch.setattr(results, "_read_parquet", lambda p: reads.append(p) or real(p))
    from_parquet = load(folder)
    assert reads == [written]
    written.unlink()
    from_jsonl = load(folder)
    assert reads == [written]
    pd.testing.assert_frame_equal(from_parquet, from_jsonl, check_dtype=True, check_exact=True)
    assert expected_dtypes(from_parquet) == expected_dtypes(from_jsonl)


def test_stale_or_broken_parquet_is_ignored(tmp_path: Path) -> None:
    with Record.open(tmp_path) as record:
        record.append(trial(0))
        results.write_parquet(record)
        record.append(trial(1))  # the copy is now a row behind
    assert load(tmp_path)["trial_id"].tolist() == ["t0000", "t0001"]
    parquet = tmp_path / "trials.parquet"
    with Record.open(tmp_path) as record:
        results.write_parquet(record)
    jsonl = tmp_path / "trials.jsonl"
    edited = jsonl.read_bytes().replace(b'"t0001"', b'"t0009"')
    jsonl.write_bytes(edited.replace(b'"crc"', b'"was_crc"'))  # edited by hand: same rows, newer file
    stamp = parquet.stat().st_mtime_ns
    os.utime(jsonl, ns=(stamp + 10**9, stamp + 10**9))
    assert load(tmp_path)["trial_id"].tolist() == ["t0000", "t0009"]
    parquet.write_bytes(b"not parquet at all")
    os.utime(parquet, ns=(stamp + 2 * 10**9, stamp + 2 * 10**9))
    with pytest.warns(RuntimeWarning, match="unreadable"):
        assert len(load(tmp_path)) == 2


def test_load_several_searches(tmp_path: Path) -> None:
    write_record(tmp_path / "a", [trial(0), trial(1)])
    write_record(tmp_path / "b", [trial(0, extra_b=1)])
    (tmp_path / "b" / "config.json").write_text(json.dumps({"name": "cifar-random"}))
    df = load([tmp_path / "a", str(tmp_path / "b" / "trials.jsonl")])
    assert df["search"].tolist() == ["a", "a", "cifar-random"]
    assert df["trial"].tolist() == [0, 1, 0]
    assert list(df.index) == [0, 1, 2]
    assert {k: v for k, v in expected_dtypes(df).items() if k in COLUMNS} == COLUMNS
    assert df["extra_b"].isna().tolist() == [True, True, False]


def test_load_empty_record(tmp_path: Path) -> None:
    Record.open(tmp_path / "empty").close()
    for df in (load(tmp_path / "empty"), load([])):
        assert len(df) == 0
        assert expected_dtypes(df) == COLUMNS
    with pytest.raises(FileNotFoundError, match="no trials.jsonl"):
        load(tmp_path / "missing")


# ----------------------------------------------------------------------------- front and best


def trials_frame() -> pd.DataFrame:
    rows = [
        trial(0, val_acc=0.90, params=5000),
        trial(1, val_acc=0.80, params=1000),
        trial(2, val_acc=0.85, params=6000),  # dominated by trial 0
        trial(3, val_acc=0.99, params=100, status="error"),  # would dominate all, but failed
        trial(4, val_acc=0.95, params=9000),
        trial(5, val_acc=0.95, params=8000, flops=1),  # same accuracy, fewer params than trial 4
        trial(6, val_acc=None, params=10),
    ]
    return results._with_search(results._frame(rows, "test"), "s")


def test_pareto_front_of_trials() -> None:
    df = trials_frame()
    front = pareto_front(df)
    assert front["trial"].tolist() == [5, 0, 1]  # best val_acc first
    assert 3 in pareto_front(df, include_failed=True)["trial"].tolist()
    three = pareto_front(df, {"val_acc": "max", "params": "min", "flops": "min"})
    assert sorted(three["trial"].tolist()) == [0, 1, 5]
    assert pareto_front(df, {"params": "min"})["trial"].tolist() == [6]


@settings(max_examples=100, deadline=None)
@given(objective_sets(min_d=2, max_d=4), st.data())
def test_pareto_front_matches_brute_force(case: tuple[np.ndarray, list[bool]], data: st.DataObject) -> None:
    values, maximize = case
    names = [f"o{j}" for j in range(values.shape[1])]
    status = data.draw(st.lists(st.sampled_from(["ok", "ok", "error"]), min_size=len(values), max_size=len(values)))
    df = pd.DataFrame(values, columns=names).assign(status=pd.array(status, dtype="str"))
    front = pareto_front(df, {n: "max" if m else "min" for n, m in zip(names, maximize, strict=True)})
    ok = np.array([s == "ok" for s in status], dtype=bool)
    expected = np.flatnonzero(ok)[brute_mask(values[ok], maximize)]
    assert sorted(front.index) == expected.tolist()
    first = front[names[0]].to_numpy()
    assert (np.diff(first) <= 0).all() if maximize[0] else (np.diff(first) >= 0).all()


def test_pareto_front_rejects_bad_objectives() -> None:
    df = trials_frame()
    with pytest.raises(ValueError, match="'val_acc': 'maximize' is not 'max' or 'min'"):
        pareto_front(df, {"val_acc": "maximize"})
    with pytest.raises(ValueError, match="objective 'accuracy' is not a column"):
        pareto_front(df, {"accuracy": "max"})
    with pytest.raises(ValueError, match="'status' is not numeric"):
        pareto_front(df, {"status": "max"})
    with pytest.raises(ValueError, match="non-empty"):
        pareto_front(df, {})


def test_best_with_and_without_budgets() -> None:
    df = trials_frame()
    assert best(df)["trial"] == 5  # ties with trial 4 on accuracy, fewer params
    assert best(df, max_params=5000)["trial"] == 0
    assert best(df, max_params=2000)["trial"] == 1
    assert best(df, max_flops=5000)["trial"] == 5
    assert best(df, max_params=10**9, max_flops=10**9)["trial"] == 5
    assert best(df, metric="val_loss", mode="min")["trial"] == 6  # lowest loss; its val_acc is unknown
    with pytest.raises(ValueError, match=r"no trial qualifies: 7 trials, 6 ok, none with a val_acc and params <= 10"):
        best(df, max_params=10)
    with pytest.raises(ValueError, match="no column 'nope'"):
        best(df, metric="nope")


def test_best_skips_unknown_params_under_a_budget() -> None:
    df = trials_frame()
    unknown = df.assign(params=df["params"].mask(df["trial"] == 5))
    assert best(unknown)["trial"] == 4  # a tie goes to the trial whose size is known
    assert best(unknown, max_params=10_000)["trial"] == 4
    better = unknown.assign(val_acc=unknown["val_acc"].mask(unknown["trial"] == 5, 0.97))
    assert best(better)["trial"] == 5
    assert best(better, max_params=10_000)["trial"] == 4  # unknown size is never within budget
    assert df["params"].notna().sum() == 7  # the input frame is untouched


def test_results_module_imports_neither_torch_nor_ray() -> None:
    code = "import sys, nas.results; print(sorted({'torch', 'ray'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"


def test_atomic_file_keeps_the_old_content_when_writing_fails(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "state.json"
    with atomic_file(target, "w") as f:
        f.write("old")
    assert target.read_text() == "old" and oct(target.stat().st_mode & 0o777) == "0o644"
    with pytest.raises(RuntimeError), atomic_file(target, "w") as f:
        f.write("half of the new")
        raise RuntimeError("killed mid-write")
    assert target.read_text() == "old"
    assert [p.name for p in target.parent.iterdir()] == ["state.json"]  # no temporary left behind
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(OSError) as info, atomic_file(blocker / "x.json") as f:  # its folder is a file
        f.write(b"{}")
    assert info.value.filename == str(blocker / "x.json") or str(blocker) in str(info.value)
