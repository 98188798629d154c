"""The builder: merges and projections, fx tracing, parameter and FLOP counts, rendering."""

import random

import pytest
import torch

import searchspace as ss
from searchspace import wirings
from searchspace.genotype import Genotype, GenotypeError, Head, Node, Stage
from searchspace.space import SearchSpace


def test_residual_wiring_is_a_resnet_recurrence():
    """x1 = x0 + F0(x0); x2 = x1 + F1(x1); output x2, with the input projected once when it is strided."""
    s = wirings.make_stage("residual", [ss.node("conv"), ss.node("conv")], 16, 2)
    g = Genotype(Stage(8, (ss.node("conv"),)), (s,), Head())
    model = ss.build(g, 3, 10).eval()
    stage = model.stages[0]
    assert list(stage.proj.keys()) == ["in_to16_s2"]  # one shared projection of the input
    x = torch.randn(2, 8, 8, 8)
    with torch.no_grad():
        x0 = stage.proj["in_to16_s2"](x)
        f0 = stage.nodes[0](x)
        x1 = x0 + f0
        x2 = x1 + stage.nodes[1](x1)
        torch.testing.assert_close(stage(x), x2)


def test_dense_wiring_concatenates_everything():
    s = wirings.make_stage("dense", [ss.node("conv", width=4)] * 3, 8, 1)
    g = Genotype(Stage(8, (ss.node("conv"),)), (s,), Head())
    plan = ss.infer(g, 3, 10, 8)
    assert [n.in_ch for n in plan.stages[1].nodes] == [8, 12, 16]
    assert plan.stages[1].out_ch == 8 + 3 * 4


def test_wsum_merge_has_sigmoid_weights_and_mean_output():
    s = wirings.make_stage("ws", [ss.node("sepconv", order="act_first")] * 6, 8, 1, k=2, p=0.0, seed=0)
    g = Genotype(Stage(8, (ss.node("conv"),)), (s,), Head())
    model = ss.build(g, 3, 10)
    merges = model.stages[0].merges
    assert all(m.kind in ("wsum", "mean") for m in merges.values())
    assert any(m.weight is not None for m in merges.values())


def test_width_mismatch_at_a_sum_gets_a_projection():
    nodes = (ss.node("conv", width=8), ss.node("conv", width=16), Node("identity", (0, 1)))
    g = Genotype(Stage(8, (ss.node("conv"),)), (Stage(16, nodes),), Head())
    plan = ss.infer(g, 3, 10, 8)
    assert plan.stages[1].nodes[2].merge.in_chs == (8, 16) and plan.stages[1].nodes[2].out_ch == 16
    assert "0_to16_s1" in ss.build(g, 3, 10).stages[0].proj


@pytest.mark.parametrize("seed", range(3))
def test_fx_trace_equals_eager(seed):
    space = SearchSpace(input_size=16)
    rng = random.Random(seed)
    for _ in range(15):
        g = space.sample(rng)
        model = ss.build(g, 3, 10).eval()
        traced = ss.trace(model)
        x = torch.randn(2, 3, 16, 16)
        with torch.no_grad():
            torch.testing.assert_close(traced(x), model(x), rtol=0, atol=0)


@pytest.mark.parametrize("name", ["resnet18_cifar", "densenet121_cifar", "googlenet_cifar", "randwire_ws_small_cifar"])
def test_fx_trace_of_zoo_models(name):
    model = ss.build(ss.zoo.get(name), 3, 10).eval()
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(ss.trace(model)(x), model(x), rtol=0, atol=0)


def test_count_params_equals_the_built_model_for_samples_and_mutants():
    space = SearchSpace(input_size=16, head_hidden=(0, 32))
    rng = random.Random(0)
    for _ in range(30):
        g = space.sample(rng)
        for h in (g, space.mutate(g, rng)):
            real = sum(p.numel() for p in ss.build(h, 3, 10).parameters())
            assert ss.count_params(h, 3, 10) == real


@pytest.mark.parametrize("name", ss.zoo.names())
def test_count_params_equals_the_built_model_for_every_zoo_network(name):
    e = ss.zoo.info(name)
    with torch.device("meta"):
        built = ss.build(ss.zoo.get(name), e.in_channels, e.num_classes)
    assert ss.count_params(ss.zoo.get(name), e.in_channels, e.num_classes) == sum(p.numel() for p in built.parameters())


def test_flops_of_a_single_conv_are_twice_its_multiply_adds():
    g = Genotype(Stage(16, (ss.node("conv", norm="none", act="none"),)), (), Head())
    flops = ss.count_flops(g, 3, 10, 8)
    macs = 16 * 3 * 3 * 3 * 8 * 8 + 16 * 10  # conv + classifier
    assert flops == 2 * macs


def test_flops_scale_with_resolution_and_deformable_is_counted():
    g = Genotype(Stage(16, (ss.node("conv"),)), (Stage(16, (ss.node("deformable"),)),), Head())
    small, big = ss.count_flops(g, 3, 10, 8), ss.count_flops(g, 3, 10, 16)
    assert 3.9 < big / small < 4.1
    conv = Genotype(Stage(16, (ss.node("conv"),)), (Stage(16, (ss.node("conv"),)),), Head())
    assert ss.count_flops(g, 3, 10, 8) > ss.count_flops(conv, 3, 10, 8)  # deform conv + its offset conv


def test_build_rejects_bad_arguments():
    g = ss.zoo.get("lenet5")
    with pytest.raises(GenotypeError, match="in_channels must be an integer"):
        ss.build(g, 0, 10)
    with pytest.raises(GenotypeError, match="num_classes must be an integer"):
        ss.build(g, 1, -3)
    with pytest.raises(GenotypeError, match="input_size must be"):
        ss.validate(g, 1, 10, (32, 32, 3))


def test_render_writes_svg_and_png(tmp_path):
    g = SearchSpace().sample(random.Random(0))
    svg = ss.render(g, tmp_path / "child.svg")
    png = ss.render(ss.zoo.get("resnet18"), tmp_path / "r18.png")
    assert svg.read_text().lstrip().startswith(("<?xml", "<svg")) and "conv" in svg.read_text()
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
