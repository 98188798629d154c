"""Grid search: every architecture of a finite space once, in a fixed order (a tabular benchmark's sweep).

It walks the space's decision tree depth-first (`SearchSpace.leaf`), skipping decision paths that do
not build and architectures isomorphic to one already proposed (exact check, not the fingerprint
alone), and ends the search when the tree is exhausted. Its state is the next path; the
architectures seen before it are recomputed on resume, by walking the tree again up to there.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from nas.controllers.base import Controller, Proposal, SpaceExhausted
from searchspace.choosers import TooLarge
from searchspace.fingerprint import same_architecture
from searchspace.genotype import Genotype

if TYPE_CHECKING:
    from searchspace.space import SearchSpace


class Grid(Controller):
    """Proposes each architecture of a finite space once; see the module docstring."""

    name = "grid"

    def __init__(self, space: SearchSpace, seed: int = 0, objectives: Mapping[str, str] | None = None):
        super().__init__(space, seed, objectives)
        self.path: list[int] | None = []  # the next leaf to sample; None when the tree is exhausted
        self.leaves = 0  # decision paths walked
        self._known: dict[str, list[Genotype]] = {}

    def _propose(self, trial_id: str) -> Proposal:
        while self.path is not None:
            g = self._step()
            if g is not None:
                return Proposal(trial_id, g, (), 0, {"leaf": self.leaves})
        self.asked -= 1  # nothing was proposed
        raise SpaceExhausted(f"the grid has proposed all {self.unique} architectures of the space")

    def _step(self) -> Genotype | None:
        """Sample the current path, move to the next; the genotype if it is valid and new."""
        try:
            g, self.path = self.space.leaf(self.path or [])
        except TooLarge as e:
            raise ValueError(f"the grid controller needs a finite space: {e}") from None
        self.leaves += 1
        if g is None:
            return None
        twins = self._known.setdefault(g.fingerprint(), [])
        if any(same_architecture(g, t) for t in twins):
            return None
        twins.append(g)
        return g

    @property
    def unique(self) -> int:
        return sum(len(v) for v in self._known.values())

    def state_dict(self) -> dict[str, Any]:
        return super().state_dict() | {"path": self.path, "leaves": self.leaves}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        target, leaves = state["path"], state["leaves"]
        self.path, self.leaves, self._known = [], 0, {}
        while self.leaves < leaves and self.path is not None:  # the same walk again: the same architectures seen
            self._step()
        if self.path != target:
            raise ValueError("the grid's saved position does not match this search space")


def count(space: SearchSpace) -> tuple[int, int]:
    """(decision paths, unique valid architectures) of a finite space: the size of a full grid."""
    grid = Grid(space)
    while grid.path is not None:
        grid._step()
    return grid.leaves, grid.unique
