"""Sampling, mutation and the chooser interface over hundreds of genotypes."""

import collections
import random
import subprocess
import sys

import pytest
import torch

import searchspace as ss
from searchspace.genotype import Genotype, GenotypeError
from searchspace.mutations import MUTATIONS
from searchspace.space import RandomChooser, SearchSpace

SPACE = SearchSpace(in_channels=3, input_size=16)


@pytest.mark.parametrize("seed", range(6))
def test_sampled_genotypes_validate_build_and_train_at_two_sizes(seed):
    rng = random.Random(seed)
    for _ in range(40):
        g = SPACE.sample(rng)
        SPACE.validate(g)
        assert Genotype.from_json(g.to_json()) == g
        assert g.fingerprint() == Genotype.from_json(g.to_json()).fingerprint()
        model = ss.build(g, 3, 10)
        for size in (16, 24):
            out = model(torch.randn(2, 3, size, size))
            assert out.shape == (2, 10) and torch.isfinite(out).all()
            out.logsumexp(1).mean().backward()


def test_every_registered_op_and_every_wiring_gets_sampled():
    rng = random.Random(0)
    ops, kinds = collections.Counter(), collections.Counter()
    for _ in range(300):
        g = SPACE.sample(rng)
        for stage in g.stages:
            kinds[stage.wiring.kind] += 1
            ops.update(n.op for n in stage.nodes)
    assert set(SPACE.ops) <= set(ops), set(SPACE.ops) - set(ops)
    assert set(kinds) == {"chain", "residual", "dense", "ws"}


def test_same_seed_same_genotype_and_independent_of_hash_seed():
    a = SPACE.sample(random.Random(42))
    assert SPACE.sample(random.Random(42)) == a
    code = (
        "import random, searchspace as ss;"
        "s = ss.SearchSpace(in_channels=3, input_size=16);"
        "g = s.mutate(s.sample(random.Random(42)), random.Random(7));"
        "print(g.to_json())"
    )
    outs = {
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, env={"PYTHONHASHSEED": h}
        ).stdout
        for h in ("0", "12345")
    }
    assert len(outs) == 1
    assert Genotype.from_json(outs.pop()) == SPACE.mutate(a, random.Random(7))


def test_sampling_only_uses_the_randomness_passed_in():
    random.seed(1)
    a = SPACE.sample(random.Random(5))
    random.seed(2)
    assert SPACE.sample(random.Random(5)) == a


class ScriptedChooser:
    """A chooser that always picks the last option and records the questions asked."""

    def __init__(self):
        self.names: list[str] = []

    def choose(self, name, options):
        self.names.append(name)
        return options[-1]

    def integer(self, name, lo, hi):
        self.names.append(name)
        return lo


def test_chooser_interface_drives_sampling_with_unique_stable_names():
    chooser = ScriptedChooser()
    g = SPACE.sample(chooser)
    assert len(chooser.names) == len(set(chooser.names))
    assert "width" in chooser.names and any(n.endswith(".wiring") for n in chooser.names)
    again = ScriptedChooser()
    assert SPACE.sample(again) == g and again.names == chooser.names


def test_random_chooser_records_its_decisions():
    chooser = RandomChooser(random.Random(3))
    SPACE.sample(chooser)
    assert chooser.decisions["width"] in SPACE.widths


@pytest.mark.parametrize("seed", range(3))
def test_chains_of_100_mutations_stay_valid_and_never_touch_the_parent(seed):
    rng = random.Random(seed)
    g = SPACE.sample(rng)
    applied = collections.Counter()
    for _ in range(100):
        before = g.to_json()
        child, kind = SPACE.mutate_with_info(g, rng)
        assert g.to_json() == before  # parent unchanged
        assert child.fingerprint() != g.fingerprint()
        SPACE.validate(child)
        applied[kind] += 1
        g = child
    ss.build(g, 3, 10)(torch.randn(1, 3, 16, 16))
    assert len(applied) >= 8


def test_every_mutation_kind_applies_somewhere():
    rng = random.Random(0)
    seen = set()
    g = SPACE.sample(rng)
    for _ in range(400):
        g, kind = SPACE.mutate_with_info(g, rng)
        seen.add(kind)
    assert seen == set(MUTATIONS)


def test_mutation_works_from_zoo_genotypes():
    space = SearchSpace(input_size=32)
    rng = random.Random(1)
    for name in ("vgg_a_cifar", "googlenet_cifar", "allcnn_c", "highway_cnn"):
        g = ss.zoo.get(name)
        for _ in range(10):
            g = space.mutate(g, rng)
        space.validate(g)


def test_space_config_errors_are_clear():
    with pytest.raises(GenotypeError, match="unknown op 'fancy'"):
        SearchSpace(ops=("conv", "fancy"))
    with pytest.raises(GenotypeError, match="downsample"):
        SearchSpace(ops=("identity", "dropout"))
    with pytest.raises(GenotypeError, match="wirings must be chosen from"):
        SearchSpace(wirings=("grid",))
    with pytest.raises(GenotypeError, match="param_search: parameter 'kernel' of op 'conv' must be odd"):
        SearchSpace(param_search=(("conv", "kernel", (3, 4)),))


def test_a_restricted_space_only_produces_its_ops():
    space = SearchSpace(ops=("conv", "sepconv", "maxpool"), wirings=("chain",), input_size=16)
    rng = random.Random(0)
    for _ in range(50):
        g = space.mutate(space.sample(rng), rng)
        assert {n.op for s in g.stages for n in s.nodes} <= {"conv", "sepconv", "maxpool"}
    with pytest.raises(GenotypeError, match="not in this search space"):
        space.validate(ss.zoo.get("resnet18_cifar"))
