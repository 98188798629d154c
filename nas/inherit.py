"""Weight inheritance: a child network starts from its parent's trained weights where they fit.

Every tensor of the child's state (weights, biases, BatchNorm statistics) whose name and shape the
parent's state has too is copied; the rest keeps its fresh initialisation. Module names come from
the genotype's structure (``stages.1.nodes.2.conv.weight``), so an op, a projection or a head that
a mutation left alone keeps its trained weights, and what a mutation changed starts afresh
(LEMONADE and NASH inherit the same way, with network morphisms for the changed part).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn


def inherit(model: nn.Module, parent: Mapping[str, torch.Tensor]) -> float:
    """Copy the parent's tensors that fit into `model` (in place); returns the share of its parameters copied."""
    names = {name for name, _ in model.named_parameters()}
    total = sum(p.numel() for p in model.parameters())
    copied = 0
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            src = parent.get(name)
            if src is None or src.shape != tensor.shape or src.dtype != tensor.dtype:
                continue
            tensor.copy_(src)
            if name in names:
                copied += tensor.numel()
    return copied / total if total else 0.0
