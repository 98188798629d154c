"""Where a trial's time goes: a clock that splits its wall time into the phases of `nas.record.row.PHASES`.

    clock = PhaseClock("build")
    ...build the network...
    clock.begin("to_device")    # the seconds since the build began are the build's
    ...
    clock.result()              # {"wall_seconds": 3.1, "phases": {"build": 0.2, "to_device": 0.1, ...}}

One phase runs at a time, from its `begin` to the next, so the phases add up to the wall time by construction,
and a failure part-way through a phase is still counted in that phase. On CUDA, `begin` first waits for the
device (a handful of synchronisations a trial), so queued kernels count in the phase that launched them.
"""

from __future__ import annotations

import time

import torch

from nas.record.row import PHASES


class PhaseClock:
    """Seconds per phase since the clock started; see the module docstring."""

    def __init__(self, phase: str = "build", device: torch.device | None = None) -> None:
        self.started = self.mark = time.perf_counter()
        self.phase = _known(phase)
        self.seconds: dict[str, float] = {}
        self.cuda: torch.device | None = None
        if device is not None:
            self.on(device)

    def on(self, device: torch.device) -> None:
        """The trial's device, once it is known: from now on a phase ends when the device's queued work does."""
        self.cuda = device if device.type == "cuda" else None

    def begin(self, phase: str) -> None:
        """End the running phase (its seconds are added to it) and start `phase`, one of `PHASES`."""
        self._close()
        self.phase = _known(phase)

    def result(self) -> dict[str, object]:
        """``wall_seconds`` and ``phases`` (in `PHASES`' order) for a trial's metrics, up to now (the running phase
        goes on: a later `result` counts it further)."""
        self._close()
        phases = {name: self.seconds[name] for name in PHASES if name in self.seconds}
        return {"wall_seconds": self.mark - self.started, "phases": phases}

    def _close(self) -> None:
        if self.cuda is not None:
            try:
                torch.cuda.synchronize(self.cuda)
            except RuntimeError:  # a device broken by the trial's own failure: that failure is the result, not this
                self.cuda = None
        now = time.perf_counter()
        self.seconds[self.phase] = self.seconds.get(self.phase, 0.0) + (now - self.mark)
        self.mark = now


def _known(phase: str) -> str:
    if phase not in PHASES:
        raise ValueError(f"unknown phase {phase!r}; phases are {', '.join(PHASES)}")
    return phase
