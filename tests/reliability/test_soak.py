"""A short soak: 100 tiny trials through Ray with actor reuse leak no descriptors, processes or workers.

The long soak (1,000 trials, memory figures) is ``python reliability/soak.py``; its numbers are in
RELIABILITY.md. Margins here are generous and nothing is timed.
"""

from __future__ import annotations

import importlib.util

import pytest
from harness import ROOT, assert_intact

pytestmark = pytest.mark.slow


def load_soak():
    spec = importlib.util.spec_from_file_location("nasgraph_soak", ROOT / "reliability" / "soak.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_hundred_trials_leak_no_descriptors_processes_or_workers(tmp_path, ray_cluster):
    soak = load_soak().run_soak(100, tmp_path, address=ray_cluster.address, timeout=300)
    assert soak["exit_code"] == 0, (tmp_path / "driver.err").read_text()[-3000:]
    assert_intact(tmp_path / "soak", 100)
    start, end, samples = soak["start"], soak["end"], soak["samples"]
    assert end["trials"] - start["trials"] >= 50  # the two looks are far apart
    assert end["driver_fds"] <= start["driver_fds"] + 20
    assert end["driver_threads"] <= start["driver_threads"] + 10
    assert end["driver_descendants"] <= start["driver_descendants"] + 2
    assert max(s["workers"] for s in samples) <= 3  # two trials at a time (one more while Tune swaps a worker)
    assert len({p for s in samples for p in s["worker_pids"]}) <= 6  # workers are reused, not replaced per trial
    assert end["driver_rss_mb"] <= start["driver_rss_mb"] + 300
