"""The driver killed with SIGKILL, SIGTERM and SIGINT at seeded-random points, then resumed to the end.

A search's promise: a kill never costs a completed trial, a resume never starts over, and no trial is
counted twice. Every planned kill must land: it is sent to a driver that is still running, mid-search
(trials still left to run), and the driver must end with that signal's exit status; a search that ends
before one of its kills fails the test. Local engine: two searches of 20 trials at once, each killed 6
times (twice per signal), 12 kills in all, each at a random moment after the search has made progress
again -- mid-trial, right after a record line, while writing state -- and resumed. Ray: one search of
18 trials killed once with each signal, 3 kills, with Tune's own experiment state corrupted before the
last resume (we never restore from it). 15 kills planned, 15 must land.
"""

from __future__ import annotations

import random
import signal
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from harness import QUICK, assert_intact, counted, driver, rows_now, wait_until

pytestmark = pytest.mark.slow
SIGNALS = (signal.SIGKILL, signal.SIGTERM, signal.SIGINT)
EXIT = {signal.SIGKILL: -9, signal.SIGTERM: 143, signal.SIGINT: 130}  # what the driver exits with

# Enough trials that every kill lands, however fast the machine: a killed run records at most 3 trials (the
# one waited for, the next one if its line comes before the kill point, one whose line was being written).
LOCAL_SEARCHES, LOCAL_TRIALS, LOCAL_KILLS = 2, 20, 6  # 12 kills: the 6th is sent with at least 20 - 5 * 3 - 2 = 3 left
# Under Ray two trials run at once and Tune reports results in bursts (CI once saw 4 lines land at once): a run
# records up to 4 before its kill, and a run stopped by SIGTERM or SIGINT up to 2 more (trials that finish while
# Tune stops); SIGKILL comes first.
RAY_TRIALS, RAY_KILLS, RAY_CONCURRENCY = 18, 3, 2  # 3 kills: the last is sent with at least 18 - 4 - 6 - 4 = 4 left


def kill_and_resume(root, trials, kills, engine_args, rng, timeout, in_flight=1, before_last_resume=lambda: None):
    """Run a search through `kills` kills and resumes, then to the end; returns the signals that landed.

    Each kill must land: it is sent while more than `in_flight` trials are left (so the trials running at
    that moment cannot finish the search before the signal acts), to a driver still running, which must
    then end with that signal's exit status, the search unfinished. Anything else fails the test.
    """
    logs, seen, landed = root.parent / f"{root.name}-logs", [], []
    new = ["search", "--trials", str(trials), *QUICK, *engine_args]
    done = lambda: len(counted(rows_now(root)))  # noqa: E731
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
            what = f"kill {i + 1} of {kills} ({SIGNALS[i % 3].name})"
            start = done()
            moved = wait_until(lambda start=start: done() > start, timeout, "progress", alive=d)
            assert moved, f"{what}: the driver exited ({d.proc.poll()}) before it made progress\n{d.stderr()[-3000:]}"
            # somewhere in the next trial, record line or state save: a seeded-random 0-0.6 s on, or the next
            # record line if that comes first (a fast machine would otherwise run several trials per run)
            at = time.monotonic() + rng.uniform(0.0, 0.6)
            soon = lambda start=start, at=at: time.monotonic() >= at or done() > start + 1  # noqa: E731
            wait_until(soon, timeout, "the kill point", alive=d)
            seen.append(rows_now(root))
            left = trials - len(counted(seen[-1]))
            assert left > in_flight, f"{what}: only {left} of {trials} trials left: too few trials for the kills"
            assert d.proc.poll() is None, f"{what}: the driver exited ({d.proc.returncode}) before the kill"
            sig = SIGNALS[i % 3]
            d.proc.send_signal(sig)
            code = d.wait(120)
            assert code == EXIT[sig], (what, code, d.stderr()[-3000:])  # killed, never "finished anyway"
            assert done() < trials, f"{what}: the search finished although trials were left when it was sent"
            if sig != signal.SIGKILL:
                assert f"--resume {root}" in d.stderr()  # it says how to continue
            landed.append(sig)
    assert_intact(root, trials, seen)
    return landed


def test_local_searches_killed_a_dozen_times_lose_nothing(tmp_path):
    with ThreadPoolExecutor(LOCAL_SEARCHES) as pool:  # two searches at once, six kills each: 12 kills
        runs = [
            pool.submit(
                kill_and_resume,
                tmp_path / f"s{i}",
                LOCAL_TRIALS,
                LOCAL_KILLS,
                ["--engine", "local"],
                random.Random(i),
                120,
            )
            for i in range(LOCAL_SEARCHES)
        ]
        landed = [run.result() for run in runs]
    assert landed == [[SIGNALS[k % 3] for k in range(LOCAL_KILLS)]] * LOCAL_SEARCHES  # every kill landed, in turn
    assert Counter(sig for run in landed for sig in run) == {sig: 4 for sig in SIGNALS}  # 12 = 4 per signal


def test_ray_search_survives_each_signal_and_a_corrupted_tune_state(tmp_path, ray_cluster):
    root, runs = tmp_path / "killed", []

    def corrupt_tune_state():  # Tune's experiment state, search state and tuner: garbage
        runs.extend((root / "ray").glob("run-*"))
        for p in (root / "ray").rglob("*"):
            if p.is_file() and p.suffix in (".json", ".pkl"):
                p.write_bytes(b"\x00{not json" * 7)

    ray_args = ["--address", ray_cluster.address, "--concurrency", str(RAY_CONCURRENCY)]
    landed = kill_and_resume(
        root,
        RAY_TRIALS,
        RAY_KILLS,
        ray_args,
        random.Random(7),
        180,
        in_flight=RAY_CONCURRENCY,
        before_last_resume=corrupt_tune_state,
    )
    assert landed == list(SIGNALS)  # all 3 kills landed, one per signal
    after = set((root / "ray").glob("run-*"))
    # each run a fresh Tune experiment; every kill left trials to run, so the last resume adds exactly one
    assert len(runs) == RAY_KILLS and set(runs) <= after and len(after) - len(runs) == 1
