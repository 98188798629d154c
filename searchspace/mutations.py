"""Mutations: the seeds' three (layer type change, filter size change, layer addition) and graph edits.

Each mutation is ``fn(space, genotype, rng) -> Genotype | None`` (None: not
applicable to this genotype). They build new objects and never change their
input; `SearchSpace.mutate` validates the result and retries until it gets a
valid genotype that is a different architecture from its parent.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import TYPE_CHECKING

from searchspace import registry
from searchspace.choosers import RandomChooser
from searchspace.genotype import INPUT, Genotype, Node, Stage, Wiring
from searchspace.shapes import topological_order
from searchspace.wirings import MAX_SEED, make_stage

if TYPE_CHECKING:  # the space calls the mutations, so it is imported for types only
    from searchspace.space import SearchSpace

Mutation = Callable[["SearchSpace", Genotype, random.Random], Genotype | None]
GENERATED = ("chain", "residual", "dense")
KERNEL_PARAMS = ("kernel", "n", "k5")


# ------------------------------------------------------------------ helpers


def _with_stage(g: Genotype, i: int, stage: Stage) -> Genotype:
    stages = list(g.stages)
    stages[i] = stage
    return g.replace(stages=stages)


def _pick_node(
    g: Genotype, rng: random.Random, keep: Callable[[Node], bool] = lambda n: True
) -> tuple[int, int] | None:
    """A random (stage index, node index) among nodes that satisfy `keep`."""
    spots = [(i, j) for i, s in enumerate(g.stages) for j, n in enumerate(s.nodes) if keep(n)]
    return rng.choice(spots) if spots else None


def _is_reducer(stage: Stage, node: Node) -> bool:
    return stage.stride > 1 and node.inputs == (INPUT,)


def _chooser(rng: random.Random) -> RandomChooser:
    return RandomChooser(rng)


def _rewire(stage: Stage, nodes: list[Node]) -> Stage:
    """The stage with new nodes, re-wired by its generator when it has one, else kept custom."""
    if stage.wiring.kind in GENERATED:
        return make_stage(stage.wiring.kind, nodes, stage.width, stage.stride)
    return stage.replace(nodes=nodes, wiring=Wiring())


def _custom(stage: Stage, **changes) -> Stage:
    return stage.replace(wiring=Wiring(), **changes)


def _fix_reducers(space: SearchSpace, stage: Stage, rng: random.Random) -> Stage:
    """Give every node that must downsample an op that can."""
    nodes = list(stage.nodes)
    for j, n in enumerate(nodes):
        if _is_reducer(stage, n) and not registry.get(n.op).strides:
            op = rng.choice(space.reduce_ops())
            nodes[j] = space.sample_op(_chooser(rng), "m", op).replace(inputs=n.inputs, merge=n.merge)
    return stage.replace(nodes=nodes)


# ------------------------------------------------------------------ the seeds' three


def op_change(space: SearchSpace, g: Genotype, rng: random.Random) -> Genotype | None:
    """Layer type change: a node gets another op (fresh parameters), keeping its edges."""
    spot = _pick_node(g, rng)
    if spot is None:
        return None
    i, j = spot
    stage = g.stages[i]
    old = stage.nodes[j]
    ops = [op for op in (space.reduce_ops() if _is_reducer(stage, old) else space.ops) if op != old.op]
    if not ops:
        return None
    new = space.sample_op(_chooser(rng), "m", rng.choice(ops), old.width)
    nodes = list(stage.nodes)
    nodes[j] = new.replace(inputs=old.inputs, merge=old.merge)
    return _with_stage(g, i, stage.replace(nodes=nodes))


def kernel_change(space: SearchSpace, g: Genotype, rng: random.Random) -> Genotype | None:
    """Filter size change: another kernel size for a node that has one."""

    def has_kernel(n: Node) -> bool:
        return any(p in registry.get(n.op).params for p in KERNEL_PARAMS)

    spot = _pick_node(g, rng, has_kernel)
    if spot is None:
        return None
    i, j = spot
    node = g.stages[i].nodes[j]
    spec = registry.get(node.op)
    name = next(p for p in KERNEL_PARAMS if p in spec.params)
    current = spec.resolve(node.params)[name]
    candidates = set(space.search_values(node.op, name)) | {current - 2, current + 2}
    candidates = sorted(k for k in candidates if k != current and spec.params[name].error(k) is None)
    if not candidates:
        return None
    params = dict(node.params) | {name: rng.choice(candidates)}
    nodes = list(g.stages[i].nodes)
    nodes[j] = node.replace(params=spec.canonical(params))
    return _with_stage(g, i, g.stages[i].replace(nodes=nodes))


def add_node(space: SearchSpace, g: Genotype, rng: random.Random) -> Genotype | None:
    """Layer addition: a generated wiring grows by a node; a custom or WS graph splits an edge."""
    if not g.stages:
        return None
    i = rng.randrange(len(g.stages))
    stage = g.stages[i]
    if len(stage.nodes) >= space.ws_nodes[1] + space.nodes[1]:
        return None
    if stage.wiring.kind in GENERATED:
        pos = rng.randint(0, len(stage.nodes))
        new = space.sample_node(_chooser(rng), "m", reduce=pos == 0 and stage.stride > 1)
        if stage.wiring.kind == "dense":
            new = new.replace(width=stage.nodes[0].width) if registry.get(new.op).width != "same" else new
        nodes = list(stage.nodes)
        nodes.insert(pos, new)
        return _with_stage(g, i, _rewire(stage, nodes))
    return _with_stage(g, i, _split_edge(space, stage, rng))


def _split_edge(space: SearchSpace, stage: Stage, rng: random.Random) -> Stage:
    """Put a new node w on an edge u -> v (v may be the stage output): u -> w -> v."""
    edges = [(u, v) for v, n in enumerate(stage.nodes) for u in n.inputs]
    edges += [(u, "out") for u in stage.output_nodes()]
    u, v = rng.choice(edges)
    w = len(stage.nodes)
    new = space.sample_node(_chooser(rng), "m", reduce=u == INPUT and stage.stride > 1).replace(inputs=(u,))
    nodes = list(stage.nodes) + [new]
    outputs = stage.outputs
    if v == "out":
        if outputs:
            outputs = tuple(w if o == u else o for o in outputs)
    else:
        nodes[v] = nodes[v].replace(inputs=tuple(w if x == u else x for x in nodes[v].inputs))
    return _custom(stage, nodes=nodes, outputs=outputs)


# ------------------------------------------------------------------ graph edits


def remove_node(space: SearchSpace, g: Genotype, rng: random.Random) -> Genotype | None:
    """Delete a node; its readers read its inputs instead."""
    cands = [i for i, s in enumerate(g.stages) if len(s.nodes) > 1]
    if not cands:
        return None
    i = rng.choice(cands)
    stage = g.stages[i]
    w = rng.randrange(len(stage.nodes))
    if stage.wiring.kind in GENERATED:
        nodes = [n for j, n in enumerate(stage.nodes) if j != w]
        return _with_stage(g, i, _rewire(stage, nodes))
    gone = stage.nodes[w]

    def remap(ins: tuple[int, ...]) -> tuple[int, ...]:
        out: list[int] = []
        for x in ins:
            for y in gone.inputs if x == w else (x,):
                y = y - 1 if y > w else y
                if y not in out:
                    out.append(y)
        return tuple(out)

    nodes = [n.replace(inputs=remap(n.inputs)) for j, n in enumerate(stage.nodes) if j != w]
    nodes = [n.replace(merge="sum") if len(n.inputs) == 1 else n for n in nodes]
    return _with_stage(g, i, _custom(stage, nodes=nodes, outputs=remap(stage.outputs) if stage.outputs else ()))


def add_edge(space: SearchSpace, g: Genotype, rng: random.Random) -> Genotype | None:
    """A new edge a -> b, with a before b in topological order."""
    i = rng.randrange(len(g.stages)) if g.stages else None
    if i is None:
        return None
    stage = g.stages[i]
    order = (INPUT, *topological_order(stage, "stage"))
    pairs = [(a, b) for ia, a in enumerate(order) for b in order[ia + 1 :] if a not in stage.nodes[b].inputs]
    if not pairs:
        return None
    a, b = rng.choice(pairs)
    nodes = list(stage.nodes)
    fresh = "sum" if space.closed else rng.choice(("sum", "wsum", "concat"))  # a closed space's free stages sum
    merge = nodes[b].merge if len(nodes[b].inputs) > 1 else fresh
    nodes[b] = nodes[b].replace(inputs=(*nodes[b].inputs, a), merge=merge)
    return _with_stage(g, i, _custom(stage, nodes=nodes))


def remove_edge(space: SearchSpace, g: Genotype, rng: random.Random) -> Genotype | None:
    """Drop one input of a node that has several."""
    spot = _pick_node(g, rng, lambda n: len(n.inputs) > 1)
    if spot is None:
        return None
    i, j = spot
    node = g.stages[i].nodes[j]
    ins = list(node.inputs)
    ins.remove(rng.choice(ins))
    nodes = list(g.stages[i].nodes)
    nodes[j] = node.replace(inputs=ins, merge=node.merge if len(ins) > 1 else "sum")
    return _with_stage(g, i, _custom(g.stages[i], nodes=nodes))


def rewire_edge(space: SearchSpace, g: Genotype, rng: random.Random) -> Genotype | None:
    """Move one edge a -> b to come from another node a' earlier in topological order."""
    spot = _pick_node(g, rng)
    if spot is None:
        return None
    i, b = spot
    stage = g.stages[i]
    order = (INPUT, *topological_order(stage, "stage"))
    earlier = order[: order.index(b)]
    node = stage.nodes[b]
    sources = [a for a in earlier if a not in node.inputs]
    if not sources:
        return None
    old = rng.choice(node.inputs)
    nodes = list(stage.nodes)
    nodes[b] = node.replace(inputs=tuple(rng.choice(sources) if x == old else x for x in node.inputs))
    return _with_stage(g, i, _custom(stage, nodes=nodes))


def change_wiring(space: SearchSpace, g: Genotype, rng: random.Random) -> Genotype | None:
    """Re-draw a stage's wiring: a new Watts-Strogatz graph (seed, k, p), or another generator."""
    if not g.stages:
        return None
    i = rng.randrange(len(g.stages))
    stage = g.stages[i]
    n = len(stage.nodes)
    kinds = [k for k in space.wirings if k != "free" and (k != stage.wiring.kind or k == "ws")]  # free: edge edits
    kinds = [k for k in kinds if k != "ws" or n >= 3]
    if not kinds:
        return None
    kind = rng.choice(kinds)
    genes = {}
    if kind == "ws":
        ks = [k for k in space.ws_k if k < n] or [2]
        genes = {"k": rng.choice(ks), "p": rng.choice(space.ws_p), "seed": rng.randint(0, MAX_SEED)}
    plain = [nd.replace(width=0) if kind != "dense" else nd for nd in stage.nodes]
    new = make_stage(kind, plain, stage.width, stage.stride, **genes)
    return _with_stage(g, i, _fix_reducers(space, new, rng))


def change_width(space: SearchSpace, g: Genotype, rng: random.Random) -> Genotype | None:
    """Scale one stage's width by 1/2, 3/4, 4/3 or 2 (multiples of 8, within the space's cap)."""
    if not g.stages:
        return None
    i = rng.randrange(len(g.stages))
    stage = g.stages[i]
    widths = {max(8, min(space.max_width, round(stage.width * f / 8) * 8)) for f in (0.5, 0.75, 4 / 3, 2.0)}
    widths.discard(stage.width)
    if not widths:
        return None
    return _with_stage(g, i, stage.replace(width=rng.choice(sorted(widths))))


def change_params(space: SearchSpace, g: Genotype, rng: random.Random) -> Genotype | None:
    """A block or op parameter (cardinality, growth, dilation, norm, ...) takes another searched value."""

    def searchable(n: Node) -> list[str]:
        return [p for p in registry.get(n.op).params if len(space.search_values(n.op, p)) > 1]

    spot = _pick_node(g, rng, lambda n: bool(searchable(n)))
    if spot is None:
        return None
    i, j = spot
    node = g.stages[i].nodes[j]
    spec = registry.get(node.op)
    name = rng.choice(searchable(node))
    current = spec.resolve(node.params)[name]
    values = [v for v in space.search_values(node.op, name) if v != current]
    params = dict(node.params) | {name: rng.choice(values)}
    nodes = list(g.stages[i].nodes)
    nodes[j] = node.replace(params=spec.canonical(params))
    return _with_stage(g, i, g.stages[i].replace(nodes=nodes))


def change_merge(space: SearchSpace, g: Genotype, rng: random.Random) -> Genotype | None:
    """A node with several inputs combines them another way (sum, weighted sum, concat)."""
    spot = _pick_node(g, rng, lambda n: len(n.inputs) > 1)
    if spot is None:
        return None
    i, j = spot
    node = g.stages[i].nodes[j]
    merge = rng.choice([m for m in ("sum", "wsum", "concat") if m != node.merge])
    nodes = list(g.stages[i].nodes)
    nodes[j] = node.replace(merge=merge)
    return _with_stage(g, i, g.stages[i].replace(nodes=nodes))


def add_stage(space: SearchSpace, g: Genotype, rng: random.Random) -> Genotype | None:
    """A new stride-1 stage after an existing one (same width)."""
    if len(g.stages) >= space.stages[1] or not g.stages:
        return None
    i = rng.randrange(len(g.stages))
    new = space.sample_stage(_chooser(rng), "m", g.stages[i].width, 1)
    stages = list(g.stages)
    stages.insert(i + 1, new)
    return g.replace(stages=stages)


def remove_stage(space: SearchSpace, g: Genotype, rng: random.Random) -> Genotype | None:
    """Drop a stage; a strided one hands its stride to the next stage."""
    if len(g.stages) <= max(1, space.stages[0]):
        return None
    i = rng.randrange(len(g.stages))
    stages = list(g.stages)
    gone = stages.pop(i)
    if gone.stride > 1 and i < len(stages) and stages[i].stride == 1:
        stages[i] = _fix_reducers(space, stages[i].replace(stride=gone.stride), rng)
    return g.replace(stages=stages)


def change_head(space: SearchSpace, g: Genotype, rng: random.Random) -> Genotype | None:
    """Another hidden FC width or dropout for the classifier head."""
    options = [(h, d) for h in space.head_hidden for d in space.head_dropout]
    current = (g.head.hidden[0] if g.head.hidden else 0, g.head.dropout)
    options = [o for o in options if o != current]
    if not options:
        return None
    hidden, dropout = rng.choice(options)
    return g.replace(head=g.head.__class__(g.head.pool_size, (hidden,) if hidden else (), dropout, g.head.act))


MUTATIONS: dict[str, Mutation] = {
    "op_change": op_change,
    "kernel_change": kernel_change,
    "add_node": add_node,
    "remove_node": remove_node,
    "add_edge": add_edge,
    "remove_edge": remove_edge,
    "rewire_edge": rewire_edge,
    "change_wiring": change_wiring,
    "change_width": change_width,
    "change_params": change_params,
    "change_merge": change_merge,
    "add_stage": add_stage,
    "remove_stage": remove_stage,
    "change_head": change_head,
}


# The seeds' three (003, Figure 5): (a) layer type change, (b) filter size change, (c) layer addition.
SEED_MUTATIONS = ("op_change", "kernel_change", "add_node")


def mutate_once(space: SearchSpace, g: Genotype, rng: random.Random) -> tuple[str, Genotype | None]:
    """Apply one mutation drawn uniformly from the space's kinds (all by default); (its name, the child or None
    if it did not apply)."""
    name = rng.choice(space.mutation_kinds or list(MUTATIONS))
    return name, MUTATIONS[name](space, g, rng)
