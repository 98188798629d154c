"""Every op of the search space, registered with its parameters and shape rules.

``names()`` lists them; ``get(name)`` returns an `OpSpec`. Each op's class (in
`searchspace.layers` or `searchspace.blocks`) is built as
``cls(in_ch, out_ch, stride, **params)``.

The classes are registered as `LazyRef`s, and the blocks' width rules live in
`searchspace.widths` (plain Python, shared with the blocks and copied into
exported models), so this module -- and with it sampling, mutation and
validation -- never imports torch; torch comes in when an op is first built.
"""

from __future__ import annotations

from collections.abc import Mapping

from searchspace.opspec import (
    CONV_COMMON,
    NORMS,
    ORDERS,
    REGISTRY,
    Bool,
    Choice,
    Float,
    Int,
    LazyRef,
    OpSpec,
    conv_size,
    get,
    keep_size,
    names,
    register_op,
)
from searchspace.values import Value
from searchspace.widths import (
    NAIVE_SPLITS,
    inception_naive_widths,
    inception_v3_widths,
    inception_widths,
    transition_width,
)

__all__ = ["BUILTIN", "REGISTRY", "OpSpec", "get", "names", "register_op"]

KERNEL = Int(3, 1, 15, search=(3, 5), odd=True)


def _layer(name: str) -> LazyRef:
    return LazyRef("searchspace.layers", name)


def _block(name: str) -> LazyRef:
    return LazyRef("searchspace.blocks", name)


def _conv_spatial(size: int, stride: int, p: Mapping[str, Value]) -> int:
    pad = p["kernel"] // 2 if p["padding"] < 0 else p["padding"]
    return conv_size(size, p["kernel"], stride, pad)


def _pool_spatial(size: int, stride: int, p: Mapping[str, Value]) -> int:
    kernel = p["kernel"]
    pad = (kernel - 1) // 2 if p["padding"] < 0 else p["padding"]
    out = conv_size(size, kernel, stride, pad, ceil=p["ceil"])
    if p["ceil"] and (out - 1) * stride >= size + pad:  # torch drops a window starting in the padding
        out -= 1
    return out


def _groups_check(in_ch: int, out_ch: int, p: Mapping[str, Value]) -> str | None:
    g = p["groups"]
    if in_ch % g or out_ch % g:
        return f"groups={g} must divide both input width {in_ch} and output width {out_ch}"
    return None


def _pool_check(in_ch: int, out_ch: int, p: Mapping[str, Value]) -> str | None:
    pad = p["padding"]
    if pad > p["kernel"] // 2:
        return f"padding={pad} must be at most half the kernel ({p['kernel']})"
    return None


# ------------------------------------------------------------------ convolutions
register_op(
    "conv",
    category="conv",
    params={"kernel": KERNEL, "padding": Int(-1, -1, 7), **CONV_COMMON},
    spatial=_conv_spatial,
)(_layer("Conv"))
register_op("conv1x1", category="conv", params=dict(CONV_COMMON))(_layer("Conv1x1"))
register_op(
    "dilated",
    category="conv",
    params={"kernel": KERNEL, "dilation": Int(2, 1, 8, search=(2, 3)), **CONV_COMMON},
)(_layer("DilatedConv"))
register_op(
    "grouped",
    category="conv",
    params={"kernel": KERNEL, "groups": Int(4, 1, 1024, search=(2, 4, 8)), **CONV_COMMON},
    check=_groups_check,
)(_layer("GroupedConv"))
register_op("sepconv", category="conv", params={"kernel": KERNEL, **CONV_COMMON})(_layer("SepConv"))
register_op(
    "spatial_sep", category="conv", params={"kernel": Int(3, 3, 15, search=(3, 5, 7), odd=True), **CONV_COMMON}
)(_layer("SpatialSepConv"))
register_op(
    "transposed",
    category="conv",
    params={"kernel": KERNEL, "up": Int(2, 1, 4, search=(1, 2)), **CONV_COMMON},
    strides=False,
    spatial=lambda size, stride, p: size * p["up"],
    upsample=lambda p: p["up"],
)(_layer("TransposedConv"))
register_op("deformable", category="conv", params={"kernel": Int(3, 1, 7, search=(3,), odd=True), **CONV_COMMON})(
    _layer("DeformableConv")
)
register_op("coordconv", category="conv", params={"kernel": KERNEL, **CONV_COMMON})(_layer("CoordConv"))
register_op(
    "unshared",
    category="conv",
    params={"kernel": KERNEL, "grid": Int(2, 1, 64, search=(2, 3)), **CONV_COMMON},
)(_layer("UnsharedConv"))
register_op(
    "dirac",
    category="conv",
    params={
        "kernel": Int(3, 1, 15, search=(3,), odd=True),
        **CONV_COMMON,
        "order": Choice("act_first", ORDERS, search=("act_first",)),  # ReLU -> conv -> BN, as DiracNets
    },
)(_layer("DiracConv"))

# ------------------------------------------------------------------ pooling and the rest
POOL_PARAMS = {"kernel": Int(3, 1, 7, search=(3,)), "padding": Int(-1, -1, 3), "ceil": Bool(False)}
register_op("maxpool", category="pool", params=POOL_PARAMS, width="same", spatial=_pool_spatial, check=_pool_check)(
    _layer("MaxPool")
)
register_op("avgpool", category="pool", params=POOL_PARAMS, width="same", spatial=_pool_spatial, check=_pool_check)(
    _layer("AvgPool")
)
register_op("gap", category="pool", width="same", strides=False, global_pool=True, spatial=lambda size, stride, p: 1)(
    _layer("GlobalAvgPool")
)
register_op("identity", category="misc", width="same", strides=False, spatial=keep_size)(_layer("Identity"))
register_op("zero", category="misc", width="same", strides=False, spatial=keep_size)(_layer("Zero"))
register_op(
    "dropout",
    category="misc",
    params={"p": Float(0.2, 0.0, 0.9, search=(0.1, 0.3))},
    width="same",
    strides=False,
    spatial=keep_size,
)(_layer("Dropout"))
register_op(
    "norm",
    category="misc",
    params={"norm": Choice("bn", NORMS, search=("bn",)), "act": CONV_COMMON["act"]},
    width="same",
    strides=False,
    spatial=keep_size,
)(_layer("NormAct"))

# ------------------------------------------------------------------ blocks
BRANCH = Int(0, 0, 8192)
register_op(
    "inception_naive",
    category="block",
    params={
        "b1": BRANCH,
        "b3": BRANCH,
        "b5": BRANCH,
        "split": Choice("2:4:1", NAIVE_SPLITS, search=NAIVE_SPLITS),
        "norm": Choice("bn", NORMS),
    },
    width="derived",
    out_width=lambda in_ch, w, p: in_ch + sum(inception_naive_widths(w, p["b1"], p["b3"], p["b5"], p["split"])),
)(_block("InceptionNaive"))


def _inception_width(in_ch: int, w: int, p: Mapping[str, Value]) -> int:
    b1, _, b3, _, b5, pp = inception_widths(w, p["b1"], p["b3r"], p["b3"], p["b5r"], p["b5"], p["pool_proj"])
    return b1 + b3 + b5 + pp


register_op(
    "inception",
    category="block",
    params={
        "b1": BRANCH,
        "b3r": BRANCH,
        "b3": BRANCH,
        "b5r": BRANCH,
        "b5": BRANCH,
        "pool_proj": BRANCH,
        "k5": Int(5, 1, 7, odd=True),
        "factorized": Bool(False, search=(False, True)),  # Inception-v2: k5 x k5 as stacked 3x3 convs
        "norm": Choice("bn", NORMS),
    },
    width="derived",
    out_width=_inception_width,
)(_block("Inception"))


def _inception_v3_width(in_ch: int, w: int, p: Mapping[str, Value]) -> int:
    b1, _, b, pp = inception_v3_widths(w, p["b1"], p["r"], p["b"], p["pool_proj"])
    return b1 + 2 * b + pp


register_op(
    "inception_v3",
    category="block",
    params={
        "b1": BRANCH,
        "r": BRANCH,
        "b": BRANCH,
        "pool_proj": BRANCH,
        "n": Int(7, 3, 9, search=(3, 5, 7), odd=True),
        "norm": Choice("bn", NORMS),
    },
    width="derived",
    out_width=_inception_v3_width,
)(_block("InceptionV3"))
# The seeds' two ways to match a residual's dimensions (003): option A, zero padding; option B, a projection.
# The default space keeps B (so spaces recorded before A existed, like the tabular benchmark's, are unchanged);
# `param_search: [[res_basic, shortcut, [projection, zeropad]]]` searches both.
SHORTCUT = Choice("projection", ("projection", "zeropad"), search=("projection",))


def _shortcut_check(in_ch: int, out_ch: int, p: Mapping[str, Value]) -> str | None:
    if p["shortcut"] == "zeropad" and out_ch < in_ch:
        return f"shortcut='zeropad' pads channels, so the output width {out_ch} must be at least the input's {in_ch}"
    return None


register_op(
    "res_basic",
    category="block",
    params={"kernel": Int(3, 1, 7, odd=True), "shortcut": SHORTCUT},
    check=_shortcut_check,
)(_block("ResBasic"))
register_op("res_reduce", category="block", spatial=lambda size, stride, p: conv_size(size, 3, stride, 1))(
    _block("ResReduce")
)
register_op(
    "res_bottleneck",
    category="block",
    params={"ratio": Float(0.25, 0.03125, 4.0, search=(0.25, 0.5)), "groups": Int(1, 1, 256), "shortcut": SHORTCUT},
    check=_shortcut_check,
)(_block("ResBottleneck"))
register_op(
    "resnext",
    category="block",
    params={
        "cardinality": Int(32, 1, 256, search=(4, 8, 16)),
        "ratio": Float(0.5, 0.03125, 4.0, search=(0.5,)),
        "shortcut": SHORTCUT,
    },
    check=_shortcut_check,
)(_block("ResNeXt"))
register_op(
    "preact_basic",
    category="block",
    params={"kernel": Int(3, 1, 7, odd=True), "shortcut": SHORTCUT},
    check=_shortcut_check,
)(_block("PreActBasic"))
register_op(
    "preact_bottleneck",
    category="block",
    params={"ratio": Float(0.25, 0.03125, 4.0, search=(0.25, 0.5)), "shortcut": SHORTCUT},
    check=_shortcut_check,
)(_block("PreActBottleneck"))
register_op(
    "dense_block",
    category="block",
    params={
        "layers": Int(4, 1, 128, search=(2, 3, 4)),
        "growth": Int(12, 1, 1024, search=(8, 12, 16)),
        "bn_size": Int(4, 1, 8),
    },
    width="derived",
    strides=False,
    spatial=keep_size,
    out_width=lambda in_ch, w, p: in_ch + p["layers"] * p["growth"],
)(_block("DenseBlock"))
register_op(
    "transition",
    category="block",
    params={"compression": Float(0.5, 0.05, 1.0, search=(0.5, 1.0))},
    width="derived",
    out_width=lambda in_ch, w, p: transition_width(in_ch, p["compression"]),
)(_block("Transition"))
register_op(
    "highway",
    category="block",
    params={"kernel": Int(3, 1, 7, odd=True, search=(3,)), "gate_bias": Float(-1.0, -10.0, 10.0)},
)(_block("Highway"))

BUILTIN = frozenset(REGISTRY)  # nasgraph's own ops; anything registered later is the user's (`nas.plugins`)
