"""Zero-cost proxies (`nas.trial.proxies`), warm-up and the proxy filter, and weight inheritance (`nas.trial.inherit`)."""

import json
import math
import random
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import searchspace as ss
from nas.controllers import Evolution, LocalSearch, RandomSearch
from nas.data import load_dataset
from nas.record import results
from nas.trial import proxies
from nas.trial.inherit import inherit
from nas.trial.proxies import PROXIES, ProxyBatch, Scorer, score
from searchspace.genotype import Genotype

ROOT = Path(__file__).resolve().parents[2]
SPACE = ss.SearchSpace(in_channels=1, input_size=8, widths=(8, 16))


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", val_fraction=0.3, limit=300)


@pytest.fixture(scope="module")
def batch(digits):
    return ProxyBatch.of(digits, size=16, seed=0)


def one_op_genotype(op: str, seed: int = 0) -> Genotype:
    """A sampled genotype that uses `op` (the space restricted to it, and conv where it cannot downsample)."""
    space = ss.SearchSpace(
        in_channels=1, input_size=8, widths=(8,), stages=(1, 2), nodes=(1, 3), ops=tuple(dict.fromkeys((op, "conv")))
    )
    rng = random.Random(seed)
    return next(
        g for g in (space.sample(rng) for _ in range(200)) if op in {n.op for s in g.all_stages() for n in s.nodes}
    )


@pytest.mark.parametrize("op", ss.registry.names())
def test_every_proxy_is_a_finite_number_for_every_op(op, batch):
    g = one_op_genotype(op)
    scores = score(g, batch)
    assert list(scores) == list(PROXIES)
    assert all(math.isfinite(scores[n]) for n in PROXIES), scores  # every proxy, label-free or not, every op
    assert scores["params"] == ss.count_params(g, 1, 10)


def test_synflow_ignores_the_data_and_batchnorm_does_not_divide_it_away(digits):
    g = one_op_genotype("conv")
    a = score(g, ProxyBatch.of(digits, 16, seed=0), ("synflow",), seed=3)["synflow"]
    b = score(g, ProxyBatch.of(digits, 16, seed=1), ("synflow",), seed=3)["synflow"]
    assert a == b and a > 1.0  # an all-ones input: the batch does not matter; BN in eval mode keeps the signal


def test_scores_leave_the_callers_random_state_alone_and_repeat_exactly(batch):
    g = one_op_genotype("res_basic")
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    first = score(g, batch, seed=5)
    assert torch.equal(torch.rand(3), expected)
    assert score(g, batch, seed=5) == first
    assert score(g, batch, seed=6)["snip"] != first["snip"]  # another initialisation, another score


def test_a_network_that_outputs_nan_at_init_scores_nan(batch, monkeypatch):
    real_build = ss.build

    def poisoned(*args, **kwargs):
        model = real_build(*args, **kwargs)
        torch.nn.init.constant_(_last_linear(model), math.nan)
        return model

    monkeypatch.setattr(proxies.ss, "build", poisoned)
    scores = score(one_op_genotype("conv"), batch, ("grad_norm", "snip", "synflow"))
    assert all(math.isnan(v) for v in scores.values()), scores


def _last_linear(model):
    return [m for m in model.modules() if isinstance(m, torch.nn.Linear)][-1].weight


def test_loss_proxies_need_class_labels(batch):
    regression = ProxyBatch(batch.x, torch.randn(len(batch.x), 10), 10)
    scores = score(one_op_genotype("conv"), regression, ("grad_norm", "snip", "synflow", "naswot"))
    assert math.isnan(scores["grad_norm"]) and math.isnan(scores["snip"])
    assert math.isfinite(scores["synflow"]) and math.isfinite(scores["naswot"])


def test_proxy_names_are_checked():
    assert proxies.parse("all") == PROXIES
    assert proxies.parse("snip, synflow,snip") == ("snip", "synflow")
    with pytest.raises(ValueError, match="unknown proxy 'zen'; proxies: synflow, grad_norm"):
        proxies.parse("synflow,zen")


def test_the_scorer_caches_by_architecture(digits):
    scorer = Scorer("synflow", digits, seed=0)
    g = one_op_genotype("conv")
    isomorph = Genotype.from_dict(g.to_dict())
    assert scorer([g]) == scorer([isomorph]) and len(scorer.cache) == 1
    assert scorer.seconds > 0


# ------------------------------------------------------------------ warm-up and filter (controllers)


def params_score(genotypes):
    """A deterministic proxy for the controller tests: fewer parameters score higher."""
    return [-float(ss.count_params(g, 1, 10)) for g in genotypes]


def test_evolution_warm_up_starts_from_the_proxys_best_of_n():
    ctrl = Evolution(SPACE, seed=0, population=4, sample=2, warmup=30)
    ctrl.scorer = params_score
    first = [ctrl.ask() for _ in range(4)]
    twin = Evolution(SPACE, seed=0, population=4, sample=2)  # the same seed draws the same 30 architectures
    pool = {}
    for _ in range(30 * 4):
        g = SPACE.sample(twin.rng)
        pool.setdefault(g.fingerprint(), g)
        if len(pool) == 30:
            break
    best = sorted(pool.values(), key=lambda g: ss.count_params(g, 1, 10))[:4]
    assert [p.genotype.fingerprint() for p in first] == [g.fingerprint() for g in best]
    assert all(p.meta["origin"] == "warmup" and p.meta["proxy"] == params_score([p.genotype])[0] for p in first)
    fifth = ctrl.ask()  # the population is empty (nothing told): random, no longer from the warm-up
    assert fifth.meta["origin"] == "random"


def test_warm_up_is_part_of_the_state_and_is_not_recomputed():
    ctrl = LocalSearch(SPACE, seed=1, init=3, warmup=12)
    ctrl.scorer = params_score
    ctrl.ask()
    state = json.loads(json.dumps(ctrl.state_dict()))
    assert len(state["warm"]) == 2 and state["warmup"] == 12
    again = LocalSearch(SPACE, seed=1, init=3, warmup=12)  # no scorer: a restored warm-up needs none
    again.load_state_dict(state)
    assert [again.ask().genotype.fingerprint() for _ in range(2)] == [
        ctrl.ask().genotype.fingerprint() for _ in range(2)
    ]


def test_the_proxy_filter_proposes_the_best_candidate_not_one_already_in_hand():
    ctrl = RandomSearch(SPACE, seed=2, proxy_filter=8)
    ctrl.scorer = params_score
    seen, sizes = [], []
    for _ in range(6):
        p = ctrl.ask()  # none told: every earlier proposal is outstanding, so none is proposed again
        assert p.meta["candidates"] == 8 and p.meta["proxy"] == params_score([p.genotype])[0]
        seen.append(p.genotype.fingerprint())
        sizes.append(ss.count_params(p.genotype, 1, 10))
    assert len(set(seen)) == 6
    plain = RandomSearch(SPACE, seed=2)
    plain_sizes = [ss.count_params(plain.ask().genotype, 1, 10) for _ in range(6)]
    assert sorted(sizes)[3] < sorted(plain_sizes)[3]  # the filter moved the median toward the proxy's choice


def test_a_controller_without_a_scorer_says_what_it_needs():
    ctrl = Evolution(SPACE, seed=0, population=4, sample=2, warmup=10)
    with pytest.raises(RuntimeError, match="need a scorer"):
        ctrl.ask()


# ------------------------------------------------------------------ inheritance


def net(stage: dict) -> Genotype:
    """Stem conv (8 wide) and one stage."""
    stem = {"width": 8, "stride": 1, "wiring": {"kind": "chain"}, "nodes": [{"op": "conv", "inputs": [-1]}]}
    return Genotype.from_dict({"stem": stem, "stages": [stage]})


def trained(genotype: Genotype) -> torch.nn.Module:
    """A built network whose weights differ from any fresh initialisation ("trained")."""
    torch.manual_seed(0)
    model = ss.build(genotype, 1, 10)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.rand_like(p))
    return model.eval()


def test_a_child_inherits_its_nodes_in_order_when_a_node_is_inserted_before_them():
    chain = {"width": 8, "stride": 2, "wiring": {"kind": "chain"}}
    parent = net(chain | {"nodes": [{"op": "conv", "inputs": [-1]}, {"op": "sepconv", "inputs": [0]}]})
    child = net(
        chain
        | {
            "nodes": [
                {"op": "conv", "inputs": [-1]},
                {"op": "res_basic", "inputs": [0]},
                {"op": "sepconv", "inputs": [1]},
            ]
        }
    )
    state = trained(parent).state_dict()
    model = ss.build(child, 1, 10)
    fresh = {k: v.clone() for k, v in model.state_dict().items()}
    share = inherit(model, state)
    got = model.state_dict()
    moved = [k for k in got if k.startswith("stages.0.nodes.2.")]
    assert moved and all(torch.equal(got[k], state[k.replace("nodes.2.", "nodes.1.")]) for k in moved)  # renumbered
    assert all(torch.equal(got[k], state[k]) for k in got if k.startswith(("stem.", "stages.0.nodes.0.", "head.")))
    new = [k for k in got if k.startswith("stages.0.nodes.1.")]
    assert all(torch.equal(got[k], fresh[k]) for k in new)  # the inserted block: its fresh initialisation
    params = dict(model.named_parameters())
    inherited = sum(p.numel() for k, p in params.items() if not k.startswith("stages.0.nodes.1."))
    assert share == pytest.approx(inherited / sum(p.numel() for p in params.values()))
    assert inherit(ss.build(child, 1, 10), {}) == 0.0


def test_an_added_branch_that_is_summed_starts_at_zero_so_the_child_computes_what_its_parent_did():
    residual = {"width": 8, "stride": 1, "wiring": {"kind": "residual"}}
    parent = net(residual | {"outputs": [-1, 0], "nodes": [{"op": "conv", "inputs": [-1]}]})
    child = net(
        residual | {"outputs": [-1, 0, 1], "nodes": [{"op": "conv", "inputs": [-1]}, {"op": "conv", "inputs": [-1, 0]}]}
    )
    old = trained(parent)
    model = ss.build(child, 1, 10)
    inherit(model, old.state_dict(), (1, 8, 8))
    x = torch.randn(5, 1, 8, 8)
    with torch.no_grad():
        assert torch.allclose(model.eval()(x), old(x), atol=1e-6)  # the added conv adds nothing yet
        plain = ss.build(child, 1, 10).eval()
        inherit(plain, old.state_dict())  # (without the input shape: no zeroing, another function)
        assert not torch.allclose(plain(x), old(x), atol=1e-3)


def run_cli(*args, cwd=ROOT):
    return subprocess.run(
        [sys.executable, str(ROOT / "launch.py"), *args], cwd=cwd, capture_output=True, text=True, timeout=600
    )


def test_a_search_with_warm_up_and_inheritance_records_proxies_and_lineage(tmp_path):
    root = tmp_path / "zc"
    args = ["search", "--engine", "local", "--trials", "9", "--epochs", "2", "--limit", "300", "--population", "3"]
    args += ["--sample", "2", "--warmup", "12", "--proxies", "synflow,naswot,params", "--inherit", "--child-epochs"]
    args += ["1", "--keep-weights", "none", "--results-dir", str(tmp_path), "--name", "zc"]
    done = run_cli(*args)
    assert done.returncode == 0, done.stderr[-3000:]
    df = results.load(root)
    trained = df[df["status"] == "ok"]
    # 9 trials ran; at --limit 300 and lr 0.2 a sampled network may diverge (a result like any other)
    assert df["status"].isin(["ok", "diverged", "duplicate"]).all() and len(df[df["status"] != "duplicate"]) == 9
    assert len(trained) >= 6, df["status"].tolist()
    for name in ("synflow", "naswot", "params"):
        assert trained[f"proxy_{name}"].notna().all()
    assert (trained["proxy_params"] == trained["params"]).all()
    meta = [json.loads(m) if isinstance(m, str) else m for m in df["meta"]]
    assert [m.get("origin") for m in meta[:3]] == ["warmup"] * 3
    children = trained[trained["parents"] != "[]"]
    heirs = children[children["inherited_from"].notna()]
    assert len(heirs) >= 3
    assert all(json.loads(p)[0] == f for p, f in zip(heirs["parents"], heirs["inherited_from"], strict=True))
    assert (heirs["epochs"] == 1).all() and (heirs["inherited"] > 0).all()
    assert (trained[trained["inherited_from"].isna()]["epochs"] == 2).all()
    state = json.loads((root / "state" / "controller.json").read_text())
    kept = {p.stem for p in (root / "weights").glob("*.safetensors")}
    assert kept == {m["trial_id"] for m in state["population"]}  # only what a child may still inherit
    shown = run_cli("show", str(root))
    assert f"zero-cost proxies vs val_acc, Spearman over {len(trained)} trained trials: " in shown.stdout
    assert "trials started from a parent's weights" in shown.stdout


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--controller", "tpe", "--warmup", "10"], "warmup must be 0 with controller tpe"),
        (["--controller", "random", "--inherit"], "inherit must be off with controller random"),
        (["--proxies", "synflow,zen"], "unknown proxy 'zen'"),
        (["--proxy", "zen", "--warmup", "5"], "invalid choice: 'zen'"),
    ],
)
def test_bad_proxy_and_inheritance_options_are_one_line(tmp_path, flags, message):
    done = run_cli("search", "--engine", "local", "--trials", "1", "--results-dir", str(tmp_path), *flags)
    assert done.returncode == 2
    assert message in done.stderr and len(done.stderr.strip().splitlines()) <= 2, done.stderr
    assert not any(tmp_path.iterdir())


def test_proxy_correlation_ranks_a_perfect_and_an_inverted_proxy():
    import pandas as pd

    df = pd.DataFrame(
        {
            "status": ["ok"] * 5 + ["diverged"],
            "val_acc": [0.1, 0.2, 0.3, 0.4, 0.5, None],
            "proxy_good": [1.0, 2.0, 3.0, 4.0, 5.0, 9.0],
            "proxy_bad": [5.0, 4.0, 3.0, 2.0, 1.0, 9.0],
        }
    )
    corr = results.proxy_correlation(df).set_index("proxy")
    assert corr.loc["good", "spearman"] == pytest.approx(1.0) and corr.loc["bad", "spearman"] == pytest.approx(-1.0)
    assert (corr["n"] == 5).all()
