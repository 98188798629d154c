"""Random search: every proposal an independent sample of the space."""

from __future__ import annotations

from nas.controllers.base import Controller, Proposal


class RandomSearch(Controller):
    """Samples the search space uniformly through its chooser."""

    name = "random"

    def _propose(self, trial_id: str) -> Proposal:
        genotype, meta = self.fresh()  # (with warm-up or the proxy filter: ranked by the proxy)
        return Proposal(trial_id, genotype, meta=meta if len(meta) > 1 else {})
