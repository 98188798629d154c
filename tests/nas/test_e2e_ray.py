"""End to end on a real Ray runtime, started the way users start it: the CLI in a subprocess.

- a short search completes and writes N rows, timed where each trial's time went;
- a search stopped by SIGKILL, SIGTERM and Ctrl-C mid-run, resumed each time, ends with exactly the requested trials;
- ASHA stops poor trials early, with one objective and with two;
- the dataset ships to workers as arrays mapped without a copy.
(Clusters started with `ray start` are in `test_cluster.py`.)
"""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from nas.record.jsonl import Record, read_rows

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
QUICK = ["--trials", "{n}", "--epochs", "1", "--limit", "300", "--ops", "conv,sepconv,maxpool", "--wirings", "chain"]


def launch(*args: str, n: int = 4, **kw) -> subprocess.Popen:
    argv = [sys.executable, str(ROOT / "launch.py"), "search", *[a.format(n=n) for a in QUICK], *args]
    env = os.environ | {"PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def counted(rows):
    return [r for r in rows if r["status"] not in ("rejected", "duplicate")]


def kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def test_short_search_through_ray_writes_n_rows_with_a_latency_objective(tmp_path):
    # a killed run leaves /tmp/ray/ray_current_cluster naming its dead cluster: a new search must not try to join it
    stale = Path(tempfile.gettempdir()) / "ray" / "ray_current_cluster"
    planted = not stale.exists()
    if planted:
        stale.parent.mkdir(exist_ok=True)
        stale.write_text("127.0.0.1:9\n")
    proc = launch("--results-dir", str(tmp_path), "--name", "short", "--objectives", "val_acc,latency", n=4,
                  start_new_session=True)  # fmt: skip
    try:
        out, err = proc.communicate(timeout=300)
    finally:
        kill_group(proc)
        if planted:
            stale.unlink(missing_ok=True)
    assert proc.returncode == 0, err[-3000:]
    rows = Record.open(tmp_path / "short").rows()
    assert len(counted(rows)) == 4 and all(r["status"] == "ok" for r in counted(rows))
    assert all(r.get("node") for r in counted(rows))  # trained by Ray workers
    assert all(r["latency_ms"] > 0 and r["latency_batch"] == 64 for r in counted(rows))  # timed on the worker
    assert "Pareto front (val_acc max, latency_ms min)" in out
    # where each trial's time went, from the worker's setup to its weights written for the driver
    for r in counted(rows):
        assert sum(r["phases"].values()) == pytest.approx(r["wall_seconds"], rel=1e-9)
        assert {"setup", "build", "latency", "first_step", "evaluate", "report", "weights"} <= set(r["phases"])
        assert r["slot"] in (0, 1) and r["slot_seconds"] >= r["wall_seconds"] and r["slot_idle_seconds"] >= 0
    assert {r["slot"] for r in counted(rows)} == {0, 1}  # --concurrency 2 (the default): two slots
    assert "  time: of " in out and "  slots: " in out and "over 2 slots" in out


def test_each_signal_mid_search_keeps_every_row_and_resume_ends_with_exactly_the_requested_trials(tmp_path):
    """The driver owning its local Ray runtime, stopped mid-search three times: SIGKILL (the driver alone; what it
    leaves of Ray is ended, as after a machine restart), SIGTERM (exit 143) and Ctrl-C (SIGINT, exit 130), each
    resumed with `--resume DIR` alone. Every stop keeps every finished row in place; the last resume ends with
    exactly the trials asked for, none counted or trained twice, and the controller saw exactly the record."""
    root = tmp_path / "stopped"
    # trials of 1 epoch on 210 images end within a second of each other, and Tune reports them in bursts (CI once
    # saw 4 rows land between two polls): 12 trials leave each stop room to come before the last one
    n, before = 12, []
    for sig, code in ((signal.SIGKILL, -9), (signal.SIGTERM, 143), (signal.SIGINT, 130)):
        args = ("--resume", str(root)) if before else ("--results-dir", str(tmp_path), "--name", "stopped")
        proc = launch(*args, n=n, start_new_session=True)
        try:
            deadline = time.time() + 240
            while not ((root / "trials.jsonl").exists() and len(counted(read_rows(root)[0])) > len(counted(before))):
                assert time.time() < deadline and proc.poll() is None, f"{sig.name}: no new trial recorded"
                time.sleep(0.05)
            proc.send_signal(sig)  # to the driver only
            out, err = proc.communicate(timeout=120)
        finally:
            kill_group(proc)
        assert proc.returncode == code, (sig.name, err[-2000:])
        if sig != signal.SIGKILL:
            assert f"--resume {root}" in err  # it says how to continue
        rows = Record.open(root).rows()  # opens cleanly: no torn tail
        assert rows[: len(before)] == before  # nothing lost or rewritten
        assert len(counted(before)) < len(counted(rows)) < n, (sig.name, len(counted(rows)))
        before = rows
    resumed = launch("--resume", str(root), n=n, start_new_session=True)
    try:
        out, err = resumed.communicate(timeout=300)
    finally:
        kill_group(resumed)
    assert resumed.returncode == 0, err[-2000:]
    rows = Record.open(root).rows()
    assert rows[: len(before)] == before and len(counted(rows)) == n  # exactly the requested trials
    assert len({r["trial_id"] for r in rows}) == len(rows)  # none counted twice
    assert len({r["fingerprint"] for r in counted(rows)}) == n  # no architecture trained twice
    state = json.loads((root / "state/controller.json").read_text())
    assert (state["told"], state["last_told"]) == (len(rows), rows[-1]["trial_id"])  # it saw exactly the record


def test_asha_stops_poor_trials_early_and_records_them(tmp_path):
    argv = [*QUICK, "--asha", "--grace-epochs", "1", "--controller", "random"]
    argv[argv.index("--epochs") + 1] = "4"
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "launch.py"), "search", *[a.format(n=8) for a in argv]]
        + ["--results-dir", str(tmp_path), "--name", "asha"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=300)
    finally:
        kill_group(proc)
    assert proc.returncode == 0, err[-3000:]
    rows = counted(Record.open(tmp_path / "asha").rows())
    assert len(rows) == 8
    assert {r["status"] for r in rows} <= {"ok", "stopped"}
    # ASHA (one rung at epoch 1, reduction factor 4) stops a trial below the 75th percentile of the epoch-1
    # scores seen so far: of 8 trials all but about 1 in 1,000 orders leave at least one below it
    stopped = [r for r in rows if r["status"] == "stopped"]
    assert stopped, [(r["status"], r["epochs"], r["val_acc"]) for r in rows]
    for r in rows:
        if r["status"] == "stopped":
            assert r["epochs"] < 4 and r["val_acc"] is not None  # ASHA's cut, with its last epoch's metrics
        else:
            assert r["epochs"] == 4


def test_mo_asha_runs_a_search_of_two_objectives_through_ray(tmp_path):
    """--asha with evolution's (val_acc, params): the rungs rank by both (`nas.engines.halving`, unit-tested there);
    here the scheduler runs inside Tune: every trial ends ok after 2 epochs or stopped after the grace epoch."""
    argv = [*QUICK, "--asha", "--grace-epochs", "1", "--controller", "evolution", "--population", "4"]
    argv[argv.index("--epochs") + 1] = "2"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "launch.py"), "search", *[a.format(n=5) for a in argv]]
        + ["--results-dir", str(tmp_path), "--name", "mo"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, start_new_session=True,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = counted(Record.open(tmp_path / "mo").rows())
    assert len(rows) == 5 and {r["status"] for r in rows} <= {"ok", "stopped"}
    assert all(r["epochs"] == (2 if r["status"] == "ok" else 1) for r in rows)
    assert any(r["status"] == "ok" for r in rows)  # (the first trial at the rung always goes on)


def test_the_dataset_ships_to_workers_as_arrays_mapped_without_a_copy():
    import numpy as np
    import ray
    import torch

    from nas.data import load_dataset
    from nas.engines.ray_tune import _shippable, _unshipped

    data = load_dataset("digits", limit=300)
    shipped = _shippable(data)
    assert all(isinstance(shipped[k], np.ndarray) for k in ("train_x", "train_y", "val_x", "test_y"))
    arrays = ray.cloudpickle.loads(ray.cloudpickle.dumps(shipped))  # what a worker holds, made read-only
    for a in arrays.values():
        if isinstance(a, np.ndarray):
            a.flags.writeable = False
    back = _unshipped(arrays)
    assert repr(back) == repr(data) and back.mean == data.mean and back.classes == data.classes
    for k in ("train_x", "train_y", "val_x", "val_y", "test_x", "test_y"):
        assert torch.equal(getattr(back, k), getattr(data, k))
        assert getattr(back, k).data_ptr() == arrays[k].ctypes.data  # the tensor is the shipped array itself
