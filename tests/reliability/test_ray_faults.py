"""Faults under Ray: a worker process killed mid-trial, trials that hang.

Each search is a real driver (`launch.py search --address`) on a `ray.cluster_utils.Cluster`; the
affected trials must be retried or recorded with a reason, and the search must finish with exactly the
requested trials. A whole node lost mid-trial is tested on a cluster started with `ray start`, as users
start one (`tests/nas/test_cluster.py`).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
from harness import QUICK, assert_intact, driver, rows_now, wait_until

pytestmark = pytest.mark.slow


def busy_workers() -> list[int]:
    """Pids of Tune trainable workers running a trial right now."""
    ps = subprocess.run(["ps", "-eo", "pid=,args="], capture_output=True, text=True, timeout=30).stdout
    return [
        int(pid)
        for pid, args in (line.split(None, 1) for line in ps.splitlines())
        if args.startswith("ray::ImplicitFunc.train")
    ]


def search(tmp_path: Path, cluster, trials: int, *extra: str, config: str = ""):
    args = ["search", "--trials", str(trials), *QUICK, "--address", cluster.address, *extra]
    if config:
        (tmp_path / "faults.yaml").write_text(config)
        args += ["--config", str(tmp_path / "faults.yaml")]
    return driver(*args, "--results-dir", str(tmp_path), "--name", "s", logs=tmp_path / "logs")


def test_worker_killed_mid_trial_is_retried_and_failing_trials_are_recorded(tmp_path, ray_cluster):
    # trials 1, 3 and 4 raise in their first step (fault_rate 0.3 over the trial seeds); the others train 100 epochs
    config = "train:\n  fault: raise\n  fault_rate: 0.3\n"
    raising = {"00001", "00003", "00004"}
    with search(tmp_path, ray_cluster, 6, "--epochs", "100", config=config) as d:  # (QUICK's --epochs 1 overridden)
        since: list[float] = []  # when the raising trials were all seen recorded

        def mid_trial() -> int | None:
            """A busy worker 2 s after the raising trials are recorded: the workers then are mid-way through the
            100-epoch trials 2 and 5 (a worker is reused across trials, so being busy alone says nothing)."""
            if not since:
                if raising <= {r["trial_id"] for r in rows_now(tmp_path / "s")}:
                    since.append(time.monotonic())
                return None
            busy = busy_workers()
            return busy[0] if busy and time.monotonic() - since[0] >= 2.0 else None

        found: list[int | None] = []
        assert wait_until(
            lambda: found.append(mid_trial()) or found[-1] is not None, 180, "a worker mid-trial", alive=d
        )
        victim = found[-1]  # the same look decides to kill and whom
        os.kill(victim, signal.SIGKILL)
        assert d.wait(300) == 0, d.stderr()[-3000:]
        assert "ActorDiedError" in d.stderr()  # Tune saw the worker die under a running trial
        died = re.findall(r"Trial task failed for trial trial_(\d+)", d.stderr())
    rows = assert_intact(tmp_path / "s", 6)
    assert victim not in busy_workers()
    by_id = {r["trial_id"]: r for r in rows}
    assert {t for t, r in by_id.items() if r["status"] == "error"} == raising
    errors = {t: by_id[t]["error"] for t in sorted(raising)}
    assert all("injected failure" in e for e in errors.values()), errors
    # the killed trial: exactly one, a 100-epoch one, retried once in another worker, where it trained to the end
    assert len(died) == 1 and died[0] not in raising, died
    retried = by_id[died[0]]
    assert retried["worker"] != victim
    assert retried["status"] == "ok" and retried["epochs"] == 100, retried
    assert all(r["status"] == "ok" for t, r in by_id.items() if t not in raising)


def test_hung_trials_are_recorded_as_timeout_once_and_the_search_finishes(tmp_path, ray_cluster):
    # trials 1, 3 and 4 hang in their first step (time.sleep); the hang limit is 4 s
    config = "train:\n  fault: hang\n  fault_rate: 0.5\n  hang_seconds: 4\n"
    logs = Path(ray_cluster.head_node.get_session_dir_path()) / "logs"
    retired_before = _retired(logs)
    with search(tmp_path, ray_cluster, 5, config=config) as d:
        assert d.wait(300) == 0, d.stderr()[-3000:]
    rows = assert_intact(tmp_path / "s", 5)
    hung = {r["trial_id"]: r for r in rows if r["status"] == "timeout"}
    assert set(hung) == {"00001", "00003", "00004"}
    assert all("hung: still running after" in r["error"] for r in hung.values())
    assert all(r["status"] == "ok" for r in rows if r["trial_id"] not in hung)
    assert _retired(logs) - retired_before == 3  # each hung trial ran once: Tune's retry of it never started


def _retired(logs: Path) -> int:
    """How many workers ended themselves over a hung trial (their own log line)."""
    return sum(p.read_text(errors="replace").count("a trial hung in this worker") for p in logs.glob("worker-*.err"))
