"""Shape inference and validation, in plain Python (no torch).

`infer` walks a genotype once and works out, for every node, its input and
output width, its stride, the grid it lives on (its *scale*: how many input
pixels one of its pixels spans) and, given an input size, its exact spatial
size; and for every merge, which inputs need a 1x1 projection. The builder
builds from this plan, so what validates is what builds. Every problem is a
`GenotypeError` naming the stage, the node and the rule.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from searchspace import registry
from searchspace.genotype import HEAD_ACTS, INPUT, MERGES, WIRINGS, Genotype, GenotypeError, Node, Stage
from searchspace.wirings import check_wiring

MAX_WIDTH = 16384
MAX_NODES = 512
MAX_STAGES = 32
MAX_STRIDE = 8
MAX_HEAD_LAYERS = 8

Size = tuple[int, int] | None  # (height, width) when an input size is known
Scale = Fraction | None  # None: globally pooled (1x1 whatever the input)


@dataclass(frozen=True)
class MergePlan:
    """How a merge combines its inputs: per input, its width and the projection stride."""

    kind: str
    sources: tuple[int, ...]
    in_chs: tuple[int, ...]
    strides: tuple[int, ...]
    out_ch: int


@dataclass(frozen=True)
class NodePlan:
    """A node with everything the builder needs to construct it."""

    index: int
    op: str
    params: dict[str, Any] = field(hash=False)
    in_ch: int
    out_ch: int
    stride: int
    merge: MergePlan
    scale: Scale
    size: Size


@dataclass(frozen=True)
class StagePlan:
    name: str
    stride: int
    in_ch: int
    order: tuple[int, ...]  # topological order of node indices
    nodes: tuple[NodePlan, ...]  # by node index
    out: MergePlan  # merge of the sinks
    out_ch: int
    scale: Scale
    size: Size


@dataclass(frozen=True)
class NetPlan:
    in_channels: int
    num_classes: int
    input_size: Size
    stages: tuple[StagePlan, ...]  # the stem first

    @property
    def head_in_ch(self) -> int:
        return self.stages[-1].out_ch


def infer(
    g: Genotype, in_channels: int = 3, num_classes: int = 10, input_size: int | Sequence[int] | None = None
) -> NetPlan:
    """Plan of every node's shapes; raises GenotypeError on anything that cannot be built."""
    if not isinstance(g, Genotype):
        raise GenotypeError(f"expected a Genotype, got {type(g).__name__}")
    _check_positive(in_channels, "in_channels", MAX_WIDTH)
    _check_positive(num_classes, "num_classes", 1_000_000)
    size = _size_pair(input_size)
    if len(g.stages) > MAX_STAGES:
        raise GenotypeError(f"genotype has {len(g.stages)} stages; at most {MAX_STAGES} are allowed")
    ch, scale, plans = in_channels, Fraction(1), []
    for i, stage in enumerate(g.all_stages()):
        plan = _infer_stage(stage, "stem" if i == 0 else f"stage {i}", ch, scale, size)
        plans.append(plan)
        ch, scale, size = plan.out_ch, plan.scale, plan.size
    _check_head(g, ch)
    return NetPlan(in_channels, num_classes, _size_pair(input_size), tuple(plans))


def validate(
    g: Genotype, in_channels: int = 3, num_classes: int = 10, input_size: int | Sequence[int] | None = None
) -> NetPlan:
    """`infer`, plus the check that each generated wiring still matches its genes."""
    plan = infer(g, in_channels, num_classes, input_size)
    for i, stage in enumerate(g.all_stages()):
        check_wiring(stage, "stem" if i == 0 else f"stage {i}")
    return plan


def topological_order(stage: Stage, where: str) -> tuple[int, ...]:
    """Node indices in dependency order (smallest index first among ready nodes)."""
    n = len(stage.nodes)
    indeg = [0] * n
    succ: list[list[int]] = [[] for _ in range(n)]
    for i, node in enumerate(stage.nodes):
        for j in node.inputs:
            if j != INPUT:
                indeg[i] += 1
                succ[j].append(i)
    ready = [i for i in range(n) if indeg[i] == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        i = heapq.heappop(ready)
        order.append(i)
        for k in succ[i]:
            indeg[k] -= 1
            if indeg[k] == 0:
                heapq.heappush(ready, k)
    if len(order) < n:
        raise GenotypeError(f"{where}: the graph has a cycle through nodes {_cycle(stage)}")
    return tuple(order)


# ---------------------------------------------------------------- internals


def _infer_stage(stage: Stage, where: str, in_ch: int, in_scale: Scale, in_size: Size) -> StagePlan:
    _check_stage_fields(stage, where)
    for i, node in enumerate(stage.nodes):
        _check_inputs(node, i, len(stage.nodes), f"{where} node {i}")
    order = topological_order(stage, where)
    shapes: dict[int, tuple[int, Scale, Size]] = {INPUT: (in_ch, in_scale, in_size)}
    plans: dict[int, NodePlan] = {}
    for i in order:
        plan = _infer_node(stage, i, shapes, f"{where} node {i}")
        plans[i] = plan
        shapes[i] = (plan.out_ch, plan.scale, plan.size)
    _check_outputs(stage, where)
    out, ch, scale, size = _merge(stage.out_merge, stage.output_nodes(), shapes, f"{where} output", stage.width)
    return StagePlan(
        where, stage.stride, in_ch, order, tuple(plans[i] for i in range(len(stage.nodes))), out, ch, scale, size
    )


def _infer_node(stage: Stage, i: int, shapes: dict, where: str) -> NodePlan:
    node = stage.nodes[i]
    spec = registry.get(node.op) if node.op in registry.REGISTRY else None
    if spec is None:
        raise GenotypeError(f"{where}: unknown op {node.op!r}; known ops: {', '.join(registry.names())}")
    err = spec.param_error(node.params)
    if err:
        raise GenotypeError(f"{where}: {err}")
    params = spec.resolve(node.params)
    merge, in_ch, scale, size = _merge(node.merge, node.inputs, shapes, where, stage.width)
    stride = stage.stride if node.inputs == (INPUT,) else 1
    if stride > 1 and not spec.strides:
        can = ", ".join(n for n, s in registry.REGISTRY.items() if s.strides)
        raise GenotypeError(
            f"{where}: reads only the input of a stride-{stride} stage, so it must downsample, "
            f"but op {node.op!r} cannot; ops that can: {can}"
        )
    if node.width and spec.width == "same":
        raise GenotypeError(f"{where}: op {node.op!r} keeps its input width; drop 'width' ({node.width})")
    if not 0 <= node.width <= MAX_WIDTH:
        raise GenotypeError(f"{where}: width must be in [0, {MAX_WIDTH}] (0 = the stage width), got {node.width}")
    out_ch = spec.output_width(in_ch, node.width or stage.width, params)
    if not 1 <= out_ch <= MAX_WIDTH:
        raise GenotypeError(f"{where}: op {node.op!r} would output {out_ch} channels; allowed 1..{MAX_WIDTH}")
    if spec.check is not None:
        err = spec.check(in_ch, out_ch, params)
        if err:
            raise GenotypeError(f"{where}: {node.op}: {err}")
    if spec.global_pool:
        out_scale: Scale = None
    else:
        out_scale = None if scale is None else scale * spec.scale(stride, params)
    out_size = _node_size(spec, size, stride, params, where)
    return NodePlan(i, node.op, params, in_ch, out_ch, stride, merge, out_scale, out_size)


def _node_size(spec: registry.OpSpec, size: Size, stride: int, params: dict, where: str) -> Size:
    if size is None:
        return None
    out = (spec.spatial(size[0], stride, params), spec.spatial(size[1], stride, params))
    if min(out) < 1:
        raise GenotypeError(
            f"{where}: op {spec.name!r} takes the resolution from {size[0]}x{size[1]} to "
            f"{out[0]}x{out[1]}, below 1 pixel"
        )
    return out


def _merge(
    kind: str, sources: Sequence[int], shapes: dict, where: str, width: int
) -> tuple[MergePlan, int, Scale, Size]:
    """Plan a merge: coarsest grid wins, finer inputs pass a strided 1x1 conv; sums are taken at the stage width."""
    chs = [shapes[j][0] for j in sources]
    scales = [shapes[j][1] for j in sources]
    sizes = [shapes[j][2] for j in sources]
    if any(s is None for s in scales) and not all(s is None for s in scales):
        raise GenotypeError(f"{where}: cannot merge a globally pooled input with a spatial one")
    if all(s is None for s in scales):
        strides, target = [1] * len(sources), None
    else:
        target = max(scales)
        ratios = [target / s for s in scales]
        bad = [r for r in ratios if r.denominator != 1]
        if bad:
            raise GenotypeError(
                f"{where}: inputs on grids {', '.join(map(str, scales))} cannot be aligned by an integer stride"
            )
        strides = [int(r) for r in ratios]
    out_size = _merged_size(sources, sizes, strides, where)
    if len(sources) == 1:
        out_ch = chs[0]  # nothing to merge
    else:
        out_ch = sum(chs) if kind == "concat" else width
    if out_ch > MAX_WIDTH:
        raise GenotypeError(f"{where}: concatenation gives {out_ch} channels; at most {MAX_WIDTH}")
    plan = MergePlan(kind, tuple(sources), tuple(chs), tuple(strides), out_ch)
    return plan, out_ch, target, out_size


def _merged_size(sources: Sequence[int], sizes: list[Size], strides: list[int], where: str) -> Size:
    if sizes[0] is None:
        return None
    projected = [(-(-h // s), -(-w // s)) for (h, w), s in zip(sizes, strides, strict=True)]
    if len(set(projected)) > 1:
        desc = ", ".join(
            f"node {j if j != INPUT else 'input'} {h}x{w}" for j, (h, w) in zip(sources, projected, strict=True)
        )
        raise GenotypeError(f"{where}: inputs arrive with different spatial sizes ({desc}); use 'same' padding")
    return projected[0]


def _is_int(v: Any) -> bool:
    return type(v) is int  # not bool, not an int subclass with surprises


def _check_stage_fields(stage: Stage, where: str) -> None:
    if not isinstance(stage, Stage):
        raise GenotypeError(f"{where}: expected a Stage, got {type(stage).__name__}")
    for key in ("width", "stride"):
        if not _is_int(getattr(stage, key)):
            raise GenotypeError(f"{where}: {key} must be an integer, got {getattr(stage, key)!r:.40}")
    if not all(_is_int(o) for o in stage.outputs):
        raise GenotypeError(f"{where}: outputs must be node indices, got {list(stage.outputs)!r:.60}")
    if not all(type(x) is str for x in (stage.out_merge, stage.wiring.kind)):
        raise GenotypeError(f"{where}: out_merge and wiring kind must be strings")
    if not 1 <= stage.width <= MAX_WIDTH:
        raise GenotypeError(f"{where}: width must be in [1, {MAX_WIDTH}], got {stage.width}")
    if not 1 <= stage.stride <= MAX_STRIDE:
        raise GenotypeError(f"{where}: stride must be in [1, {MAX_STRIDE}], got {stage.stride}")
    if not 1 <= len(stage.nodes) <= MAX_NODES:
        raise GenotypeError(f"{where}: must have 1 to {MAX_NODES} nodes, has {len(stage.nodes)}")
    if stage.out_merge not in MERGES:
        raise GenotypeError(f"{where}: out_merge must be one of {', '.join(MERGES)}, got {stage.out_merge!r}")
    if stage.wiring.kind not in WIRINGS:
        raise GenotypeError(f"{where}: wiring kind must be one of {', '.join(WIRINGS)}, got {stage.wiring.kind!r}")


def _check_inputs(node: Node, i: int, n: int, where: str) -> None:
    if not isinstance(node, Node):
        raise GenotypeError(f"{where}: expected a Node, got {type(node).__name__}")
    if type(node.op) is not str or type(node.merge) is not str or not _is_int(node.width):
        raise GenotypeError(f"{where}: op and merge must be strings and width an integer")
    if not all(_is_int(j) for j in node.inputs):
        raise GenotypeError(f"{where}: inputs must be node indices, got {list(node.inputs)!r:.60}")
    if node.merge not in MERGES:
        raise GenotypeError(f"{where}: merge must be one of {', '.join(MERGES)}, got {node.merge!r}")
    if not node.inputs:
        raise GenotypeError(f"{where}: has no inputs (dangling); read the stage input (-1) or another node")
    for j in node.inputs:
        if not (j == INPUT or 0 <= j < n):
            raise GenotypeError(f"{where}: input {j} does not exist; use -1 (stage input) or 0..{n - 1}")
        if j == i:
            raise GenotypeError(f"{where}: reads itself (a cycle)")
    if len(set(node.inputs)) != len(node.inputs):
        raise GenotypeError(f"{where}: lists an input twice: {list(node.inputs)}")


def _check_outputs(stage: Stage, where: str) -> None:
    n, outs = len(stage.nodes), stage.outputs
    for j in outs:
        if not (j == INPUT or 0 <= j < n):
            raise GenotypeError(f"{where}: output {j} does not exist; use -1 (stage input) or 0..{n - 1}")
    if len(set(outs)) != len(outs):
        raise GenotypeError(f"{where}: lists an output twice: {list(outs)}")
    if outs:
        dangling = sorted(set(stage.sinks()) - set(outs))
        if dangling:
            raise GenotypeError(
                f"{where} node {dangling[0]}: dangling; its output reaches neither a node nor the stage output"
            )


def _check_head(g: Genotype, in_ch: int) -> None:
    h = g.head
    if not (_is_int(h.pool_size) and all(_is_int(w) for w in h.hidden) and type(h.act) is str):
        raise GenotypeError("head: pool_size and hidden widths must be integers, act a string")
    if type(h.dropout) not in (int, float):
        raise GenotypeError(f"head: dropout must be a number, got {h.dropout!r:.40}")
    if not 1 <= h.pool_size <= 64:
        raise GenotypeError(f"head: pool_size must be in [1, 64], got {h.pool_size}")
    if len(h.hidden) > MAX_HEAD_LAYERS:
        raise GenotypeError(f"head: at most {MAX_HEAD_LAYERS} hidden layers, got {len(h.hidden)}")
    for w in h.hidden:
        if not 1 <= w <= MAX_WIDTH:
            raise GenotypeError(f"head: hidden width must be in [1, {MAX_WIDTH}], got {w}")
    if not 0.0 <= h.dropout < 1.0:
        raise GenotypeError(f"head: dropout must be in [0, 1), got {h.dropout}")
    if h.act not in HEAD_ACTS:
        raise GenotypeError(f"head: act must be one of {', '.join(HEAD_ACTS)}, got {h.act!r}")
    if in_ch * h.pool_size**2 > 1 << 24:
        raise GenotypeError(f"head: {in_ch} channels x {h.pool_size}^2 positions is too wide for a classifier")


def _check_positive(v: Any, name: str, hi: int) -> None:
    if not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= hi:
        raise GenotypeError(f"{name} must be an integer in [1, {hi}], got {v!r}")


def _size_pair(size: int | Sequence[int] | None) -> Size:
    if size is None:
        return None
    pair = (size, size) if isinstance(size, int) else tuple(size)
    if len(pair) != 2 or not all(isinstance(s, int) and 1 <= s <= 8192 for s in pair):
        raise GenotypeError(f"input_size must be an int or (height, width) in [1, 8192], got {size!r}")
    return pair  # type: ignore[return-value]


def _cycle(stage: Stage) -> str:
    import networkx as nx

    graph = nx.DiGraph((j, i) for i, node in enumerate(stage.nodes) for j in node.inputs if j != INPUT)
    cycle = nx.find_cycle(graph)
    return " -> ".join(str(a) for a, _ in cycle) + f" -> {cycle[0][0]}"
