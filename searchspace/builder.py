"""The builder: ``genotype -> nn.Module``, plus parameter and FLOP counts.

Topological order, channel counts and projections come from
`searchspace.shapes.infer`, computed once in ``__init__``; ``forward`` keeps
tensors in a local dict and never on the graph.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence

import torch
from torch import fx, nn
from torch.utils.flop_counter import FlopCounterMode, register_flop_formula

from searchspace import registry
from searchspace.genotype import INPUT, Genotype
from searchspace.layers import AddCoords, Classifier, Combine, DeformConv, LocalConv, Projection
from searchspace.shapes import MergePlan, NetPlan, StagePlan, validate

Read = tuple[int, str]  # (source node, projection key or "")


class GraphStage(nn.Module):
    """One stage DAG: each node merges what it reads, then applies its op."""

    def __init__(self, plan: StagePlan):
        super().__init__()
        self.order = plan.order
        self.nodes = nn.ModuleList(make_op(n.op, n.in_ch, n.out_ch, n.stride, n.params) for n in plan.nodes)
        self.proj = nn.ModuleDict()
        self.merges = nn.ModuleDict()
        self.reads: dict[int, list[Read]] = {n.index: self._plan_merge(str(n.index), n.merge) for n in plan.nodes}
        self.out_reads = self._plan_merge("out", plan.out)

    def _plan_merge(self, key: str, m: MergePlan) -> list[Read]:
        reads = []
        for src, pkey, ch, out_ch, stride in merge_inputs(m):
            if pkey and pkey not in self.proj:
                self.proj[pkey] = Projection(ch, out_ch, stride)
            reads.append((src, pkey))
        if len(reads) > 1:
            self.merges[key] = Combine(m.kind, len(reads))
        return reads

    def _gather(self, key: str, reads: list[Read], vals: dict) -> torch.Tensor:
        xs = []
        for src, pkey in reads:
            if pkey and pkey not in vals:
                vals[pkey] = self.proj[pkey](vals[src])
            xs.append(vals[pkey] if pkey else vals[src])
        return xs[0] if len(xs) == 1 else self.merges[key](xs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        vals: dict = {INPUT: x}
        for i in self.order:
            vals[i] = self.nodes[i](self._gather(str(i), self.reads[i], vals))
        return self._gather("out", self.out_reads, vals)


def merge_inputs(m: MergePlan) -> list[tuple[int, str, int, int, int]]:
    """Per input of a merge: (source, projection key or "", in width, out width, stride).

    One projection is shared per (source, width, stride); the key names it.
    """
    inputs = []
    for src, ch, stride in zip(m.sources, m.in_chs, m.strides, strict=True):
        out_ch = ch if m.kind == "concat" else m.out_ch
        pkey = f"{'in' if src == INPUT else src}_to{out_ch}_s{stride}" if stride != 1 or out_ch != ch else ""
        inputs.append((src, pkey, ch, out_ch, stride))
    return inputs


class Network(nn.Module):
    """stem -> stages -> classifier head (`searchspace.layers.Classifier`), built from a genotype."""

    def __init__(self, plan: NetPlan, genotype: Genotype):
        super().__init__()
        self.stem = GraphStage(plan.stages[0])
        self.stages = nn.ModuleList(GraphStage(p) for p in plan.stages[1:])
        h = genotype.head
        self.head = Classifier(plan.head_in_ch, plan.num_classes, h.pool_size, h.hidden, h.dropout, h.act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for stage in self.stages:
            x = stage(x)
        return self.head(x)


def make_op(op: str, in_ch: int, out_ch: int, stride: int, params: dict) -> nn.Module:
    """Construct one registered op: the one signature every op shares."""
    return registry.get(op).fn(in_ch, out_ch, stride, **params)


def build(
    genotype: Genotype, in_channels: int = 3, num_classes: int = 10, input_size: int | Sequence[int] | None = None
) -> Network:
    """A plain nn.Module for the genotype; validates first (with `input_size`, also its spatial sizes)."""
    plan = validate(genotype, in_channels, num_classes, input_size)
    return Network(plan, genotype)


def count_params(genotype: Genotype, in_channels: int = 3, num_classes: int = 10) -> int:
    """Trainable parameters: the sum over the modules `build` makes, each counted once built on the meta device.

    Every op, projection, merge and the head are independent modules, so the network's count is the
    sum of theirs; each distinct (op, widths, stride, params) is built once per process and
    remembered, so counting a mutated child costs only the nodes that changed. Equal to
    ``sum(p.numel() for p in build(...).parameters())`` (tested on every zoo network and sampled ones).
    """
    plan = validate(genotype, in_channels, num_classes)
    total = 0
    for stage in plan.stages:
        total += sum(
            _op_params(n.op, n.in_ch, n.out_ch, n.stride, json.dumps(n.params, sort_keys=True)) for n in stage.nodes
        )
        projections: dict[str, tuple[int, int, int]] = {}
        for m in [n.merge for n in stage.nodes] + [stage.out]:
            inputs = merge_inputs(m)
            projections |= {pkey: (ch, out, s) for _, pkey, ch, out, s in inputs if pkey}
            if len(inputs) > 1:
                total += _module_params(Combine, m.kind, len(inputs))
        total += sum(_module_params(Projection, *args) for args in projections.values())
    h = genotype.head
    head = (plan.head_in_ch, plan.num_classes, h.pool_size, tuple(h.hidden), h.dropout, h.act)
    return total + _module_params(Classifier, *head)


@functools.lru_cache(maxsize=16384)
def _op_params(op: str, in_ch: int, out_ch: int, stride: int, params_json: str) -> int:
    with torch.device("meta"):
        module = make_op(op, in_ch, out_ch, stride, json.loads(params_json))
    return sum(p.numel() for p in module.parameters())


@functools.lru_cache(maxsize=4096)
def _module_params(cls: type[nn.Module], *args) -> int:
    with torch.device("meta"):
        module = cls(*args)
    return sum(p.numel() for p in module.parameters())


def count_flops(
    genotype: Genotype, in_channels: int = 3, num_classes: int = 10, input_size: int | Sequence[int] = 32
) -> int:
    """FLOPs of one forward pass on one image (a multiply-add counts as 2 FLOPs; MACs = FLOPs / 2)."""
    return complexity(genotype, in_channels, num_classes, input_size)[1]


def complexity(
    genotype: Genotype, in_channels: int = 3, num_classes: int = 10, input_size: int | Sequence[int] = 32
) -> tuple[int, int]:
    """(parameters, FLOPs per image), from one meta-device build and forward."""
    hw = (input_size, input_size) if isinstance(input_size, int) else tuple(input_size)
    if any(n.op == "deformable" for s in genotype.all_stages() for n in s.nodes):
        _register_deform_flops()
    with torch.device("meta"):
        model = build(genotype, in_channels, num_classes, hw).eval()
        x = torch.empty(1, in_channels, *hw)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x)
    return sum(p.numel() for p in model.parameters()), int(counter.get_total_flops())


class _Tracer(fx.Tracer):
    """fx tracer that keeps deformable convs, coordinate channels and locally connected convs as opaque calls."""

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return isinstance(m, DeformConv | AddCoords | LocalConv) or super().is_leaf_module(m, qualname)


def trace(model: nn.Module) -> fx.GraphModule:
    """torch.fx GraphModule of a built network: the graph unrolled into straight-line code."""
    graph = _Tracer().trace(model)
    return fx.GraphModule(model, graph, model.__class__.__name__)


def _deform_conv_flops(input_shape, weight_shape, offset_shape, *args, out_shape=None, **kwargs) -> int:
    """A deformable conv costs what a regular conv of its shape costs (bilinear sampling not counted)."""
    out_ch, in_per_group, kh, kw = weight_shape
    n, _, oh, ow = out_shape
    return 2 * n * out_ch * oh * ow * in_per_group * kh * kw


_DEFORM_REGISTERED: list[bool] = []


def _register_deform_flops() -> None:
    """Teach FlopCounterMode torchvision's deform_conv2d (imported only when a genotype uses it)."""
    if not _DEFORM_REGISTERED:
        import torchvision  # noqa: F401  (loads torch.ops.torchvision)

        register_flop_formula(torch.ops.torchvision.deform_conv2d)(_deform_conv_flops)
        _DEFORM_REGISTERED.append(True)
