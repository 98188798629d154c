"""Latency as a measurement, an objective and a limit: `nas.trial.latency`, the trial's ``latency_ms``, ``--objectives
val_acc,latency`` and ``--max-latency`` through real searches.

The clock `nas.trial.latency` reads is a virtual one here (`VirtualClock`): it moves only when an op "sleeps",
so a network with the sleepy op measures exactly its sleep and one without it a few microseconds,
however loaded the machine (real times of the small networks: 1-7 ms on a 2-core CPU, with spikes
over the 20 ms limit under load, which made the earlier wall-clock version flaky). The measuring loop,
the trial's latency step, the objective and the limit are the real code.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

import nas
from nas.config import ConfigError, SearchConfig
from nas.data import load_dataset
from nas.driver.coordinator import DataInfo, SearchError, SearchState
from nas.engines import LocalEngine
from nas.record import results
from nas.record.jsonl import Record
from nas.trial import latency
from nas.trial.train import TrainConfig, train_trial
from searchspace import registry
from searchspace.genotype import Genotype, Head
from searchspace.wirings import make_stage

ROOT = Path(__file__).resolve().parents[2]
SLEEP = 0.03  # seconds the sleepy op sleeps per forward pass
LIMIT_MS = 20.0  # between the small networks' latency and the sleepy op's
SPACE = {
    "ops": ["conv", "sleepy_test_op"],
    "wirings": ["chain"],
    "stages": [1, 1],
    "nodes": [1, 2],
    "widths": [8],
    "head_hidden": [0],
    "head_dropout": [0.0],
}


class VirtualClock:
    """What `nas.trial.latency` reads as ``time.perf_counter`` in these tests: it moves only when an op "sleeps" (and
    by a microsecond per reading), so measured latencies are exact whatever else the machine is doing."""

    def __init__(self) -> None:
        self.now = 0.0

    def perf_counter(self) -> float:
        self.now += 1e-6
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


CLOCK = VirtualClock()


@pytest.fixture(autouse=True)
def virtual_clock(monkeypatch):
    monkeypatch.setattr(latency, "time", CLOCK)
    return CLOCK


def sleep_through(x: torch.Tensor) -> torch.Tensor:
    CLOCK.sleep(SLEEP)
    return x


torch.fx.wrap("sleep_through")  # a call in the fx-traced graph the trainer runs, not run once while tracing


class Sleepy(nn.Module):
    """A 1x1 convolution that sleeps SLEEP seconds in every forward pass."""

    def __init__(self, in_ch, out_ch, stride=1):
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, 1, stride)

    def forward(self, x):
        return self.conv(sleep_through(x))


@pytest.fixture(scope="module", autouse=True)
def sleepy():
    nas.register_op("sleepy_test_op", category="conv")(Sleepy)
    yield
    registry.REGISTRY.pop("sleepy_test_op", None)


@pytest.fixture(scope="module")
def data():
    return load_dataset("digits", limit=300)


def sleepy_genotype(with_sleep: bool) -> Genotype:
    nodes = [registry.node("conv"), *([registry.node("sleepy_test_op")] if with_sleep else [])]
    return Genotype(make_stage("chain", [registry.node("conv")], 8), (make_stage("chain", nodes, 8, 2),), Head())


def uses_sleepy(row) -> bool:
    g = row["genotype"] if isinstance(row["genotype"], dict) else json.loads(row["genotype"])
    return any(n["op"] == "sleepy_test_op" for s in g["stages"] for n in s["nodes"])


# ------------------------------------------------------------------ measuring


class Counting(nn.Module):
    """Records each call's batch size, mode and whether inference mode was on; sleeps `pause` seconds."""

    def __init__(self, pause: float = 0.0):
        super().__init__()
        self.pause, self.calls = pause, []

    def forward(self, x):
        self.calls.append((x.shape[0], self.training, torch.is_inference_mode_enabled()))
        CLOCK.sleep(self.pause)
        return x


def test_measure_times_warm_eval_runs_per_batch_and_restores_the_mode():
    model = Counting(pause=0.01)
    model.train()
    ms = latency.measure(model, (1, 4, 4), torch.device("cpu"), (1, 16), repeats=5, budget=60.0)
    assert ms == {1: pytest.approx(10.001), 16: pytest.approx(10.001)}  # the pause, and a reading's microsecond
    per_batch = [b for b, *_ in model.calls]
    assert per_batch == [1] * (latency.WARMUP_RUNS + 5) + [16] * (latency.WARMUP_RUNS + 5)
    assert all(not training and inference for _, training, inference in model.calls)
    assert model.training  # left as it was


def test_measure_stops_at_its_time_budget_after_the_minimum_runs():
    model = Counting(pause=0.02)
    latency.measure(model, (1, 2, 2), torch.device("cpu"), (1,), repeats=1000, budget=0.05)
    timed = len(model.calls) - latency.WARMUP_RUNS
    assert timed == latency.MIN_RUNS == 3  # 0.05 s of 20 ms runs: the third ends past the budget, and is the last


# ------------------------------------------------------------------ a trial


def test_a_trial_records_latency_at_batch_1_and_the_serving_batch(data):
    cfg = TrainConfig(epochs=1, threads=1, latency_batch=32, latency_repeats=3)
    result = train_trial(sleepy_genotype(True), data, cfg)
    assert result.status == "ok"
    m = result.metrics
    assert m["latency_batch"] == 32 and m["latency_ms"] == pytest.approx(SLEEP * 1e3, abs=0.01)
    assert m["latency_batch_ms"] == pytest.approx(SLEEP * 1e3, abs=0.01)
    off = train_trial(sleepy_genotype(False), data, TrainConfig(epochs=1, threads=1, latency=False))
    assert off.status == "ok" and "latency_ms" not in off.metrics


def test_a_trial_over_max_latency_is_rejected_before_it_trains(data):
    cfg = TrainConfig(epochs=1, threads=1, max_latency_ms=LIMIT_MS)
    result = train_trial(sleepy_genotype(True), data, cfg)
    assert result.status == "rejected"
    assert f"> --max-latency {LIMIT_MS:g} ms (measured on cpu before training)" in result.metrics["error"]
    assert result.metrics.get("epochs") is None and result.metrics.get("val_acc") is None and not result.state_dict

    def train_fn(model, data, config, report):
        raise AssertionError("a rejected trial never trains")

    own = train_trial(sleepy_genotype(True), data, cfg, train_fn=train_fn)
    assert own.status == "rejected" and own.metrics["latency_ms"] >= SLEEP * 1e3
    fast = train_trial(sleepy_genotype(False), data, cfg)
    assert fast.status == "ok" and fast.metrics["latency_ms"] < LIMIT_MS


# ------------------------------------------------------------------ searches


def run(cfg: SearchConfig, root: Path, data) -> SearchState:
    with SearchState(cfg, root, DataInfo.of(data), log=lambda s: None) as state:
        LocalEngine(data).run(state)
    return state


def test_latency_is_an_objective_and_a_limit_end_to_end(tmp_path, data):
    cfg = SearchConfig(
        engine="local", trials=5, controller="evolution", population=3, sample=2, space=SPACE,
        objectives=("val_acc", "latency"), max_latency=LIMIT_MS,
        train=TrainConfig(epochs=1, threads=1, latency_repeats=3),
    )  # fmt: skip
    root = tmp_path / "s"
    run(cfg, root, data)
    rows = Record.open(root / "trials.jsonl").rows()
    trained = [r for r in rows if r["status"] == "ok"]
    slow = [r for r in rows if r["status"] == "rejected"]
    assert len(trained) == 5 and slow  # rejections do not count against --trials
    assert all(uses_sleepy(r) and r["latency_ms"] >= SLEEP * 1e3 and "--max-latency" in r["error"] for r in slow)
    assert all(not uses_sleepy(r) and 0 < r["latency_ms"] < LIMIT_MS and r["latency_batch"] == 64 for r in trained)
    again = [r for r in rows if r["status"] == "duplicate" and uses_sleepy(r)]
    assert all(r["latency_ms"] is not None for r in again)  # a slow architecture is measured once
    df = results.load(root)
    assert df["latency_ms"].dtype == "float64" and df["latency_batch"].dtype == "Int64"
    front = results.pareto_front(df, {"val_acc": "max", "latency_ms": "min"})
    assert set(front["trial_id"]) <= {r["trial_id"] for r in trained}
    assert results.best(df, max_latency=LIMIT_MS)["latency_ms"] < LIMIT_MS
    shown = subprocess.run(
        [sys.executable, str(ROOT / "launch.py"), "show", str(root)], capture_output=True, text=True, timeout=120
    )
    assert shown.returncode == 0 and "Pareto front (val_acc max, latency_ms min)" in shown.stdout, shown.stderr
    from nas.report import html as html_report

    page = html_report.write_report(root).read_text()
    assert "<h2>Accuracy vs latency</h2>" in page and "latency (ms)" in page
    assert "Pareto front (val_acc max, latency_ms min)" in page and "http-equiv" not in page


def test_a_limit_no_architecture_meets_ends_the_search_in_one_line(tmp_path, data, monkeypatch):
    monkeypatch.setattr(SearchState, "max_slow", 4)
    space = SPACE | {"ops": ["sleepy_test_op"]}
    cfg = SearchConfig(engine="local", trials=3, controller="random", space=space, dedupe=False, max_latency=LIMIT_MS,
                       train=TrainConfig(epochs=1, threads=1, latency_repeats=3))  # fmt: skip
    with pytest.raises(SearchError, match="4 trials in a row were slower than --max-latency; loosen it"):
        run(cfg, tmp_path / "s", data)
    rows = Record.open(tmp_path / "s" / "trials.jsonl").rows()
    assert len(rows) == 4 and all(r["status"] == "rejected" for r in rows)


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"max_latency": 0.0}, "max_latency must be a positive number of milliseconds"),
        ({"max_latency": 5.0, "engine": "table:x.parquet"}, "max_latency must be unset with a table engine"),
        ({"objectives": ("val_acc", "latency"), "engine": "table:x.parquet"}, "objectives must be free of latency"),
        ({"max_latency": 5.0, "train": TrainConfig(latency=False)}, "max_latency must be unset when train.latency"),
        ({"objectives": ("val_acc", "latency:max")}, "latency_ms is always minimized"),
    ],
)
def test_bad_latency_options_are_one_line(kw, message):
    with pytest.raises(ConfigError, match=message):
        SearchConfig(**kw)


def test_the_cli_takes_max_latency_and_refuses_a_bad_one(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "launch.py"), "search", "--max-latency", "-3", "--results-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2 and "--max-latency: expected a positive number of milliseconds" in proc.stderr
    assert not any(tmp_path.iterdir())
    assert SearchConfig(max_latency=2.5).train.max_latency_ms == 2.5
    assert SearchConfig(train=TrainConfig(max_latency_ms=4.0)).max_latency == 4.0
