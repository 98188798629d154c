"""Random search: every proposal an independent sample of the space."""

from __future__ import annotations

from nas.controllers.base import Controller, Proposal


class RandomSearch(Controller):
    """Samples the search space uniformly through its chooser."""

    name = "random"

    def _propose(self, trial_id: str) -> Proposal:
        return Proposal(trial_id, self.space.sample(self.rng))
