"""Trials that raise, produce NaN, run out of memory or hang (local engine, `TrainConfig.fault`).

Each failure is a result: recorded once with its status and reason while the search goes on to the
requested count; an architecture that keeps failing is not trained again and again.
"""

from __future__ import annotations

import pytest
from harness import QUICK, assert_intact

from nas.cli import main
from nas.driver.coordinator import SearchState
from nas.record.jsonl import Record

FAULTY = {"00001", "00003", "00004"}  # the trials fault_rate 0.5 picks with seed 0


@pytest.mark.parametrize(
    "fault, status, reason",
    [
        ("raise", "error", "RuntimeError: injected failure"),
        ("nan", "diverged", "training loss nan in epoch 1"),
        ("oom", "oom", "out of memory"),
        ("hang", "timeout", "hung: still running after"),
    ],
)
def test_failing_trials_are_recorded_with_status_and_reason(tmp_path, capsys, fault, status, reason):
    config = tmp_path / "faults.yaml"
    config.write_text(f"train:\n  fault: {fault}\n  fault_rate: 0.5\n  hang_seconds: 2\n")
    args = ["search", "--config", str(config), "--trials", "5", *QUICK, "--engine", "local"]
    assert main([*args, "--results-dir", str(tmp_path), "--name", "s"]) == 0  # it finishes: no stall
    rows = assert_intact(tmp_path / "s", 5)
    assert {r["trial_id"] for r in rows if r["status"] == status} == FAULTY
    assert all(reason in r["error"] for r in rows if r["trial_id"] in FAULTY), [r["error"] for r in rows]
    assert all(r["status"] == "ok" for r in rows if r["trial_id"] not in FAULTY)
    assert f"failed {len(FAULTY)}" in capsys.readouterr().err  # the progress line counts them


def test_an_architecture_that_keeps_failing_is_tried_twice_then_never_again(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(SearchState, "max_skips", 30)
    config = tmp_path / "doomed.yaml"  # a space of two architectures, every trial raises
    config.write_text(
        "controller: random\ntrain:\n  fault: raise\n"
        "space: {ops: [conv], wirings: [chain], stages: [1, 1], nodes: [1, 1], widths: [8],"
        " head_hidden: [0], head_dropout: [0.0]}\n"
    )
    args = ["search", "--config", str(config), "--trials", "20", *QUICK[:4], "--engine", "local"]
    assert main([*args, "--results-dir", str(tmp_path), "--name", "s"]) == 2
    assert "30 proposals in a row were rejected or duplicates" in capsys.readouterr().err
    rows = Record.open(tmp_path / "s").rows()
    tried = [r for r in rows if r["status"] == "error"]
    assert len(tried) == 4 and len({r["fingerprint"] for r in tried}) == 2  # each architecture twice
    dups = [r for r in rows if r["status"] == "duplicate"]
    assert len(dups) >= 30 and all(d["error"] and d["duplicate_of"] in {r["trial_id"] for r in tried} for d in dups)
