"""The genotype IR: JSON round trips, clear errors for everything that cannot be built, fingerprints."""

import json
import random

import pytest

import searchspace as ss
from searchspace import wirings
from searchspace.genotype import Genotype, GenotypeError, Head, Node, Stage, Wiring


def small() -> Genotype:
    stem = Stage(16, (ss.node("conv"),))
    s1 = wirings.make_stage("residual", [ss.node("conv"), ss.node("sepconv"), ss.node("maxpool")], 16, 1)
    s2 = wirings.make_stage("ws", [ss.node("sepconv", order="act_first")] * 6, 32, 2, k=2, p=0.5, seed=7)
    return Genotype(stem, (s1, s2), Head(1, (32,), 0.1))


def with_stage(g: Genotype, stage: Stage, i: int = 0) -> Genotype:
    stages = list(g.stages)
    stages[i] = stage
    return g.replace(stages=stages)


def test_json_round_trip_is_exact_and_hashable():
    g = small()
    text = g.to_json(indent=2)
    back = Genotype.from_json(text)
    assert back == g and hash(back) == hash(g)
    assert Genotype.from_dict(json.loads(text)) == g
    assert json.loads(back.to_json()) == json.loads(text)


def test_zoo_and_sampled_genotypes_round_trip():
    space = ss.SearchSpace()
    for g in [ss.zoo.get(n) for n in ss.zoo.names()] + [space.sample(random.Random(s)) for s in range(30)]:
        assert Genotype.from_json(g.to_json()) == g


@pytest.mark.parametrize(
    "text, message",
    [
        ("{", "not valid JSON"),
        ("[]", "genotype: must be an object"),
        ('{"stem": {"width": 8, "nodes": []}}', "missing 'stages'"),
        ('{"stem": {"width": "8", "nodes": []}, "stages": []}', r"stem.width: must be an integer, got str"),
        ('{"stem": {"width": 8, "nodes": [{"op": 3}]}, "stages": []}', "stem node 0.op: must be a string"),
        ('{"stem": {"width": 8, "nodes": [{"op": "conv", "inputs": "x"}]}, "stages": []}', "'inputs' must be a list"),
        ('{"stem": {"width": 8, "nodes": [{"op": "conv", "params": {"k": [1]}}]}, "stages": []}', "must be a number"),
        ('{"stem": {"width": true, "nodes": []}, "stages": []}', "must be an integer, got bool"),
        ('{"stem": {"width": 8, "nodes": []}, "stages": [], "evil": 1}', "unknown field 'evil'"),
        ("[" * 100000 + "]" * 100000, "nested too deeply"),
    ],
)
def test_malformed_json_raises_one_clear_error(text, message):
    with pytest.raises(GenotypeError, match=message):
        Genotype.from_json(text)


def test_oversized_json_is_refused_before_parsing():
    with pytest.raises(GenotypeError, match="at most"):
        Genotype.from_json(" " * (9 * 1024 * 1024))


def test_unknown_op_names_stage_node_and_known_ops():
    g = small()
    bad = g.stages[0].nodes[1].replace(op="warp_drive")
    g = with_stage(g, g.stages[0].replace(nodes=[g.stages[0].nodes[0], bad, g.stages[0].nodes[2]]))
    with pytest.raises(GenotypeError, match="stage 1 node 1: unknown op 'warp_drive'; known ops: .*conv"):
        ss.validate(g)


def test_cycle_is_reported_with_its_path():
    nodes = (Node("conv", (-1, 2)), Node("conv", (0,)), Node("conv", (1,)))
    g = Genotype(Stage(8, (Node("conv"),)), (Stage(8, nodes),))
    with pytest.raises(
        GenotypeError,
        match=r"stage 1: the graph has a cycle through nodes (0 -> 1 -> 2 -> 0|1 -> 2 -> 0 -> 1|2 -> 0 -> 1 -> 2)",
    ):
        ss.validate(g)


def test_self_loop_missing_input_duplicate_input_and_dangling_node():
    stem = Stage(8, (Node("conv"),))
    cases = [
        (Stage(8, (Node("conv", (0,)),)), "reads itself"),
        (Stage(8, (Node("conv", ()),)), "has no inputs"),
        (Stage(8, (Node("conv", (5,)),)), "input 5 does not exist"),
        (Stage(8, (Node("conv", (-1, -1)),)), "lists an input twice"),
        (Stage(8, (Node("conv"), Node("conv")), outputs=(0,)), "node 1: dangling"),
        (Stage(8, (Node("conv"),), outputs=(3,)), "output 3 does not exist"),
    ]
    for stage, message in cases:
        with pytest.raises(GenotypeError, match=message):
            ss.validate(Genotype(stem, (stage,)))


@pytest.mark.parametrize(
    "node, message",
    [
        (Node("conv", params=(("kernel", 4),)), "parameter 'kernel' of op 'conv' must be odd"),
        (Node("conv", params=(("kernel", 99),)), r"must be in \[1, 15\]"),
        (Node("conv", params=(("norm", "layer"),)), "must be one of bn, gn, lrn, none"),
        (Node("dropout", params=(("p", "half"),)), "must be a finite number"),
        (Node("conv", params=(("stride", 2),)), "has no parameter 'stride'"),
        (Node("conv", width=10**9), r"width must be in \[0, 16384\]"),
        (Node("maxpool", width=8), "keeps its input width"),
        (Node("conv", merge="product"), "merge must be one of"),
    ],
)
def test_bad_parameters_name_the_rule(node, message):
    g = Genotype(Stage(8, (Node("conv"),)), (Stage(8, (node,)),))
    with pytest.raises(GenotypeError, match=message):
        ss.validate(g)


def test_bad_stage_and_head_fields():
    stem = Stage(8, (Node("conv"),))
    cases = [
        (Genotype(stem, (Stage(0, (Node("conv"),)),)), r"stage 1: width must be in \[1, 16384\]"),
        (Genotype(stem, (Stage(8, (Node("conv"),), stride=0),)), "stride must be in"),
        (Genotype(stem, (Stage(8, ()),)), "must have 1 to 512 nodes"),
        (Genotype(stem, (Stage(8, (Node("conv"),), out_merge="max"),)), "out_merge must be one of"),
        (Genotype(stem, (Stage(8, (Node("conv"),), wiring=Wiring("grid")),)), "wiring kind must be one of"),
        (Genotype(stem, (), Head(pool_size=0)), "head: pool_size"),
        (Genotype(stem, (), Head(dropout=1.5)), "head: dropout"),
        (Genotype(stem, (), Head(hidden=(0,))), "head: hidden width"),
        (Genotype(stem, (), Head(act="softmax")), "head: act must be one of"),
    ]
    for g, message in cases:
        with pytest.raises(GenotypeError, match=message):
            ss.validate(g)


def test_downsampling_below_one_pixel_names_the_node():
    pool = ss.node("maxpool", kernel=2, padding=0)
    stages = tuple(Stage(8, (pool,), stride=2) for _ in range(4))
    g = Genotype(Stage(8, (Node("conv"),)), stages)
    ss.validate(g, input_size=16)  # 16 -> 8 -> 4 -> 2 -> 1
    with pytest.raises(GenotypeError, match=r"stage 4 node 0: op 'maxpool' takes the resolution from 1x1 to 0x0"):
        ss.validate(g, input_size=8)


def test_mismatched_sizes_at_a_merge_are_reported_at_that_input_size():
    # floor-mode pooling and a 'same' conv disagree on odd sizes; the merge of both is caught there
    a = ss.node("maxpool", kernel=2, padding=0)
    b = ss.node("conv")
    merge = Node("identity", (0, 1))
    g = Genotype(Stage(8, (Node("conv"),)), (Stage(8, (a, b, merge), stride=2),))
    ss.validate(g, input_size=16)
    with pytest.raises(GenotypeError, match="inputs arrive with different spatial sizes"):
        ss.validate(g, input_size=15)


def test_generated_wiring_must_match_its_genes():
    g = small()
    s2 = g.stages[1]
    nodes = list(s2.nodes)
    nodes[-1] = nodes[-1].replace(inputs=(-1,))
    with pytest.raises(GenotypeError, match="stage 2: edges do not match its 'ws' wiring"):
        ss.validate(with_stage(g, s2.replace(nodes=nodes), 1))
    ss.validate(with_stage(g, s2.replace(nodes=nodes, wiring=Wiring()), 1))  # custom is fine


def test_ws_wiring_is_reproducible_and_oriented():
    a = wirings.watts_strogatz(16, 4, 0.75, seed=3)
    b = wirings.watts_strogatz(16, 4, 0.75, seed=3)
    c = wirings.watts_strogatz(16, 4, 0.75, seed=4)
    assert a == b and a != c
    for i, ins in enumerate(a.inputs):
        assert all(j < i for j in ins)
    assert a.merge == "wsum" and a.out_merge == "mean"


# ------------------------------------------------------------------ fingerprints


def relabel(stage: Stage, perm: list[int]) -> Stage:
    """The same graph with node i stored at position perm[i]."""
    inv = {old: new for new, old in enumerate(perm)}
    inv[-1] = -1
    nodes = [None] * len(stage.nodes)
    for old, node in enumerate(stage.nodes):
        nodes[inv[old]] = node.replace(inputs=tuple(inv[j] for j in node.inputs))
    return stage.replace(nodes=nodes, outputs=tuple(inv[j] for j in stage.outputs), wiring=Wiring())


def test_fingerprint_is_invariant_to_relabelling():
    g = small()
    rng = random.Random(0)
    for _ in range(10):
        stage = g.stages[1]
        perm = list(range(len(stage.nodes)))
        rng.shuffle(perm)
        h = with_stage(g, relabel(stage, perm), 1)
        ss.validate(h)
        assert h != g
        assert h.fingerprint() == g.fingerprint()
        assert ss.same_architecture(g, h)


def test_fingerprint_ignores_spelled_out_defaults():
    a = Genotype(Stage(8, (Node("conv"),)), (Stage(8, (Node("conv"),)),))
    b = Genotype(Stage(8, (Node("conv", params=(("kernel", 3),)),)), (Stage(8, (Node("conv", width=8),)),))
    assert a != b and a.fingerprint() == b.fingerprint()


def test_fingerprint_changes_with_any_architectural_change():
    g = small()
    s1 = g.stages[0]
    variants = [
        with_stage(g, s1.replace(nodes=[s1.nodes[0].replace(params=(("kernel", 5),)), *s1.nodes[1:]])),
        with_stage(g, s1.replace(nodes=[s1.nodes[0].replace(op="dilated"), *s1.nodes[1:]])),
        with_stage(g, s1.replace(width=24)),
        with_stage(g, s1.replace(stride=2)),
        with_stage(g, s1.replace(out_merge="mean")),
        with_stage(g, s1.replace(nodes=[*s1.nodes[:2], s1.nodes[2].replace(inputs=(1,))], wiring=Wiring())),
        g.replace(head=Head(1, (64,), 0.1)),
        g.replace(stem=Stage(24, (ss.node("conv"),))),
    ]
    prints = {v.fingerprint() for v in variants} | {g.fingerprint()}
    assert len(prints) == len(variants) + 1


def test_fingerprints_of_sampled_genotypes_collide_only_for_equal_architectures():
    space = ss.SearchSpace()
    seen: dict[str, Genotype] = {}
    for seed in range(150):
        g = space.sample(random.Random(seed))
        fp = g.fingerprint()
        if fp in seen:
            assert ss.same_architecture(seen[fp], g)
        seen[fp] = g
    assert len(seen) > 140


def test_same_architecture_is_exact_where_the_hash_is_not():
    # Two non-isomorphic 2-regular layouts (a 6-cycle vs two 3-cycles) with identical labels: 1-WL
    # cannot separate them; the exact test can. Built as DAGs from the input through all nodes.
    def ring_stage(cycles: list[list[int]]) -> Stage:
        n = sum(len(c) for c in cycles)
        preds: dict[int, set[int]] = {i: set() for i in range(n)}
        for c in cycles:
            for a, b in zip(c, c[1:] + c[:1], strict=True):
                lo, hi = min(a, b), max(a, b)
                preds[hi].add(lo)
        nodes = [Node("conv", tuple(sorted(preds[i])) or (-1,), merge="sum") for i in range(n)]
        return Stage(8, tuple(nodes))

    a = Genotype(Stage(8, (Node("conv"),)), (ring_stage([[0, 1, 2, 3, 4, 5]]),))
    b = Genotype(Stage(8, (Node("conv"),)), (ring_stage([[0, 1, 2], [3, 4, 5]]),))
    assert not ss.same_architecture(a, b)
    assert ss.same_architecture(a, a)
