"""The ask/tell interface every controller implements, and what it exchanges.

A controller proposes genotypes (`ask`) and observes how they did (`tell`),
possibly with several proposals outstanding at once. A new one is a subclass
implementing `propose` (and, if it learns, `observe`), registered by name with
`nas.register_controller` and made by the search through `Controller.create`
from its options dataclass and the search's `Setting`. Its whole state is JSON
(`state_dict` / `load_state_dict`), so a search killed at any point resumes
with it intact. Randomness comes only from the controller's seeded generator.
Controllers are plain Python: they import neither torch nor Ray.
"""

from __future__ import annotations

import dataclasses
import math
import random
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nas import objectives as objective_senses
from nas.registry import CONTROLLERS, RegistryError, check
from nas.status import EVALUATED
from searchspace.genotype import Genotype

if TYPE_CHECKING:
    from searchspace.space import SearchSpace


POPULATION = 8  # the default population (evolution, NSGA-II), random starts (local search) and warm-up keep
Scorer = Callable[[Sequence[Genotype]], list[float]]  # zero-cost proxy scores, larger is better (NaN: worst)


class SpaceExhausted(Exception):
    """Raised by `ask` when a controller has nothing left to propose (a grid over a finite space)."""


@dataclass(frozen=True)
class Proposal:
    """A genotype to evaluate, with where it came from."""

    trial_id: str
    genotype: Genotype
    parents: tuple[str, ...] = ()
    generation: int = 0
    meta: Mapping[str, Any] = field(default_factory=dict)  # e.g. the mutations applied, Optuna's trial number


@dataclass(frozen=True)
class Setting:
    """What a search gives each controller it makes, besides the controller's own options."""

    space: SearchSpace
    seed: int = 0
    objectives: Mapping[str, str] | None = None  # name -> "max"/"min", in order
    warmup: int = 0  # zero-cost proxies (`samples_at_random` controllers): see `Controller.fresh`
    proxy_filter: int = 0
    journal: Path | None = None  # a file beside the results for a controller's own store (Optuna's study)
    study_name: str = "nasgraph"
    genotype: Callable[[str], Genotype] | None = None  # a zoo name or genotype .json -> a genotype of this space


class Controller(ABC):
    """Proposes genotypes and learns from their results."""

    name = "controller"  # set by `nas.register_controller` to the registered name
    samples_at_random = False  # proposes random samples of the space, so warm-up and the proxy filter apply
    has_parents = False  # proposes mutated children of trained trials, so they may inherit weights (--inherit)
    default_objectives: tuple[str, ...] | None = ("val_acc",)  # what it optimizes unless told; None: the front's

    @classmethod
    def create(cls, options: Any, setting: Setting) -> Controller:
        """A new controller from its registered options dataclass and the search's setting (override to map
        options the constructor names differently)."""
        kwargs = dataclasses.asdict(options)
        if cls.samples_at_random and (setting.warmup or setting.proxy_filter):
            kwargs |= {"warmup": setting.warmup, "proxy_filter": setting.proxy_filter}
        return cls(setting.space, setting.seed, setting.objectives, **kwargs)

    def __init__(
        self,
        space: SearchSpace,
        seed: int = 0,
        objectives: Mapping[str, str] | None = None,
        warmup: int = 0,
        warm_keep: int = 8,
        proxy_filter: int = 0,
    ):
        self.space = space
        self.seed = seed
        # a controller made without objectives optimizes validation accuracy alone
        self.objectives = dict(objectives or objective_senses.senses(("val_acc",)))
        for key, sense in self.objectives.items():
            if sense not in ("max", "min"):
                raise ValueError(f"objective {key!r} must be 'max' or 'min', got {sense!r}")
        self.rng = random.Random(seed)
        self.asked = 0  # proposals made, ever
        self.told = 0  # results told, ever (in a search: the first `told` rows of its record)
        self.last_told = ""  # the trial id told last
        self._seen: set[str] = set()  # trial ids told in this process
        self.pending: dict[str, Proposal] = {}  # proposed, not yet told
        # zero-cost proxies (`nas.trial.proxies`): the search sets `scorer` when warm-up or the filter is on
        self.scorer: Scorer | None = None
        self.warmup = warmup  # random architectures scored before the first random proposal
        self.warm_keep = warm_keep  # how many of the best of them are proposed first
        self.proxy_filter = proxy_filter  # candidates scored per random proposal (0, 1: no filter)
        self.warm: list[dict[str, Any]] | None = None  # the warm-up's best, not yet proposed (genotype, proxy)

    # ------------------------------------------------------------ the interface

    def ask(self) -> Proposal:
        """The next genotype to evaluate (other proposals may still be running)."""
        self.asked += 1
        proposal = self.propose(f"{self.asked:05d}")
        self.pending[proposal.trial_id] = proposal
        return proposal

    def tell(
        self, trial_id: str, status: str, metrics: Mapping[str, Any] | None = None, genotype: Genotype | None = None
    ) -> None:
        """The result of a proposal: its status and, when it trained, its metrics.

        `genotype` is needed only for trials this controller did not propose in
        this process (a resumed search replaying its record).
        """
        if trial_id in self._seen:
            return  # telling twice is a no-op
        self.told += 1
        self.last_told = trial_id
        self._seen.add(trial_id)
        proposal = self.pending.pop(trial_id, None)
        if proposal is None:
            proposal = Proposal(trial_id, genotype) if genotype is not None else None
        self.observe(trial_id, status, dict(metrics or {}), proposal)

    def drop_pending(self) -> list[str]:
        """Forget proposals that will never be told (a resumed search); returns their ids."""
        gone = list(self.pending)
        self.pending.clear()
        return gone

    @abstractmethod
    def propose(self, trial_id: str) -> Proposal:
        """A new proposal with this id."""

    def observe(self, trial_id: str, status: str, metrics: dict[str, Any], proposal: Proposal | None) -> None:
        """What a subclass learns from one result (proposal None: unknown to this controller)."""
        return None  # random search learns nothing

    def parent_pool(self) -> set[str]:
        """Trial ids whose trained weights a future child may inherit (evolution's population, the climb's centre)."""
        return set()

    # ------------------------------------------------------------ zero-cost proxies

    def fresh(self) -> tuple[Genotype, dict[str, Any]]:
        """A random architecture to propose, with its proposal meta: the warm-up's best first (`warmup`), else
        the proxy's best of `proxy_filter` samples, else a plain sample of the space."""
        if self.warmup and self.warm is None:
            self.warm = self._warm_up()
        if self.warm:
            best = self.warm.pop(0)
            return Genotype.from_dict(best["genotype"]), {"origin": "warmup", "proxy": best["proxy"]}
        if self.proxy_filter > 1:
            genotype, value = self.pick([self.space.sample(self.rng) for _ in range(self.proxy_filter)])
            return genotype, {"origin": "random", "proxy": value, "candidates": self.proxy_filter}
        return self.space.sample(self.rng), {"origin": "random"}

    def pick(self, candidates: Sequence[Genotype]) -> tuple[Genotype, float | None]:
        """The candidate with the best proxy score (the first, on ties), and its score; candidates this controller
        knows already (`known`) only if all are: otherwise a small space's proxy-best would be proposed again
        and again (each time a duplicate, never a new trial)."""
        scores = self._scores(candidates)
        known = self.known()
        new = [i for i, c in enumerate(candidates) if c.fingerprint() not in known] or range(len(candidates))
        best = max(new, key=lambda i: (_key(scores[i]), -i))
        return candidates[best], finite_or_none(scores[best])

    def known(self) -> set[str]:
        """Fingerprints of architectures this controller has in hand: outstanding proposals (and a subclass's
        population or neighbours tried)."""
        return {p.genotype.fingerprint() for p in self.pending.values()}

    def _warm_up(self) -> list[dict[str, Any]]:
        """`warmup` random architectures (distinct), the best `warm_keep` of them by the proxy, best first."""
        seen: dict[str, Genotype] = {}
        for _ in range(self.warmup * 4):
            if len(seen) >= self.warmup:
                break
            g = self.space.sample(self.rng)
            seen.setdefault(g.fingerprint(), g)
        pool = list(seen.values())
        scores = self._scores(pool)
        order = sorted(range(len(pool)), key=lambda i: (-_key(scores[i]), i))[: self.warm_keep]
        return [{"genotype": pool[i].to_dict(), "proxy": finite_or_none(scores[i])} for i in order]

    def _scores(self, genotypes: Sequence[Genotype]) -> list[float]:
        if self.scorer is None:
            raise RuntimeError(f"{self.name}: warm-up and the proxy filter need a scorer (nas.trial.proxies.Scorer)")
        return list(self.scorer(genotypes))

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue, as JSON-serialisable data."""
        return {
            "controller": self.name,
            "seed": self.seed,
            "objectives": self.objectives,
            "rng": _rng_state(self.rng),
            "asked": self.asked,
            "told": self.told,  # the state is the record's first `told` rows (its size does not grow with them)
            "last_told": self.last_told,
            "warmup": self.warmup,
            "warm_keep": self.warm_keep,
            "proxy_filter": self.proxy_filter,
            "warm": self.warm,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if state.get("controller") != self.name:
            raise ValueError(f"state is for controller {state.get('controller')!r}, not {self.name!r}")
        self.seed = state["seed"]
        self.objectives = dict(state["objectives"])
        self.rng.setstate(_rng_from_state(state["rng"]))
        self.asked = state["asked"]
        if "observed" in state:  # a state saved before 2026-11-30 listed every trial id told, in record order
            observed = state["observed"]
            self.told, self.last_told = len(observed), observed[-1] if observed else ""
        else:
            self.told, self.last_told = state["told"], state["last_told"]
        self._seen = set()
        self.warmup, self.warm_keep = state.get("warmup", self.warmup), state.get("warm_keep", self.warm_keep)
        self.proxy_filter, self.warm = state.get("proxy_filter", self.proxy_filter), state.get("warm")

    # ------------------------------------------------------------ helpers

    def counts(self, status: str, metrics: Mapping[str, Any]) -> bool:
        """Whether a result counts for this controller's objectives (`counts_as_evaluated`)."""
        return counts_as_evaluated(status, metrics, self.objectives)

    def objective_vector(self, metrics: Mapping[str, Any]) -> list[float]:
        """Metrics in objective order, each turned so that larger is better (`nas.objectives.larger_better`)."""
        return objective_senses.larger_better(metrics, self.objectives)


def check_population(population: Any) -> None:
    """In an options dataclass: OptionError unless a population (or a number of starts) is an integer >= 2."""
    check(type(population) is int and population >= 2, "population", "an integer >= 2", population)


def register_controller(name: str, *, options: type | None = None, summary: str = "") -> Callable[[type], type]:
    """Decorator: make ``--controller name`` (a config's ``controller: {name: ..., OPTION: ...}``) this
    `Controller` subclass, built by its `Controller.create` from ``options``, a frozen dataclass whose fields
    (`nas.registry.option`) are its config keys and flags. The class's docstring is its line in ``--help``."""

    def decorate(cls: type) -> type:
        if not (isinstance(cls, type) and issubclass(cls, Controller)):
            raise RegistryError(f"register_controller({name!r}): {cls!r:.60} is not a subclass of nas.Controller")
        if getattr(cls.propose, "__isabstractmethod__", False):
            raise RegistryError(f"register_controller({name!r}): {cls.__name__} does not implement propose(trial_id)")
        CONTROLLERS.register(name, options=options, summary=summary)(cls)
        cls.name = name
        return cls

    return decorate


def _key(score: float | None) -> float:
    """A proxy score as a sort key, larger is better; NaN and None rank last."""
    return -math.inf if score is None or not math.isfinite(score) else score


def finite_or_none(score: float | None) -> float | None:
    """A score as JSON can hold it: a float, or None where it is missing or not finite."""
    return None if score is None or not math.isfinite(score) else float(score)


def _rng_state(rng: random.Random) -> list[Any]:
    version, internal, gauss = rng.getstate()
    return [version, list(internal), gauss]


def _rng_from_state(state: list[Any]) -> tuple:
    return (state[0], tuple(state[1]), state[2])


def counts_as_evaluated(status: str, metrics: Mapping[str, Any], objectives: Mapping[str, str]) -> bool:
    """Whether a controller learns from a result: an evaluated status (ok, stopped early, a duplicate of one)
    and every objective present and finite (`nas.objectives.counts`), whatever the objectives are."""
    return status in EVALUATED and objective_senses.counts(metrics, objectives)
