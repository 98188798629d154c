"""Architecture identity: a canonical hash and an exact isomorphism test.

`fingerprint` hashes each stage DAG with networkx's Weisfeiler-Lehman graph
hash (which, since networkx 3.5, refines on in- and out-edges separately), for
as many rounds as the graph has nodes, with each node labelled by its op, its parameters with defaults
dropped, its effective width and its merge. Relabelling nodes does not change
it; changing any op, parameter, width, edge or stage setting does. The hash
depends on networkx's WL implementation, so compare fingerprints made with the
same networkx release (the results record stores the genotype itself too).

A NAS-Bench-201 network as `searchspace.nb201` writes it (node order included) is named by its cell
instead: the 15,625 are told apart exactly, and 20 ms of hashing per network is saved; the same network
with its nodes renumbered by hand is hashed as a graph.

WL hashing is not a complete isomorphism invariant: there exist
non-isomorphic graphs it cannot tell apart (classically, pairs of regular
graphs with identical labels). Where exactness matters, use
`same_architecture`, which runs an exact (VF2) isomorphism test; the search's
dedupe confirms every fingerprint match with it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import networkx as nx

from searchspace import opspec
from searchspace.values import INPUT

if TYPE_CHECKING:  # the genotype calls this module (Genotype.fingerprint), so it is imported for types only
    from searchspace.genotype import Genotype, Node, Stage


def node_label(node: Node, stage: Stage) -> str:
    """Canonical text for one node: what it computes, not where it sits."""
    spec = opspec.REGISTRY.get(node.op)
    params = spec.canonical(node.params) if spec else tuple(sorted(node.params))
    width = node.width or stage.width
    if spec is not None and spec.width == "same":
        width = 0
    merge = node.merge if len(node.inputs) > 1 else "-"
    return json.dumps([node.op, width, merge, params])


def stage_graph(stage: Stage) -> nx.DiGraph:
    """The stage as a labelled DiGraph with explicit 'in' and 'out' nodes."""
    g = nx.DiGraph()
    g.add_node("in", label="in")
    g.add_node("out", label=f"out:{stage.out_merge}")
    for i, node in enumerate(stage.nodes):
        g.add_node(i, label=node_label(node, stage))
    for i, node in enumerate(stage.nodes):
        for j in node.inputs:
            g.add_edge("in" if j == INPUT else j, i)
    for j in stage.output_nodes():
        g.add_edge("in" if j == INPUT else j, "out")
    return g


# Exact names of the networks of a published space, from the genotype (None: not one of them); the space's
# module registers one when it is imported: `searchspace.nb201` (the package imports it, through `space`).
NAMERS: list[Callable[[Genotype], list[str] | None]] = []


def stage_hash(stage: Stage) -> str:
    return _stage_hash(stage, opspec.generation())


@functools.lru_cache(maxsize=16384)  # a child shares all but one stage with its parent: most hashes repeat
def _stage_hash(stage: Stage, generation: int) -> str:
    g = stage_graph(stage)
    with (
        warnings.catch_warnings()
    ):  # networkx >= 3.5 notes that directed hashes changed (they now see in- and out-edges)
        warnings.simplefilter("ignore", UserWarning)
        wl = nx.weisfeiler_lehman_graph_hash(g, node_attr="label", iterations=max(3, g.number_of_nodes()))
    return _sha([stage.stride, wl])


def fingerprint(g: Genotype) -> str:
    """Hex digest, equal for genotypes whose stage graphs are isomorphic (see module doc)."""
    return _fingerprint(g, opspec.generation())


@functools.lru_cache(maxsize=8192)  # a proposal's fingerprint is asked by its controller, dedupe and engine
def _fingerprint(g: Genotype, generation: int) -> str:
    for namer in NAMERS:  # a published network is named by what it is (WL on NAS-Bench-201's 140 nodes: 20 ms)
        name = namer(g)
        if name is not None:
            return _sha(name)[:32]
    parts: list[Any] = [stage_hash(s) for s in g.all_stages()]
    parts.append(g.head.to_dict())
    return _sha(parts)[:32]


def same_architecture(a: Genotype, b: Genotype) -> bool:
    """Exact test: same head, and each pair of stages isomorphic with matching labels."""
    if a.head != b.head or len(a.stages) != len(b.stages):
        return False
    for namer in NAMERS:
        names = namer(a), namer(b)
        if names != (None, None):
            return names[0] == names[1]
    for sa, sb in zip(a.all_stages(), b.all_stages(), strict=True):
        if sa.stride != sb.stride:
            return False
        if not nx.is_isomorphic(stage_graph(sa), stage_graph(sb), node_match=lambda x, y: x["label"] == y["label"]):
            return False
    return True


def _sha(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()
