"""Random search: every proposal an independent sample of the space."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nas.controllers.base import POPULATION, Controller, Proposal, check_population, register_controller
from nas.registry import option

if TYPE_CHECKING:
    from searchspace.space import SearchSpace


@dataclass(frozen=True)
class RandomOptions:
    population: int = option(POPULATION, "with --warmup: the first N proposals are the proxy's best (default 8)")

    def __post_init__(self) -> None:
        check_population(self.population)


@register_controller("random", options=RandomOptions)
class RandomSearch(Controller):
    """Samples the search space uniformly through its chooser."""

    samples_at_random = True

    def __init__(
        self,
        space: SearchSpace,
        seed: int = 0,
        objectives: Mapping[str, str] | None = None,
        population: int = POPULATION,
        warmup: int = 0,
        proxy_filter: int = 0,
    ):
        super().__init__(space, seed, objectives, warmup=warmup, warm_keep=population, proxy_filter=proxy_filter)

    def propose(self, trial_id: str) -> Proposal:
        genotype, meta = self.fresh()  # (with warm-up or the proxy filter: ranked by the proxy)
        return Proposal(trial_id, genotype, meta=meta if len(meta) > 1 else {})
