"""Grid search: every architecture of a finite space once, in a fixed order (a tabular benchmark's sweep).

It walks the space's decision tree depth-first (`SearchSpace.leaf`), skipping decision paths that do
not build and architectures isomorphic to one already proposed or told (exact check, not the
fingerprint alone), and ends the search when the tree is exhausted. Its state is the next path and
the paths of proposals still outstanding; on resume the architectures seen before are recomputed by
walking the tree again up to there, and outstanding proposals that were dropped are proposed again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from nas.controllers.base import Controller, Proposal, SpaceExhausted, register_controller
from nas.errors import SearchError
from searchspace.choosers import TooLarge
from searchspace.fingerprint import same_architecture
from searchspace.genotype import Genotype

if TYPE_CHECKING:
    from searchspace.space import SearchSpace


@register_controller("grid")
class Grid(Controller):
    """Every architecture of a finite space once, then the search ends (a tabular benchmark's sweep)."""

    def __init__(self, space: SearchSpace, seed: int = 0, objectives: Mapping[str, str] | None = None):
        super().__init__(space, seed, objectives)
        self.path: list[int] | None = []  # the next leaf to sample; None when the tree is exhausted
        self.leaves = 0  # decision paths walked
        self.outstanding: dict[str, list[int]] = {}  # trial id -> the decision path of a proposal not yet told
        self.redo: dict[str, list[int]] = {}  # the same, of proposals dropped before they were told (on resume)
        self._known: dict[str, list[Genotype]] = {}

    def propose(self, trial_id: str) -> Proposal:
        while self.redo:
            path = self.redo.pop(next(iter(self.redo)))
            g, _ = self.space.leaf(list(path))
            if g is not None:
                self.outstanding[trial_id] = path
                return Proposal(trial_id, g, (), 0, {"redo": True})
        while self.path is not None:
            path = list(self.path)
            g = self._step()
            if g is not None:
                self.outstanding[trial_id] = path
                return Proposal(trial_id, g, (), 0, {"leaf": self.leaves})
        self.asked -= 1  # nothing was proposed
        raise SpaceExhausted(f"the grid has proposed all {self.unique} architectures of the space")

    def _step(self) -> Genotype | None:
        """Sample the current path, move to the next; the genotype if it is valid and new."""
        try:
            g, self.path = self.space.leaf(self.path or [])
        except TooLarge as e:
            raise SearchError(f"the grid controller needs a finite space: {e}") from None
        self.leaves += 1
        if g is None:
            return None
        return g if self._learn(g) else None

    def _learn(self, g: Genotype) -> bool:
        """Remember g; False if it (or an isomorph) was known already."""
        twins = self._known.setdefault(g.fingerprint(), [])
        if any(same_architecture(g, t) for t in twins):
            return False
        twins.append(g)
        return True

    def observe(self, trial_id: str, status: str, metrics: dict[str, Any], proposal: Proposal | None) -> None:
        self.outstanding.pop(trial_id, None)
        self.redo.pop(trial_id, None)
        if proposal is not None:  # (a rebuilt state replaying the record: what was trained is not proposed again)
            self._learn(proposal.genotype)

    def drop_pending(self) -> list[str]:
        """A resumed search: whatever was outstanding never finished (or is replayed from the record next)."""
        self.redo |= self.outstanding
        self.outstanding = {}
        return super().drop_pending()

    @property
    def unique(self) -> int:
        return sum(len(v) for v in self._known.values())

    def state_dict(self) -> dict[str, Any]:
        return super().state_dict() | {
            "path": self.path,
            "leaves": self.leaves,
            "outstanding": self.outstanding,
            "redo": self.redo,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        target, leaves = state["path"], state["leaves"]
        self.path, self.leaves, self._known = [], 0, {}
        while self.leaves < leaves and self.path is not None:  # the same walk again: the same architectures seen
            self._step()
        if self.path != target:
            raise ValueError("the grid's saved position does not match this search space")
        self.outstanding = {k: list(v) for k, v in state.get("outstanding", {}).items()}
        self.redo = {k: list(v) for k, v in state.get("redo", {}).items()}


def count(space: SearchSpace) -> tuple[int, int]:
    """(decision paths, unique valid architectures) of a finite space: the size of a full grid."""
    grid = Grid(space)
    while grid.path is not None:
        grid._step()
    return grid.leaves, grid.unique
