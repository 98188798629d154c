"""Local search: hill climbing from the best architecture with the space's mutations, with restarts.

White, Nolen, Zela, Hutter, "Local search is state of the art for neural architecture search
benchmarks" (2020): start from the best of a few random architectures, evaluate its neighbours,
move to the first neighbour that is better, and when none is, restart from a random architecture.

Here a neighbour is one mutation away (`SearchSpace.mutate`); neighbours already tried from the
current centre are not proposed again. When ``patience`` neighbours in a row fail to improve on the
centre, it is taken as a local optimum and the climb restarts from a fresh random architecture
(which becomes the centre once evaluated; results of the abandoned climb that arrive meanwhile are
ignored). Until the first result the proposals are random, like the first ``init``. The climb follows the first objective (validation
accuracy by default; ties: fewer parameters); several objectives are not traded off. Asynchronous
like evolution: with several proposals outstanding, each is a neighbour of the centre when asked.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nas.controllers.base import POPULATION, Controller, Proposal, Setting, check_population, register_controller
from nas.registry import check, option
from searchspace.genotype import Genotype

if TYPE_CHECKING:
    from searchspace.space import SearchSpace


@dataclass(frozen=True)
class LocalSearchOptions:
    population: int = option(POPULATION, "random architectures before the first climb (default 8)")
    patience: int = option(20, "neighbours in a row without improvement before a restart (default 20)")

    def __post_init__(self) -> None:
        check_population(self.population)
        check(self.patience >= 1, "patience", "an integer >= 1", self.patience)


@register_controller("local_search", options=LocalSearchOptions)
class LocalSearch(Controller):
    """Hill climbing from the best with the space's mutations, restarting at a local optimum (White et al.
    2020)."""

    samples_at_random = True
    has_parents = True

    @classmethod
    def create(cls, options: LocalSearchOptions, setting: Setting) -> LocalSearch:
        proxies = {"warmup": setting.warmup, "proxy_filter": setting.proxy_filter}
        return cls(setting.space, setting.seed, setting.objectives, options.population, options.patience, **proxies)

    def __init__(
        self,
        space: SearchSpace,
        seed: int = 0,
        objectives: Mapping[str, str] | None = None,
        init: int = 10,
        patience: int = 20,
        warmup: int = 0,
        proxy_filter: int = 0,
    ):
        super().__init__(space, seed, objectives, warmup=warmup, warm_keep=init, proxy_filter=proxy_filter)
        if init < 1 or patience < 1:
            raise ValueError(f"local search needs init >= 1 and patience >= 1, got {init}, {patience}")
        self.n_init = init  # random architectures before the first climb
        self.patience = patience  # neighbours in a row without improvement that end a climb
        self.center: dict[str, Any] | None = None  # trial_id, genotype, score
        self.tried: list[str] = []  # fingerprints of the centre's neighbours proposed so far
        self.fails = 0  # neighbours in a row that did not improve on the centre
        self.restarting = False  # a climb ended: waiting for a random restart's result
        self.restart_id: str | None = None  # the random proposal that starts the next climb
        self.climbs = 0

    def propose(self, trial_id: str) -> Proposal:
        if self.center is not None and self.asked > self.n_init:
            parent = Genotype.from_dict(self.center["genotype"])
            child, kind = self._neighbour(parent)
            return Proposal(trial_id, child, (self.center["trial_id"],), self.climbs, {"mutations": [kind]})
        if self.restarting and self.restart_id is None:
            self.restart_id = trial_id  # this one starts the next climb, whatever its score
        genotype, meta = self.fresh()
        return Proposal(trial_id, genotype, (), self.climbs, meta)

    def _neighbour(self, parent: Genotype) -> tuple[Genotype, str]:
        """A neighbour of the centre not proposed from it yet (one already tried, when no new one is found)."""
        seen = set(self.tried)
        child, kind = parent, ""
        for _ in range(32):
            child, kind = self.space.mutate_with_info(parent, self.rng)
            if child.fingerprint() not in seen:
                break
        self.tried.append(child.fingerprint())
        return child, kind

    def observe(self, trial_id: str, status: str, metrics: dict[str, Any], proposal: Proposal | None) -> None:
        if proposal is None:
            return
        evaluated = self.counts(status, metrics)
        if trial_id == self.restart_id:
            self.restart_id = None  # (if it failed, the next proposal restarts again)
            if evaluated:
                self.restarting = False
                self.climbs += 1
                self._move(trial_id, proposal.genotype, self._score(metrics))
            return
        if self.restarting:
            return  # results of the abandoned climb (still outstanding when it ended) do not count
        neighbour = self.center is not None and proposal.parents == (self.center["trial_id"],)
        if not evaluated:
            if neighbour:
                self._failed_neighbour()
            return
        score = self._score(metrics)
        if self.center is None or score > tuple(self.center["score"]):  # (no centre: the random starts' best)
            self._move(trial_id, proposal.genotype, score)
        elif neighbour:
            self._failed_neighbour()

    def drop_pending(self) -> list[str]:
        gone = super().drop_pending()
        if self.restart_id in gone:  # the restart never reported (a resumed search): the next proposal restarts
            self.restart_id = None
        return gone

    def parent_pool(self) -> set[str]:
        return {self.center["trial_id"]} if self.center is not None else set()

    def _score(self, metrics: Mapping[str, Any]) -> tuple[float, float]:
        return (self.objective_vector(metrics)[0], -float(metrics.get("params") or 0))

    def _move(self, trial_id: str, genotype: Genotype, score: tuple[float, float]) -> None:
        self.center = {"trial_id": trial_id, "genotype": genotype.to_dict(), "score": list(score)}
        self.tried, self.fails = [], 0

    def _failed_neighbour(self) -> None:
        self.fails += 1
        if self.fails >= self.patience:  # a local optimum: the next proposal restarts at random
            self.center, self.tried, self.fails, self.restarting = None, [], 0, True

    # ------------------------------------------------------------ state

    def state_dict(self) -> dict[str, Any]:
        return super().state_dict() | {
            "init": self.n_init,
            "patience": self.patience,
            "center": self.center,
            "tried": self.tried,
            "fails": self.fails,
            "restarting": self.restarting,
            "restart_id": self.restart_id,
            "climbs": self.climbs,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self.n_init, self.patience = state["init"], state["patience"]
        self.center = dict(state["center"]) if state["center"] else None
        self.tried, self.fails = list(state["tried"]), state["fails"]
        self.restarting, self.restart_id, self.climbs = state["restarting"], state["restart_id"], state["climbs"]
