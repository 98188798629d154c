"""Every controller learns from the search's own objectives: a matrix of controllers x objectives.

The problem is synthetic and exact: NAS-Bench-201's cell space (15,625 cells, `searchspace.nb201`), a
score that is a fixed additive function of the six edges' ops (so the optimum is known), and the network's
real parameter count (it depends only on how many 3x3 and 1x1 convolutions the cell has: counted once per
pair, from the built module). A "train_fn" reports the score under the objective's name and nothing else:
``val_acc`` (the default objectives), an own metric to maximise (``val_f1:max``), one to minimise
(``val_err:min``), or an own metric with ``params`` (two objectives).

(a) Through the real driver (`SearchState`: record, ledger, controller restored from the folder), each
controller learns from every ok result: its state grows by one per result, and after its start its
proposals come from what it learnt (children, neighbours, the predictor's picks), not fresh random samples.

(b) Over 16 seeds (the predictor 12: `SEEDS`) at the same budget (30 to 100 trials: `BUDGET`), each learning controller ends
closer to the optimum than random search with the same seeds and budget (one-sided Mann-Whitney U,
p < 0.01): the regret of the best score found, or with two objectives the share of the whole space's
hypervolume that the search's front misses. Random search and grid learn nothing by design: in (a) they
are the driver's check alone.
"""

from __future__ import annotations

import functools
import itertools
import random

import numpy as np
import pytest
from scipy.stats import mannwhitneyu

import searchspace as ss
from nas import pareto
from nas.config import SearchConfig, make_space
from nas.driver.coordinator import DataInfo, SearchState
from nas.driver.resume import new_controller
from nas.status import Status
from nas.trial.train import custom_part, own_metrics
from searchspace import nb201

INFO = DataInfo(3, 10, (32, 32), "synthetic")
VALUE = [[random.Random(201 * e + k).random() for k in range(len(nb201.OPS))] for e in range(len(nb201.EDGES))]
OBJECTIVES = {  # setting -> the search's objectives, and the train_fn's metric: name and what it is of the score
    "val_acc": ((), "val_acc", lambda s: s),
    "own_max": (("val_f1:max",), "val_f1", lambda s: s),
    "own_min": (("val_err:min",), "val_err", lambda s: 1.0 - s),
    "own_and_params": (("val_f1:max", "params"), "val_f1", lambda s: s),
}
CONTROLLERS = {  # name -> config options (a search's defaults otherwise)
    "evolution": {},
    "evolution_tournament": {"controller": "evolution", "variant": "tournament"},
    "local_search": {},
    "predictor": {},
    "tpe": {},
    "nsga2": {},
    "grid": {},
    "random": {},
}
LEARNERS = [c for c in CONTROLLERS if c not in ("grid", "random")]  # grid and random learn nothing by design
SEEDS = {"predictor": 12}  # per controller and setting, for (b): 16 unless named (the predictor is far ahead)
# trials per search in (b), random search's the same: about twice what each needs for p < 0.001 at 16 seeds
# (measured), so the test stays in seconds; aging evolution and NSGA-II climb slowest, the predictor fits its
# ensemble every 10 trials
BUDGET = {"evolution": 100, "nsga2": 80, "evolution_tournament": 60, "tpe": 40, "local_search": 40, "predictor": 30}


def score(ops: tuple[str, ...]) -> float:
    """The synthetic score in [0, 1]: the mean over edges of a fixed value per (edge, op)."""
    return sum(VALUE[e][nb201.OPS.index(op)] for e, op in enumerate(ops)) / len(ops)


@functools.cache
def _params_of_counts(conv3: int, conv1: int) -> int:
    ops = ["nor_conv_3x3"] * conv3 + ["nor_conv_1x1"] * conv1 + ["skip_connect"] * (6 - conv3 - conv1)
    return ss.count_params(nb201.genotype(tuple(ops)), INFO.in_channels, INFO.num_classes)


def params(ops: tuple[str, ...]) -> int:
    """The cell network's parameter count (convolutions are the only cell ops with weights)."""
    return _params_of_counts(ops.count("nor_conv_3x3"), ops.count("nor_conv_1x1"))


def config(controller: str, setting: str, seed: int = 0, trials: int = 16) -> SearchConfig:
    options = {"controller": controller} | CONTROLLERS.get(controller, {})
    return SearchConfig(
        **options,
        objectives=OBJECTIVES[setting][0],
        trials=trials,
        seed=seed,
        engine="local",
        space={"template": "nb201"},
        keep_weights="none",
        report_every=0,
    )


def trial_metrics(ops: tuple[str, ...], setting: str) -> dict:
    """What the trainer hands the driver for a train_fn that returned only its one metric."""
    _, name, of = OBJECTIVES[setting]
    own = own_metrics({name: of(score(ops))}, "train_fn returned")
    return {"params": params(ops), "flops": 0, "epochs": 1} | own | {"custom": custom_part(own)}


# ------------------------------------------------------------------ (a) the driver and every controller


def learnt(controller, name: str) -> int:
    """How many results the controller holds as learnt: its population, history, or completed study trials."""
    if name.startswith("evolution"):
        return len(controller.population)
    if name == "predictor":
        return len(controller.history)
    if name in ("tpe", "nsga2"):
        return len(completed(controller))
    return 0


def completed(controller) -> list:
    from optuna.trial import TrialState

    return controller.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))


def from_learning(proposal, name: str) -> bool:
    """Whether a proposal comes from what the controller learnt rather than a fresh random sample."""
    if name.startswith("evolution") or name == "local_search":
        return len(proposal.parents) == 1  # a mutated child of a member, a neighbour of the centre
    if name == "predictor":
        return proposal.meta.get("origin") == "predictor"
    return True  # (the Optuna samplers' proposals carry no origin; (b) shows that they learn)


@pytest.mark.parametrize("setting", list(OBJECTIVES))
@pytest.mark.parametrize("name", list(CONTROLLERS))
def test_every_controller_learns_from_every_ok_result_of_the_searchs_objectives(tmp_path, name, setting):
    cfg = config(name, setting)
    # random proposals before the controller learns (a controller without a population: the default 8)
    start = getattr(cfg.controller_options, "population", 8) if name != "predictor" else 10
    with SearchState(cfg, tmp_path / "s", INFO, log=lambda line: None) as state:
        ctrl, best, late = state.controller, -np.inf, []
        first, sense = next(iter(ctrl.objectives.items()))
        while (pending := state.propose()) is not None:
            p = pending.proposal
            if ctrl.asked > start:
                late.append(from_learning(p, name))
            metrics = trial_metrics(nb201.ops_of(p.genotype), setting)
            state.complete(p.trial_id, Status.OK, metrics)
            ok = state.ledger.counts[Status.OK] + state.ledger.counts[Status.DUPLICATE]  # results, repeats included
            best = max(best, metrics[first] if sense == "max" else -metrics[first])
            grows = {"evolution": min(ok, start), "evolution_tournament": min(ok, start)}
            assert learnt(ctrl, name) == grows.get(name, ok if name in ("predictor", "tpe", "nsga2") else 0), (
                f"{name} after {ok} ok results of {setting}"
            )
            if name == "local_search":  # the climb's centre is the best result so far (no restart in 16 trials)
                assert ctrl.center is not None and ctrl.center["score"][0] == best
        # the driver's own front counts them too: a best row and a front, on the search's objectives
        assert state.ledger.leaders.best is not None and state.ledger.leaders.front
    if name in LEARNERS:
        assert late and all(late), f"{name}: proposals after its start that are fresh random samples: {late}"
    if name in ("tpe", "nsga2"):  # what the study was told: the search's objectives, in their directions
        study = completed(ctrl)[0]
        cell = tuple(study.params[d] for d in nb201.decisions())
        told = trial_metrics(cell, setting)
        assert list(study.values) == [told[k] for k in ctrl.objectives]


def test_a_result_missing_an_objective_does_not_count(tmp_path):
    """A row without the own metric (only val_acc), with it None (a NaN the trainer turned into None), or
    without params counts for no controller and is on no front; the first complete one is."""
    cfg = config("evolution", "own_and_params")
    with SearchState(cfg, tmp_path / "s", INFO, log=lambda line: None) as state:
        for own, size in (({"val_acc": 0.9}, 1), ({"val_f1": None}, 1), ({"val_f1": 0.7}, None), ({"val_f1": 0.5}, 1)):
            p = state.propose().proposal
            state.complete(p.trial_id, Status.OK, {"params": size, "epochs": 1} | own | {"custom": custom_part(own)})
        assert [m["trial_id"] for m in state.controller.population] == ["00004"]
        assert state.ledger.leaders.best["trial_id"] == "00004"
        assert [r["trial_id"] for r in state.ledger.leaders.front] == ["00004"]


@pytest.mark.parametrize("objective", ["val_f1:max", "val_loss:min"])
def test_a_duplicate_of_a_failed_trial_does_not_count_with_the_metrics_it_reported(tmp_path, objective):
    """A trial that reported its metric (its own, or a built-in loss), then ran out of time: the repeat of its
    architecture is recorded as a duplicate with what is known before training (params, latency) and none of the
    metrics, so no controller counts it (the timed-out trial itself is not evaluated)."""
    from nas.controllers.fixed import Fixed

    cfg = SearchConfig(objectives=(objective,), trials=2, engine="local", space={"template": "nb201"})
    cell, other = nb201.genotype(("nor_conv_3x3",) * 6), nb201.genotype(("skip_connect",) * 6)
    reported = {"val_f1": 0.9, "val_loss": 0.3, "val_acc": 0.9, "latency_ms": 1.5, "params": 7, "epochs": 1}
    with SearchState(cfg, tmp_path / "s", INFO, log=lambda line: None,
                     controller=Fixed(make_space(cfg, INFO), [cell, cell, other])) as state:  # fmt: skip
        first = state.propose()
        state.complete(first.trial_id, Status.TIMEOUT, reported | {"custom": {"val_f1": 0.9}, "error": "time"})
        assert state.propose().proposal.genotype == other  # the repeat was recorded as a duplicate on the way
        rows = state.record.rows()
    assert [r["status"] for r in rows] == ["timeout", "duplicate"]
    name = objective.partition(":")[0]
    assert rows[0][name] == reported[name] and rows[1].get(name) is None and rows[1]["val_acc"] is None
    assert (rows[1]["params"], rows[1]["latency_ms"], rows[1]["error"]) == (7, 1.5, "time")


# ------------------------------------------------------------------ (b) better than random search


@functools.cache
def whole_space() -> tuple[np.ndarray, np.ndarray]:
    """Every cell's (score, params), as `score` and `params` give them, by table lookups over op indices."""
    index = np.array(list(itertools.product(range(len(nb201.OPS)), repeat=len(nb201.EDGES))))  # (15625, 6)
    scores = np.asarray(VALUE)[np.arange(len(nb201.EDGES)), index].mean(axis=1)
    conv3, conv1 = (index == nb201.OPS.index("nor_conv_3x3")).sum(1), (index == nb201.OPS.index("nor_conv_1x1")).sum(1)
    counts = np.array([[_params_of_counts(a, b) if a + b <= 6 else 0 for b in range(7)] for a in range(7)], float)
    return scores, counts[conv3, conv1]


def vectors(scores: np.ndarray, counts: np.ndarray, senses: dict) -> np.ndarray:
    """(score, params) points as the objectives' values, each turned so that larger is better."""
    columns = [
        counts * -1.0 if name == "params" else (scores if sense == "max" else scores - 1.0)
        for name, sense in senses.items()
    ]  # fmt: skip  (val_err = 1 - score, minimised: -(1 - s) = s - 1)
    return np.column_stack(columns)


@functools.cache
def optimum(senses: tuple) -> tuple[float, np.ndarray]:
    """The whole space's best: the best objective value, or with two objectives its front's hypervolume (and the
    reference point, the worst of the space)."""
    everything = vectors(*whole_space(), dict(senses))
    if len(senses) == 1:
        return float(everything.max()), np.empty(0)
    ref = everything.min(0) - 1e-9
    return pareto.hypervolume(everything[pareto.pareto_mask(everything, [True] * 2)], ref, [True] * 2), ref


def regret(found: list[tuple[str, ...]], senses: dict) -> float:
    """How far a search's results are from the optimum: the best score's gap, or with several objectives the
    share of the space front's hypervolume that the search's front misses."""
    best, ref = optimum(tuple(senses.items()))
    mine = vectors(np.array([score(c) for c in found]), np.array([params(c) for c in found], float), senses)
    if len(senses) == 1:
        return best - float(mine.max())
    return (best - pareto.hypervolume(mine, ref, [True] * 2)) / best


def budget(name: str) -> int:
    return BUDGET[name]


def seeds(name: str) -> range:
    return range(SEEDS.get(name, 16))


def search_regret(name: str, setting: str, seed: int) -> float:
    """A search driven by ask/tell at the budget, each result told as the driver tells a recorded row."""
    cfg = config(name, setting, seed, budget(name))
    ctrl = new_controller(cfg, make_space(cfg, INFO), INFO)
    if hasattr(ctrl, "costs"):  # the predictor knows the costs before training, as in a search
        ctrl.costs = lambda gs, names=(): [{"params": params(nb201.ops_of(g))} for g in gs]
    found = []
    for _ in range(cfg.trials):
        p = ctrl.ask()
        ops = nb201.ops_of(p.genotype)
        metrics = trial_metrics(ops, setting)
        ctrl.tell(p.trial_id, Status.OK, {k: v for k, v in metrics.items() if k != "custom"})
        found.append(ops)
    return regret(found, ctrl.objectives)


@functools.cache
def random_found(seed: int, trials: int) -> list[tuple[str, ...]]:
    """What random search proposes at the budget (the same whatever the objectives: it learns nothing)."""
    cfg = config("random", "val_acc", seed, trials)
    ctrl = new_controller(cfg, make_space(cfg, INFO), INFO)
    return [nb201.ops_of(ctrl.ask().genotype) for _ in range(trials)]


@pytest.mark.parametrize("setting", list(OBJECTIVES))
@pytest.mark.parametrize("name", LEARNERS)
def test_each_learning_controller_ends_closer_to_the_optimum_than_random_search(name, setting):
    senses = config(name, setting).objective_senses()
    mine = [search_regret(name, setting, seed) for seed in seeds(name)]
    baseline = [regret(random_found(seed, budget(name)), senses) for seed in seeds(name)]
    p = mannwhitneyu(mine, baseline, alternative="less").pvalue
    assert p < 0.01, (
        f"{name} on {setting} ({senses}): regret median {np.median(mine):.4f} vs random {np.median(baseline):.4f}, "
        f"p = {p:.3g} over {len(seeds(name))} seeds of {budget(name)} trials"
    )
