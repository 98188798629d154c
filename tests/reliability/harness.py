"""Helpers for the fault-injection tests: the CLI in its own process group, the record's invariants.

Every search runs the way users run it -- ``launch.py search`` in a subprocess -- so faults hit a real
driver. Output goes to files (a full pipe would stall a driver nobody reads), every wait has a deadline,
and every process group started here is killed on the way out.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from nas.record.jsonl import Record, read_rows

ROOT = Path(__file__).resolve().parents[2]
QUICK = ("--epochs", "1", "--limit", "300", "--ops", "conv,sepconv,maxpool", "--wirings", "chain")
NOT_COUNTED = ("rejected", "duplicate")


class Driver:
    """A `launch.py` process in its own session, its output in files."""

    def __init__(self, args: list[str], logs: Path):
        logs.mkdir(parents=True, exist_ok=True)
        n = len(list(logs.glob("*.out")))
        self.out_path, self.err_path = logs / f"{n:03d}.out", logs / f"{n:03d}.err"
        with open(self.out_path, "w") as out, open(self.err_path, "w") as err:
            self.proc = subprocess.Popen(
                [sys.executable, str(ROOT / "launch.py"), *args],
                cwd=ROOT,
                env=os.environ | {"PYTHONUNBUFFERED": "1"},
                stdout=out,
                stderr=err,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait(self, timeout: float) -> int:
        """Exit code; the whole process group is killed if it is not done in time."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill_group()
            pytest.fail(f"{self.proc.args[2:5]} still running after {timeout}s:\n{self.stderr()[-3000:]}")

    def kill_group(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=30)

    def stdout(self) -> str:
        return self.out_path.read_text(errors="replace")

    def stderr(self) -> str:
        return self.err_path.read_text(errors="replace")


@contextmanager
def driver(*args: str, logs: Path) -> Iterator[Driver]:
    """Start `launch.py *args`; on the way out its process group is killed, whatever happened."""
    d = Driver(list(args), logs)
    try:
        yield d
    finally:
        d.kill_group()


def counted(rows: list[dict]) -> list[dict]:
    return [r for r in rows if r.get("status") not in NOT_COUNTED]


def rows_now(root: Path) -> list[dict]:
    """The record as a reader sees it while a search may still be writing (never modifies the file)."""
    try:
        return read_rows(root)[0]
    except FileNotFoundError:
        return []


def wait_until(condition: Callable[[], bool], timeout: float, what: str, alive: Driver | None = None) -> bool:
    """Poll until condition() holds; False if the driver exited first; fails the test at the deadline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        if alive is not None and alive.proc.poll() is not None:
            return condition()
        time.sleep(0.05)
    pytest.fail(f"timed out after {timeout}s waiting for {what}")


def assert_intact(root: Path, trials: int, seen: list[list[dict]] = ()) -> list[dict]:
    """The promises of a finished search: exactly `trials` counted, nothing lost or doubled, state == record."""
    rows = Record.open(root).rows()
    for before in seen:  # every row seen before a fault is still there, unchanged, in place
        assert rows[: len(before)] == before
    trained = counted(rows)
    assert len(trained) == trials, [(r["trial_id"], r["status"]) for r in rows]
    assert len({r["trial_id"] for r in rows}) == len(rows), "a trial id recorded twice"
    assert len({r["fingerprint"] for r in trained if r["status"] != "error"}) == len(
        [r for r in trained if r["status"] != "error"]
    ), "an architecture trained twice"
    state = json.loads((root / "state" / "controller.json").read_text())
    told = (state["told"], state["last_told"])
    assert told == (len(rows), rows[-1]["trial_id"]), "the controller's history differs from the record"
    assert not [p.name for p in root.rglob(".*.tmp")], "a temporary file was left behind"
    return rows


def one_error_line(stderr: str) -> str:
    """The last stderr line, which must be the one clear error line (no traceback anywhere)."""
    assert "Traceback" not in stderr, stderr[-3000:]
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("error: "), last
    return last
