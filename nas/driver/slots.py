"""The search's slots: how busy its --concurrency places for trials were, as the driver sees them.

A trial takes a slot when the driver hands it to the engine (`SearchState.propose`) and gives it back when its
row is recorded (or it is abandoned). A slot is made the first time every existing one is busy, so a search that
never runs two trials at once (the local engine) has one. Each dispatched row records (`nas.record.row.TRIAL_TIMES`)
which slot ran it, how long that slot had been idle, and its time on the slot: its wall time on the worker plus
starting it (Tune's scheduling, a worker, the data) and taking its result back (checkpoint, record). Measured on
the driver's clock alone, so other nodes' clocks never enter. `InFlight` holds the trials on the slots.
Standard library only.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nas.controllers import Proposal
    from nas.driver.coordinator import Pending


class Slots:
    """Busy and idle time of the search's slots; see the module docstring."""

    def __init__(self, started: float | None = None) -> None:
        self.started = time.time() if started is None else started  # when every slot became available
        self.free_since: list[float | None] = []  # by slot: when it was last given back; None while busy

    def take(self, now: float) -> tuple[int, float]:
        """A slot for a trial dispatched at `now` (the one idle longest), and how long it had been idle."""
        idle = [(since, i) for i, since in enumerate(self.free_since) if since is not None]
        if idle:
            since, slot = min(idle)
        else:
            since, slot = self.started, len(self.free_since)
            self.free_since.append(None)
        self.free_since[slot] = None
        return slot, max(0.0, now - since)

    def give_back(self, slot: int, now: float) -> None:
        """The slot's trial is recorded (or abandoned) at `now`."""
        self.free_since[slot] = now


class InFlight(dict[str, "Pending"]):
    """The trials handed to the engine and not yet recorded, by trial id, each on one of the `slots`: taken when
    the trial is handed over, given back when its row is recorded or it is abandoned."""

    def __init__(self) -> None:
        super().__init__()
        self.slots = Slots()

    def start(self, pending: Pending) -> None:
        """`pending` is handed to the engine, on the slot idle longest."""
        pending.slot, pending.slot_idle = self.slots.take(pending.started)
        self[pending.trial_id] = pending

    def slot_times(self, pending: Pending) -> dict[str, Any]:
        """A recorded trial's slot given back now, and its row's slot times (`nas.record.row.TRIAL_TIMES`)."""
        now = time.time()
        self.slots.give_back(pending.slot, now)
        return {"slot": pending.slot, "slot_idle_seconds": pending.slot_idle, "slot_seconds": now - pending.started}

    def drop(self, trial_id: str) -> Pending | None:
        """Forget a trial that will never report; its slot is free again."""
        pending = self.pop(trial_id, None)
        if pending is not None:
            self.slots.give_back(pending.slot, time.time())
        return pending

    def twins(self, fp: str) -> list[Proposal]:
        """The proposals in flight whose architecture has fingerprint `fp`."""
        return [q.proposal for q in self.values() if q.fingerprint == fp]
