"""What the driver prints while a search runs, and the number formats the reports share."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

from nas.driver.ledger import Ledger
from nas.formats import accuracy, duration, si
from nas.status import Status

Log = Callable[[str], None]


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


def _label(metric: str) -> str:
    return "val" if metric == "val_acc" else metric


def _ms(v: Any) -> str:
    return "-" if v is None else f"{v:.3g}ms"


def _number(v: Any) -> str:
    return "-" if v is None else f"{v:.4g}"
