"""The default space's stem follows the input size (`searchspace.space.stem_for`, `nas.config.make_space`): inputs over
32 px reach stage 1 at 16-32 px, smaller ones keep their exact networks, and the cost per image stays put."""

from __future__ import annotations

import hashlib
import random
import statistics

import pytest
import torch

import searchspace as ss
from nas.config import SearchConfig, make_space
from nas.record.folder import DataInfo
from searchspace.space import SearchSpace, stem_for


def space_for(size: int | tuple[int, int], channels: int = 3, **options) -> SearchSpace:
    hw = (size, size) if isinstance(size, int) else size
    return make_space(SearchConfig(space=options), DataInfo(channels, 10, hw, "x"))


def stage1_size(space: SearchSpace, size: int | tuple[int, int]) -> tuple[int, int]:
    g = space.sample(random.Random(0))
    return ss.infer(g, space.in_channels, space.num_classes, size).stages[0].size


@pytest.mark.parametrize(
    ("size", "stem", "stage1"),
    [
        (8, (3, 1), (8, 8)),
        (16, (3, 1), (16, 16)),
        (28, (3, 1), (28, 28)),
        (32, (3, 1), (32, 32)),
        ((24, 40), (3, 1), (24, 40)),  # sqrt(24 x 40) = 31: an area of at most 32 x 32 keeps its stem
        (33, (3, 2), (17, 17)),
        (64, (3, 2), (32, 32)),
        (96, (7, 4), (24, 24)),
        (100, (7, 4), (25, 25)),
        ((100, 150), (7, 4), (25, 38)),  # the area decides: sqrt(100 x 150) = 122 -> 31
        (128, (7, 4), (32, 32)),
        (224, (15, 8), (28, 28)),
        (256, (15, 8), (32, 32)),
        (512, (15, 8), (64, 64)),  # stride 8 at most (a 15 x 15 kernel is conv's widest)
    ],
)
def test_the_stem_brings_large_inputs_to_16_to_32_px_before_stage_1(size, stem, stage1):
    space = space_for(size)
    assert stem_for(size) == stem == (space.stem_kernel, space.stem_stride)
    assert stage1_size(space, size) == stage1
    if isinstance(size, int) and 32 < size <= 256:
        assert 16 < stage1[0] <= 32


# Sampled with seeds 0..11 through make_space at commit 9cabfeb, before the stem followed the input size:
# the sha256 of their fingerprints (first 16 hex digits) and their parameter counts.
GOLDEN = {
    (1, 8): ("6bfb22da2a2e8fd0", [902659, 72389, 78767, 44518, 126988, 199362, 32074, 31490, 250430, 716295, 42745]),
    (1, 28): ("7c770f5a08f1b8e1", [2017715, 160653, 135779, 86643, 270812, 1465155, 2849936, 55390, 558802, 1512703]),
    (3, 32): ("7c770f5a08f1b8e1", [2018579, 161085, 136067, 87075, 271244, 1466307, 2851088, 55966, 559234, 1513567]),
}
NB201_GOLDEN = ("2a4c86a914b13676", [836276, 350196, 135156, 107156, 593236])  # seeds 0..4, CIFAR-100


def digest(genotypes: list[ss.Genotype]) -> str:
    return hashlib.sha256(" ".join(g.fingerprint() for g in genotypes).encode()).hexdigest()[:16]


@pytest.mark.parametrize(("channels", "size"), list(GOLDEN))
def test_inputs_of_at_most_32_px_keep_their_exact_networks(channels, size):
    space = space_for(size, channels)
    today = SearchSpace(
        stem_kernel=3,
        stem_stride=1,
        in_channels=channels,
        input_size=size,
        **({"widths": (8, 16, 24, 32)} if size <= 16 else {}),
    )
    assert space == today
    genotypes = [space.sample(random.Random(seed)) for seed in range(12)]
    fingerprints, params = GOLDEN[channels, size]
    assert digest(genotypes) == fingerprints
    assert [ss.count_params(g, channels, 10) for g in genotypes[: len(params)]] == params


@pytest.mark.parametrize("size", [32, 64, 224])
def test_nas_bench_201_keeps_its_networks_at_any_input_size(size):
    space = make_space(SearchConfig(space={"template": "nb201"}), DataInfo(3, 100, (size, size), "x"))
    assert space == SearchSpace(template="nb201", num_classes=100, input_size=size)
    genotypes = [space.sample(random.Random(seed)) for seed in range(5)]
    assert digest(genotypes) == NB201_GOLDEN[0]
    assert [ss.count_params(g, 3, 100) for g in genotypes] == NB201_GOLDEN[1]


@pytest.mark.parametrize(
    ("options", "stem"),
    [
        ({"stem_stride": 1}, (3, 1)),  # the stem of before, as bench/bench_resolution.py measures it
        ({"stem_kernel": 5}, (5, 1)),  # either option owns the whole stem: no 5 x 5 at stride 8
        ({"stem_kernel": 7, "stem_stride": 2}, (7, 2)),
        ({"first_stride": 2}, (15, 8)),  # a stage option leaves the stem to the input size
    ],
)
def test_the_configs_own_stem_options_win(options, stem):
    space = space_for(224, **options)
    assert (space.stem_kernel, space.stem_stride) == stem
    assert space.first_stride == options.get("first_stride", 1)


def flops(space: SearchSpace, size: int, seeds: range) -> list[int]:
    return [ss.complexity(space.sample(random.Random(s)), 3, 10, size)[1] for s in seeds]


def test_the_median_cost_per_image_stays_within_3x_of_32_px():
    seeds = range(20)
    at32 = flops(space_for(32), 32, seeds)
    for size in (64, 128, 224):
        ratio = statistics.median(flops(space_for(size), size, seeds)) / statistics.median(at32)
        assert 1 / 3 <= ratio <= 3, f"{size} px: {ratio:.2f} x the 32 px median"
    before = flops(space_for(64, stem_stride=1), 64, seeds[:4])  # the stride-1 stem: 4 x the area, 4 x the cost
    assert all(b > 3.5 * a for a, b in zip(at32, before, strict=False))


@pytest.fixture(scope="module")
def space224() -> SearchSpace:
    return space_for(224)


def test_every_sampled_network_at_224_px_builds_and_runs(space224):
    torch.manual_seed(0)
    x = torch.randn(2, 3, 224, 224)
    for seed in range(8):
        g = space224.sample(random.Random(seed))
        assert g.stem == space224.stem(g.stem.width) and g.stem.stride == 8
        assert space224.contains(g) and ss.Genotype.from_json(g.to_json()) == g
        with torch.no_grad():
            assert ss.build(g, 3, 10, 224).eval()(x).shape == (2, 10)


def test_mutations_keep_the_stem_and_the_membership(space224):
    rng = random.Random(0)
    g = space224.sample(rng)
    for _ in range(30):
        g = space224.mutate(g, rng)
        assert g.stem.stride == 8 and space224.is_valid(g)
    member = space224.sample(rng)
    assert not space224.contains(member.replace(stem=SearchSpace().stem(member.stem.width)))  # the stem of before

    closed = SearchSpace(
        ops=("conv", "maxpool"), wirings=("chain",), closed=True, stem_kernel=15, stem_stride=8, input_size=224
    )
    g = closed.sample(rng)
    for _ in range(20):
        g = closed.mutate(g, rng)
        assert closed.contains(g) and g.stem == closed.stem(g.stem.width)
    assert not closed.contains(g.replace(stem=SearchSpace().stem(g.stem.width)))
