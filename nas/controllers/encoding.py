"""Genotypes as fixed-length feature vectors, for the predictor (`nas.controllers.predictor`). Torch-free.

- A NAS-Bench-201 network (`searchspace.nb201`): its cell's adjacency one-hot (6 edges x 5 ops) and its
  path encoding (White et al., BANANAS, AAAI 2021): how many input-to-output paths carry each sequence of
  ops (paths through a cut edge do not exist; 4 + 16 + 64 sequences of 1, 2 and 3 ops).
- Any other genotype: hashed counts (`GENERIC_DIM` buckets) of its nodes' labels per stage (op, its
  parameters, width relative to the stage), of its edges as (op of the source, op of the target) per stage
  (paths of length 2, NAS-Bench-101's path features cut short), and plain numbers: stages, nodes and
  edges per stage, the stage widths (log2) and the head's hidden layers.
"""

from __future__ import annotations

import functools
import math
import zlib

import numpy as np

from searchspace import nb201
from searchspace.genotype import INPUT, Genotype

GENERIC_DIM = 256
MAX_STAGES = 5  # stages past the fifth share the fifth's features
_LIVE = nb201.OPS[1:]  # ops a path can run through ('none' cuts it)
_PATHS = {  # the cell's input-to-output paths, as edge indices into nb201.EDGES
    1: [(3,)],  # 0 -> 3
    2: [(0, 4), (1, 5)],  # 0 -> 1 -> 3, 0 -> 2 -> 3
    3: [(0, 2, 5)],  # 0 -> 1 -> 2 -> 3
}


def encode(g: Genotype) -> np.ndarray:
    """The feature vector of a genotype (float32); NAS-Bench-201 networks and others have their own lengths."""
    return _encode(g).copy()


@functools.lru_cache(maxsize=32768)
def _encode(g: Genotype) -> np.ndarray:
    code = nb201.code_of(g)
    return _cell_features(code) if code is not None else _generic(g)


@functools.lru_cache(maxsize=nb201.CELLS)
def _cell_features(code: str) -> np.ndarray:
    ops = nb201.from_code(code)
    onehot = np.zeros((len(nb201.EDGES), len(nb201.OPS)), np.float32)
    onehot[range(len(ops)), [nb201.OPS.index(op) for op in ops]] = 1.0
    paths = []
    for length, routes in _PATHS.items():
        counts = np.zeros(len(_LIVE) ** length, np.float32)
        for route in routes:
            seq = [ops[k] for k in route]
            if "none" in seq:
                continue
            index = 0
            for op in seq:
                index = index * len(_LIVE) + _LIVE.index(op)
            counts[index] += 1.0
        paths.append(counts)
    return np.concatenate([onehot.ravel(), *paths])


def _bucket(token: str) -> int:
    return zlib.crc32(token.encode()) % GENERIC_DIM


def _generic(g: Genotype) -> np.ndarray:
    x = np.zeros(GENERIC_DIM + 4 * MAX_STAGES + 2, np.float32)
    for s, stage in enumerate(g.all_stages()):
        tag = f"s{min(s, MAX_STAGES)}"
        labels = []
        for node in stage.nodes:
            rel = "" if not node.width else f"w{node.width / stage.width:g}"
            label = f"{node.op}{dict(node.params)}{rel}"
            labels.append(node.op)
            x[_bucket(f"{tag}:{label}")] += 1.0
        for i, node in enumerate(stage.nodes):
            for j in node.inputs:
                src = "in" if j == INPUT else labels[j]
                x[_bucket(f"{tag}:{src}>{labels[i]}")] += 1.0
        base = GENERIC_DIM + 4 * min(s, MAX_STAGES - 1)
        x[base] += len(stage.nodes)
        x[base + 1] += sum(len(n.inputs) for n in stage.nodes)
        x[base + 2] = math.log2(max(stage.width, 1))
        x[base + 3] += stage.stride > 1
    x[-2] = len(g.stages)
    x[-1] = sum(math.log2(h) for h in g.head.hidden if h > 0)
    return x
