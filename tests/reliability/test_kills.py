"""The driver killed with SIGKILL, SIGTERM and SIGINT at seeded-random points, then resumed to the end.

A search's promise: a kill never costs a completed trial, a resume never starts over, and no trial is
counted twice. Local engine: one search killed 18 times (six per signal), each time at a random moment
after it has made progress again -- mid-trial, right after a record line, while writing state -- and
resumed. Ray: one search through each signal once, with Tune's own experiment state corrupted before
the last resume (we never restore from it).
"""

from __future__ import annotations

import random
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from harness import QUICK, assert_intact, counted, driver, rows_now, wait_until

pytestmark = pytest.mark.slow
SIGNALS = (signal.SIGKILL, signal.SIGTERM, signal.SIGINT)
EXIT = {signal.SIGKILL: -9, signal.SIGTERM: 143, signal.SIGINT: 130}  # what the driver exits with


def kill_and_resume(root, trials, kills, engine_args, rng, timeout, before_last_resume=lambda: None):
    """Run a search to the end through `kills` kills and resumes; returns the signals sent."""
    logs, seen, sent = root.parent / f"{root.name}-logs", [], []
    new = ["search", "--trials", str(trials), *QUICK, *engine_args]
    for i in range(kills + 1):
        if i == kills:
            before_last_resume()
        args = (
            [*new, "--results-dir", str(root.parent), "--name", root.name] if i == 0 else [*new, "--resume", str(root)]
        )
        with driver(*args, logs=logs) as d:
            if i == kills:  # the last resume runs to the end
                assert d.wait(timeout) == 0, d.stderr()[-3000:]
                break
            start = len(counted(rows_now(root)))
            moved = lambda start=start: len(counted(rows_now(root))) > start  # noqa: E731
            if not wait_until(moved, timeout, "progress", alive=d):
                assert d.wait(30) == 0, d.stderr()[-3000:]  # it finished before this kill: fine
                break
            time.sleep(rng.uniform(0.0, 0.6))  # somewhere in the next trial, record line or state save
            if len(counted(rows_now(root))) >= trials - 1:  # too near the end for a kill to land before it: finish
                assert d.wait(timeout) == 0, d.stderr()[-3000:]
                break
            seen.append(rows_now(root))
            sig = SIGNALS[i % 3]
            d.proc.send_signal(sig)  # two or more trials are left: the search cannot have ended on its own
            code = d.wait(120)
            sent.append(sig)
            assert code == EXIT[sig], (sig, code, d.stderr()[-3000:])  # killed, never "finished anyway"
            if sig != signal.SIGKILL:
                assert f"--resume {root}" in d.stderr()  # it says how to continue
    assert_intact(root, trials, seen)
    return sent


def test_local_searches_killed_a_dozen_times_lose_nothing(tmp_path):
    with ThreadPoolExecutor(2) as pool:  # two searches at once, six kills each: 12 kill points
        runs = [
            pool.submit(kill_and_resume, tmp_path / f"s{i}", 16, 6, ["--engine", "local"], random.Random(i), 120)
            for i in range(2)
        ]
        sent = [sig for run in runs for sig in run.result()]
    assert len(sent) >= 10 and set(sent) == set(SIGNALS), sent  # the budget outlasts the kills


def test_ray_search_survives_each_signal_and_a_corrupted_tune_state(tmp_path, ray_cluster):
    root, runs = tmp_path / "killed", []

    def corrupt_tune_state():  # Tune's experiment state, search state and tuner: garbage
        runs.extend((root / "ray").glob("run-*"))
        for p in (root / "ray").rglob("*"):
            if p.is_file() and p.suffix in (".json", ".pkl"):
                p.write_bytes(b"\x00{not json" * 7)

    ray_args = ["--address", ray_cluster.address]
    # 14 trials: room for three kills even when each run records several trials before its kill lands
    sent = kill_and_resume(root, 14, 3, ray_args, random.Random(7), 180, before_last_resume=corrupt_tune_state)
    assert sent == list(SIGNALS)
    after = set((root / "ray").glob("run-*"))
    # each run a fresh Tune experiment; the last resume adds one unless the last kill came after the last trial
    assert len(runs) == 3 and set(runs) <= after and len(after) - len(runs) <= 1
