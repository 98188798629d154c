"""What the driver prints while a search runs (its numbers formatted by `nas.human`, as the reports' are)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

from nas.driver.ledger import Ledger
from nas.human import accuracy, duration, si
from nas.status import Status

Log = Callable[[str], None]
EPOCH_LINES_AFTER = 10.0  # a trial running longer than this says each epoch it finishes (`Progress.epoch`)


def stderr_log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class Progress:
    """One line per recorded trial: counts, the best accuracy, the front's size and an ETA."""

    def __init__(self, trials: int, ledger: Ledger, log: Log = stderr_log, latency: bool = False) -> None:
        self.trials = trials
        self.latency = latency  # show each trial's latency (a search with a latency objective or limit)
        self.ledger = ledger
        self.log = log
        self.started = time.time()
        self.dispatched_before = ledger.dispatched  # trials of earlier runs (a resume): not in the ETA's rate

    def line(self, row: dict[str, Any]) -> str:
        ledger, trials = self.ledger, self.trials
        done = ledger.dispatched
        first = ledger.leaders.first  # val_acc, or the first objective of a search with its own metrics
        best = ledger.leaders.best[first] if ledger.leaders.best is not None else None
        shown = accuracy if first == "val_acc" else _number
        done_now = done - self.dispatched_before
        elapsed = time.time() - self.started
        eta = elapsed / done_now * max(0, trials - done) if done_now > 0 else float("nan")
        return (
            f"[{done:>{len(str(trials))}}/{trials}] {row['trial_id']} {row['status']:<9}"
            f" {_label(first)} {shown(row.get(first))}  params {si(row.get('params'))}  flops {si(row.get('flops'))}"
            + (f"  latency {_ms(row.get('latency_ms'))}" if self.latency else "")
            + f" | best {shown(best)} | front {len(ledger.leaders.front)}"
            f" | failed {ledger.failed} | rejected {ledger.counts[Status.REJECTED]}"
            f" | dup {ledger.counts[Status.DUPLICATE]} | ETA {duration(eta)}"
        )

    def __call__(self, row: dict[str, Any]) -> None:
        self.log(self.line(row))

    def note(self, trial_id: str, note: dict[str, Any]) -> None:
        """A line for a long trial inside its epochs (`nas.trial.train._Ticker`): where it is, how fast it reads
        images, and when its training ends (at its rate so far)."""
        try:
            epoch, epochs, step, steps = (int(note[k]) for k in ("epoch", "epochs", "step", "steps"))
            seconds, rate = float(note["seconds"]), float(note["images_per_second"])
        except (KeyError, TypeError, ValueError):
            return
        done, total = (epoch - 1) * steps + step, epochs * steps
        left = seconds / max(done, 1) * (total - done)
        self.log(
            f"  {trial_id} epoch {epoch}/{epochs} step {step}/{steps}  {rate:,.0f} images/s"
            f"  {duration(seconds)} training so far, ends in ~{duration(left)}"
        )

    def epoch(self, trial_id: str, metrics: dict[str, Any], epochs: int, seconds: float) -> None:
        """A line for a trial's finished epoch once it has run `EPOCH_LINES_AFTER` seconds: where it is, how fast
        it reads images, and when it ends (its mean epoch time so far, times the epochs left)."""
        done = metrics.get("epochs")
        if not isinstance(done, int) or done < 1 or seconds < EPOCH_LINES_AFTER or done >= epochs:
            return
        first = self.ledger.leaders.first
        shown = accuracy if first == "val_acc" else _number
        rate = metrics.get("images_per_second")
        speed = f"  {rate:,.0f} images/s" if isinstance(rate, int | float) and rate == rate else ""
        left = seconds / done * (epochs - done)
        self.log(
            f"  {trial_id} epoch {done}/{epochs}  {_label(first)} {shown(metrics.get(first))}{speed}"
            f"  {duration(seconds)} so far, ends in ~{duration(left)}"
        )


def _label(metric: str) -> str:
    return "val" if metric == "val_acc" else metric


def _ms(v: Any) -> str:
    return "-" if v is None else f"{v:.3g}ms"


def _number(v: Any) -> str:
    return "-" if v is None else f"{v:.4g}"
