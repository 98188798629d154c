"""Asynchronous successive halving over several objectives (MO-ASHA). Numpy only: no Ray, no torch.

ASHA (Li et al., MLSys 2020) gives every trial ``grace`` epochs, then at each rung (``grace * rf**k``
epochs) lets a trial go on only if it is in the top ``1/rf`` of the trials that reached that rung so far.
Ray Tune's ASHAScheduler compares one number, so a search over (val_acc, params) or (val_acc, latency)
stops exactly the small, slightly less accurate trials its own front is made of. Here a rung orders its
trials as NSGA-II and the controllers do (`nas.pareto.nsga_keys`: non-dominated rank, then crowding
distance within the front), as Syne Tune's MOASHA does (Schmucker et al., 2021), and a trial reaching it
goes on when it is among the first ``ceil(n / rf)`` of the ``n`` trials recorded there, itself included:
the first trial at a rung always goes on, the second only if it comes first, and so on.

A search with one objective does not come here: it keeps Ray's own ASHAScheduler, exactly as before.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from nas.pareto import nsga_keys


class Rungs:
    """The rungs of one MO-ASHA bracket: each trial's objective vector (larger is better) where it reached one."""

    def __init__(self, grace: int, max_t: int, reduction_factor: float = 4):
        if not (grace >= 1 and max_t >= grace and reduction_factor > 1):
            raise ValueError(f"need grace >= 1, max_t >= grace and reduction_factor > 1; got {grace}, {max_t}, "
                             f"{reduction_factor}")  # fmt: skip
        self.rf, self.max_t = reduction_factor, max_t
        count = int(math.log(max_t / grace) / math.log(reduction_factor) + 1)  # Ray's rungs for the same options
        self.milestones = [grace * reduction_factor**k for k in range(count)]
        self.recorded: list[dict[str, tuple[float, ...]]] = [{} for _ in self.milestones]

    def decide(self, trial_id: str, iteration: int, vector: Sequence[float] | None) -> bool:
        """Record a trial's result at the highest rung it reached and not yet recorded; whether it goes on.

        A vector with a missing (NaN) or infinite objective is not judged (the trial goes on, nothing recorded).
        """
        if vector is None or not all(math.isfinite(v) for v in vector):
            return True
        for milestone, recorded in reversed(list(zip(self.milestones, self.recorded, strict=True))):
            if iteration < milestone or trial_id in recorded:
                continue
            goes_on = self._ahead(recorded.values(), tuple(vector)) < math.ceil((len(recorded) + 1) / self.rf)
            recorded[trial_id] = tuple(vector)
            return goes_on
        return True

    @staticmethod
    def _ahead(others: Any, vector: tuple[float, ...]) -> int:
        """How many recorded trials come strictly before `vector` in NSGA-II's order of the rung with it."""
        values = np.asarray([*others, vector], dtype="float64")
        if len(values) == 1:
            return 0
        keys = nsga_keys(values, [True] * values.shape[1])
        mine = keys[-1]
        return sum(1 for key in keys[:-1] if key > mine)
