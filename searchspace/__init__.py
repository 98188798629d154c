"""nasgraph's search space: genotypes, the op registry, blocks, wirings, builder, sampling, zoo.

import random, searchspace as ss
g = ss.zoo.get("resnet50")
model = ss.build(g, in_channels=3, num_classes=1000)
space = ss.SearchSpace()
child = space.mutate(space.sample(random.Random(0)), random.Random(1))

Importing the package does not import torch: genotypes, the op registry,
shapes, wirings, sampling, mutation, fingerprints and the zoo are plain Python
(with networkx), so a controller process can search without torch. The names
that need torch (`build`, `Network`, `count_params`, ... and the `layers`,
`blocks` and `builder` modules) are imported on first use (PEP 562).

This file is the package's facade: it may import any submodule, and no
submodule imports it for a name (tests/searchspace/test_imports.py keeps the
submodules' imports acyclic).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from searchspace import ops, wirings, zoo
from searchspace.fingerprint import fingerprint, same_architecture
from searchspace.genotype import INPUT, Genotype, GenotypeError, Head, Node, Stage, Wiring
from searchspace.registry import node
from searchspace.render import render
from searchspace.shapes import infer, validate
from searchspace.space import Chooser, RandomChooser, SearchSpace

if TYPE_CHECKING:
    from searchspace.builder import Network, build, complexity, count_flops, count_params, trace

# name -> the module that defines it; imported (with torch) when first asked for
_LAZY = {
    "Network": "searchspace.builder",
    "build": "searchspace.builder",
    "complexity": "searchspace.builder",
    "count_flops": "searchspace.builder",
    "count_params": "searchspace.builder",
    "trace": "searchspace.builder",
}
_LAZY_MODULES = ("blocks", "builder", "layers")

__all__ = [
    "INPUT",
    "Chooser",
    "RandomChooser",
    "SearchSpace",
    "Genotype",
    "GenotypeError",
    "Head",
    "Network",
    "Node",
    "Stage",
    "Wiring",
    "build",
    "complexity",
    "count_flops",
    "count_params",
    "fingerprint",
    "infer",
    "node",
    "ops",
    "render",
    "same_architecture",
    "trace",
    "validate",
    "wirings",
    "zoo",
]


def __getattr__(name: str) -> Any:
    """The torch-backed names and modules, imported on first use and then cached in the module."""
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
    elif name in _LAZY_MODULES:
        value = importlib.import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | set(_LAZY_MODULES))
