"""Draw a genotype's graph to an SVG or PNG file (networkx layout, matplotlib drawing)."""

from __future__ import annotations

from pathlib import Path

import networkx as nx

from searchspace import registry
from searchspace.genotype import INPUT, Genotype, Node

COLORS = {"conv": "#9ecae1", "pool": "#fdd0a2", "block": "#a1d99b", "misc": "#d9d9d9", "io": "#f7f7f7"}


def short_label(node: Node) -> str:
    """Op name plus the parameters a reader cares about first (kernel, width, block sizes)."""
    spec = registry.REGISTRY.get(node.op)
    p = spec.resolve(node.params) if spec else dict(node.params)
    bits = [node.op]
    if "kernel" in p:
        bits.append(f"{p['kernel']}x{p['kernel']}")
    for key, fmt in (
        ("dilation", "d{}"),
        ("groups", "g{}"),
        ("cardinality", "c{}"),
        ("layers", "L{}"),
        ("growth", "k{}"),
        ("up", "up{}"),
    ):
        if key in p:
            bits.append(fmt.format(p[key]))
    if node.width:
        bits.append(f"w{node.width}")
    return " ".join(bits)


def network_graph(g: Genotype) -> nx.DiGraph:
    """The whole network as one DiGraph: input, every node, a junction per stage, the head."""
    net = nx.DiGraph()
    net.add_node("input", label="input", kind="io")
    prev = "input"
    for si, stage in enumerate(g.all_stages()):
        tag = "stem" if si == 0 else f"s{si}"
        for j, node in enumerate(stage.nodes):
            spec = registry.REGISTRY.get(node.op)
            net.add_node((tag, j), label=short_label(node), kind=spec.category if spec else "misc")
        for j, node in enumerate(stage.nodes):
            for src in node.inputs:
                net.add_edge(prev if src == INPUT else (tag, src), (tag, j))
        junction = f"{tag} out"
        desc = f"{'stem' if si == 0 else f'stage {si}'}: {stage.width}ch"
        desc += f", /{stage.stride}" if stage.stride > 1 else ""
        outs = stage.output_nodes()
        desc += f" ({stage.out_merge})" if len(outs) > 1 else ""
        net.add_node(junction, label=desc, kind="io")
        for src in outs:
            net.add_edge(prev if src == INPUT else (tag, src), junction)
        prev = junction
    hidden = "-".join(map(str, g.head.hidden))
    net.add_node(
        "head", label=f"head: pool {g.head.pool_size}" + (f", FC {hidden}" if hidden else "") + ", FC", kind="io"
    )
    net.add_edge(prev, "head")
    for layer, nodes in enumerate(nx.topological_generations(net)):
        for n in nodes:
            net.nodes[n]["layer"] = layer
    return net


def render(g: Genotype, path: str | Path, title: str | None = None) -> Path:
    """Write a drawing of the genotype (format from the suffix: .svg, .png, .pdf).

    Uses a bare matplotlib Figure on the Agg canvas: pyplot's global state is left alone.
    """
    from matplotlib import rc_context
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    net = network_graph(g)
    pos = nx.multipartite_layout(net, subset_key="layer", align="horizontal", scale=1.0)
    pos = {n: (x, -y) for n, (x, y) in pos.items()}  # input at the top
    layers = max(d["layer"] for _, d in net.nodes(data=True)) + 1
    widest = max(sum(1 for _, d in net.nodes(data=True) if d["layer"] == k) for k in range(layers))
    with rc_context({"svg.fonttype": "none"}):  # labels stay searchable text in SVG
        fig = Figure(figsize=(max(6.0, 2.2 * widest), max(4.0, 0.55 * layers)))
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        _draw_edges(net, pos, ax)
        for n, (x, y) in pos.items():
            d = net.nodes[n]
            box = {"boxstyle": "round,pad=0.3", "fc": COLORS.get(d["kind"], "#ffffff"), "ec": "#555555", "lw": 0.6}
            ax.text(x, y, d["label"], ha="center", va="center", fontsize=7, bbox=box, zorder=3)
        nodes = sum(len(s.nodes) for s in g.all_stages())
        ax.set_title(title or f"{len(g.stages)} stages, {nodes} nodes", fontsize=9)
        ax.axis("off")
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, bbox_inches="tight", dpi=150)
    return path


def _draw_edges(net: nx.DiGraph, pos: dict, ax) -> None:
    """Edges between adjacent layers straight; skips as arcs, alternating sides, wider for longer spans."""
    style = {"ax": ax, "arrows": True, "arrowsize": 8, "edge_color": "#666666", "width": 0.8}
    margins = {"min_source_margin": 8, "min_target_margin": 9}  # stop arrows at the label boxes
    short = [(u, v) for u, v in net.edges if net.nodes[v]["layer"] - net.nodes[u]["layer"] == 1]
    nx.draw_networkx_edges(net, pos, edgelist=short, **style, **margins)
    skips = [(u, v) for u, v in net.edges if net.nodes[v]["layer"] - net.nodes[u]["layer"] > 1]
    for k, (u, v) in enumerate(skips):
        span = net.nodes[v]["layer"] - net.nodes[u]["layer"]
        rad = (0.2 + 0.04 * min(span, 8)) * (1 if k % 2 == 0 else -1)
        nx.draw_networkx_edges(
            net, pos, edgelist=[(u, v)], connectionstyle=f"arc3,rad={rad}", alpha=0.55, **style, **margins
        )
