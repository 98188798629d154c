"""The op registry: one dict, one `register_op` decorator, one construction signature.

Every op is built as ``fn(in_ch, out_ch, stride, **params)`` and declares its
parameters (type, valid range, default, the values a search explores), how its
output width and spatial size follow from its input, and whether it can
downsample. Shape inference, validation, sampling and the builder all read
these declarations, so adding an op is adding one decorated function.

The declarations live in `searchspace.opspec` (a module that does not import the
genotype, so the fingerprint can use them); this module re-exports them and adds
`node`, which builds genotype nodes of registered ops.
"""

from __future__ import annotations

from searchspace.genotype import Node
from searchspace.opspec import (
    ACTS,
    CATEGORIES,
    CONV_COMMON,
    NORMS,
    ORDERS,
    REGISTRY,
    WIDTH_RULES,
    Bool,
    Choice,
    Float,
    Int,
    LazyRef,
    OpSpec,
    Param,
    conv_size,
    get,
    keep_size,
    names,
    register_op,
    same_size,
)
from searchspace.values import INPUT, GenotypeError, Value

__all__ = [
    "ACTS",
    "CATEGORIES",
    "CONV_COMMON",
    "NORMS",
    "ORDERS",
    "REGISTRY",
    "WIDTH_RULES",
    "Bool",
    "Choice",
    "Float",
    "Int",
    "LazyRef",
    "OpSpec",
    "Param",
    "conv_size",
    "get",
    "keep_size",
    "names",
    "node",
    "register_op",
    "same_size",
]


def node(op: str, inputs: tuple[int, ...] = (INPUT,), width: int = 0, merge: str = "sum", **params: Value) -> Node:
    """A `Node` of a registered op with its parameters checked and defaults dropped."""
    spec = get(op)
    err = spec.param_error(params)
    if err:
        raise GenotypeError(err)
    return Node(op, tuple(inputs), width, merge, spec.canonical(params))
