"""The local engine: trials one after another in this process (no Ray).

Hung trials: ``--trial-timeout`` is checked between training steps; a trial stuck inside a step runs
until ``TrainConfig.hang_limit()``, when it is interrupted (SIGALRM in the main thread) and recorded
as ``timeout``.
"""

from __future__ import annotations

import functools
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from nas.engines.base import Engine, inherited_weights, register_engine, trial_train_config
from nas.errors import SearchError

if TYPE_CHECKING:
    from nas.driver.coordinator import SearchState


@register_engine("local")
class LocalEngine(Engine):
    """Trials in sequence in this process (the baseline engine)."""

    def start(self, state: SearchState) -> None:
        from nas.trial.train import resolve_device

        try:
            resolve_device(state.cfg.train.device)  # this process trains: a device it lacks is the user's to fix
        except ValueError as e:
            raise SearchError(f"--device: {e}") from None

    def run(self, state: SearchState) -> None:
        from nas.trial.clock import PhaseClock
        from nas.trial.train import MISUSE, train_trial

        train_cfg = trial_train_config(state.cfg)
        while not self.stopping:
            pending = state.propose()
            if pending is None:
                break
            clock = PhaseClock("setup")
            init = inherited_weights(state.parent_weights(pending))
            cfg = (
                replace(train_cfg, epochs=pending.epochs) if pending.epochs not in (0, train_cfg.epochs) else train_cfg
            )
            with _hang_alarm(cfg.hang_limit()) as trial:
                trial.result = train_trial(
                    pending.proposal.genotype,
                    self.data,
                    cfg,
                    seed=pending.seed,
                    train_fn=self.train_fn,
                    init=init,
                    report=functools.partial(state.epoch_done, pending.proposal.trial_id),
                    progress=functools.partial(state.trial_note, pending.proposal.trial_id),
                    clock=clock,
                    complexity=pending.complexity,
                )
            result = trial.result
            if result.status == MISUSE:
                self.misused(state, pending.trial_id, result.metrics["error"])
                break
            state.complete(pending.trial_id, result.status, result.metrics, result.state_dict)
        if self.failure is not None:
            raise self.failure


class TrialHung(BaseException):
    """Raised into a trial that ran past its hang limit (a BaseException: training must not catch it)."""


@dataclass
class _Outcome:
    result: Any = None  # the TrialResult; a timeout when the alarm went off


@contextmanager
def _hang_alarm(limit: float) -> Iterator[_Outcome]:
    """Interrupt the body with TrialHung after `limit` seconds (SIGALRM; main thread only), a timeout result."""
    outcome = _Outcome()
    if not limit or threading.current_thread() is not threading.main_thread():
        yield outcome
        return

    def on_alarm(signum: int, frame: object) -> None:
        raise TrialHung

    previous = signal.signal(signal.SIGALRM, on_alarm)
    started = time.monotonic()
    signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        try:
            yield outcome
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    except TrialHung:  # also when the alarm beat the line above: training had just run out of time anyway
        signal.setitimer(signal.ITIMER_REAL, 0)
        from nas.trial.train import TrialResult

        outcome.result = TrialResult.hung(time.monotonic() - started, limit, "interrupted")
    finally:
        signal.signal(signal.SIGALRM, previous)
