"""The building blocks as the lecture notes (`../shared/seeds/`) define them: each test would fail on the
reading of the notes that the code had before (issue 13)."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest
import torch
import torchvision
from torch import nn

import searchspace as ss
from searchspace import blocks, layers, registry, zoo
from searchspace.widths import MIN_BRANCH

ROOT = Path(__file__).resolve().parents[2]


def one_node(op: str, width: int, in_width: int, size: int = 9, **params) -> ss.Genotype:
    """stem (in_width wide) -> one node of `op` at `width`."""
    stem = ss.Stage(in_width, (registry.node("conv"),))
    return ss.Genotype(stem, (ss.Stage(width, (registry.node(op, **params),)),), ss.Head())


# ------------------------------------------------------------------ naive Inception


@pytest.mark.parametrize("widths", [(16, 24, 32, 48, 64), (8, 16, 24, 32)], ids=["default", "digits"])
def test_sampled_naive_inception_nodes_have_real_branches_and_grow_the_width(widths):
    """Before: branches of max(3, out - in) // 3 channels, so a node reading a stage-wide input (81 % of
    them) was a max-pool plus three 1-channel convs. Now the conv branches share the node's width."""
    space = ss.SearchSpace(input_size=16, widths=widths)
    rng, seen = random.Random(0), 0
    while seen < 60:
        g = space.sample(rng)
        model = ss.build(g, 3, 10)
        plan = ss.infer(g, 3, 10, 16)
        for gstage, stage, splan in zip(g.stages, model.stages, plan.stages[1:], strict=True):
            for module, n in zip(stage.nodes, splan.nodes, strict=True):
                if n.op != "inception_naive":
                    continue
                seen += 1
                branches = [module.branch1, module.branch3, module.branch5]
                convs = [next(m for m in b.modules() if isinstance(m, nn.Conv2d)) for b in branches]
                outs = [c.out_channels for c in convs]
                assert [c.kernel_size for c in convs] == [(1, 1), (3, 3), (5, 5)]
                assert min(outs) >= MIN_BRANCH, outs
                assert n.out_ch == n.in_ch + sum(outs) > n.in_ch  # the naive module grows the width
                assert sum(outs) >= (gstage.nodes[n.index].width or gstage.width)  # the node's width, searched


def test_naive_inception_branch_widths_are_searched_and_mutable():
    assert len(ss.SearchSpace().search_values("inception_naive", "split")) == 3
    a = registry.get("inception_naive").fn(32, 96, 1, split="1:1:1")
    b = registry.get("inception_naive").fn(32, 96, 1, split="2:4:1")
    assert [a.branch1[0].out_channels, a.branch3[0].out_channels, a.branch5[0].out_channels] == [21, 22, 21]
    assert [b.branch1[0].out_channels, b.branch3[0].out_channels, b.branch5[0].out_channels] == [18, 35, 11]


# ------------------------------------------------------------------ unshared convolution


def test_unshared_conv_uses_its_own_kernel_in_each_cell():
    """Each output cell equals a plain convolution of the whole input with that cell's kernel, restricted to
    the cell: weights are local, not shared across the image (seeds 000, "unshared convolution")."""
    torch.manual_seed(0)
    conv = layers.LocalConv(3, 5, kernel=3, stride=1, grid=3, bias=True)
    x = torch.randn(2, 3, 10, 10)
    out = conv(x)
    assert out.shape == (2, 5, 10, 10)
    cuts = [0, 3, 6, 10]
    for i in range(3):
        for j in range(3):
            cell = slice((i * 3 + j) * 5, (i * 3 + j + 1) * 5)
            full = nn.functional.conv2d(x, conv.weight[cell], conv.bias[cell], 1, 1)
            rows, cols = slice(cuts[i], cuts[i + 1]), slice(cuts[j], cuts[j + 1])
            torch.testing.assert_close(out[..., rows, cols], full[..., rows, cols])
    assert not torch.allclose(conv.weight[:5], conv.weight[5:10])  # cells start different


def test_unshared_conv_with_one_cell_is_a_convolution_and_strides_like_one():
    torch.manual_seed(1)
    local = layers.LocalConv(4, 6, kernel=5, stride=2, grid=1, bias=False)
    plain = nn.Conv2d(4, 6, 5, 2, 2, bias=False)
    plain.weight.data.copy_(local.weight.data)
    x = torch.randn(2, 4, 11, 11)
    torch.testing.assert_close(local(x), plain(x))
    g = one_node("unshared", 8, 8, grid=4)
    plan = ss.infer(g, 3, 10, 3)  # a 3x3 output on a 4x4 grid: the empty cells are skipped
    assert ss.build(g, 3, 10)(torch.randn(2, 3, 3, 3)).shape == (2, 10)
    assert plan.stages[1].nodes[0].size == (3, 3)
    assert (
        ss.count_params(one_node("unshared", 8, 8, grid=3), 3, 10) - ss.count_params(one_node("conv", 8, 8), 3, 10)
        == (9 - 1) * 8 * 8 * 9
    )  # grid^2 kernels


# ------------------------------------------------------------------ DiracNets


def test_a_dirac_conv_starts_as_the_identity_plus_its_normalised_filters():
    torch.manual_seed(0)
    conv = layers.DiracConvolution(6, 6, kernel=3, stride=1, bias=False)
    x = torch.randn(2, 6, 7, 7)
    with torch.no_grad():
        conv.b.zero_()
        torch.testing.assert_close(conv(x), x)  # diag(a) I with a = 1
        conv.b.fill_(0.5)
        conv.a.fill_(2.0)
        w = conv.weight / conv.weight.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
        torch.testing.assert_close(conv(x), 2 * x + nn.functional.conv2d(x, 0.5 * w, padding=1))
    wide = layers.dirac_delta(3, 6, 3)[:, :, 1, 1]
    assert torch.equal(wide, torch.cat([torch.eye(3), torch.eye(3)]))  # widening repeats the input
    narrow = layers.dirac_delta(6, 3, 1)[:, :, 0, 0]
    assert torch.equal(narrow, torch.cat([torch.eye(3), torch.eye(3)], dim=1))  # narrowing sums pairs


def test_the_dirac_layer_is_relu_conv_bn_and_has_no_skip_connection():
    layer = registry.get("dirac").fn(8, 8, 1)
    assert [type(m) for m in layer] == [nn.ReLU, layers.DiracConvolution, nn.BatchNorm2d]
    model = ss.build(zoo.get("diracnet18"), 3, 1000)
    assert not any(isinstance(m, layers.Projection | blocks.ResBasic) for m in model.modules())
    assert all(s.wiring.kind == "chain" for s in zoo.get("diracnet18").stages)


@pytest.mark.parametrize(
    "name, millions, digits",
    [("diracnet18", 11.52, 2), ("diracnet34", 21.64, 2), ("diracnet28_10", 36.5, 1)],
)
def test_diracnet_parameter_counts_are_the_papers(name, millions, digits):
    """Zagoruyko & Komodakis 2017, Tables 2-3: DiracNet-18 11.52M, DiracNet-34 21.64M (ImageNet),
    DiracNet-28-10 36.5M (CIFAR)."""
    e = zoo.info(name)
    assert round(ss.count_params(zoo.get(name), e.in_channels, e.num_classes) / 1e6, digits) == millions


# ------------------------------------------------------------------ Inception-v2


def test_inception_v2_factorises_the_5x5_branch_into_two_3x3_convs():
    plain = blocks.Inception(16, 64, b1=8, b3r=8, b3=16, b5r=4, b5=8, pool_proj=8)
    v2 = blocks.Inception(16, 64, b1=8, b3r=8, b3=16, b5r=4, b5=8, pool_proj=8, factorized=True)
    kernels = [m.kernel_size for m in v2.branch3.modules() if isinstance(m, nn.Conv2d)]
    assert kernels == [(1, 1), (3, 3), (3, 3)]
    assert [m.kernel_size for m in plain.branch3.modules() if isinstance(m, nn.Conv2d)] == [(1, 1), (5, 5)]
    linear = blocks.Inception(16, 64, 1, 8, 8, 16, 4, 8, 8, factorized=True, act_layer=nn.Identity).eval()
    x = torch.zeros(1, 16, 11, 11, requires_grad=True)
    linear(x)[0, 28, 5, 5].backward()  # a channel of the factorised branch (after b1 + b3 = 24)
    rows, cols = x.grad.abs().sum((0, 1)).nonzero().unbind(1)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (3, 7, 3, 7)  # still a 5x5 receptive field
    saved = sum(p.numel() for p in plain.parameters()) - sum(p.numel() for p in v2.parameters())
    assert saved == 25 * 4 * 8 - (9 * 4 * 8 + 9 * 8 * 8) - 2 * 8  # 5x5 weights against two 3x3s, one BN more
    assert ss.SearchSpace().search_values("inception", "factorized") == (False, True)


# ------------------------------------------------------------------ VGG / AlexNet heads, LRN


@pytest.mark.parametrize("name", ["vgg11", "vgg16_bn", "alexnet"])
def test_the_classifier_has_dropout_on_the_two_hidden_fc_layers_only(name):
    """The notes (002): "dropout with rate 0.5 on the fully-connected layers (except for the output layer)"."""
    ours = [m for m in ss.build(zoo.get(name), 3, 1000).head.fc]
    theirs = [m for m in getattr(torchvision.models, name)().classifier if not isinstance(m, nn.Dropout)]
    assert sum(isinstance(m, nn.Dropout) for m in ours) == 2
    assert [type(m) for m in ours if not isinstance(m, nn.Dropout)] == [type(m) for m in theirs]
    dropped = [type(ours[i - 2]) for i, m in enumerate(ours) if isinstance(m, nn.Dropout)]
    assert dropped == [nn.Linear, nn.Linear] and isinstance(ours[-1], nn.Linear)  # hidden FCs' outputs only
    assert all(m.p == 0.5 for m in ours if isinstance(m, nn.Dropout))
    if name.startswith("vgg"):  # torchvision's VGG order exactly: FC, ReLU, dropout, FC, ReLU, dropout, FC
        assert [type(m) for m in ours] == [type(m) for m in getattr(torchvision.models, name)().classifier]


def test_a_global_pool_head_keeps_its_one_dropout_before_the_fc():
    head = ss.build(zoo.get("googlenet"), 3, 1000).head.fc
    assert [type(m) for m in head] == [nn.Dropout, nn.Linear]


def test_lrn_follows_the_relu_with_the_notes_constants():
    """VGG A-LRN: the notes (000) normalise activities "after applying the ReLU" with k = 2, n = 5,
    alpha = 1e-4, beta = 0.75 in b = a / (k + alpha * sum of a^2 over n adjacent maps)^beta."""
    stem = ss.build(zoo.get("vgg_a_lrn"), 3, 1000).stem.nodes[0]
    assert [type(m) for m in stem] == [nn.Conv2d, nn.ReLU, nn.LocalResponseNorm]
    lrn = stem[-1]
    a = torch.relu(torch.randn(2, 12, 5, 5)) * 30
    n, k, alpha, beta = 5, 2.0, 1e-4, 0.75
    expected = torch.empty_like(a)
    for i in range(12):
        window = a[:, max(0, i - n // 2) : min(11, i + n // 2) + 1]
        expected[:, i] = a[:, i] / (k + alpha * window.pow(2).sum(1)) ** beta
    torch.testing.assert_close(lrn(a), expected)


# ------------------------------------------------------------------ ResNet shortcuts (option A)


@pytest.mark.parametrize("depth, millions", [(20, 0.27), (32, 0.46), (44, 0.66), (56, 0.85), (110, 1.7)])
def test_cifar_resnets_with_zero_padding_shortcuts_count_the_papers_parameters(depth, millions):
    """He et al. 2016, Table 6 (option A: parameter-free shortcuts)."""
    count = ss.count_params(zoo.get(f"resnet{depth}"), 3, 10)
    assert round(count / 1e6, 1 if depth == 110 else 2) == millions


def test_the_zero_padding_shortcut_subsamples_and_pads_with_zeros():
    torch.manual_seed(0)
    block = blocks.ResBasic(4, 8, 2, shortcut="zeropad")
    assert not list(block.shortcut.parameters())
    x = torch.randn(2, 4, 7, 7)
    skip = block.shortcut(x)
    assert skip.shape == (2, 8, 4, 4)
    assert torch.equal(skip[:, :4], x[:, :, ::2, ::2]) and not skip[:, 4:].any()
    assert block(x).shape == (2, 8, 4, 4)
    pre = blocks.PreActBasic(4, 8, 2, shortcut="zeropad")
    assert pre(x).shape == (2, 8, 4, 4)
    with pytest.raises(ss.GenotypeError, match="shortcut='zeropad' pads channels, so the output width 8"):
        ss.validate(one_node("res_basic", 8, 16, shortcut="zeropad"), 3, 10, 8)


def test_a_space_can_search_both_shortcuts():
    both = (("res_basic", "shortcut", ("projection", "zeropad")),)
    space, rng = ss.SearchSpace(ops=("conv", "res_basic"), input_size=16, param_search=both), random.Random(0)
    seen = {
        dict(n.params).get("shortcut", "projection")
        for _ in range(40)
        for s in space.sample(rng).stages
        for n in s.nodes
        if n.op == "res_basic"
    }
    assert seen == {"projection", "zeropad"}


# ------------------------------------------------------------------ Highway


def test_highway_carries_x_itself_when_shapes_agree_and_says_where_it_extends_the_paper():
    assert isinstance(blocks.Highway(8, 8).carry, nn.Identity)
    assert isinstance(blocks.Highway(8, 16).carry, layers.Projection)
    assert "extension" in blocks.Highway.__doc__


# ------------------------------------------------------------------ README


def test_readme_lists_every_op_and_every_zoo_architecture():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"`([a-z0-9_]+)`", text))
    assert sorted(set(ss.ops.BUILTIN) - listed) == []
    bases = {n.removesuffix("_cifar") for n in zoo.names()}
    assert sorted(bases - listed) == []


def test_every_op_doc_line_names_its_structure():
    for name in ss.ops.BUILTIN:
        doc = registry.get(name).doc
        assert doc.endswith((".", ")")) and len(doc) <= 119, (name, doc)
