"""The search space: a frozen config, sampling through a chooser, mutation, membership.

Sampling asks every question through a `Chooser` -- ``choose(name, options)``
and ``integer(name, lo, hi)`` -- with a stable, unique name per decision
("s2.n3.op", "s2.n3.conv.kernel", ...). `RandomChooser` answers from a
``random.Random``; the Optuna controller answers with
``trial.suggest_categorical`` / ``suggest_int``, so one description of the
space serves both. Randomness comes only from what is passed in. The decisions
themselves are `searchspace.sampling`'s; `SearchSpace` asks them with itself.

Resolution. The default stages were designed for CIFAR-sized inputs (a stride-1 stem and first stage), so
with that stem a network's cost grows with the input's area: over 200 sampled networks the median forward
FLOPs per image are 141 M at 32 px, 564 M at 64 px, 2.3 G at 128 px and 6.9 G at 224 px (maxima 4.8 G, 19 G,
77 G, 236 G; ResNet-50 at 224 px: 8.2 G). `stem_for` gives the stem ImageNet networks have instead: it brings
an input over `STEM_TARGET` px down to 16-32 px before stage 1 (64 -> 32, 128 -> 32, 224 -> 28) with one conv
of stride f = 2, 4 or 8 and kernel 2f - 1 (3x3/2, 7x7/4, 15x15/8: each window overlaps its neighbours by about
half, as 3x3/2 does, where a patchify f x f conv would not). One conv: a stage strides only the nodes that read
its input (`searchspace.genotype`), so a chain stem downsamples once; and an existing op in the stem's usual
shape keeps genotypes, mutation (which never touches the stem), membership and export as they are. It reads
3 channels, so it is cheap: the medians become 141 M, 148 M and 139 M at 64, 128 and 224 px (p90 0.5 G;
maxima 4.8 G, 4.8 G, 3.8 G; bench/bench_resolution.py). Inputs of at most 32 x 32 px keep the stride-1 stem,
so their spaces and the networks they sample are the ones they always were. Over 256 px stage 1 sees more than
32 px (f is at most 8). `nas.config.make_space` applies `stem_for` unless the config sets the stem itself.
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass
from typing import Any

from searchspace import members, nb201, ops, opspec, registry, sampling
from searchspace.choosers import Chooser, GridChooser, RandomChooser  # re-exported: callers import them from here
from searchspace.genotype import Genotype, GenotypeError, Node, Stage
from searchspace.mutations import MUTATIONS, SEED_MUTATIONS, mutate_once
from searchspace.shapes import validate as validate_genotype
from searchspace.wirings import make_stage

__all__ = ["DEFAULT_OPS", "SPACE_WIRINGS", "STEM_TARGET", "Chooser", "RandomChooser", "SearchSpace", "stem_for"]

TEMPLATES = ("", "nb201")  # "": the space the options describe; nb201: NAS-Bench-201's 15,625 cells
SPACE_WIRINGS = ("chain", "residual", "dense", "ws", "free")  # free: each node reads any earlier nodes

# Ops a sampled node may use: every registered op (`ops` registers them) except global pooling
# (the head does it), identity (a merge-only node; wirings add the merges themselves), and NAS-Bench-201's
# cut edge and reduction block (`searchspace.nb201`), which came after the default space was recorded.
DEFAULT_OPS = tuple(n for n in ops.names() if n not in ("gap", "identity", "zero", "res_reduce"))

STEM_TARGET = 32  # px: the resolution the default stages were designed for (CIFAR's); `stem_for` aims at it
MAX_STEM_STRIDE = 8  # the most `stem_for` downsamples (shapes.MAX_STRIDE; kernel 2 x 8 - 1 = 15, conv's widest)


def stem_for(input_size: int | tuple[int, int]) -> tuple[int, int]:
    """(stem_kernel, stem_stride) for an input: the least stride f in 1, 2, 4, 8 that brings its side (for
    (H, W), sqrt(H x W): its area decides the cost) to at most `STEM_TARGET` px, and kernel 2f - 1 (3 at f = 1)."""
    h, w = (input_size, input_size) if isinstance(input_size, int) else input_size
    stride = 1
    while h * w > (STEM_TARGET * stride) ** 2 and stride < MAX_STEM_STRIDE:
        stride *= 2
    return max(3, 2 * stride - 1), stride


@dataclass(frozen=True)
class SearchSpace:
    """Which ops, wirings, depths and widths a search explores; defaults cover every block."""

    ops: tuple[str, ...] = DEFAULT_OPS  # node ops to sample from
    wirings: tuple[str, ...] = ("chain", "residual", "dense", "ws")  # stage DAG generators, or free (any DAG)
    stages: tuple[int, int] = (2, 3)  # min, max number of stages after the stem
    nodes: tuple[int, int] = (1, 4)  # min, max nodes in a chain/residual/dense stage
    ws_nodes: tuple[int, int] = (4, 8)  # min, max nodes in a Watts-Strogatz stage
    ws_k: tuple[int, ...] = (2, 4)  # WS neighbours
    ws_p: tuple[float, ...] = (0.25, 0.5, 0.75)  # WS rewiring probability
    widths: tuple[int, ...] = (16, 24, 32, 48, 64)  # first-stage widths; each strided stage doubles
    max_width: int = 512  # cap on any stage width
    stem_kernel: int = 3  # stem: one kernel x kernel conv at stride stem_stride (`stem_for`: by input size)
    stem_stride: int = 1
    first_stride: int = 1  # stride of the first stage; later stages use 2
    head_hidden: tuple[int, ...] = (0, 128)  # width of one hidden FC layer; 0 = none
    head_dropout: tuple[float, ...] = (0.0, 0.2)
    param_search: tuple[tuple[str, str, tuple[Any, ...]], ...] = ()  # (op, param, values) overrides
    in_channels: int = 3  # used by validate()
    num_classes: int = 10
    input_size: int | None = None  # when set, validate() checks spatial sizes at this input size
    cell: bool = False  # every stage repeats stage 1's cell (DAG and ops) at its own width: NAS-Bench-101's stack
    closed: bool = False  # mutations stay inside the space (`contains`): finite spaces, tabular benchmarks
    mutation_kinds: tuple[str, ...] = ()  # mutations drawn (`searchspace.mutations`); () all; "seeds": the three
    template: str = ""  # a fixed published space instead of the options above: nb201 (`searchspace.nb201`)

    def __post_init__(self) -> None:
        if self.template not in TEMPLATES:
            raise GenotypeError(
                f"template must be one of {', '.join(t for t in TEMPLATES if t)}; got {self.template!r}"
            )
        for op in self.ops:
            registry.get(op)  # unknown op -> GenotypeError listing the known ones
        unknown = set(self.wirings) - set(SPACE_WIRINGS)
        if unknown or not self.wirings:
            raise GenotypeError(f"wirings must be chosen from {', '.join(SPACE_WIRINGS)}; got {self.wirings}")
        for key in ("stages", "nodes", "ws_nodes"):
            lo, hi = getattr(self, key)
            if not 1 <= lo <= hi:
                raise GenotypeError(f"{key} must be (min, max) with 1 <= min <= max; got {(lo, hi)}")
        kinds: list[str] = []
        for kind in self.mutation_kinds:
            if kind not in MUTATIONS and kind != "seeds":
                known = ", ".join(MUTATIONS)
                raise GenotypeError(f"unknown mutation {kind!r}; known: {known}, seeds ({', '.join(SEED_MUTATIONS)})")
            kinds += [k for k in (SEED_MUTATIONS if kind == "seeds" else (kind,)) if k not in kinds]
        object.__setattr__(self, "mutation_kinds", tuple(kinds))
        if not self.reduce_ops():
            raise GenotypeError("the space needs at least one op that can downsample (e.g. conv, maxpool)")
        for op, param, values in self.param_search:
            spec = registry.get(op)
            for v in values:
                err = spec.param_error({param: v})
                if err:
                    raise GenotypeError(f"param_search: {err}")

    # ------------------------------------------------------------ queries

    def reduce_ops(self) -> tuple[str, ...]:
        """Ops that can sit at the input of a strided stage."""
        return tuple(op for op in self.ops if registry.get(op).strides)

    def search_values(self, op: str, param: str) -> tuple[Any, ...]:
        """Values sampling and mutation explore for one op parameter (empty: keep the default)."""
        for o, p, values in self.param_search:
            if (o, p) == (op, param):
                return tuple(values)
        return registry.get(op).params[param].search

    def validate(self, g: Genotype) -> Genotype:
        """Raise GenotypeError unless g builds and its stage ops are in this space; return g."""
        error = _invalid(self, g, opspec.generation())
        if error:
            raise GenotypeError(error)
        return g

    def contains(self, g: Genotype) -> bool:
        """Whether sampling could have produced g, up to node order (`searchspace.members`)."""
        if self.template:
            return nb201.is_member(g)
        return _why_not_member(self, g, opspec.generation()) is None

    def is_valid(self, g: Genotype) -> bool:
        return _invalid(self, g, opspec.generation()) is None

    # ------------------------------------------------------------ sampling

    def sample(self, rng: random.Random | Chooser, attempts: int = 100) -> Genotype:
        """A random valid member of the space; `rng` is a random.Random or a Chooser."""
        chooser = RandomChooser(rng) if isinstance(rng, random.Random) else rng
        last: GenotypeError | None = None
        for _ in range(attempts if isinstance(chooser, RandomChooser) else 1):
            g = self.sample_once(chooser)
            try:
                return self.validate(g)
            except GenotypeError as e:
                last = e
        raise GenotypeError(f"no valid genotype sampled ({last})")

    def sample_once(self, chooser: Chooser) -> Genotype:
        """One pass of decisions; the result may still fail validation (rare: e.g. groups vs widths)."""
        return sampling.sample_once(self, chooser)

    def stem(self, base: int) -> Stage:
        """The stem of a network whose first stage is `base` wide: a stem_kernel conv at stride stem_stride."""
        return make_stage("chain", [registry.node("conv", kernel=self.stem_kernel)], base, self.stem_stride)

    def stage_shapes(self, base: int, n_stages: int) -> list[tuple[int, int]]:
        """(width, stride) of each stage after a stem of width `base`: strided stages double the width."""
        shapes, width = [], base
        for i in range(1, n_stages + 1):
            stride = self.first_stride if i == 1 else 2
            if i > 1 and stride > 1:
                width = min(self.max_width, width * 2)
            shapes.append((width, stride))
        return shapes

    def must_reduce(self, stride: int, strides: list[int]) -> bool:
        """Whether a stage's nodes that read only its input must be able to downsample: it strides, or (a cell
        space, whose stages share one cell) any stage does."""
        return stride > 1 or (self.cell and any(s > 1 for s in strides))

    def sample_stage(self, chooser: Chooser, prefix: str, width: int, stride: int, reduce: bool | None = None) -> Stage:
        """One stage: a wiring, its size, then an op per node (`reduce`: nodes reading only the input can stride)."""
        return sampling.sample_stage(self, chooser, prefix, width, stride, reduce)

    def sample_free_stage(self, chooser: Chooser, prefix: str, width: int, stride: int, reduce: bool) -> Stage:
        """Free connectivity: node j reads any non-empty set of the input and nodes 0..j-1, summed."""
        return sampling.sample_free_stage(self, chooser, prefix, width, stride, reduce)

    def sample_node(self, chooser: Chooser, prefix: str, reduce: bool, width: int = 0) -> Node:
        """An op (one that can downsample if `reduce`) and its parameters."""
        return sampling.sample_node(self, chooser, prefix, reduce, width)

    def sample_op(self, chooser: Chooser, prefix: str, op: str, width: int = 0) -> Node:
        """A node of op `op`, each of its searched parameters chosen (`search_values`)."""
        return sampling.sample_op(self, chooser, prefix, op, width)

    def leaf(self, path: list[int]) -> tuple[Genotype | None, list[int] | None]:
        """The genotype the decision path `path` samples (None: not a valid one), and the next path
        (None: the last); walk from ``[]`` to visit every sequence of decisions once (the grid controller)."""
        chooser = GridChooser(path)
        g = self.sample_once(chooser)
        return (g if self.is_valid(g) else None), chooser.advance()

    # ------------------------------------------------------------ mutation

    def mutate(self, g: Genotype, rng: random.Random, attempts: int = 64) -> Genotype:
        """A new valid genotype, one mutation away from g (g itself is never changed)."""
        return self.mutate_with_info(g, rng, attempts)[0]

    def mutate_with_info(self, g: Genotype, rng: random.Random, attempts: int = 64) -> tuple[Genotype, str]:
        """Like `mutate`, also naming the mutation applied."""
        if self.template:  # one edge to another op: every child is a member, and never its parent
            try:
                return nb201.mutate(g, rng), "op"
            except GenotypeError:
                raise GenotypeError("no valid mutation: the genotype is not a NAS-Bench-201 network") from None
        parent_fp = g.fingerprint()
        tried: list[str] = []
        inside = self.closed and self.contains(g)  # a closed space's member has children inside it
        for _ in range(attempts * 4 if inside else attempts):  # most mutations leave a small closed space
            kind, child = mutate_once(self, g, rng)
            tried.append(kind)
            if child is not None and inside and self.cell:
                child = members.retie(g, child)
            if child is None or child == g or not self.is_valid(child) or child.fingerprint() == parent_fp:
                continue
            if inside and not self.contains(child):
                continue
            return child, kind
        raise GenotypeError(f"no valid mutation found in {attempts} attempts (tried: {', '.join(sorted(set(tried)))})")


@functools.lru_cache(maxsize=8192)  # mutation, membership and admission ask about the same genotypes
def _invalid(space: SearchSpace, g: Genotype, generation: int) -> str | None:
    """Why g does not build or uses an op outside the space (`SearchSpace.validate`), or None."""
    if space.template:  # a template's members build (tested); nothing else is in it
        return None if nb201.is_member(g) else "not a NAS-Bench-201 network: this space holds only its 15,625 cells"
    try:
        validate_genotype(g, space.in_channels, space.num_classes, space.input_size)
    except GenotypeError as e:
        return str(e)
    allowed = set(space.ops) | {"identity"}
    for i, stage in enumerate(g.stages, 1):
        for j, node in enumerate(stage.nodes):
            if node.op not in allowed:
                return f"stage {i} node {j}: op {node.op!r} is not in this search space"
    return None


@functools.lru_cache(maxsize=8192)
def _why_not_member(space: SearchSpace, g: Genotype, generation: int) -> str | None:
    return members.why_not(space, g)
