"""Tests for nas.record.jsonl: the append-only trial record, its checksums, torn tails and atomic files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nas.record.jsonl import Record, RecordError, atomic_file, checksum, read_rows
from nas.record.results import load  # it reads a record being written without touching it

ROOT = Path(__file__).resolve().parents[2]

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
from nas.record.jsonl import Record
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
