"""The weights under the generated Net's names, and the generated model.py loaded to check them.

The given state dict must fit the genotype's library model key for key and shape for shape; it is
renamed to Net's attributes (a bijection, checked), and the generated class must take it strictly.
"""

from __future__ import annotations

import importlib.util
import sys
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

import searchspace as ss
from nas.errors import first_line
from nas.exporter.literals import ExportError
from searchspace.genotype import Genotype


def checked_state_dict(
    g: Genotype, state_dict: Mapping[str, torch.Tensor] | None, in_channels: int, num_classes: int
) -> dict[str, torch.Tensor]:
    """The given state dict checked against the genotype's model (or a fresh model's), on the CPU."""
    if state_dict is None:
        return ss.build(g, in_channels, num_classes).state_dict()
    if not isinstance(state_dict, Mapping):
        raise ExportError(f"state_dict must be a mapping of names to tensors, got {type(state_dict).__name__}")
    with torch.device("meta"):
        expected = ss.build(g, in_channels, num_classes).state_dict()
    for key, ref in expected.items():
        v = state_dict.get(key)
        if v is None:
            raise ExportError(f"state dict does not fit the genotype: it lacks {key!r} (shape {tuple(ref.shape)})")
        if not isinstance(v, torch.Tensor) or v.shape != ref.shape:
            got = tuple(v.shape) if isinstance(v, torch.Tensor) else type(v).__name__
            raise ExportError(
                f"state dict does not fit the genotype: {key!r} is {got}, the genotype's model has {tuple(ref.shape)}"
            )
    for key in state_dict:
        if key not in expected:
            raise ExportError(f"state dict does not fit the genotype: unexpected key {key!r}")
    return {k: state_dict[k].detach().to("cpu").contiguous() for k in expected}


def rename(weights: dict[str, torch.Tensor], prefixes: dict[str, str]) -> dict[str, torch.Tensor]:
    """Library keys (stages.0.nodes.3.conv.weight) -> Net keys (s1_n3.conv.weight); must be a bijection."""
    out: dict[str, torch.Tensor] = {}
    for key, v in weights.items():
        parts = key.split(".")
        lib = next((p for p in (".".join(parts[:n]) for n in (1, 3, 4)) if p in prefixes), None)
        if lib is None:
            raise ExportError(f"no exported layer for the library weight {key!r}")
        new = prefixes[lib] + key[len(lib) :]
        if new in out:
            raise ExportError(f"two library weights map to {new!r}")
        out[new] = v
    return out


@contextmanager
def imported(path: Path) -> Iterator[Any]:
    """The generated model.py as a module, importable by name while in use."""
    name = f"_nasgraph_export_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ExportError(f"cannot import the generated {path.name}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        try:
            spec.loader.exec_module(module)
        except Exception as e:
            raise ExportError(f"the generated {path.name} does not import: {type(e).__name__}: {e}") from e
        yield module
    finally:
        sys.modules.pop(name, None)


def load_net(cls: type[torch.nn.Module], num_classes: int, weights: dict[str, torch.Tensor]) -> torch.nn.Module:
    """The generated Net with the weights; its keys and shapes must be exactly the renamed ones."""
    try:
        with torch.device("meta"):
            net = cls(num_classes)
    except Exception as e:
        raise ExportError(f"the generated model cannot be built: {type(e).__name__}: {e}") from e
    try:
        net.load_state_dict(weights, strict=True, assign=True)
    except RuntimeError as e:
        raise ExportError(f"the generated model does not take the weights: {first_line(e)}") from e
    if any(t.is_meta for t in (*net.parameters(), *net.buffers())):
        raise ExportError("the generated model has tensors that are not in its state dict")
    return net.eval()
