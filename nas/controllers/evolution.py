"""Regularized (aging) evolution, Real et al. 2019, and the seeds' tournament variant.

Aging (the default): keep the P most recent models; to propose, sample S of
them, mutate the best once; the oldest dies when a child joins.

Seeds' variant (Algorithm 1 in 003_db34d29afc416545.txt): sample S = 25, the
child is mutated max(d - t, 1) times (t = the evolutionary round), and the
least fit dies instead of the oldest.

"Best" is the highest value of a single objective (ties: fewer parameters),
or, with several objectives, the lowest non-dominated rank, then the largest
crowding distance (NSGA-II's order). Asynchronous as in the paper: `ask` never
waits for outstanding proposals; until the population holds a model it
proposes from the initial genotypes, then at random.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from nas.controllers.base import POPULATION, Controller, Proposal, Setting, check_population, register_controller
from nas.pareto import nsga_keys
from nas.registry import check, option
from searchspace.genotype import Genotype

if TYPE_CHECKING:
    from searchspace.space import SearchSpace

VARIANTS = ("aging", "tournament")


@dataclass(frozen=True)
class EvolutionOptions:
    population: int | None = option(
        None, "population size P (default 8; --variant tournament: 2 x --sample, so a tournament of 25 fits)"
    )
    sample: int = option(3, "tournament size S (default 3)")
    variant: str = option("aging", "aging (Real et al.) or tournament (the seeds' Algorithm 1)", choices=VARIANTS)
    mutations: int = option(1, "d in max(d - t, 1) mutations per child (tournament variant; default 1)")
    init: tuple[str, ...] = option(
        (), "zoo architectures or genotype .json files to seed the population, e.g. resnet18_cifar,allcnn_c"
    )

    def __post_init__(self) -> None:
        if self.population is None:
            big = 2 * self.sample if self.variant == "tournament" and type(self.sample) is int else 0
            object.__setattr__(self, "population", max(POPULATION, big))
        check_population(self.population)
        check(
            1 <= self.sample <= self.population,
            "sample",
            f"between 1 and the population ({self.population}; pass --population too)",
            self.sample,
        )
        check(self.variant in VARIANTS, "variant", f"one of {', '.join(VARIANTS)}", self.variant)


@register_controller("evolution", options=EvolutionOptions)
class Evolution(Controller):
    """Regularized (aging) evolution, Real et al. 2019, or the seeds' tournament variant."""

    samples_at_random = True
    has_parents = True
    default_objectives = None  # the front's: val_acc and params

    @classmethod
    def create(cls, options: EvolutionOptions, setting: Setting) -> Evolution:
        if options.init and setting.genotype is None:
            raise ValueError("evolution: init names architectures, and this search cannot resolve them")
        init = [setting.genotype(name) for name in options.init] if options.init else []
        proxies = {"warmup": setting.warmup, "proxy_filter": setting.proxy_filter}
        return cls(
            setting.space, setting.seed, setting.objectives, options.population, options.sample, options.variant,
            options.mutations, init, list(options.init), **proxies,
        )  # fmt: skip

    def __init__(
        self,
        space: SearchSpace,
        seed: int = 0,
        objectives: Mapping[str, str] | None = None,
        population: int = 20,
        sample: int = 5,
        variant: str = "aging",
        mutations: int = 1,
        init: Sequence[Genotype] = (),
        init_names: Sequence[str] = (),
        warmup: int = 0,
        proxy_filter: int = 0,
    ):
        super().__init__(space, seed, objectives, warmup=warmup, warm_keep=population, proxy_filter=proxy_filter)
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {', '.join(VARIANTS)}, got {variant!r}")
        if population < 2 or not 1 <= sample <= population:
            raise ValueError(f"need population >= 2 and 1 <= sample <= population, got {population}, {sample}")
        self.population_size = population
        self.sample_size = sample
        self.variant = variant
        self.mutations = mutations  # d in max(d - t, 1); 1 = one mutation per child
        self.init = list(init)
        self.init_names = list(init_names)  # zoo names of the initial genotypes, for the record
        self.rounds = 0  # children proposed by mutation (t)
        self.population: list[dict[str, Any]] = []  # oldest first: trial_id, genotype, metrics, generation
        self._parsed: dict[str, Genotype] = {}  # the members' genotypes as objects, by trial id (not state)

    # ------------------------------------------------------------ ask / tell

    def propose(self, trial_id: str) -> Proposal:
        if self.asked <= self.population_size or not self.population:
            index = self.asked - 1
            if index < len(self.init):
                meta = {"origin": "init"} | ({"zoo": self.init_names[index]} if index < len(self.init_names) else {})
                return Proposal(trial_id, self.init[index], (), 0, meta)
            genotype, meta = self.fresh()
            return Proposal(trial_id, genotype, (), 0, meta)
        return self._child(trial_id)

    def _child(self, trial_id: str) -> Proposal:
        k = min(self.sample_size, len(self.population))
        contenders = self.rng.sample(range(len(self.population)), k)
        parent = self.population[self._best(contenders)]
        # Algorithm 1 counts rounds from t = 0: the first child is mutated d times, then d - 1, ... down to once
        times = max(self.mutations - self.rounds, 1) if self.variant == "tournament" else max(self.mutations, 1)
        self.rounds += 1
        candidates = [self._mutant(self._genotype(parent), times) for _ in range(self.proxy_filter or 1)]
        meta: dict[str, Any] = {}
        if len(candidates) > 1:  # the proxy's best of `proxy_filter` children of the same parent
            best, value = self.pick([c for c, _ in candidates])
            kinds = next(k for c, k in candidates if c is best)
            meta = {"proxy": value, "candidates": len(candidates)}
        else:
            best, kinds = candidates[0]
        return Proposal(trial_id, best, (parent["trial_id"],), parent["generation"] + 1, {"mutations": kinds} | meta)

    def _mutant(self, child: Genotype, times: int) -> tuple[Genotype, list[str]]:
        kinds = []
        for _ in range(times):
            child, kind = self.space.mutate_with_info(child, self.rng)
            kinds.append(kind)
        return child, kinds

    def parent_pool(self) -> set[str]:
        return {m["trial_id"] for m in self.population}

    def known(self) -> set[str]:
        return super().known() | {self._genotype(m).fingerprint() for m in self.population}

    def _genotype(self, member: dict[str, Any]) -> Genotype:
        """A member's genotype, parsed once (a NAS-Bench-201 network's dict is 139 nodes: ~2.5 ms to parse)."""
        g = self._parsed.get(member["trial_id"])
        if g is None:
            g = self._parsed[member["trial_id"]] = Genotype.from_dict(member["genotype"])
        return g

    def observe(self, trial_id: str, status: str, metrics: dict[str, Any], proposal: Proposal | None) -> None:
        if proposal is None or not self.counts(status, metrics):
            return
        self.population.append(
            {
                "trial_id": trial_id,
                "genotype": proposal.genotype.to_dict(),
                "metrics": {k: metrics.get(k) for k in sorted({*self.objectives, "val_acc", "params"})},
                "generation": proposal.generation,
            }
        )
        self._parsed[trial_id] = proposal.genotype
        if len(self.population) > self.population_size:
            if self.variant == "aging":
                dead = self.population.pop(0)  # the oldest dies
            else:
                dead = self.population.pop(self._worst())
            self._parsed.pop(dead["trial_id"], None)

    # ------------------------------------------------------------ ranking

    def _keys(self, indices: Sequence[int]) -> dict[int, tuple]:
        """Sort key per member, larger is better."""
        values = [self.objective_vector(m["metrics"]) for m in self.population]
        if len(self.objectives) == 1:
            return {i: (values[i][0], -(self.population[i]["metrics"].get("params") or 0)) for i in indices}
        keys = nsga_keys(np.asarray(values, dtype=float), [True] * len(self.objectives))  # (values: larger-better)
        return {i: keys[i] for i in indices}

    def _best(self, indices: Sequence[int]) -> int:
        keys = self._keys(indices)
        return max(indices, key=lambda i: (keys[i], -i))  # ties: the older member

    def _worst(self) -> int:
        indices = range(len(self.population))
        keys = self._keys(indices)
        return min(indices, key=lambda i: (keys[i], -i))  # ties: the older member dies

    # ------------------------------------------------------------ state

    def state_dict(self) -> dict[str, Any]:
        return super().state_dict() | {
            "population_size": self.population_size,
            "sample_size": self.sample_size,
            "variant": self.variant,
            "mutations": self.mutations,
            "rounds": self.rounds,
            "population": self.population,
            "init": [g.to_dict() for g in self.init],
            "init_names": self.init_names,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self.population_size = state["population_size"]
        self.sample_size = state["sample_size"]
        self.variant = state["variant"]
        self.mutations = state["mutations"]
        self.rounds = state["rounds"]
        self.population = [dict(m) for m in state["population"]]
        self._parsed = {}
        self.init = [Genotype.from_dict(g) for g in state["init"]]
        self.init_names = list(state.get("init_names", []))
