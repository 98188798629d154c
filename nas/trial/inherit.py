"""Weight inheritance: a child network starts from its parent's trained weights where they fit.

Every tensor of the child's state (weights, biases, BatchNorm statistics) whose name and shape the
parent's state has too is copied; the rest keeps its fresh initialisation. Module names come from
the genotype's structure (``stages.1.nodes.2.conv.weight``), so an op, a projection or a head that
a mutation left alone keeps its trained weights, and what a mutation changed starts afresh
(LEMONADE and NASH inherit the same way, with network morphisms for the changed part). A node is
matched as a whole: a mutation that adds or removes a node renumbers the ones after it, so the
child's nodes of a stage are aligned with the parent's in order (the longest order-preserving
matching of nodes with exactly the same tensors: names within the node and shapes).

Where it is cheap the child also starts as its parent computed: an added branch -- a node with no
inherited tensor whose every consumer sums it with other inputs -- gets its last BatchNorm's scale
and shift zeroed, so it adds nothing until training moves them (the network morphism's "zero for a
new merge input"; an added node on a residual stage's branch starts as the identity). Only where a
probe forward pass confirms that the branch's output is then exactly zero; a branch whose op ends
in something else (a residual block's own shortcut, a pooling) keeps its fresh initialisation.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch
from torch import nn

SUMS = ("sum", "wsum")  # merges to which a zero input adds nothing


def inherit(model: nn.Module, parent: Mapping[str, torch.Tensor], input_shape: tuple[int, ...] | None = None) -> float:
    """Copy the parent's tensors that fit into `model` (in place); returns the share of its parameters copied.

    With `input_shape` (C, H, W), added branches then start at zero (module docstring).
    """
    names = {name for name, _ in model.named_parameters()}
    total = sum(p.numel() for p in model.parameters())
    copied, done = 0, set()
    state = model.state_dict()
    with torch.no_grad():
        for name, src_name in _matches(state, parent).items():
            tensor, src = state[name], parent[src_name]
            if src.dtype != tensor.dtype:
                continue
            tensor.copy_(src)
            done.add(name)
            if name in names:
                copied += tensor.numel()
    if input_shape is not None and done:
        zero_added_branches(model, done, input_shape)
    return copied / total if total else 0.0


_NODE = re.compile(r"^(.*\.nodes)\.(\d+)\.(.+)$")


def _matches(child: Mapping[str, torch.Tensor], parent: Mapping[str, torch.Tensor]) -> dict[str, str]:
    """Child tensor name -> the parent tensor it inherits (module docstring)."""
    out: dict[str, str] = {}
    child_nodes: dict[tuple[str, int], dict[str, torch.Size]] = {}
    parent_nodes: dict[tuple[str, int], dict[str, torch.Size]] = {}
    for names, nodes in ((child, child_nodes), (parent, parent_nodes)):
        for name, tensor in names.items():
            m = _NODE.match(name)
            if m:
                nodes.setdefault((m[1], int(m[2])), {})[m[3]] = tensor.shape
            elif names is child and name in parent and parent[name].shape == tensor.shape:
                out[name] = name  # the stem's and stages' other modules, the head: by name and shape
    for stage in {st for st, _ in child_nodes}:
        mine = sorted(j for st, j in child_nodes if st == stage)
        theirs = sorted(i for st, i in parent_nodes if st == stage)
        pairs = _align([child_nodes[stage, j] for j in mine], [parent_nodes[stage, i] for i in theirs])
        for a, b in pairs:
            j, i = mine[a], theirs[b]
            out |= {f"{stage}.{j}.{k}": f"{stage}.{i}.{k}" for k in child_nodes[stage, j]}
    return out


def _align(child: list, parent: list) -> list[tuple[int, int]]:
    """The longest order-preserving matching of equal node signatures (an LCS): an inserted or removed node
    shifts the others' positions but not their order."""
    n, m = len(child), len(parent)
    best = [[0] * (m + 1) for _ in range(n + 1)]
    for a in range(n - 1, -1, -1):
        for b in range(m - 1, -1, -1):
            same = best[a + 1][b + 1] + 1 if child[a] == parent[b] else 0
            best[a][b] = max(same, best[a + 1][b], best[a][b + 1])
    pairs, a, b = [], 0, 0
    while a < n and b < m:
        if child[a] == parent[b] and best[a][b] == best[a + 1][b + 1] + 1:
            pairs.append((a, b))
            a, b = a + 1, b + 1
        elif best[a + 1][b] >= best[a][b + 1]:
            a += 1
        else:
            b += 1
    return pairs


def zero_added_branches(model: nn.Module, inherited: set[str], input_shape: tuple[int, ...]) -> list[str]:
    """Zero the last BatchNorm of every added branch whose output that makes exactly zero; returns their names."""
    from searchspace.builder import GraphStage

    state = set(model.state_dict())
    candidates: dict[str, tuple[nn.Module, nn.BatchNorm2d]] = {}
    for prefix, stage in model.named_modules():
        if not isinstance(stage, GraphStage):
            continue
        for i, node in enumerate(stage.nodes):
            own = [k for k in state if k.startswith(f"{prefix}.nodes.{i}.")]
            norms = [m for m in node.modules() if isinstance(m, nn.BatchNorm2d) and m.affine]
            if own and norms and not inherited.intersection(own) and _only_summed(stage, i):
                candidates[f"{prefix}.nodes.{i}"] = (node, norms[-1])
    if not candidates:
        return []
    saved = {name: (bn.weight.detach().clone(), bn.bias.detach().clone()) for name, (_, bn) in candidates.items()}
    outputs: dict[str, torch.Tensor] = {}
    hooks = [
        node.register_forward_hook(lambda m, i, out, name=name: outputs.__setitem__(name, out.detach()))
        for name, (node, _) in candidates.items()
    ]
    with torch.no_grad():
        for _, bn in candidates.values():
            bn.weight.zero_()
            bn.bias.zero_()
        was_training = model.training
        model.eval()
        try:
            model(torch.randn(2, *input_shape))
        finally:
            model.train(was_training)
            for h in hooks:
                h.remove()
        zeroed = []
        for name, (_, bn) in candidates.items():
            out = outputs.get(name)
            if out is not None and not out.any():
                zeroed.append(name)
            else:  # not a zero output after all: the fresh initialisation back
                bn.weight.copy_(saved[name][0])
                bn.bias.copy_(saved[name][1])
    return zeroed


def _only_summed(stage: nn.Module, index: int) -> bool:
    """Whether every reader of node `index` (later nodes, the stage output) sums it with at least one other input."""
    readers = [(str(j), reads) for j, reads in stage.reads.items()] + [("out", stage.out_reads)]
    used = False
    for key, reads in readers:
        mine = [pkey for src, pkey in reads if src == index]
        if not mine:
            continue
        if any(mine):  # read through a projection: its inherited statistics would not keep a zero at zero
            return False
        used = True
        merge = stage.merges[key] if key in stage.merges else None
        if merge is None or merge.kind not in SUMS or len(reads) < 2:
            return False
    return used
