"""Every registered op: shapes (as inferred and as built), stride behaviour, gradients, declared params."""

import pytest
import torch

import searchspace as ss
from searchspace import registry
from searchspace.genotype import Genotype, GenotypeError, Head, Stage
from searchspace.space import RandomChooser, SearchSpace

OPS = registry.names()


def one_op(op: str, stride: int = 1, width: int = 16, **params) -> Genotype:
    """Stem conv (16 ch) -> a stage holding only `op` -> head."""
    spec = registry.get(op)
    node = ss.node(op, width=0 if spec.width == "same" else width, **params)
    stem = Stage(16, (ss.node("conv"),))
    return Genotype(stem, (Stage(width, (node,), stride=stride),), Head())


@pytest.mark.parametrize("op", OPS)
def test_every_op_is_a_module_class_with_the_shared_signature(op):
    spec = registry.get(op)
    assert isinstance(spec.fn, type) and issubclass(spec.fn, torch.nn.Module)
    module = spec.fn(16, 16 if spec.width == "param" else 16, 1, **spec.resolve({}))
    assert isinstance(module, torch.nn.Module)
    assert spec.doc, f"{op} needs a one-line docstring"


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("size", [8, 9, 15])
def test_output_shape_matches_inference(op, size):
    strides = (1, 2) if registry.get(op).strides else (1,)
    for stride in strides:
        g = one_op(op, stride)
        plan = ss.infer(g, 3, 10, size)
        node = plan.stages[1].nodes[0]
        model = ss.build(g, 3, 10).eval()
        with torch.no_grad():
            feats = model.stages[0].nodes[0](model.stem(torch.randn(2, 3, size, size)))
        assert tuple(feats.shape) == (2, node.out_ch, *node.size), (op, stride, size)


@pytest.mark.parametrize("op", [op for op in OPS if registry.get(op).strides])
def test_stride_two_halves_the_grid(op):
    plan = ss.infer(one_op(op, 2), 3, 10, 16)
    assert plan.stages[1].nodes[0].size == (8, 8)
    assert plan.stages[1].scale == 2


def test_ops_that_cannot_downsample_are_rejected_at_a_strided_input():
    for op in OPS:
        if not registry.get(op).strides:
            with pytest.raises(GenotypeError, match="must downsample"):
                ss.validate(one_op(op, 2))


@pytest.mark.parametrize("op", OPS)
def test_gradients_reach_every_parameter(op):
    g = one_op(op)
    model = ss.build(g, 3, 10).train()
    model(torch.randn(4, 3, 12, 12)).logsumexp(1).sum().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing, f"{op}: no gradient for {missing}"
    op_params = list(model.stages[0].nodes[0].parameters())
    if op_params:
        assert any(p.grad.abs().sum() > 0 for p in op_params), f"{op}: all-zero gradients"


@pytest.mark.parametrize("op", OPS)
def test_every_searched_param_value_builds(op):
    spec = registry.get(op)
    space = SearchSpace()
    for name, param in spec.params.items():
        for value in space.search_values(op, name):
            g = one_op(op, **{name: value})
            ss.build(g, 3, 10)(torch.randn(1, 3, 8, 8))
        assert param.error(param.default) is None, f"{op}.{name}: default is invalid"


@pytest.mark.parametrize("op", OPS)
def test_unknown_and_bad_params_raise_clear_errors(op):
    with pytest.raises(GenotypeError, match=f"op '{op}' has no parameter 'bogus'"):
        ss.node(op, bogus=1)
    spec = registry.get(op)
    for name, param in spec.params.items():
        bad = "x" if not isinstance(param, registry.Choice) else 12345
        with pytest.raises(GenotypeError, match=name):
            ss.node(op, **{name: bad})


def test_unknown_op_lists_the_known_ones():
    with pytest.raises(GenotypeError, match="known ops: .*conv"):
        registry.get("nope")


def test_conv_variants_choose_norm_act_and_order():
    chooser = RandomChooser(__import__("random").Random(0))
    assert chooser  # the chooser is exercised in test_space; here the layers themselves
    for norm in registry.NORMS:
        for act in registry.ACTS:
            for order in registry.ORDERS:
                g = one_op("conv", norm=norm, act=act, order=order, bias=norm == "none")
                out = ss.build(g, 3, 10)(torch.randn(2, 3, 8, 8))
                assert out.shape == (2, 10)


def test_transposed_conv_upsamples_and_merges_align_grids():
    g = one_op("transposed", up=2)
    assert ss.infer(g, 3, 10, 8).stages[1].nodes[0].size == (16, 16)
    plan = ss.infer(g, 3, 10, 8)
    assert plan.stages[1].scale == pytest.approx(0.5)


def test_grouped_conv_requires_divisible_widths():
    g = one_op("grouped", groups=3, width=16)
    with pytest.raises(GenotypeError, match="groups=3 must divide"):
        ss.validate(g)


def test_deformable_conv_starts_as_a_regular_grid():
    torch.manual_seed(0)
    deform = registry.get("deformable").fn(4, 6, 1, kernel=3, norm="none", act="none")
    conv = torch.nn.Conv2d(4, 6, 3, 1, 1, bias=False)
    conv.weight.data.copy_(deform.conv.deform.weight.data)
    x = torch.randn(2, 4, 9, 9)
    torch.testing.assert_close(deform(x), conv(x), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("op", OPS)
def test_every_op_computes_the_same_in_channels_last_memory(op):
    """The trainer runs bf16 networks NHWC (channels_last) on CPU and GPU: no op may depend on the layout."""
    torch.manual_seed(0)
    model = ss.build(one_op(op), 3, 10).eval()
    x = torch.randn(3, 3, 12, 12)
    with torch.no_grad():
        expected = model(x)
        model = model.to(memory_format=torch.channels_last)
        got = model(x.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("bias", [float("nan"), 1e30, -1e30])
def test_deformable_conv_survives_offsets_a_diverging_run_makes(bias):
    """A NaN offset made torchvision's kernel index outside the image (in training: a segfault that killed the
    search); now it samples the regular grid, and a huge offset samples zeros, as one just past the image does."""
    deform = registry.get("deformable").fn(4, 6, 1, kernel=3, norm="none", act="none")
    torch.nn.init.constant_(deform.conv.offset.bias, bias)
    out = deform(torch.randn(2, 4, 9, 9))
    assert out.shape == (2, 6, 9, 9) and torch.isfinite(out).all()
    if bias != bias:
        return
    assert not out.any()  # every sample point far outside the image: zeros


def test_coordconv_sees_position():
    layer = registry.get("coordconv").fn(1, 4, 1, kernel=1, norm="none", act="none")
    x = torch.zeros(1, 1, 5, 5)
    out = layer(x)
    assert not torch.allclose(out[..., 0, 0], out[..., 4, 4])  # same input value, different place


def test_highway_is_carry_when_gate_closed():
    layer = registry.get("highway").fn(8, 8, 1, gate_bias=-50.0)
    x = torch.randn(2, 8, 6, 6)
    torch.testing.assert_close(layer(x), x)
