"""Where a trial's time goes: each row's ``phases`` (adding up to its ``wall_seconds``), the driver's slot times, the
summaries of `show` and the HTML report, and the overheads cut (latency only where needed, evaluation at one shape).
Through Ray, the same is asserted by `test_e2e_ray`'s short search."""

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

import searchspace as ss
from nas.config import SearchConfig
from nas.data import load_dataset
from nas.driver.slots import Slots
from nas.engines.base import trial_train_config
from nas.record import results
from nas.record.jsonl import Record
from nas.record.row import PHASES
from nas.report.text import time_lines
from nas.trial import train as trainer
from nas.trial.clock import PhaseClock
from nas.trial.train import TrainConfig, eval_batches, train_trial
from searchspace import wirings
from searchspace.genotype import Genotype, Head, Stage

ROOT = Path(__file__).resolve().parents[2]
QUICK = ["--engine", "local", "--epochs", "2", "--limit", "300", "--ops", "conv,sepconv,maxpool", "--wirings", "chain"]


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def small_net() -> Genotype:
    stem = Stage(8, (ss.node("conv"),))
    return Genotype(stem, (wirings.make_stage("residual", [ss.node("conv"), ss.node("sepconv")], 16, 2),), Head())


def adds_up(metrics: dict) -> bool:
    return sum(metrics["phases"].values()) == pytest.approx(metrics["wall_seconds"], rel=1e-9)


def search(tmp_path: Path, name: str, *extra: str) -> subprocess.CompletedProcess:
    argv = [sys.executable, str(ROOT / "launch.py"), "search", "--trials", "3", "--results-dir", str(tmp_path)]
    return subprocess.run([*argv, "--name", name, *QUICK, *extra], cwd=ROOT, capture_output=True, text=True)


def test_a_search_records_where_each_trial_spent_its_time_and_show_sums_it(tmp_path):
    proc = search(tmp_path, "s")
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = [r for r in Record.open(tmp_path / "s").rows() if r["status"] == "ok"]
    assert len(rows) == 3
    for r in rows:
        assert adds_up(r) and set(r["phases"]) <= set(PHASES)  # (the record writes keys sorted)
        assert {"setup", "build", "to_device", "first_step", "train", "evaluate", "weights", "cleanup"} <= set(
            r["phases"]
        )
        assert "latency" not in r["phases"] and r["latency_ms"] is None  # no objective or limit needs it
        assert r["phases"]["first_step"] + r["phases"]["train"] == pytest.approx(r["train_seconds"], abs=0.05)
        assert r["slot"] == 0 and r["slot_seconds"] >= r["wall_seconds"] and r["slot_idle_seconds"] >= 0
    shown = subprocess.run(
        [sys.executable, str(ROOT / "launch.py"), "show", str(tmp_path / "s")], capture_output=True, text=True
    )
    total = sum(r["wall_seconds"] for r in rows)
    line = next(ln for ln in shown.stdout.splitlines() if ln.startswith("  time: of "))
    assert line.startswith(f"  time: of {total:,.0f} trial-seconds, ") and "% train" in line
    assert "  slots: " in shown.stdout and "over 1 slot: " in shown.stdout
    df = results.load(tmp_path / "s")
    phases = results.phase_seconds(df)
    assert list(phases.columns) == list(PHASES) and len(phases) == 3
    assert phases.sum(axis=1).to_numpy() == pytest.approx(df["wall_seconds"].to_numpy(), rel=1e-9)


def test_latency_is_timed_when_asked_and_its_phase_says_so(tmp_path):
    proc = search(tmp_path, "l", "--latency", "--latency-repeats", "3")
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = [r for r in Record.open(tmp_path / "l").rows() if r["status"] == "ok"]
    assert rows and all(r["latency_ms"] > 0 and r["phases"]["latency"] > 0 and adds_up(r) for r in rows)
    assert json.loads((tmp_path / "l" / "config.json").read_text())["train"]["latency"] is True


@pytest.mark.parametrize(
    ("options", "measured"),
    [
        ({}, False),
        ({"objectives": ("val_acc", "latency")}, True),
        ({"max_latency": 5.0}, True),
        ({"train": TrainConfig(latency=True)}, True),
        ({"train": TrainConfig(latency=False)}, False),
    ],
)
def test_a_search_times_latency_only_where_an_objective_or_limit_needs_it_or_it_is_asked(options, measured):
    cfg = SearchConfig(**options)
    assert cfg.measures_latency() is measured
    assert trial_train_config(cfg).latency is measured
    assert TrainConfig().latency == "auto"  # a trial trained on its own (train_trial) times it, as before


def test_a_failure_counts_in_the_phase_it_happened_in(digits):
    result = train_trial(small_net(), digits, TrainConfig(epochs=2, threads=1, fault="raise"), seed=0)
    assert result.status == "error" and adds_up(result.metrics)
    phases = result.metrics["phases"]
    assert "first_step" in phases and "train" not in phases and "evaluate" not in phases  # the first step raised
    invalid = Genotype(Stage(8, (ss.node("conv"),)), tuple(Stage(8, (ss.node("maxpool", kernel=2, padding=0),),
                       stride=2) for _ in range(5)), Head())  # fmt: skip
    refused = train_trial(invalid, digits, TrainConfig(epochs=1), seed=0)
    assert refused.status == "invalid" and list(refused.metrics["phases"]) == ["build"] and adds_up(refused.metrics)


def test_a_train_fn_trial_is_timed_as_a_whole(digits):
    def train_fn(model, data, context, report):
        return {"val_acc": 0.5}

    result = train_trial(small_net(), digits, TrainConfig(epochs=1, latency=False), train_fn=train_fn)
    assert result.status == "ok" and adds_up(result.metrics)
    assert list(result.metrics["phases"]) == ["build", "to_device", "train_fn", "weights", "cleanup"]


def test_the_clock_refuses_a_phase_it_does_not_know_and_keeps_counting_after_a_result():
    clock = PhaseClock("setup")
    with pytest.raises(ValueError, match="unknown phase 'lunch'; phases are setup, proxies, build"):
        clock.begin("lunch")
    first = clock.result()
    clock.begin("weights")
    later = clock.result()
    assert later["wall_seconds"] >= first["wall_seconds"] and set(later["phases"]) == {"setup", "weights"}
    assert sum(later["phases"].values()) == pytest.approx(later["wall_seconds"])


def test_slots_count_idle_time_and_reuse_the_one_idle_longest():
    slots = Slots(started=100.0)
    assert slots.take(101.0) == (0, 1.0)  # idle since the search started
    assert slots.take(103.0) == (1, 3.0)  # slot 0 busy: the second slot
    slots.give_back(1, 104.0)
    slots.give_back(0, 105.0)
    assert slots.take(105.5) == (1, 1.5)  # idle longest
    assert slots.take(106.0) == (0, 1.0)
    assert slots.take(107.0) == (2, 7.0)  # both busy: a third slot (the engine ran three at once)


def test_evaluation_has_one_batch_shape_where_new_shapes_cost_and_the_same_result(digits):
    assert eval_batches(TrainConfig(), torch.device("cpu"), 64) == (trainer.EVAL_BATCH, False)
    assert eval_batches(TrainConfig(compile=True), torch.device("cpu"), 64) == (64, True)
    assert eval_batches(TrainConfig(eval_batch_size=100), torch.device("cuda"), 64) == (100, True)
    assert eval_batches(TrainConfig(), torch.device("cuda"), 64) == (64, True)  # the shape training tuned
    run = trainer._Run(small_net(), digits, TrainConfig(epochs=1, threads=1), 0, torch.device("cpu"))
    seen = []
    run.net.register_forward_pre_hook(lambda module, args: seen.append(len(args[0])))
    plain = run.evaluate(digits.test_x, digits.test_y)
    assert len(digits.test_x) % 64 and max(seen) == len(digits.test_x)  # one batch of the whole split
    run.eval_batch, run.eval_padded, seen[:] = 64, True, []
    padded = run.evaluate(digits.test_x, digits.test_y)
    assert set(seen) == {64} and len(seen) == -(-len(digits.test_x) // 64)  # the short last batch padded
    assert padded == pytest.approx(plain, rel=1e-5)  # the padding's outputs dropped


def test_the_time_summary_of_hand_made_rows():
    df = pd.DataFrame(
        {
            "phases": [json.dumps({"build": 1.0, "train": 7.0}), json.dumps({"train": 2.0}), None],
            "wall_seconds": [8.0, 2.0, None],
            "slot_seconds": [9.0, 2.5, None],
            "slot_idle_seconds": [1.0, 0.5, None],
            "slot": [0, 1, None],
        }
    )
    spent = results.time_spent(df).set_index(["kind", "part"])["share"]
    assert spent[("phase", "train")] == pytest.approx(0.9) and spent[("phase", "build")] == pytest.approx(0.1)
    assert spent[("slot", "trials")] == pytest.approx(10 / 13) and spent[("slot", "idle")] == pytest.approx(1.5 / 13)
    assert time_lines(df) == [
        "  time: of 10 trial-seconds, 90% train, 10% build",
        "  slots: 13 slot-seconds over 2 slots: 77% running trials, 12% starting them and taking results, 12% idle",
    ]
    assert results.time_spent(df.drop(columns=["phases"])).empty  # no trial timed its phases: a table's lookups
    assert set(results.time_spent(df.drop(columns=["slot_seconds"]))["kind"]) == {"phase"}


def test_a_trial_takes_the_drivers_count_of_parameters_and_flops_instead_of_counting_again(digits, monkeypatch):
    counted = []
    monkeypatch.setattr(trainer.ss, "complexity", lambda *a: counted.append(a) or (0, 0))
    result = train_trial(small_net(), digits, TrainConfig(epochs=1, threads=1), complexity=(123, 4567))
    assert result.status == "ok" and (result.metrics["params"], result.metrics["flops"]) == (123, 4567)
    assert not counted
    train_trial(small_net(), digits, TrainConfig(epochs=1, threads=1))
    assert len(counted) == 1  # without the driver's count, the trial counts


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a CUDA device that fails to synchronise")
def test_a_device_that_cannot_synchronise_does_not_turn_a_result_into_a_crash():
    clock = PhaseClock("train", torch.device("cuda", 0))  # (here: a CUDA build of torch without a GPU)
    with pytest.raises(RuntimeError):
        torch.cuda.synchronize(torch.device("cuda", 0))  # what the clock meets
    clock.begin("cleanup")
    assert clock.cuda is None and set(clock.result()["phases"]) == {"train", "cleanup"}


def test_with_curves_the_last_epochs_test_is_the_final_one_not_evaluated_twice(digits, monkeypatch):
    calls = []
    evaluate = trainer._Run.evaluate
    monkeypatch.setattr(trainer._Run, "evaluate", lambda self, xs, ys: calls.append(len(xs)) or evaluate(self, xs, ys))
    result = train_trial(small_net(), digits, TrainConfig(epochs=2, threads=1, curves=True), seed=0)
    assert result.status == "ok" and result.metrics["test_acc"] == result.metrics["curves"]["test_acc"][-1]
    assert calls == [len(digits.val_x), len(digits.test_x)] * 2  # each epoch: validation, test; no test again after


def test_cudnn_autotuning_is_a_flag_and_a_cuda_trials_row_records_it():
    from nas.cli.options import build_parser, given_options
    from nas.controllers import Proposal
    from nas.record.row import trial_row

    args = build_parser().parse_args(["search", "--no-cudnn-benchmark", "--latency"])
    given = given_options(args)
    assert given["train"] == {"latency": True, "cudnn_benchmark": False}
    assert SearchConfig.from_dict(given).train.cudnn_benchmark is False
    proposal = Proposal("00001", small_net())
    row = trial_row(proposal, "random", "fp", "ok", {"cudnn_benchmark": False, "phases": {"train": 1.0}})
    assert row["cudnn_benchmark"] is False and row["phases"] == {"train": 1.0}
    cpu = trial_row(proposal, "random", "fp", "ok", {})
    assert "cudnn_benchmark" not in cpu and "phases" not in cpu
    twin = trial_row(proposal, "random", "fp", "duplicate", {"phases": {"train": 1.0}}, times={"slot": 0})
    assert "phases" not in twin and "slot" not in twin  # a duplicate took none of its twin's time
