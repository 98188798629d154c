"""The genotype: a network as plain data (stem, stages of node DAGs, head).

A genotype is a tree of frozen dataclasses holding only primitives and tuples,
so it is hashable, printable and round-trips through JSON exactly. It says
nothing about torch: `searchspace.build` turns it into a module.

Semantics, in one place:

- A network is ``stem -> stages[0] -> ... -> stages[-1] -> head``. The stem is
  an ordinary `Stage`; it is kept apart so that a search can leave it fixed.
- A stage is a DAG over its nodes. ``Node.inputs`` lists the indices of the
  nodes it reads; ``INPUT`` (-1) is the stage's input. A node's value is
  ``op(merge(inputs))``. The stage's output merges its sinks (nodes nobody
  reads), or the nodes listed in ``Stage.outputs``, with ``Stage.out_merge``.
- ``Stage.stride`` is the stage's downsampling: nodes that read only the stage
  input apply it; every other node runs at stride 1. Inputs that arrive at a
  merge with another width or resolution pass through a 1x1 projection
  (conv + BatchNorm, as ResNet's projection shortcut).
- The head pools to ``pool_size x pool_size`` (``pool_size=1`` is global
  average pooling), then runs its hidden FC layers and the output FC, with
  dropout after each hidden layer or, with none, before the output FC; the
  exact structure is `searchspace.layers.Classifier`'s, which builds it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from searchspace.fingerprint import fingerprint as _fingerprint
from searchspace.values import (  # re-exported: they were defined here, and callers import them from here
    HEAD_ACTS,
    INPUT,
    MERGES,
    WIRINGS,
    GenotypeError,
    Params,
    Value,
    freeze_params,
)

__all__ = [
    "HEAD_ACTS",
    "INPUT",
    "MAX_JSON_BYTES",
    "MERGES",
    "WIRINGS",
    "Genotype",
    "GenotypeError",
    "Head",
    "Node",
    "Params",
    "Stage",
    "Value",
    "Wiring",
    "freeze_params",
]

MAX_JSON_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class Node:
    """One op in a stage DAG: ``op(merge(inputs))``."""

    op: str
    inputs: tuple[int, ...] = (INPUT,)
    width: int = 0  # output channels; 0 = the stage width (ops that set their own width ignore it)
    merge: str = "sum"  # how several inputs are combined: sum, mean, wsum (sigmoid-weighted), concat
    params: Params = ()  # the op's parameters that differ from its defaults, sorted by name

    def param(self, name: str, default: Value | None = None) -> Value | None:
        """The value of one parameter as stored (defaults are not filled in)."""
        return dict(self.params).get(name, default)

    def replace(self, **changes: Any) -> Node:
        """A copy with some fields changed; params may be given as a dict."""
        if "params" in changes:
            changes["params"] = freeze_params(changes["params"])
        if "inputs" in changes:
            changes["inputs"] = tuple(changes["inputs"])
        return _replace(self, changes)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"op": self.op, "inputs": list(self.inputs)}
        if self.width:
            d["width"] = self.width
        if self.merge != "sum":
            d["merge"] = self.merge
        if self.params:
            d["params"] = dict(self.params)
        return d

    @classmethod
    def from_dict(cls, d: Any, where: str = "node") -> Node:
        _keys(d, where, required=("op",), allowed=("op", "inputs", "width", "merge", "params"))
        params = d.get("params", {})
        if not isinstance(params, dict):
            raise GenotypeError(f"{where}: 'params' must be an object, got {_tname(params)}")
        for k, v in params.items():
            if not isinstance(v, int | float | str | bool):
                raise GenotypeError(f"{where}: parameter {k!r} must be a number, string or boolean, got {_tname(v)}")
        inputs = d.get("inputs", [INPUT])
        if not isinstance(inputs, list):
            raise GenotypeError(f"{where}: 'inputs' must be a list of node indices, got {_tname(inputs)}")
        return cls(
            op=_typed(d["op"], str, f"{where}.op"),
            inputs=tuple(_typed(i, int, f"{where}.inputs") for i in inputs),
            width=_typed(d.get("width", 0), int, f"{where}.width"),
            merge=_typed(d.get("merge", "sum"), str, f"{where}.merge"),
            params=freeze_params(params),
        )


@dataclass(frozen=True)
class Wiring:
    """How a stage's edges were generated, so the DAG can be re-derived from these genes."""

    kind: str = "custom"  # chain, residual, dense, ws (Watts-Strogatz, RandWire) or custom
    params: Params = ()  # e.g. ws: n, k, p, seed; residual: unit

    def param(self, name: str, default: Value | None = None) -> Value | None:
        return dict(self.params).get(name, default)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **dict(self.params)}

    @classmethod
    def from_dict(cls, d: Any, where: str = "wiring") -> Wiring:
        if not isinstance(d, dict):
            raise GenotypeError(f"{where}: must be an object, got {_tname(d)}")
        kind = _typed(d.get("kind", "custom"), str, f"{where}.kind")
        rest = {k: v for k, v in d.items() if k != "kind"}
        for k, v in rest.items():
            if not isinstance(v, int | float | str | bool):
                raise GenotypeError(f"{where}: {k!r} must be a number or string, got {_tname(v)}")
        return cls(kind=kind, params=freeze_params(rest))


@dataclass(frozen=True)
class Stage:
    """A DAG of nodes at one resolution, with its width and its downsampling."""

    width: int  # channels of nodes that do not set their own
    nodes: tuple[Node, ...]
    stride: int = 1  # downsampling, applied by the nodes that read only the stage input
    out_merge: str = "sum"  # how the output nodes are combined into the stage output
    outputs: tuple[int, ...] = ()  # nodes (or INPUT) merged into the output; () = the sinks
    wiring: Wiring = field(default_factory=Wiring)

    def __hash__(self) -> int:  # computed once (a stage of a big network has hundreds of nodes)
        h = self.__dict__.get("_hash")
        if h is None:
            h = hash((self.width, self.nodes, self.stride, self.out_merge, self.outputs, self.wiring))
            object.__setattr__(self, "_hash", h)
        return h

    def __reduce__(self) -> tuple[Any, ...]:  # pickled without the cached hash (string hashes differ by process)
        return (Stage, (self.width, self.nodes, self.stride, self.out_merge, self.outputs, self.wiring))

    def replace(self, **changes: Any) -> Stage:
        for key in ("nodes", "outputs"):
            if key in changes:
                changes[key] = tuple(changes[key])
        return _replace(self, changes)

    def sinks(self) -> tuple[int, ...]:
        """Indices of nodes that no other node reads."""
        read = {j for n in self.nodes for j in n.inputs}
        return tuple(i for i in range(len(self.nodes)) if i not in read)

    def output_nodes(self) -> tuple[int, ...]:
        """What the stage output merges: `outputs` if given, else the sinks."""
        return self.outputs or self.sinks()

    def edges(self) -> list[tuple[int, int]]:
        """(source, target) pairs; source INPUT is the stage input."""
        return [(j, i) for i, n in enumerate(self.nodes) for j in n.inputs]

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"width": self.width, "stride": self.stride}
        if self.out_merge != "sum":
            d["out_merge"] = self.out_merge
        if self.outputs:
            d["outputs"] = list(self.outputs)
        if self.wiring.kind != "custom" or self.wiring.params:
            d["wiring"] = self.wiring.to_dict()
        d["nodes"] = [n.to_dict() for n in self.nodes]
        return d

    @classmethod
    def from_dict(cls, d: Any, where: str = "stage") -> Stage:
        allowed = ("width", "stride", "out_merge", "outputs", "wiring", "nodes")
        _keys(d, where, required=("width", "nodes"), allowed=allowed)
        nodes, outputs = d["nodes"], d.get("outputs", [])
        for key, v in (("nodes", nodes), ("outputs", outputs)):
            if not isinstance(v, list):
                raise GenotypeError(f"{where}: {key!r} must be a list, got {_tname(v)}")
        return cls(
            width=_typed(d["width"], int, f"{where}.width"),
            stride=_typed(d.get("stride", 1), int, f"{where}.stride"),
            out_merge=_typed(d.get("out_merge", "sum"), str, f"{where}.out_merge"),
            outputs=tuple(_typed(o, int, f"{where}.outputs") for o in outputs),
            wiring=Wiring.from_dict(d.get("wiring", {}), f"{where}.wiring"),
            nodes=tuple(Node.from_dict(n, f"{where} node {i}") for i, n in enumerate(nodes)),
        )


@dataclass(frozen=True)
class Head:
    """The classifier head's genes; `searchspace.layers.Classifier` builds it and states its structure."""

    pool_size: int = 1  # spatial size after adaptive average pooling; 1 = global average pooling
    hidden: tuple[int, ...] = ()  # widths of the hidden fully connected layers
    dropout: float = 0.0  # dropout rate after each hidden layer, or before the only FC (0 = none)
    act: str = "relu"  # activation after each hidden layer

    def to_dict(self) -> dict[str, Any]:
        return {"pool_size": self.pool_size, "hidden": list(self.hidden), "dropout": self.dropout, "act": self.act}

    @classmethod
    def from_dict(cls, d: Any, where: str = "head") -> Head:
        _keys(d, where, required=(), allowed=("pool_size", "hidden", "dropout", "act"))
        hidden = d.get("hidden", [])
        if not isinstance(hidden, list):
            raise GenotypeError(f"{where}.hidden: must be a list of widths, got {_tname(hidden)}")
        return cls(
            pool_size=_typed(d.get("pool_size", 1), int, f"{where}.pool_size"),
            hidden=tuple(_typed(h, int, f"{where}.hidden") for h in hidden),
            dropout=float(_typed(d.get("dropout", 0.0), float, f"{where}.dropout")),
            act=_typed(d.get("act", "relu"), str, f"{where}.act"),
        )


@dataclass(frozen=True)
class Genotype:
    """A whole network: stem, stages, head."""

    stem: Stage
    stages: tuple[Stage, ...]
    head: Head = field(default_factory=Head)

    def __hash__(self) -> int:  # computed once: caches keyed by genotypes hash them again and again
        h = self.__dict__.get("_hash")
        if h is None:
            h = hash((self.stem, self.stages, self.head))
            object.__setattr__(self, "_hash", h)
        return h

    def __reduce__(self) -> tuple[Any, ...]:  # pickled without the cached hash (string hashes differ by process)
        return (Genotype, (self.stem, self.stages, self.head))

    def replace(self, **changes: Any) -> Genotype:
        if "stages" in changes:
            changes["stages"] = tuple(changes["stages"])
        return _replace(self, changes)

    def all_stages(self) -> tuple[Stage, ...]:
        """The stem followed by the stages."""
        return (self.stem, *self.stages)

    def to_dict(self) -> dict[str, Any]:
        return {
            "stem": self.stem.to_dict(),
            "stages": [s.to_dict() for s in self.stages],
            "head": self.head.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: Any) -> Genotype:
        _keys(d, "genotype", required=("stem", "stages"), allowed=("stem", "stages", "head", "format"))
        stages = d["stages"]
        if not isinstance(stages, list):
            raise GenotypeError(f"genotype: 'stages' must be a list, got {_tname(stages)}")
        return cls(
            stem=Stage.from_dict(d["stem"], "stem"),
            stages=tuple(Stage.from_dict(s, f"stage {i + 1}") for i, s in enumerate(stages)),
            head=Head.from_dict(d.get("head", {})),
        )

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent, sort_keys=False)

    @classmethod
    def from_json(cls, text: str | bytes) -> Genotype:
        """Parse JSON text; malformed or oversized input raises GenotypeError."""
        if len(text) > MAX_JSON_BYTES:
            raise GenotypeError(f"genotype JSON is {len(text)} bytes; at most {MAX_JSON_BYTES} are read")
        try:
            data = json.loads(text)
        except ValueError as e:  # bad syntax or encoding, or an integer literal too long to convert
            raise GenotypeError(f"genotype is not valid JSON: {e}") from None
        except RecursionError:
            raise GenotypeError("genotype JSON is nested too deeply") from None
        return cls.from_dict(data)

    def fingerprint(self) -> str:
        """Canonical hash: equal for isomorphic stage graphs (see `searchspace.fingerprint`)."""
        return _fingerprint(self)

    def __str__(self) -> str:
        return self.to_json()


def _replace(obj: Any, changes: dict[str, Any]) -> Any:
    import dataclasses

    return dataclasses.replace(obj, **changes)


def _tname(v: Any) -> str:
    return "null" if v is None else type(v).__name__


def _typed(v: Any, kind: type, where: str) -> Any:
    """Check a JSON value's type; bool is not accepted where a number is expected."""
    ok = isinstance(v, kind) and not (isinstance(v, bool) and kind is not bool)
    if kind is float and isinstance(v, int) and not isinstance(v, bool):
        ok = True
    if not ok:
        want = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}[kind]
        raise GenotypeError(f"{where}: must be {want}, got {_tname(v)} {v!r:.40}")
    return v


def _keys(d: Any, where: str, required: tuple[str, ...], allowed: tuple[str, ...]) -> None:
    if not isinstance(d, dict):
        raise GenotypeError(f"{where}: must be an object, got {_tname(d)}")
    missing = [k for k in required if k not in d]
    if missing:
        raise GenotypeError(f"{where}: missing {', '.join(map(repr, missing))}")
    unknown = sorted(set(d) - set(allowed))
    if unknown:
        raise GenotypeError(f"{where}: unknown field {unknown[0]!r}; allowed: {', '.join(allowed)}")
