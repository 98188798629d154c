"""The results folder under stress: torn and cut records, read-only folders, a full disk, two searches at once.

A storage fault must end the search with one clear line and exit code 2 -- never a silent restart from
zero, never a half-written file (the record's last line is whole or set aside; config and state files
are the old version or the new one) -- and a resume afterwards must finish the search.

Read-only uses ``chattr +i`` (root on ext4 ignores permission bits); the full disk is a 1 MiB tmpfs
filled up mid-search. Where neither is possible (not root), those tests skip, and the same code paths
are driven in-process by a simulated ENOSPC / short write (monkeypatched ``os.write``).
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
from contextlib import contextmanager
from pathlib import Path

import pytest
from harness import QUICK, assert_intact, counted, driver, one_error_line, rows_now, wait_until

from nas.cli import main
from nas.record import results
from nas.record.jsonl import Record, read_rows

LOCAL = [*QUICK, "--engine", "local"]


def search_args(trials: int, root: Path) -> list[str]:
    return ["search", "--trials", str(trials), *LOCAL, "--results-dir", str(root.parent), "--name", root.name]


def resume_args(trials: int, root: Path) -> list[str]:
    return ["search", "--trials", str(trials), *LOCAL, "--resume", str(root)]


def assert_whole(root: Path) -> list[dict]:
    """No half-written file: the record opens without a torn tail, config and state parse, no temp files."""
    data = (root / "trials.jsonl").read_bytes()
    assert not data or data.endswith(b"\n")
    rows, torn = read_rows(root)
    assert torn == 0
    json.loads((root / "config.json").read_text())
    state = json.loads((root / "state" / "controller.json").read_text())
    assert state["told"] in (len(rows), len(rows) - 1)  # the state is the record or one row behind
    assert state["told"] == 0 or state["last_told"] == rows[state["told"] - 1]["trial_id"]
    assert not list(root.rglob(".*.tmp"))
    return rows


# ------------------------------------------------------------------ torn and cut records


def test_a_record_cut_mid_line_is_set_aside_and_the_search_continues(tmp_path, capsys):
    root = tmp_path / "s"
    assert main(search_args(3, root)) == 0
    data = (root / "trials.jsonl").read_bytes()
    last = data.rstrip(b"\n").rfind(b"\n") + 1
    (root / "trials.jsonl").write_bytes(data[: last + 40])  # the last row cut 40 bytes in: state has seen more
    kept = read_rows(root)[0]
    assert len(kept) == 2
    with pytest.warns(RuntimeWarning, match="torn last line"):
        assert main(resume_args(5, root)) == 0
    assert "rebuilding it" in capsys.readouterr().err
    assert (root / "trials.jsonl.torn-1").read_bytes() == data[last : last + 40]
    rows = assert_intact(root, 5, [kept])
    assert int(rows[-1]["trial_id"]) > 3  # ids are never reused


def test_a_bad_line_inside_the_record_stops_resume_with_one_line(tmp_path, capsys):
    root = tmp_path / "s"
    assert main(search_args(3, root)) == 0
    lines = (root / "trials.jsonl").read_bytes().splitlines(keepends=True)
    lines[1] = lines[1].replace(b'"status":"ok"', b'"status":"OK"')  # checksum no longer matches
    (root / "trials.jsonl").write_bytes(b"".join(lines))
    capsys.readouterr()
    assert main(resume_args(5, root)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "trials.jsonl:2: checksum mismatch" in err and "Traceback" not in err
    assert (root / "trials.jsonl").read_bytes() == b"".join(lines)  # untouched


# ------------------------------------------------------------------ read-only folder


@contextmanager
def immutable(*paths: Path):
    """chattr +i (recursive) for the block; skips the test where chattr cannot do it."""
    try:
        subprocess.run(["chattr", "-R", "+i", *map(str, paths)], check=True, capture_output=True, timeout=30)
    except (OSError, subprocess.CalledProcessError) as e:
        pytest.skip(f"chattr +i not available here ({e}); see test_simulated_write_failures")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-R", "-i", *map(str, paths)], check=True, capture_output=True, timeout=30)


@pytest.mark.slow
def test_a_folder_made_read_only_mid_search_stops_it_cleanly_and_resume_finishes(tmp_path):
    root = tmp_path / "s"
    with driver(*search_args(12, root), logs=tmp_path / "logs") as d:
        wait_until(lambda: len(rows_now(root)) >= 2, 120, "two trials", alive=d)
        with immutable(root):
            assert d.wait(120) == 2
            line = one_error_line(d.stderr())
            assert "cannot write" in line and "Operation not permitted" in line and f"--resume {root}" in line
            before = assert_whole(root)
            assert 2 <= len(counted(before)) < 12
            with driver(*resume_args(12, root), logs=tmp_path / "logs") as r:  # still read-only: refused
                assert r.wait(120) == 2
                assert "cannot write to results folder" in one_error_line(r.stderr())
            assert read_rows(root)[0] == before
    with driver(*resume_args(12, root), logs=tmp_path / "logs") as d:
        assert d.wait(240) == 0, d.stderr()[-3000:]
    assert_intact(root, 12, [before])


# ------------------------------------------------------------------ full disk


@contextmanager
def small_disk(folder: Path, size: str = "1m"):
    """A size-limited tmpfs at folder; skips the test where mounting is not allowed."""
    folder.mkdir()
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True, timeout=30
    )
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({proc.stderr.decode().strip()}); see test_simulated_write_failures")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True, timeout=30)


def fill(folder: Path) -> Path:
    """Write a file until the disk is full, to the last byte; returns it."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        for chunk in (1 << 16, 1 << 12, 1):
            try:
                while True:
                    os.write(fd, b"\0" * chunk)
            except OSError as e:
                assert e.errno == errno.ENOSPC
    finally:
        os.close(fd)
    return filler


@pytest.mark.slow
def test_a_full_disk_stops_the_search_cleanly_and_resume_finishes(tmp_path):
    with small_disk(tmp_path / "disk") as disk:
        root = disk / "s"
        with driver(*search_args(12, root), "--keep-weights", "none", logs=tmp_path / "logs") as d:
            wait_until(lambda: len(rows_now(root)) >= 2, 120, "two trials", alive=d)
            filler = fill(disk)
            assert d.wait(120) == 2
            line = one_error_line(d.stderr())
            assert "No space left on device" in line and f"--resume {root}" in line
        before = assert_whole(root)
        assert 2 <= len(counted(before)) < 12
        filler.unlink()
        with driver(*resume_args(12, root), logs=tmp_path / "logs") as d:
            assert d.wait(240) == 0, d.stderr()[-3000:]
        assert_intact(root, 12, [before])


def test_simulated_write_failures_stop_cleanly_and_resume_finishes(tmp_path, capsys, monkeypatch):
    """In-process stand-in for the two tests above: the record's write fails (ENOSPC, then a short write)."""
    root = tmp_path / "s"
    real_write = os.write
    for fault in ("enospc", "short"):
        calls = {"n": 0}

        def failing_write(fd, data, fault=fault, calls=calls):
            calls["n"] += 1
            if calls["n"] < 2:
                return real_write(fd, data)
            if fault == "short":
                return real_write(fd, data[: len(data) // 2])  # half a line reaches the disk
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        monkeypatch.setattr(results.os, "write", failing_write)
        args = resume_args(6, root) if root.exists() else search_args(6, root)
        assert main(args) == 2
        err = capsys.readouterr().err.strip().splitlines()[-1]
        assert err.startswith("error: cannot write") and f"--resume {root}" in err, err
        monkeypatch.setattr(results.os, "write", real_write)
        assert_whole(root)  # the half line was rolled back
    before = read_rows(root)[0]
    assert len(before) == 2  # one row per run got through
    assert main(resume_args(6, root)) == 0
    assert_intact(root, 6, [before])


# ------------------------------------------------------------------ two searches, one folder


@pytest.mark.slow
def test_a_second_search_on_the_same_folder_is_refused_while_the_first_runs(tmp_path):
    root = tmp_path / "s"
    # 12 epochs a trial: the first search runs for many seconds after its first row, while the others start
    with driver(*search_args(10, root), "--epochs", "12", logs=tmp_path / "logs") as first:
        wait_until(lambda: len(rows_now(root)) >= 1, 120, "a trial", alive=first)
        with driver(*resume_args(10, root), "--epochs", "12", logs=tmp_path / "logs") as second:  # as saved
            assert second.wait(120) == 2
            assert f"in use by another search (pid {first.pid})" in one_error_line(second.stderr())
        with driver(*search_args(10, root), logs=tmp_path / "logs") as third:
            assert third.wait(120) == 2
            assert "already exists; pass --resume" in one_error_line(third.stderr())
        assert first.wait(240) == 0, first.stderr()[-3000:]
    assert_intact(root, 10)


@pytest.mark.slow
def test_two_searches_started_at_once_on_one_folder_never_interleave(tmp_path):
    root = tmp_path / "s"
    with (
        driver(*search_args(4, root), logs=tmp_path / "logs") as a,
        driver(*search_args(4, root), logs=tmp_path / "logs") as b,
    ):
        codes = sorted([a.wait(240), b.wait(240)])
        loser = a if a.proc.returncode else b
    assert codes == [0, 2], codes
    assert any(
        m in one_error_line(loser.stderr()) for m in ("in use by another search", "already exists", "just created")
    )
    assert_intact(root, 4)


def test_an_interrupt_during_the_fsync_of_a_whole_line_keeps_the_line(tmp_path, monkeypatch):
    """Found by test_kills: Ctrl-C/SIGTERM landing in the fsync after a whole line was written rolled the line
    back, though a reader could already have seen it: a finished trial lost. Now only a failed write or fsync
    rolls back; the kept line is replayed on resume."""
    record = Record.open(tmp_path / "trials.jsonl")
    record.append({"trial_id": "00001", "status": "ok"})
    real_fsync, seen = os.fsync, []

    def interrupted_fsync(fd):
        seen.append(read_rows(tmp_path)[0])  # a reader between the write and its fsync
        monkeypatch.setattr(results.os, "fsync", real_fsync)
        raise KeyboardInterrupt

    monkeypatch.setattr(results.os, "fsync", interrupted_fsync)
    with pytest.raises(KeyboardInterrupt):
        record.append({"trial_id": "00002", "status": "ok"})
    record.close()
    assert [r["trial_id"] for r in seen[0]] == ["00001", "00002"]  # the interrupt came after the whole line
    assert Record.open(tmp_path / "trials.jsonl").rows() == seen[0]  # and the line is still there

    monkeypatch.setattr(results.os, "fsync", lambda fd: (_ for _ in ()).throw(OSError(errno.EIO, "I/O error")))
    record = Record.open(tmp_path / "trials.jsonl")
    with pytest.raises(OSError):
        record.append({"trial_id": "00003", "status": "ok"})  # the disk said no: rolled back
    record.close()
    monkeypatch.setattr(results.os, "fsync", real_fsync)
    assert [r["trial_id"] for r in Record.open(tmp_path / "trials.jsonl").rows()] == ["00001", "00002"]


def test_a_short_write_is_followed_by_the_rest_which_says_the_disk_is_full(tmp_path, monkeypatch):
    """A disk filling up mid-line: the kernel takes part of the line, then refuses the rest with ENOSPC, which is
    what the user is told (not "short write"); the part is rolled back."""
    from nas.record import jsonl

    path = tmp_path / "trials.jsonl"
    path.write_bytes(b'{"a":1}\n')
    real_write, calls = os.write, []

    def filling(fd, data):
        calls.append(len(data))
        if len(calls) == 1:
            return real_write(fd, data[:5])  # the last free bytes
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(jsonl.os, "write", filling)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        with pytest.raises(OSError) as caught:
            jsonl._append_line(fd, b'{"b":2}\n', path)
    finally:
        os.close(fd)
    assert caught.value.errno == errno.ENOSPC and caught.value.filename == str(path)
    assert calls == [8, 3] and path.read_bytes() == b'{"a":1}\n'
