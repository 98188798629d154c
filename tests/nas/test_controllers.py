"""Controllers without Ray: evolution's population, aging and tournaments; reproducibility; state; Optuna."""

import json
import random
import subprocess
import sys

import pytest

import searchspace as ss
from nas.controllers import Evolution, RandomSearch, make_controller
from nas.controllers.optuna_search import OptunaSearch

SPACE = ss.SearchSpace(in_channels=1, input_size=8)


def fake_accuracy(genotype) -> float:
    """A deterministic stand-in score of an architecture (the controllers only see numbers)."""
    return (int(genotype.fingerprint()[:6], 16) % 1000) / 1000


def drive(ctrl, n: int, results: dict | None = None) -> list:
    """Ask/tell n times, one proposal outstanding; returns the proposals."""
    out = []
    for _ in range(n):
        p = ctrl.ask()
        acc = fake_accuracy(p.genotype)
        if results is not None:
            results[p.trial_id] = acc
        ctrl.tell(p.trial_id, "ok", {"val_acc": acc, "params": ss.count_params(p.genotype, 1, 10)})
        out.append(p)
    return out


def test_controllers_do_not_import_torch_or_ray():
    code = (
        "import sys, nas.controllers.base, nas.controllers.evolution, nas.controllers.random_search;"
        "print(sorted(m for m in ('torch', 'ray') if m in sys.modules))"
    )
    # searchspace (passed in as the space) uses torch; the controller modules themselves must not need it
    src = open("nas/controllers/evolution.py").read() + open("nas/controllers/base.py").read()
    assert "import torch" not in src and "import ray" not in src
    assert "ray" not in subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout


def test_aging_evolution_keeps_the_most_recent_population():
    ctrl = Evolution(SPACE, seed=0, population=6, sample=3)
    proposals = drive(ctrl, 20)
    assert len(ctrl.population) == 6
    assert [m["trial_id"] for m in ctrl.population] == [p.trial_id for p in proposals[-6:]]  # the oldest died
    assert all(p.parents == () for p in proposals[:6])  # initial population: random
    assert all(len(p.parents) == 1 for p in proposals[6:])  # then children of one parent


def test_tournament_picks_the_best_of_the_sample():
    ctrl = Evolution(SPACE, seed=1, population=5, sample=5)  # S = P: the parent is the population's best
    scores: dict = {}
    drive(ctrl, 5, scores)
    child = ctrl.ask()
    best = max(ctrl.population, key=lambda m: m["metrics"]["val_acc"])
    assert child.parents == (best["trial_id"],)
    assert child.generation == best["generation"] + 1
    assert child.genotype.fingerprint() != ss.Genotype.from_dict(best["genotype"]).fingerprint()


def test_seeds_variant_removes_the_least_fit_and_anneals_mutations():
    ctrl = Evolution(SPACE, seed=2, population=4, sample=4, variant="tournament", mutations=4)
    drive(ctrl, 4)
    kids = [ctrl.ask() for _ in range(5)]
    # Algorithm 1 (003): `for t < rounds`, so t starts at 0 and the first child gets all d mutations
    assert [len(k.meta["mutations"]) for k in kids] == [4, 3, 2, 1, 1]  # max(d - t, 1), t = 0, 1, 2, 3, 4
    kids = kids[:4]
    for k in kids:
        ctrl.tell(k.trial_id, "ok", {"val_acc": 0.0 if k is kids[0] else 0.99, "params": 1})
    assert kids[0].trial_id not in {m["trial_id"] for m in ctrl.population}  # least fit removed
    assert len(ctrl.population) == 4


def test_two_mutations_mean_two_for_the_first_child():
    """d = 2 used to behave as d = 1 (the round counter was incremented before use)."""
    ctrl = Evolution(SPACE, seed=3, population=3, sample=3, variant="tournament", mutations=2)
    drive(ctrl, 3)
    assert [len(ctrl.ask().meta["mutations"]) for _ in range(3)] == [2, 1, 1]


def test_the_seeds_mutation_kinds_are_the_only_ones_applied():
    space = ss.SearchSpace(in_channels=1, input_size=8, mutation_kinds=("seeds",))
    assert space.mutation_kinds == ("op_change", "kernel_change", "add_node")
    ctrl = Evolution(space, seed=4, population=4, sample=2, mutations=3, variant="tournament")
    kinds = [k for p in drive(ctrl, 40)[4:] for k in p.meta["mutations"]]
    assert set(kinds) == {"op_change", "kernel_change", "add_node"}  # all three applied, nothing else
    everything = [
        ss.SearchSpace(in_channels=1, input_size=8).mutate_with_info(g, random.Random(i))[1]
        for i, g in enumerate(p.genotype for p in drive(Evolution(SPACE, seed=4), 30))
    ]
    assert set(everything) - {"op_change", "kernel_change", "add_node"}  # the default draws the other kinds too


def test_unknown_mutation_kinds_are_named():
    with pytest.raises(ss.GenotypeError, match=r"unknown mutation 'grow'; known: op_change, .*, seeds \(op_change"):
        ss.SearchSpace(mutation_kinds=("grow",))


def test_failures_do_not_enter_the_population():
    ctrl = Evolution(SPACE, seed=0, population=4, sample=2)
    for status in ("diverged", "oom", "invalid", "error", "timeout", "rejected"):
        p = ctrl.ask()
        ctrl.tell(p.trial_id, status, {"error": "x"})
    assert ctrl.population == []
    assert ctrl.told == 6


def test_same_seed_same_proposals():
    a = [p.genotype for p in drive(Evolution(SPACE, seed=7, population=4, sample=2), 12)]
    b = [p.genotype for p in drive(Evolution(SPACE, seed=7, population=4, sample=2), 12)]
    c = [p.genotype for p in drive(Evolution(SPACE, seed=8, population=4, sample=2), 12)]
    assert a == b and a != c


@pytest.mark.parametrize("name", ["evolution", "random"])
def test_state_round_trip_continues_identically(name):
    original = make_controller(name, SPACE, seed=3, **({"population": 5, "sample": 3} if name == "evolution" else {}))
    drive(original, 9)
    state = json.loads(json.dumps(original.state_dict()))  # through JSON, as on disk
    restored = make_controller(name, SPACE, seed=999)
    restored.load_state_dict(state)
    assert restored.state_dict() == original.state_dict()
    assert [p.genotype for p in drive(original, 6)] == [p.genotype for p in drive(restored, 6)]


def test_telling_twice_is_a_no_op_and_unknown_trials_can_be_replayed():
    ctrl = Evolution(SPACE, seed=0, population=3, sample=2)
    p = ctrl.ask()
    ctrl.tell(p.trial_id, "ok", {"val_acc": 0.5, "params": 10})
    ctrl.tell(p.trial_id, "ok", {"val_acc": 0.9, "params": 10})
    assert len(ctrl.population) == 1 and ctrl.population[0]["metrics"]["val_acc"] == 0.5
    fresh = Evolution(SPACE, seed=0, population=3, sample=2)
    fresh.tell("00042", "ok", {"val_acc": 0.7, "params": 3}, genotype=p.genotype)  # a resumed search replaying
    assert fresh.population[0]["trial_id"] == "00042"


def test_pareto_ranking_prefers_non_dominated_members():
    ctrl = Evolution(SPACE, seed=0, population=4, sample=4, objectives={"val_acc": "max", "params": "min"})
    ps = [ctrl.ask() for _ in range(4)]
    metrics = [(0.90, 1000), (0.80, 100), (0.85, 5000), (0.70, 2000)]  # the last two are dominated
    for p, (acc, params) in zip(ps, metrics, strict=True):
        ctrl.tell(p.trial_id, "ok", {"val_acc": acc, "params": params})
    front = {ps[0].trial_id, ps[1].trial_id}
    parents = {ctrl.ask().parents[0] for _ in range(20)}
    assert parents <= front
    ctrl_single = Evolution(SPACE, seed=0, population=4, sample=4)
    for p, (acc, params) in zip([ctrl_single.ask() for _ in range(4)], metrics, strict=True):
        ctrl_single.tell(p.trial_id, "ok", {"val_acc": acc, "params": params})
    assert ctrl_single.ask().parents == (ctrl_single.population[0]["trial_id"],)  # 0.90 is the best scalar


def test_async_evolution_proposes_while_trials_are_outstanding():
    ctrl = Evolution(SPACE, seed=0, population=4, sample=2)
    outstanding = [ctrl.ask() for _ in range(10)]  # nothing told yet: all initial/random, never blocks
    assert len({p.trial_id for p in outstanding}) == 10
    ctrl.tell(outstanding[0].trial_id, "ok", {"val_acc": 0.5, "params": 1})
    child = ctrl.ask()
    assert child.parents == (outstanding[0].trial_id,)


def test_evolution_starts_from_zoo_genotypes():
    space = ss.SearchSpace(input_size=32)
    seeds = [ss.zoo.get("allcnn_c"), ss.zoo.get("highway_cnn")]
    ctrl = Evolution(space, seed=0, population=4, sample=2, init=seeds, init_names=["allcnn_c", "highway_cnn"])
    first, second, third = ctrl.ask(), ctrl.ask(), ctrl.ask()
    assert first.genotype == seeds[0] and first.meta == {"origin": "init", "zoo": "allcnn_c"}
    assert second.genotype == seeds[1] and third.meta["origin"] == "random"


def test_random_search_is_seeded_and_independent_of_results():
    a = [p.genotype for p in drive(RandomSearch(SPACE, seed=5), 5)]
    b = RandomSearch(SPACE, seed=5)
    assert [b.ask().genotype for _ in range(5)] == a


@pytest.mark.parametrize("sampler", ["tpe", "nsga2"])
def test_optuna_study_survives_a_restart(tmp_path, sampler):
    storage = tmp_path / "optuna.journal"
    objectives = {"val_acc": "max", "params": "min"} if sampler == "nsga2" else None
    ctrl = OptunaSearch(SPACE, seed=0, objectives=objectives, sampler=sampler, storage=storage, population=4)
    drive(ctrl, 8)
    hanging = ctrl.ask()  # the process dies with this trial running
    state = json.loads(json.dumps(ctrl.state_dict()))
    again = OptunaSearch(SPACE, seed=0, objectives=objectives, sampler=sampler, storage=storage, population=4)
    again.load_state_dict(state)
    assert len(again.study.trials) >= 9
    dropped = again.drop_pending()
    assert hanging.trial_id in dropped
    states = [t.state.name for t in again.study.trials]
    assert "RUNNING" not in states
    assert states.count("COMPLETE") == 8
    drive(again, 4)
    assert [t.state.name for t in again.study.trials].count("COMPLETE") == 12


def test_optuna_drives_the_same_space_through_the_chooser(tmp_path):
    ctrl = OptunaSearch(SPACE, seed=0, sampler="tpe", storage=tmp_path / "s.journal")
    p = ctrl.ask()
    trial = ctrl.study.trials[-1]
    assert "width" in trial.params and any(k.endswith(".wiring") for k in trial.params)
    SPACE.validate(p.genotype)


def test_failed_trials_are_failures_in_optuna(tmp_path):
    ctrl = OptunaSearch(SPACE, seed=0, sampler="tpe", storage=tmp_path / "s.journal")
    p = ctrl.ask()
    ctrl.tell(p.trial_id, "diverged", {"error": "nan"})
    assert ctrl.study.trials[-1].state.name == "FAIL"


def test_bad_options_raise():
    with pytest.raises(ValueError, match="variant must be one of"):
        Evolution(SPACE, variant="steady")
    with pytest.raises(ValueError, match="population >= 2"):
        Evolution(SPACE, population=1)
    with pytest.raises(ValueError, match="unknown controller 'bayes'"):
        make_controller("bayes", SPACE)
    with pytest.raises(ValueError, match="objective 'val_acc' must be 'max' or 'min'"):
        RandomSearch(SPACE, objectives={"val_acc": "up"})


def test_random_proposals_are_random_search_of_the_space():
    rng_space = ss.SearchSpace(in_channels=1, input_size=8, ops=("conv", "maxpool"))
    ctrl = RandomSearch(rng_space, seed=0)
    ops = {n.op for _ in range(20) for s in ctrl.ask().genotype.stages for n in s.nodes}
    assert ops == {"conv", "maxpool"}
    assert random.Random(0).random() == random.Random(0).random()  # the module's rng is untouched


# ------------------------------------------------------------------ local search


def _cell_space():
    return ss.SearchSpace(
        ops=("conv", "maxpool", "identity"), wirings=("free",), stages=(2, 2), nodes=(2, 3), widths=(8,),
        head_hidden=(0,), head_dropout=(0.0,), param_search=(("conv", "kernel", (3,)),), cell=True, closed=True,
        in_channels=1, num_classes=10, input_size=8,
    )  # fmt: skip


def _convs(g) -> float:
    return sum(n.op == "conv" for n in g.stages[0].nodes) / len(g.stages[0].nodes)


def test_local_search_climbs_from_the_best_start_and_restarts_at_a_local_optimum():
    from nas.controllers import LocalSearch

    ctrl = LocalSearch(_cell_space(), seed=0, init=3, patience=4)
    starts = [ctrl.ask() for _ in range(3)]
    assert all(p.meta == {"origin": "random"} for p in starts)
    for p in starts:
        ctrl.tell(p.trial_id, "ok", {"val_acc": _convs(p.genotype), "params": 1})
    best = max(starts, key=lambda p: (_convs(p.genotype), -int(p.trial_id)))
    assert ctrl.center["trial_id"] == best.trial_id
    scores = [_convs(best.genotype)]
    for _ in range(40):  # climbing: every proposal is a neighbour of the centre; the centre only improves
        p = ctrl.ask()
        assert p.parents == (ctrl.center["trial_id"],) and ctrl.space.contains(p.genotype)
        ctrl.tell(p.trial_id, "ok", {"val_acc": _convs(p.genotype), "params": 1})
        scores.append(ctrl.center["score"][0])
        if scores[-1] == 1.0:
            break
    assert scores == sorted(scores) and scores[-1] == 1.0  # all-conv cells are the optimum of this landscape
    for _ in range(4):  # no neighbour can beat it: after `patience` of them the climb restarts
        p = ctrl.ask()
        ctrl.tell(p.trial_id, "ok", {"val_acc": _convs(p.genotype) - 0.5, "params": 1})
    assert ctrl.center is None
    restart = ctrl.ask()
    assert restart.meta == {"origin": "random"} and ctrl.restart_id == restart.trial_id
    ctrl.tell(restart.trial_id, "ok", {"val_acc": 0.1, "params": 1})
    assert ctrl.center["trial_id"] == restart.trial_id and ctrl.climbs == 1  # a worse start is taken all the same


def test_local_search_state_round_trips_mid_climb():
    from nas.controllers import LocalSearch

    def drive(ctrl, n):
        out = []
        for _ in range(n):
            p = ctrl.ask()
            ctrl.tell(p.trial_id, "ok", {"val_acc": _convs(p.genotype), "params": len(p.genotype.stages[0].nodes)})
            out.append(p.genotype.fingerprint())
        return out

    a = LocalSearch(_cell_space(), seed=4, init=2, patience=3)
    drive(a, 9)
    b = LocalSearch(_cell_space(), seed=99, init=5, patience=50)
    b.load_state_dict(json.loads(json.dumps(a.state_dict())))
    assert drive(b, 15) == drive(a, 15)


def test_the_cli_offers_every_controller():
    from nas.cli import SEARCH_OPTIONS
    from nas.controllers import CONTROLLERS

    assert SEARCH_OPTIONS["--controller"][1]["choices"] == list(CONTROLLERS)


def test_a_state_saved_with_every_trial_id_still_loads():
    ctrl = make_controller("random", SPACE, seed=0)
    for _ in range(3):
        p = ctrl.ask()
        ctrl.tell(p.trial_id, "ok", {"val_acc": 0.5})
    state = ctrl.state_dict()
    assert "observed" not in state and (state["told"], state["last_told"]) == (3, "00003")
    old = {k: v for k, v in state.items() if k not in ("told", "last_told")} | {"observed": ["00001", "00002", "00003"]}
    again = make_controller("random", SPACE, seed=0)
    again.load_state_dict(old)  # the format before 2026-11-30
    assert (again.told, again.last_told) == (3, "00003")


def test_local_search_restarts_even_when_results_of_the_old_climb_arrive_late():
    from nas.controllers import LocalSearch

    ctrl = LocalSearch(_cell_space(), seed=0, init=1, patience=1)
    p = ctrl.ask()
    ctrl.tell(p.trial_id, "ok", {"val_acc": 0.5, "params": 1})
    a, b = ctrl.ask(), ctrl.ask()  # two neighbours outstanding
    ctrl.tell(a.trial_id, "ok", {"val_acc": 0.4, "params": 1})  # no better: the climb ends (patience 1)
    assert ctrl.center is None and ctrl.restarting
    ctrl.tell(b.trial_id, "ok", {"val_acc": 0.1, "params": 1})  # late, and from the old climb: ignored
    assert ctrl.center is None
    lost = ctrl.ask()
    assert ctrl.restart_id == lost.trial_id
    ctrl.drop_pending()  # a resumed search: the restart never reported
    again = ctrl.ask()
    assert ctrl.restart_id == again.trial_id
    ctrl.tell(again.trial_id, "ok", {"val_acc": 0.05, "params": 1})
    assert ctrl.center["trial_id"] == again.trial_id and not ctrl.restarting


# ------------------------------------------------------------------ the predictor (BANANAS-like)

NB201 = ss.SearchSpace(template="nb201", num_classes=100)


def conv_score(genotype) -> float:
    """A smooth stand-in on NAS-Bench-201's cells: 3x3 convs help, cut edges hurt, plus a fixed per-cell jitter."""
    from searchspace import nb201

    ops = nb201.ops_of(genotype)
    jitter = (int(genotype.fingerprint()[:4], 16) % 100) / 2000
    return 0.1 * ops.count("nor_conv_3x3") - 0.05 * ops.count("none") + jitter


def drive_score(ctrl, n: int, score=conv_score) -> list:
    out = []
    for _ in range(n):
        p = ctrl.ask()
        ctrl.tell(p.trial_id, "ok", {"val_acc": score(p.genotype), "params": 1})
        out.append(p)
    return out


def test_the_predictor_finds_what_its_model_learns_faster_than_random_search():
    from nas.controllers import Predictor

    best_pred, best_rand = [], []
    for seed in range(3):
        pred = drive_score(Predictor(NB201, seed=seed, init=10, candidates=60, batch=10), 40)
        rand = drive_score(RandomSearch(NB201, seed=seed), 40)
        best_pred.append(max(conv_score(p.genotype) for p in pred))
        best_rand.append(max(conv_score(p.genotype) for p in rand))
        assert [p.meta["origin"] for p in pred[:10]] == ["random"] * 10
        assert all(p.meta["origin"] == "predictor" for p in pred[10:])
        assert len({p.genotype.fingerprint() for p in pred}) == 40  # never an architecture it had already
    assert min(best_pred) > max(best_rand) and min(best_pred) >= 0.5  # five or six 3x3 convs; random: < 0.4


def test_the_predictor_resumes_from_its_state_and_the_replayed_record():
    from nas.controllers import Predictor

    original = Predictor(SPACE, seed=4, init=5, candidates=20, batch=4)
    results: dict[str, float] = {}
    made = drive(original, 12, results)
    state = json.loads(json.dumps(original.state_dict()))
    assert state["told"] == 0 and "history" not in state  # the record, replayed, is the predictor's data
    restored = Predictor(SPACE, seed=99)
    restored.load_state_dict(state)
    for p in made:  # what `nas.driver.resume.restore_controller` does with the rows after `told`
        restored.tell(p.trial_id, "ok", {"val_acc": results[p.trial_id], "params": ss.count_params(p.genotype, 1, 10)},
                      p.genotype)  # fmt: skip
    assert [p.genotype for p in drive(original, 6)] == [p.genotype for p in drive(restored, 6)]


def test_the_predictor_ranks_by_front_improvement_with_known_costs():
    from nas.controllers import Predictor
    from searchspace import nb201

    ctrl = Predictor(NB201, seed=0, objectives={"val_acc": "max", "params": "min"}, init=8, candidates=40, batch=6)
    asked, named = [], set()
    ctrl.costs = lambda genotypes, names: (
        asked.extend(genotypes)
        or named.update(names)
        or [{"params": float(ss.count_params(g, 3, 100))} for g in genotypes]
    )
    for _ in range(20):
        p = ctrl.ask()
        ops = nb201.ops_of(p.genotype)
        ctrl.tell(p.trial_id, "ok", {"val_acc": conv_score(p.genotype), "params": ss.count_params(p.genotype, 3, 100)})
        assert len(ops) == 6
    assert asked and ctrl.rounds >= 2  # the costs were asked for, before training, for each round's candidates
    assert named == {"params"}  # and only the ones it optimizes (FLOPs cost a forward pass on the meta device)
    with pytest.raises(ValueError, match="predictor needs init >= 2"):
        Predictor(NB201, init=1)
