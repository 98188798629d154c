"""NAS-Bench-201's space as genotypes: the exact map, isomorphism as NAS-Bench-201 counts it, sampling, mutation."""

from __future__ import annotations

import itertools
import random

import pytest

import searchspace as ss
from searchspace import nb201
from searchspace.choosers import RandomChooser
from searchspace.genotype import Genotype, GenotypeError

ALL = list(itertools.product(nb201.OPS, repeat=len(nb201.EDGES)))
SPACE = ss.SearchSpace(template="nb201", num_classes=100)


@pytest.fixture(scope="module")
def genotypes():
    return [nb201.genotype(ops) for ops in ALL]


def test_every_cell_maps_to_its_own_genotype_and_back(genotypes):
    assert len(ALL) == nb201.CELLS == 15625
    for ops, g in zip(ALL, genotypes, strict=True):
        text = nb201.arch_string(ops)
        assert nb201.parse_arch(text) == ops
        assert nb201.genotype(text) == g == nb201.genotype(nb201.code(ops))
        assert nb201.ops_of(g) == ops and SPACE.contains(g)
    assert len({g.fingerprint() for g in genotypes}) == 15625  # a table's key tells all of them apart
    for g in random.Random(0).sample(genotypes, 200):  # through JSON, as records and tables hold them
        back = Genotype.from_json(g.to_json())
        assert back == g and nb201.ops_of(back) == nb201.ops_of(g) and back.fingerprint() == g.fingerprint()


def test_isomorphic_cells_are_counted_as_nas_bench_201_counts_them(genotypes):
    # NAS-Bench-201 reports 6,466 unique architectures among the 15,625 cells (to_unique_str, consider_zero)
    assert len({nb201.unique_str(nb201.ops_of(g)) for g in genotypes}) == 6466
    # an edge reading node 1 when nothing reaches node 1 computes zeros, whatever its op
    a = nb201.parse_arch("|none~0|+|skip_connect~0|nor_conv_3x3~1|+|none~0|none~1|skip_connect~2|")
    b = nb201.parse_arch("|none~0|+|skip_connect~0|avg_pool_3x3~1|+|none~0|none~1|skip_connect~2|")
    assert nb201.unique_str(a) == nb201.unique_str(b) == "#+#+#+0"
    # skip edges pass their input on: a chain of them through nodes 1 and 2 computes what `a` computes
    chain = nb201.parse_arch("|skip_connect~0|+|none~0|skip_connect~1|+|none~0|none~1|skip_connect~2|")
    assert nb201.unique_str(chain) == "#+#+#+0" and nb201.unique_str(chain) == nb201.unique_str(a)


def test_the_genotype_is_nas_bench_201s_network():
    g = nb201.genotype(
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    )
    assert [len(s.nodes) for s in g.stages] == [45, 46, 47]  # 5 cells of 9 nodes; reduction block; BN + ReLU
    assert [s.width for s in g.stages] == [16, 32, 64] and [s.stride for s in g.stages] == [1, 2, 2]
    assert [g.stages[i].nodes[0].op for i in (1, 2)] == ["res_reduce", "res_reduce"]
    assert g.stages[2].nodes[-1].op == "norm" and g.stem.nodes[0].param("act") == "none"
    # parameter counts as NAS-Bench-201 records them (model size, CIFAR-10: 10 classes)
    assert ss.count_params(nb201.genotype(("none",) * 6), 3, 10) == 73306
    assert ss.count_params(g, 3, 10) == 1288506
    assert ss.count_params(nb201.genotype("421211"), 3, 10) == 129306


def test_sampling_asks_one_question_per_edge_and_stays_inside():
    asked = []

    class Recording(RandomChooser):
        def choose(self, name, options):
            asked.append((name, tuple(options)))
            return super().choose(name, options)

    g = SPACE.sample(Recording(random.Random(0)))
    assert [name for name, _ in asked] == list(nb201.decisions())
    assert all(options == nb201.OPS for _, options in asked)
    assert nb201.is_member(g)
    cells = {nb201.code_of(SPACE.sample(random.Random(seed))) for seed in range(400)}
    assert len(cells) > 380  # 400 draws from 15,625: a handful of repeats at most


def test_a_mutation_changes_exactly_one_edge_to_another_op():
    rng = random.Random(1)
    g = SPACE.sample(rng)
    for _ in range(200):
        child, kind = SPACE.mutate_with_info(g, rng)
        changed = [k for k, (a, b) in enumerate(zip(nb201.ops_of(g), nb201.ops_of(child), strict=True)) if a != b]
        assert kind == "op" and len(changed) == 1 and SPACE.contains(child)
        g = child
    assert len({c.fingerprint() for c in nb201.neighbours(g)}) == 24


def test_what_is_not_a_nas_bench_201_network_is_refused():
    g = nb201.genotype("333133")
    stage = g.stages[1]
    tampered = g.replace(stages=(g.stages[0], stage.replace(nodes=(stage.nodes[0], *stage.nodes[1:-1])), g.stages[2]))
    for other in (tampered, ss.zoo.get("resnet20"), g.replace(stages=g.stages[:2])):
        assert not SPACE.contains(other) and nb201.code_of(other) is None
        with pytest.raises(GenotypeError, match="not a NAS-Bench-201 network"):
            SPACE.validate(other)
        with pytest.raises(GenotypeError, match="not a NAS-Bench-201 network"):
            SPACE.mutate(other, random.Random(0))
    for bad in ("|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|", "|none~0|", "012345", "33313"):
        with pytest.raises(GenotypeError, match="NAS-Bench-201"):
            nb201.genotype(bad)
    with pytest.raises(GenotypeError, match="template must be one of nb201"):
        ss.SearchSpace(template="nb101")


def test_grid_walks_all_15625_cells():
    from nas.controllers.grid import count

    assert count(SPACE) == (15625, 15625)
