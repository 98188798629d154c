"""Wirings: generators of a stage's DAG from a few genes.

- ``chain``: each node reads the previous one (VGG, AlexNet).
- ``residual``: x_{i+1} = x_i + F_i(x_i). Node i reads the stage input and all
  earlier nodes, summed (which equals x_i); the output sums them all.
- ``dense``: the same edges, concatenated (DenseNet connectivity).
- ``ws``: Watts-Strogatz random wiring exactly as in RandWire (Xie et al.
  2019): networkx's WS graph with n nodes, k neighbours and rewiring
  probability p from `seed`, oriented from lower to higher node index; nodes
  with no predecessor read the stage input, nodes with no successor are
  averaged into the output, and every merge is a sigmoid-weighted sum.

The genes are stored in ``Stage.wiring`` next to the explicit edges, so the
edges can be regenerated and checked, and a mutation can re-draw them.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx

from searchspace.genotype import INPUT, GenotypeError, Node, Stage, Value, Wiring, freeze_params

MAX_SEED = 2**32 - 1


@dataclass(frozen=True)
class Layout:
    """The edges a wiring generates: each node's inputs, the stage outputs, and the merge kinds."""

    inputs: tuple[tuple[int, ...], ...]
    outputs: tuple[int, ...] = ()
    merge: str = "sum"
    out_merge: str = "sum"


def chain(n: int) -> Layout:
    return Layout(tuple((i - 1,) if i else (INPUT,) for i in range(n)))


def residual(n: int) -> Layout:
    everything = tuple(range(-1, n))
    return Layout(tuple(everything[: i + 1] for i in range(n)), everything, "sum", "sum")


def dense(n: int) -> Layout:
    everything = tuple(range(-1, n))
    return Layout(tuple(everything[: i + 1] for i in range(n)), everything, "concat", "concat")


def watts_strogatz(n: int, k: int, p: float, seed: int) -> Layout:
    graph = nx.watts_strogatz_graph(n, k, p, seed=seed)
    preds: list[list[int]] = [[] for _ in range(n)]
    for a, b in graph.edges():
        lo, hi = min(a, b), max(a, b)
        preds[hi].append(lo)
    inputs = tuple(tuple(sorted(ps)) if ps else (INPUT,) for ps in preds)
    return Layout(inputs, (), "wsum", "mean")


def layout(kind: str, n: int, params: dict[str, Value]) -> Layout:
    """Generate the edges of wiring `kind` over n nodes."""
    if kind == "chain":
        return chain(n)
    if kind == "residual":
        return residual(n)
    if kind == "dense":
        return dense(n)
    if kind == "ws":
        return watts_strogatz(n, int(params["k"]), float(params["p"]), int(params["seed"]))
    raise GenotypeError(f"wiring {kind!r} cannot be generated; generated wirings: chain, residual, dense, ws")


def ws_error(n: int, params: dict[str, Value]) -> str | None:
    """Why these WS genes are invalid for n nodes, or None."""
    k, p, seed = params.get("k"), params.get("p"), params.get("seed")
    if set(params) != {"k", "p", "seed"}:
        return f"ws wiring needs exactly k, p and seed, got {sorted(params)}"
    if not isinstance(k, int) or isinstance(k, bool) or not 2 <= k < n:
        return f"ws wiring needs an integer k in [2, n-1] = [2, {n - 1}], got {k!r}"
    if not isinstance(p, int | float) or isinstance(p, bool) or not 0.0 <= p <= 1.0:
        return f"ws wiring needs p in [0, 1], got {p!r}"
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed <= MAX_SEED:
        return f"ws wiring needs an integer seed in [0, {MAX_SEED}], got {seed!r}"
    return None


def make_stage(
    kind: str,
    nodes: list[Node],
    width: int,
    stride: int = 1,
    **params: Value,
) -> Stage:
    """A stage whose nodes (op, width, params) are wired by `kind`; node inputs and merges are replaced."""
    n = len(nodes)
    if kind == "ws":
        err = ws_error(n, params)
        if err:
            raise GenotypeError(err)
    lay = layout(kind, n, params)
    wired = tuple(
        node.replace(inputs=ins, merge=lay.merge if len(ins) > 1 else "sum")
        for node, ins in zip(nodes, lay.inputs, strict=True)
    )
    return Stage(
        width=width,
        nodes=wired,
        stride=stride,
        out_merge=lay.out_merge,
        outputs=lay.outputs,
        wiring=Wiring(kind, freeze_params(params)),
    )


def check_wiring(stage: Stage, where: str) -> None:
    """Raise if a generated wiring's edges no longer match its genes."""
    kind = stage.wiring.kind
    params = dict(stage.wiring.params)
    if kind == "custom":
        if params:
            raise GenotypeError(f"{where}: a custom wiring has no parameters, got {sorted(params)}")
        return
    if kind == "ws":
        err = ws_error(len(stage.nodes), params)
        if err:
            raise GenotypeError(f"{where}: {err}")
    elif params:
        raise GenotypeError(f"{where}: wiring {kind!r} takes no parameters, got {sorted(params)}")
    lay = layout(kind, len(stage.nodes), params)
    got = tuple(tuple(sorted(n.inputs)) for n in stage.nodes)
    want = tuple(tuple(sorted(ins)) for ins in lay.inputs)
    if got != want or tuple(sorted(stage.outputs)) != tuple(sorted(lay.outputs)):
        raise GenotypeError(
            f"{where}: edges do not match its {kind!r} wiring {params or ''}; "
            "regenerate them, or set the wiring kind to 'custom'"
        )
