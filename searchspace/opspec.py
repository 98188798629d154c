"""The op registry's core: parameter kinds, `OpSpec`, the `REGISTRY` dict and `register_op`.

Every op is built as ``fn(in_ch, out_ch, stride, **params)`` and declares its
parameters (type, valid range, default, the values a search explores), how its
output width and spatial size follow from its input, and whether it can
downsample. Shape inference, validation, sampling and the builder all read
these declarations, so adding an op is adding one decorated function.

This module imports only `searchspace.values`, so that `searchspace.fingerprint`
(which the genotype uses) can read op specs without a cycle back to the
genotype; `searchspace.registry` re-exports all of it and adds `node`.
"""

from __future__ import annotations

import ast
import functools
import importlib
import importlib.util
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from searchspace.values import GenotypeError, Value

# ---------------------------------------------------------------- parameters


@dataclass(frozen=True)
class Int:
    """An integer parameter in [lo, hi]."""

    default: int
    lo: int
    hi: int
    search: tuple[int, ...] = ()  # values the default search space explores
    odd: bool = False

    def error(self, v: Any) -> str | None:
        if type(v) is not int:
            return f"must be an integer, got {type(v).__name__} {v!r:.30}"
        if not self.lo <= v <= self.hi:
            return f"must be in [{self.lo}, {self.hi}], got {v}"
        if self.odd and v % 2 == 0:
            return f"must be odd, got {v}"
        return None


@dataclass(frozen=True)
class Float:
    """A real parameter in [lo, hi]."""

    default: float
    lo: float
    hi: float
    search: tuple[float, ...] = ()

    def error(self, v: Any) -> str | None:
        if type(v) not in (int, float) or not math.isfinite(v):
            return f"must be a finite number, got {type(v).__name__} {v!r:.30}"
        if not self.lo <= v <= self.hi:
            return f"must be in [{self.lo}, {self.hi}], got {v}"
        return None


@dataclass(frozen=True)
class Choice:
    """One of a fixed set of strings."""

    default: str
    options: tuple[str, ...]
    search: tuple[str, ...] = ()

    def error(self, v: Any) -> str | None:
        if type(v) is not str or v not in self.options:
            return f"must be one of {', '.join(self.options)}; got {v!r:.30}"
        return None


@dataclass(frozen=True)
class Bool:
    """A boolean switch."""

    default: bool
    search: tuple[bool, ...] = ()

    def error(self, v: Any) -> str | None:
        return None if type(v) is bool else f"must be true or false, got {v!r:.30}"


Param = Int | Float | Choice | Bool

NORMS = ("bn", "gn", "lrn", "none")
ACTS = ("relu", "leaky_relu", "prelu", "gelu", "tanh", "none")
ORDERS = ("post", "pre", "act_first")  # conv-norm-act, norm-act-conv, act-conv-norm

# The parameters every convolution-type op shares.
CONV_COMMON: dict[str, Param] = {
    "norm": Choice("bn", NORMS, search=("bn",)),
    "act": Choice("relu", ACTS, search=("relu",)),
    "order": Choice("post", ORDERS, search=("post",)),
    "bias": Bool(False),
}

# ---------------------------------------------------------------- shapes


def conv_size(size: int, kernel: int, stride: int, padding: int, dilation: int = 1, ceil: bool = False) -> int:
    """Output length along one axis, as torch computes it for conv and pooling."""
    span = size + 2 * padding - dilation * (kernel - 1) - 1
    return (-(-span // stride) if ceil else span // stride) + 1


def same_size(size: int, stride: int, params: Mapping[str, Value]) -> int:
    """'Same' padding: ceil(size / stride)."""
    return -(-size // stride)


def keep_size(size: int, stride: int, params: Mapping[str, Value]) -> int:
    return size


# ---------------------------------------------------------------- specs

WIDTH_RULES = ("param", "same", "derived")
CATEGORIES = ("conv", "pool", "block", "misc")


@dataclass(frozen=True)
class OpSpec:
    """Everything the rest of the system knows about one op."""

    name: str
    factory: Callable[..., Any] | LazyRef  # the op's class, or where to import it from (see `fn`)
    params: Mapping[str, Param]
    category: str  # conv, pool, block or misc; used to group ops in the search space
    width: str  # param: out = node width; same: out = in; derived: out = out_width(...)
    strides: bool  # can downsample when it reads the input of a strided stage
    spatial: Callable[[int, int, Mapping[str, Value]], int] = same_size  # (size, stride, params) -> size
    upsample: Callable[[Mapping[str, Value]], int] | None = None  # resolution multiplier, if any
    global_pool: bool = False  # output is 1x1 whatever the input
    out_width: Callable[[int, int, Mapping[str, Value]], int] | None = None  # (in_ch, width, params)
    check: Callable[[int, int, Mapping[str, Value]], str | None] | None = None  # (in_ch, out_ch, params)
    doc: str = field(default="")

    @property
    def fn(self) -> Callable[..., Any]:
        """The op's class, ``fn(in_ch, out_ch, stride, **params) -> nn.Module``; imported on first use."""
        return self.factory.load() if isinstance(self.factory, LazyRef) else self.factory

    def resolve(self, params: Mapping[str, Value] | tuple) -> dict[str, Value]:
        """Defaults filled in for every declared parameter."""
        given = dict(params)
        return {k: given.get(k, p.default) for k, p in self.params.items()}

    def canonical(self, params: Mapping[str, Value] | tuple) -> tuple[tuple[str, Value], ...]:
        """Params with defaults dropped, sorted: the form stored in a genotype."""
        given = dict(params)
        keep = {k: v for k, v in given.items() if k not in self.params or self.params[k].default != v}
        return tuple(sorted(keep.items()))

    def param_error(self, params: Mapping[str, Value] | tuple) -> str | None:
        """First problem with a parameter dict, or None."""
        for k, v in dict(params).items():
            if k not in self.params:
                allowed = ", ".join(self.params) or "none"
                return f"op {self.name!r} has no parameter {k!r}; its parameters: {allowed}"
            err = self.params[k].error(v)
            if err:
                return f"parameter {k!r} of op {self.name!r} {err}"
        return None

    def output_width(self, in_ch: int, width: int, params: Mapping[str, Value]) -> int:
        if self.width == "same":
            return in_ch
        if self.width == "derived" and self.out_width is not None:
            return self.out_width(in_ch, width, params)
        return width

    def scale(self, stride: int, params: Mapping[str, Value]) -> Fraction:
        """How much coarser the output grid is than the input grid."""
        up = self.upsample(params) if self.upsample else 1
        return Fraction(stride, up)


# ---------------------------------------------------------------- lazy classes


@dataclass(frozen=True)
class LazyRef:
    """An op class named by module and attribute, imported when first built.

    The op modules need torch; the registry's metadata (names, parameters, shape
    rules, docs) must not, so that sampling, mutation and validation run where
    torch cannot be imported. The doc line is read from the module's source.
    """

    module: str  # e.g. "searchspace.blocks"
    name: str  # the class in it

    def load(self) -> Callable[..., Any]:
        """The class itself (imports its module)."""
        return getattr(importlib.import_module(self.module), self.name)

    @property
    def doc(self) -> str | None:
        """The class's docstring, parsed from the source file rather than imported."""
        docs = _class_docs(self.module)
        return docs[self.name] if self.name in docs else self.load().__doc__


@functools.cache
def _class_docs(module: str) -> dict[str, str | None]:
    """Docstrings of a module's top-level classes, without executing the module."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return {}  # no source to read: LazyRef.doc imports the class instead
    tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
    return {n.name: ast.get_docstring(n) for n in tree.body if isinstance(n, ast.ClassDef)}


def _first_line(doc: str | None) -> str:
    return doc.strip().splitlines()[0] if doc and doc.strip() else ""


REGISTRY: dict[str, OpSpec] = {}
_generation = 0  # bumped by every registration: caches of validation and fingerprints key on it


def generation() -> int:
    """How many registrations have happened (a cache made under another number may be stale)."""
    return _generation


def register_op(
    name: str,
    *,
    params: Mapping[str, Param] | None = None,
    category: str,
    width: str = "param",
    strides: bool = True,
    spatial: Callable[[int, int, Mapping[str, Value]], int] = same_size,
    upsample: Callable[[Mapping[str, Value]], int] | None = None,
    global_pool: bool = False,
    out_width: Callable[[int, int, Mapping[str, Value]], int] | None = None,
    check: Callable[[int, int, Mapping[str, Value]], str | None] | None = None,
) -> Callable[[Callable[..., Any] | LazyRef], Callable[..., Any] | LazyRef]:
    """Decorator: register ``fn(in_ch, out_ch, stride, **params)``, or a `LazyRef` to it, under `name`."""
    if width not in WIDTH_RULES:
        raise ValueError(f"width rule must be one of {WIDTH_RULES}, got {width!r}")
    if category not in CATEGORIES:
        raise ValueError(f"category must be one of {CATEGORIES}, got {category!r}")

    def deco(fn: Callable[..., Any] | LazyRef) -> Callable[..., Any] | LazyRef:
        global _generation
        if name in REGISTRY and not _redefinition(REGISTRY[name].factory, fn):
            raise ValueError(f"op {name!r} is registered twice")
        _generation += 1
        REGISTRY[name] = OpSpec(
            name=name,
            factory=fn,
            params=dict(params or {}),
            category=category,
            width=width,
            strides=strides,
            spatial=spatial,
            upsample=upsample,
            global_pool=global_pool,
            out_width=out_width,
            check=check,
            doc=_first_line(fn.doc if isinstance(fn, LazyRef) else fn.__doc__),
        )
        return fn

    return deco


def _redefinition(old: Any, new: Any) -> bool:
    """Whether `new` is `old` defined again (a notebook cell run twice): same module and qualified name."""
    key = (getattr(old, "__module__", None), getattr(old, "__qualname__", None))
    return not isinstance(old, LazyRef) and key == (getattr(new, "__module__", None), getattr(new, "__qualname__", 0))


def get(name: str) -> OpSpec:
    """The spec of a registered op; an unknown name lists the known ones."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise GenotypeError(f"unknown op {name!r}; known ops: {', '.join(sorted(REGISTRY))}") from None


def names(category: str | None = None) -> list[str]:
    """Registered op names, optionally of one category."""
    return sorted(n for n, s in REGISTRY.items() if category is None or s.category == category)
