"""nasgraph's search space: genotypes, the op registry, blocks, wirings, builder, sampling, zoo.

import random, searchspace as ss
g = ss.zoo.get("resnet50")
model = ss.build(g, in_channels=3, num_classes=1000)
space = ss.SearchSpace()
child = space.mutate(space.sample(random.Random(0)), random.Random(1))
"""

from searchspace import ops, wirings, zoo
from searchspace.builder import Network, build, complexity, count_flops, count_params, trace
from searchspace.fingerprint import fingerprint, same_architecture
from searchspace.genotype import INPUT, Genotype, GenotypeError, Head, Node, Stage, Wiring
from searchspace.registry import node
from searchspace.render import render
from searchspace.shapes import infer, validate
from searchspace.space import Chooser, RandomChooser, SearchSpace

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
