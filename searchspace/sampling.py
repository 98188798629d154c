"""Sampling a search space: one pass of decisions through a `Chooser` -- the first stage's width, the number of
stages, then per stage a wiring, its size and an op per node with the op's parameters, then the head. Each
decision has a stable, unique name ("width", "s2.wiring", "s2.n3.op", "s2.n3.conv.kernel", ...), so a random
chooser, Optuna's trial and the grid walk all answer the same questions. `SearchSpace` (`searchspace.space`)
calls these with itself; no torch."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from searchspace import members, nb201, registry
from searchspace.choosers import Chooser
from searchspace.genotype import INPUT, Genotype, Head, Node, Stage
from searchspace.wirings import MAX_SEED, layout, make_stage

if TYPE_CHECKING:  # the space calls these, so it is imported for types only
    from searchspace.space import SearchSpace


def sample_once(space: SearchSpace, chooser: Chooser) -> Genotype:
    """One pass of decisions; the result may still fail validation (rare: e.g. groups vs widths)."""
    if space.template:
        return nb201.sample(chooser)
    base = chooser.choose("width", space.widths)
    n_stages = chooser.integer("stages", *space.stages)
    stem = space.stem(base)
    stages: list[Stage] = []
    for i, (width, stride) in enumerate(space.stage_shapes(base, n_stages), 1):
        if space.cell and stages:
            stages.append(members.restack(stages[0], width, stride))
        else:
            reduce = space.must_reduce(stride, [s for _, s in space.stage_shapes(base, n_stages)])
            stages.append(sample_stage(space, chooser, f"s{i}", width, stride, reduce))
    hidden = chooser.choose("head.hidden", space.head_hidden)
    head = Head(1, (hidden,) if hidden else (), chooser.choose("head.dropout", space.head_dropout))
    return Genotype(stem, tuple(stages), head)


def sample_stage(
    space: SearchSpace, chooser: Chooser, prefix: str, width: int, stride: int, reduce: bool | None = None
) -> Stage:
    """One stage: a wiring, its size, then an op per node (`reduce`: nodes reading only the input can stride)."""
    reduce = stride > 1 if reduce is None else reduce
    kind = chooser.choose(f"{prefix}.wiring", space.wirings)
    genes: dict[str, Any] = {}
    if kind == "free":
        return sample_free_stage(space, chooser, prefix, width, stride, reduce)
    if kind == "ws":
        n = chooser.integer(f"{prefix}.ws.n", *space.ws_nodes)
        k = min(chooser.choose(f"{prefix}.ws.k", space.ws_k), n - 1)  # fixed options: Optuna needs them
        genes = {
            "k": k,
            "p": chooser.choose(f"{prefix}.ws.p", space.ws_p),
            "seed": chooser.integer(f"{prefix}.ws.seed", 0, MAX_SEED),
        }
    else:
        n = chooser.integer(f"{prefix}.nodes", *space.nodes)
    lay = layout(kind, n, genes)
    nodes = []
    for j, ins in enumerate(lay.inputs):
        width_j = width // 2 if kind == "dense" else 0
        nodes.append(sample_node(space, chooser, f"{prefix}.n{j}", reduce and tuple(ins) == (INPUT,), width_j))
    return make_stage(kind, nodes, width, stride, **genes)


def sample_free_stage(
    space: SearchSpace, chooser: Chooser, prefix: str, width: int, stride: int, reduce: bool
) -> Stage:
    """Free connectivity: node j reads any non-empty set of the input and nodes 0..j-1, summed; the
    output sums the sinks (NAS-Bench-101's cell, with ops on the nodes)."""
    n = chooser.integer(f"{prefix}.nodes", *space.nodes)
    nodes = []
    for j in range(n):
        options = members.input_sets(j)
        ins = members.parse_inputs(chooser.choose(f"{prefix}.n{j}.inputs", options))
        node = sample_node(space, chooser, f"{prefix}.n{j}", reduce and ins == (INPUT,))
        nodes.append(node.replace(inputs=ins))
    return Stage(width=width, nodes=tuple(nodes), stride=stride)


def sample_node(space: SearchSpace, chooser: Chooser, prefix: str, reduce: bool, width: int = 0) -> Node:
    """An op (one that can downsample if `reduce`) and its parameters."""
    op = chooser.choose(
        f"{prefix}.reduce_op" if reduce else f"{prefix}.op", space.reduce_ops() if reduce else space.ops
    )
    return sample_op(space, chooser, prefix, op, width)


def sample_op(space: SearchSpace, chooser: Chooser, prefix: str, op: str, width: int = 0) -> Node:
    """A node of op `op`, each of its searched parameters chosen (`SearchSpace.search_values`)."""
    spec = registry.get(op)
    params = {}
    for name in spec.params:
        values = space.search_values(op, name)
        if len(values) > 1:
            params[name] = chooser.choose(f"{prefix}.{op}.{name}", values)
        elif len(values) == 1:
            params[name] = values[0]
    if params.get("norm") == "none" and "bias" in spec.params:
        params["bias"] = True
    return registry.node(op, width=width if spec.width != "same" else 0, **params)
