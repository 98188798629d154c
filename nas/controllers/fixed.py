"""A controller that proposes given genotypes in order: `launch.py train` retrains a chosen architecture."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from nas.controllers.base import Controller, Proposal
from searchspace.genotype import Genotype

if TYPE_CHECKING:
    from searchspace.space import SearchSpace


class Fixed(Controller):
    """Proposes the given genotypes one after another, then repeats the last."""

    name = "train"  # (``launch.py train``'s controller, not registered: a search cannot choose it)
    default_objectives = None

    def __init__(self, space: SearchSpace, genotypes: Sequence[Genotype], origin: str = "", seed: int = 0):
        super().__init__(space, seed)
        if not genotypes:
            raise ValueError("Fixed needs at least one genotype")
        self.genotypes = list(genotypes)
        self.origin = origin

    def propose(self, trial_id: str) -> Proposal:
        g = self.genotypes[min(self.asked, len(self.genotypes)) - 1]
        return Proposal(trial_id, g, (), 0, {"origin": self.origin} if self.origin else {})
