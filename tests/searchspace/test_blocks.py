"""Blocks: norm and activation come from factories; the registry's torch-free metadata matches the classes."""

from __future__ import annotations

import inspect
import itertools

import pytest
import torch
from torch import nn

from searchspace import blocks, registry

BLOCKS = sorted(
    (c for c in vars(blocks).values() if inspect.isclass(c) and c.__module__ == blocks.__name__),
    key=lambda c: c.__name__,
)
GN_SILU = {"norm_layer": lambda ch: nn.GroupNorm(1, ch), "act_layer": nn.SiLU}
BN_RELU = {"norm_layer": nn.BatchNorm2d, "act_layer": nn.ReLU}


def make(cls: type, **factories) -> tuple[nn.Module, int]:
    """A block reading 8 channels at stride 2 where it can (so shortcuts project), and its input width."""
    if cls is blocks.DenseLayer:
        return cls(8, 4, 2, **factories), 8
    if cls is blocks.Conv2dBN:
        return cls(8, 16, 3, 2, 1, **factories), 8
    return cls(8, 16, 2, **factories), 8


@pytest.mark.parametrize("cls", BLOCKS, ids=lambda c: c.__name__)
def test_every_block_builds_its_norm_and_activation_from_the_factories(cls):
    block, in_ch = make(cls, **GN_SILU)
    kinds = {type(m) for m in block.modules()}
    assert nn.GroupNorm in kinds and nn.SiLU in kinds, cls.__name__
    assert not kinds & {nn.BatchNorm2d, nn.ReLU}, (cls.__name__, kinds)
    with torch.no_grad():
        assert block(torch.randn(2, in_ch, 8, 8)).ndim == 4


@pytest.mark.parametrize("cls", BLOCKS, ids=lambda c: c.__name__)
def test_the_default_factories_are_the_seeds_batchnorm_and_relu(cls):
    torch.manual_seed(0)
    default, _ = make(cls)
    torch.manual_seed(0)
    explicit, _ = make(cls, **BN_RELU)
    assert repr(default) == repr(explicit)
    assert default.state_dict().keys() == explicit.state_dict().keys()
    for a, b in zip(default.state_dict().values(), explicit.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    kinds = {type(m) for m in default.modules()}
    assert nn.BatchNorm2d in kinds and nn.ReLU in kinds and nn.GroupNorm not in kinds


def test_inplace_relu_where_the_seeds_had_it():
    assert blocks.ResBasic(8, 8).relu.inplace
    assert not blocks.PreActBasic(8, 8).relu.inplace  # its shortcut reads the activation
    bn = blocks.ResBottleneck(8, 8).bn3
    assert (bn.eps, bn.momentum, bn.affine) == (1e-5, 0.1, True)


def test_a_norm_factory_replaces_an_inception_blocks_named_norm():
    kinds = {type(m) for m in blocks.InceptionNaive(8, 32, norm="lrn", **GN_SILU).modules()}
    assert nn.GroupNorm in kinds and nn.LocalResponseNorm not in kinds


@pytest.mark.parametrize("op", ["inception_naive", "inception", "inception_v3", "transition"])
def test_the_registrys_width_rule_is_what_the_built_block_outputs(op):
    """Shape inference (no torch) and the block share searchspace.widths; the built block must agree."""
    spec = registry.get(op)
    branch = {
        "inception_naive": ("b1", "b3", "b5"),
        "inception": ("b1", "b3r", "b3", "b5r", "b5", "pool_proj"),
        "inception_v3": ("b1", "r", "b", "pool_proj"),
    }
    for in_ch, width, b in itertools.product((1, 3, 16, 64), (4, 17, 64), (0, 5)):
        params = spec.resolve({k: b for k in branch.get(op, ())})
        out_ch = spec.output_width(in_ch, width, params)
        block = spec.fn(in_ch, out_ch, 1, **params)  # as the builder makes it: told its output width
        channels = block(torch.zeros(1, in_ch, 9, 9)).shape[1]
        assert out_ch == channels, (op, in_ch, width, b)


@pytest.mark.parametrize("op", registry.names())
def test_registry_doc_is_the_class_docstring(op):
    """The doc line is parsed from the source (no import); it must be what the class says."""
    spec = registry.get(op)
    assert spec.doc == spec.fn.__doc__.strip().splitlines()[0]
