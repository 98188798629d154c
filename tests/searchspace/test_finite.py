"""Finite spaces: free (any-DAG) stages, stacked cells, membership, closed mutation, and the grid walk."""

from __future__ import annotations

import itertools
import random

import pytest

from searchspace import members, registry
from searchspace.choosers import GridChooser, TooLarge
from searchspace.fingerprint import same_architecture
from searchspace.genotype import INPUT, Genotype, Stage
from searchspace.space import SearchSpace

CELL = dict(
    wirings=("free",),
    stages=(2, 2),
    widths=(8,),
    head_hidden=(0,),
    head_dropout=(0.0,),
    param_search=(("conv", "kernel", (3,)),),
    cell=True,
    closed=True,
    in_channels=1,
    num_classes=10,
    input_size=8,
)


def cell_space(ops=("conv", "maxpool", "identity"), nodes=(1, 2)) -> SearchSpace:
    return SearchSpace(ops=ops, nodes=nodes, **CELL)


def test_input_set_labels_cover_every_non_empty_subset():
    assert members.input_sets(0) == ("in",)
    assert members.input_sets(2) == ("in", "n0", "n1", "in+n0", "in+n1", "n0+n1", "in+n0+n1")
    assert members.parse_inputs("in+n1") == (INPUT, 1)


def test_a_cell_space_repeats_one_cell_and_its_samples_are_members():
    space = cell_space(ops=("conv", "sepconv", "maxpool", "res_basic", "identity"), nodes=(3, 3))
    rng = random.Random(0)
    for _ in range(50):
        g = space.sample(rng)
        first, second = g.stages
        assert (first.width, first.stride, second.width, second.stride) == (8, 1, 16, 2)
        assert [(n.op, n.inputs, n.params) for n in first.nodes] == [(n.op, n.inputs, n.params) for n in second.nodes]
        assert all(n.op != "identity" for n in first.nodes if n.inputs == (INPUT,))  # stage 2 strides there
        assert space.contains(g)


def test_samples_of_the_default_space_are_members_of_it():
    space = SearchSpace(in_channels=1, num_classes=10, input_size=8, widths=(8, 16, 24, 32))
    rng = random.Random(3)
    assert all(space.contains(space.sample(rng)) for _ in range(100))


def test_membership_names_what_is_outside():
    space = cell_space()
    g = space.sample(random.Random(1))
    untied = g.replace(stages=[g.stages[0], g.stages[1].replace(nodes=[registry.node("conv")])])
    assert "not stage 1's cell" in members.why_not(space, untied)
    wide = g.replace(stages=[s.replace(width=s.width * 2) for s in g.stages])
    assert "width" in members.why_not(space, wide)
    k5 = g.replace(stages=[s.replace(nodes=[registry.node("conv", kernel=5)]) for s in g.stages])
    assert "kernel=5" in members.why_not(space, k5)
    assert not space.contains(g.replace(head=g.head.__class__(1, (64,), 0.0)))


def test_mutations_of_a_closed_space_stay_inside_it_and_keep_the_cell_tied():
    space = cell_space(ops=("conv", "sepconv", "maxpool", "identity"), nodes=(2, 3))
    rng = random.Random(5)
    g = space.sample(rng)
    kinds = set()
    for _ in range(150):
        child, kind = space.mutate_with_info(g, rng)
        assert space.contains(child), members.why_not(space, child)
        assert child.fingerprint() != g.fingerprint()
        kinds.add(kind)
        g = child
    assert {"op_change", "add_edge", "remove_edge"} <= kinds


def test_an_open_space_still_mutates_beyond_its_sampled_values():
    space = SearchSpace(in_channels=1, num_classes=10, input_size=8, widths=(8, 16))
    rng = random.Random(2)
    outside = 0
    for _ in range(60):
        g = space.sample(rng)
        outside += not space.contains(space.mutate(g, rng))
    assert outside > 0  # e.g. kernel 7, other widths: the seeds' mutations reach beyond sampling


def test_the_grid_chooser_visits_every_leaf_of_a_conditional_tree_once():
    def sample(c):
        a = c.choose("a", ("x", "y", "z"))
        b = c.integer("b", 1, 2) if a != "z" else 0
        d = c.choose("d", (True, False)) if a == "x" else None
        return (a, b, d)

    seen, path = [], []
    while path is not None:
        chooser = GridChooser(path)
        seen.append(sample(chooser))
        path = chooser.advance()
    assert seen == [("x", 1, True), ("x", 1, False), ("x", 2, True), ("x", 2, False), ("y", 1, None), ("y", 2, None),
                    ("z", 0, None)]  # fmt: skip
    with pytest.raises(TooLarge, match="decision 'seed'"):
        GridChooser().integer("seed", 0, 2**32 - 1)


def _brute_force(space: SearchSpace) -> list[Genotype]:
    """Every cell of the space built directly (itertools over nodes, inputs, ops), isomorphs merged."""
    stem = space.sample(random.Random(0)).stem
    found: list[Genotype] = []
    for n in range(space.nodes[0], space.nodes[1] + 1):
        for inputs in itertools.product(*(members.input_sets(j) for j in range(n))):
            ins = [members.parse_inputs(label) for label in inputs]
            for ops in itertools.product(space.ops, repeat=n):
                if any(op == "identity" and i == (INPUT,) for op, i in zip(ops, ins, strict=True)):
                    continue  # cannot downsample in stage 2
                nodes = [
                    registry.node(op, inputs=i, **({"kernel": 3} if op == "conv" else {}))
                    for op, i in zip(ops, ins, strict=True)
                ]
                cell = Stage(width=8, nodes=tuple(nodes))
                g = Genotype(stem, (cell, members.restack(cell, 16, 2)), space.sample(random.Random(0)).head)
                if space.is_valid(g) and not any(same_architecture(g, f) for f in found):
                    found.append(g)
    return found


def test_the_grid_walk_finds_exactly_the_unique_architectures_of_a_small_space():
    from nas.controllers.grid import Grid, count

    space = cell_space()
    expected = _brute_force(space)
    leaves, unique = count(space)
    assert unique == len(expected) and leaves > unique  # isomorphic cells (e.g. node order) merged
    grid = Grid(space)
    proposed = [grid.ask().genotype for _ in range(unique)]
    assert all(any(same_architecture(p, e) for e in expected) for p in proposed)
    assert all(space.contains(p) for p in proposed)
