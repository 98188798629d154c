"""MO-ASHA's rungs (`nas.engines.halving`) against Ray's own ASHA bracket, and which scheduler a search gets."""

from __future__ import annotations

import math
import random
from types import SimpleNamespace

import pytest
from ray.tune.schedulers import TrialScheduler
from ray.tune.schedulers.async_hyperband import _Bracket

from nas.config import SearchConfig
from nas.engines.halving import Rungs
from nas.objectives import larger_better
from nas.trial.train import TrainConfig


@pytest.mark.parametrize(("grace", "max_t"), [(1, 4), (1, 6), (2, 20), (1, 100), (3, 3)])
def test_the_rungs_are_rays_for_the_same_options(grace, max_t):
    ray_milestones = sorted(m for m, _ in _Bracket(grace, max_t, 4, 0)._rungs)
    assert Rungs(grace, max_t).milestones == ray_milestones


def ray_goes_on(bracket: _Bracket, trial_id: str, iteration: int, reward: float) -> bool:
    return bracket.on_result(SimpleNamespace(trial_id=trial_id), iteration, reward) == TrialScheduler.CONTINUE


def test_a_small_trial_on_the_rungs_front_goes_on_where_one_number_would_stop_it():
    """(val_acc, -params) at epoch 1: two large accurate trials, then a small one that is less accurate."""
    rungs, bracket = Rungs(1, 4), _Bracket(1, 4, 4, 0)
    arrivals = [("a", 0.90, 1e6), ("b", 0.95, 1e6), ("small", 0.60, 1e3), ("dominated", 0.50, 2e6)]
    mo = {t: rungs.decide(t, 1, [acc, -p]) for t, acc, p in arrivals}
    single = {t: ray_goes_on(bracket, t, 1, acc) for t, acc, _ in arrivals}
    assert single == {"a": True, "b": True, "small": False, "dominated": False}  # Ray's ASHA by accuracy
    # MO-ASHA: b is ahead of a (dominates it); small is on the front with b, an extreme, so nobody is ahead of
    # it; dominated (rank 2 of 4, three ahead) is out of the first ceil(4/4) = 1
    assert mo == {"a": True, "b": True, "small": True, "dominated": False}


def test_a_trial_goes_on_when_it_is_in_the_first_ceil_n_over_rf():
    rungs = Rungs(1, 100)  # rungs at 1, 4, 16, 64
    for i in range(8):  # eight trials on a line, each worse in both objectives than all before it
        assert rungs.decide(f"t{i}", 1, [-float(i), -float(i)]) == (i == 0)
    # the next rung (4): its first arrival goes on; a second result there is not judged again (nor recorded)
    assert rungs.decide("t0", 4, [0.0, 0.0]) and rungs.decide("t0", 4, [-9.0, -9.0])
    assert rungs.recorded[1] == {"t0": (0.0, 0.0)}
    # a result at iteration 20 is recorded at the highest rung reached (16), not again lower down
    assert rungs.decide("late", 20, [1.0, 1.0]) and "late" in rungs.recorded[2] and "late" not in rungs.recorded[0]


def test_a_result_without_every_objective_is_not_judged():
    rungs = Rungs(1, 4)
    assert rungs.decide("a", 1, [0.9, -10.0])
    assert rungs.decide("b", 1, None) and rungs.decide("c", 1, [math.nan, -5.0])  # go on, not recorded
    assert set(rungs.recorded[0]) == {"a"}
    senses = {"val_acc": "max", "params": "min"}
    assert larger_better({"val_acc": 0.5, "params": 10}, senses) == [0.5, -10.0]
    for incomplete in ({"val_acc": 0.5}, {"val_acc": math.inf, "params": 1}, {"val_acc": None, "params": 1}):
        vector = larger_better(incomplete, senses)  # what a rung is given: NaN where an objective is missing
        assert math.isnan(vector[0] if incomplete.get("val_acc") != 0.5 else vector[1])
        assert rungs.decide("d", 1, vector) and "d" not in rungs.recorded[0]


def test_with_random_vectors_the_share_that_goes_on_stays_near_one_in_rf():
    """Asynchronous arrivals: of n trials at a rung about n / rf go on, as with one number."""
    rng = random.Random(0)
    rungs = Rungs(1, 4)
    decisions = [rungs.decide(f"t{i}", 1, [rng.random(), rng.random()]) for i in range(400)]
    assert decisions[0] and 0.7 * 400 / 4 <= sum(decisions) <= 1.4 * 400 / 4  # (87 for this seed)


def test_bad_rung_options_are_refused():
    with pytest.raises(ValueError, match="grace >= 1"):
        Rungs(0, 4)
    with pytest.raises(ValueError, match="max_t >= grace"):
        Rungs(5, 4)


@pytest.mark.parametrize(
    ("options", "kind"),
    [
        ({}, "_FIFO"),
        ({"asha": True}, "_MOASHA"),  # evolution's default objectives: val_acc and params
        ({"asha": True, "asha_by": "score"}, "_ASHA"),
        ({"asha": True, "controller": "tpe"}, "_ASHA"),  # tpe optimizes val_acc alone: Ray's ASHA, as it was
        ({"asha": True, "objectives": ("val_loss:min",)}, "_ASHA"),
        ({"asha": True, "objectives": ("val_loss:min", "latency")}, "_MOASHA"),
    ],
)
def test_a_search_gets_mo_asha_exactly_when_it_has_several_objectives(options, kind):
    from nas.engines.ray_tune import _scheduler

    cfg = SearchConfig(**options, train=TrainConfig(epochs=4), grace_epochs=1)
    scheduler = _scheduler(cfg)
    assert type(scheduler).__name__ == kind
    if kind == "_MOASHA":
        assert scheduler.senses == cfg.objective_senses() and scheduler.rungs.milestones == [1, 4]


def test_mo_asha_inside_tunes_scheduler_interface():
    """`_MOASHA` fed what trials report (`_packed`): the rung decisions, the stop at max_t, a finished trial's last
    result recorded at its rung, and a hung trial's `retire` result passed through."""
    from nas.engines.ray_tune import _MOASHA, _packed

    scheduler = _MOASHA(Rungs(1, 8), {"val_acc": "max", "params": "min"})  # rungs at 1 and 4
    trial = SimpleNamespace

    def result(acc: float, params: int, iteration: int, **flags) -> dict:
        return _packed({"val_acc": acc, "params": params, "epochs": iteration}, final=False, **flags) | {
            "training_iteration": iteration
        }

    arrivals = [("a", 0.90, 1000), ("b", 0.95, 1000), ("small", 0.60, 10), ("dominated", 0.5, 2000)]
    actions = [scheduler.on_trial_result(None, trial(trial_id=t), result(acc, p, 1)) for t, acc, p in arrivals]
    assert actions == [TrialScheduler.CONTINUE] * 3 + [TrialScheduler.STOP] and scheduler.stopped == 1
    assert scheduler.on_trial_result(None, trial(trial_id="a"), result(0.9, 1000, 8)) == TrialScheduler.STOP
    scheduler.on_trial_complete(None, trial(trial_id="b"), result(0.96, 1000, 5))
    assert scheduler.rungs.recorded[1] == {"b": (0.96, -1000.0)}
    retiring = result(0.1, 5000, 1, retire=True)
    assert scheduler.on_trial_result(None, trial(trial_id="hung"), retiring) == TrialScheduler.CONTINUE


def test_a_single_objective_asha_ranks_by_that_objective():
    from nas.engines.ray_tune import tune_metric

    assert tune_metric(SearchConfig()) == ("val_acc", "max")  # (MO-ASHA ranks evolution's two; Tune needs one)
    assert tune_metric(SearchConfig(controller="tpe")) == ("val_acc", "max")
    assert tune_metric(SearchConfig(objectives=("val_loss:min",))) == ("val_loss", "min")
    assert tune_metric(SearchConfig(objectives=("latency",))) == ("latency_ms", "min")
    assert tune_metric(SearchConfig(objectives=("latency", "f1:max"))) == ("f1", "max")  # --asha-by score: f1


def test_asha_by_is_checked_and_asha_needs_the_ray_engine(tmp_path):
    import numpy as np

    import nas
    from nas.api import drive
    from nas.config import ConfigError

    with pytest.raises(ConfigError, match="asha_by.*one of objectives, score"):
        SearchConfig(asha_by="front")
    data = nas.dataset((np.zeros((40, 1, 8, 8), np.float32), np.arange(40) % 2))
    with pytest.raises(ConfigError, match="ASHA stops trials through Ray Tune, not engine local"):
        drive(SearchConfig(asha=True, engine="local"), tmp_path / "s", data)  # (it was silently ignored)
    assert not (tmp_path / "s").exists()


def test_a_search_saved_before_asha_by_resumes_ranking_by_one_number():
    saved = SearchConfig(asha=True).to_dict()
    del saved["asha_by"]
    assert SearchConfig.from_saved(saved).asha_by == "score"
    assert SearchConfig.from_dict(saved).asha_by == "objectives"  # a new config file: the default
