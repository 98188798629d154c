"""Membership in a search space, free (any-DAG) stages, and stacked cells.

`why_not(space, g)` says why a genotype could not have been sampled from a space, or None: the
same stem, stage count, widths and strides, wirings, node counts, ops and searched parameter
values, head, and for a ``cell`` space the same cell in every stage. A closed space
(``SearchSpace(closed=True)``) keeps its mutations inside itself with it, so that evolution and
local search over a finite space (a tabular benchmark) never propose an architecture outside it.

A free stage's node j reads a non-empty subset of the stage input and nodes 0..j-1; sampling names
the subset with a label such as ``"in+n0"`` (strings, so that Optuna can store the choice).
Membership does not depend on node order within a free stage: any DAG with the space's node count,
ops and sum merges is a member, since it is isomorphic to one that sampling produces. In a ``cell``
space every later stage must be stage 1's cell node for node (as sampling and mutation make it).
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

from searchspace import registry
from searchspace.genotype import INPUT, Genotype, Head, Node, Stage
from searchspace.wirings import layout

if TYPE_CHECKING:
    from searchspace.space import SearchSpace


def input_sets(j: int) -> tuple[str, ...]:
    """Labels of the non-empty input sets of free node j: the stage input ("in") and nodes n0..n{j-1}."""
    sources = ("in", *(f"n{i}" for i in range(j)))
    return tuple("+".join(combo) for r in range(1, len(sources) + 1) for combo in itertools.combinations(sources, r))


def parse_inputs(label: str) -> tuple[int, ...]:
    """The node indices an input-set label names (INPUT for "in")."""
    return tuple(INPUT if part == "in" else int(part[1:]) for part in label.split("+"))


def restack(cell: Stage, width: int, stride: int) -> Stage:
    """The cell `cell` as a stage of another width and stride (node widths scale with the stage's)."""
    nodes = tuple(n.replace(width=n.width * width // cell.width) if n.width else n for n in cell.nodes)
    return cell.replace(width=width, stride=stride, nodes=nodes)


def retie(parent: Genotype, child: Genotype) -> Genotype | None:
    """A mutation of one stage of a cell network, copied to every stage (None: not a one-cell change)."""
    if len(child.stages) != len(parent.stages) or not child.stages:
        return None
    changed = [i for i, (a, b) in enumerate(zip(parent.stages, child.stages, strict=True)) if a != b]
    if len(changed) != 1:
        return child if not changed else None
    cell = child.stages[changed[0]]
    if (cell.width, cell.stride) != (parent.stages[changed[0]].width, parent.stages[changed[0]].stride):
        return None  # a width or stride change is not a change of the cell
    return child.replace(stages=[restack(cell, s.width, s.stride) for s in parent.stages])


def why_not(space: SearchSpace, g: Genotype) -> str | None:
    """Why sampling from `space` could not have produced g (up to node order), or None."""
    if not space.is_valid(g):
        return "it does not build, or uses an op outside the space"
    base = g.stem.width
    if base not in space.widths:
        return f"stem width {base} is not one of {space.widths}"
    if g.stem != space.stem(base):
        return "its stem is not the space's stem"
    lo, hi = space.stages
    if not lo <= len(g.stages) <= hi:
        return f"it has {len(g.stages)} stages; the space has {lo} to {hi}"
    for i, (stage, (width, stride)) in enumerate(
        zip(g.stages, space.stage_shapes(base, len(g.stages)), strict=True), 1
    ):
        if (stage.width, stage.stride) != (width, stride):
            return f"stage {i} has width {stage.width} and stride {stage.stride}; the space's has {width}, {stride}"
        reason = _stage_reason(space, stage, space.must_reduce(stride, [st.stride for st in g.stages]))
        if reason:
            return f"stage {i}: {reason}"
        if space.cell and restack(g.stages[0], width, stride) != stage:
            return f"stage {i} is not stage 1's cell"
    hidden = g.head.hidden[0] if g.head.hidden else 0
    sampled = Head(1, (hidden,) if hidden else (), g.head.dropout)
    if hidden not in space.head_hidden or g.head.dropout not in space.head_dropout or g.head != sampled:
        return "its head is not one of the space's"
    return None


def _stage_reason(space: SearchSpace, stage: Stage, reduce: bool) -> str | None:
    kind, n = stage.wiring.kind, len(stage.nodes)
    if kind == "custom":
        if "free" not in space.wirings:
            return "a custom (free) wiring is not in the space"
        if not space.nodes[0] <= n <= space.nodes[1]:
            return f"{n} nodes; the space's free stages have {space.nodes[0]} to {space.nodes[1]}"
        if stage.outputs or stage.out_merge != "sum" or any(node.merge != "sum" for node in stage.nodes):
            return "a free stage sums its inputs and its sinks"
    else:
        if kind not in space.wirings:
            return f"wiring {kind!r} is not in the space"
        lo, hi = space.ws_nodes if kind == "ws" else space.nodes
        if not lo <= n <= hi:
            return f"{n} nodes; the space's {kind} stages have {lo} to {hi}"
        if kind == "ws":
            k, p = stage.wiring.param("k"), stage.wiring.param("p")
            if p not in space.ws_p or k not in {min(k_, n - 1) for k_ in space.ws_k}:
                return f"Watts-Strogatz genes k={k}, p={p} are not the space's"
        expected = layout(kind, n, dict(stage.wiring.params))
        merges = [expected.merge if len(node.inputs) > 1 else "sum" for node in stage.nodes]
        if stage.out_merge != expected.out_merge or [node.merge for node in stage.nodes] != merges:
            return f"its merges are not {kind}'s"
    for j, node in enumerate(stage.nodes):
        width = stage.width // 2 if kind == "dense" else 0
        reason = _node_reason(space, node, reduce and node.inputs == (INPUT,), width)
        if reason:
            return f"node {j}: {reason}"
    return None


def _node_reason(space: SearchSpace, node: Node, reduce: bool, width: int) -> str | None:
    ops = space.reduce_ops() if reduce else space.ops
    if node.op not in ops:
        return f"op {node.op!r} is not one of {ops}"
    spec = registry.get(node.op)
    resolved = spec.resolve(node.params)
    sampled = {}
    for name in spec.params:
        values = space.search_values(node.op, name)
        if values and resolved[name] not in values:
            return f"{node.op}.{name}={resolved[name]!r} is not one of {values}"
        if values:
            sampled[name] = resolved[name]
    if sampled.get("norm") == "none" and "bias" in spec.params:
        sampled["bias"] = True
    want = registry.node(node.op, width=width if spec.width != "same" else 0, **sampled)
    if (node.width, node.params) != (want.width, want.params):
        return f"its width or parameters ({dict(node.params)}) are not ones the space samples"
    return None


__all__ = ["input_sets", "parse_inputs", "restack", "retie", "why_not"]
