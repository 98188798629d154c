"""What became of a trial: one status per row of the record.

Statuses are strings in the record (``"ok"``, ``"oom"``, ...); `Status` members compare equal to them.
Standard library only.
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    """A trial's status, as the record stores it."""

    OK = "ok"  # trained to the end
    STOPPED = "stopped"  # stopped early by the scheduler (ASHA); its last epoch's metrics stand
    DIVERGED = "diverged"  # the loss became NaN or inf
    OOM = "oom"  # out of memory
    INVALID = "invalid"  # the genotype does not build
    ERROR = "error"  # training raised, or the worker died (tried twice)
    TIMEOUT = "timeout"  # ran past --trial-timeout, or hung
    REJECTED = "rejected"  # never trained: over --max-params/--max-flops, or does not fit the input
    DUPLICATE = "duplicate"  # never trained: the same architecture was trained before (its metrics copied)

    @property
    def dispatched(self) -> bool:
        """Whether a worker trained (or tried to train) the trial: it counts against --trials."""
        return self in DISPATCHED


DISPATCHED = frozenset(
    {Status.OK, Status.STOPPED, Status.DIVERGED, Status.OOM, Status.INVALID, Status.ERROR, Status.TIMEOUT}
)
NOT_DISPATCHED = frozenset({Status.REJECTED, Status.DUPLICATE})  # logged, never sent to a worker
EVALUATED = frozenset({Status.OK, Status.STOPPED, Status.DUPLICATE})  # statuses whose metrics count for a controller
TRAINED = frozenset({Status.OK, Status.STOPPED})  # trials that produced a trained network
FAILED = DISPATCHED - TRAINED  # dispatched, but did not train to a result (diverged, oom, invalid, error, timeout)
