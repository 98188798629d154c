"""The trial ledger: the record's rows in memory, counted by status, with the running Pareto front.

The shape of a row is `nas.record.row`'s.

No file access: the driver adds each row once the record holds it (and every row of a resumed record).
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from nas.pareto import Leaders
from nas.status import DISPATCHED, FAILED

if TYPE_CHECKING:
    pass


class Ledger:
    """Counts of the record's rows by status, the front and the most accurate trial; the rows themselves
    stay in the record (memory does not grow with the trials but by the front)."""

    def __init__(self, front: dict[str, str] | None = None) -> None:
        self.recorded = 0  # rows in the record
        self.counts: Counter[str] = Counter()
        self.leaders = Leaders(front)  # the front (default val_acc, params) and the best row, row by row

    def add(self, row: dict[str, Any]) -> None:
        self.recorded += 1
        self.counts[row.get("status") or ""] += 1
        self.leaders.add(row)

    @property
    def dispatched(self) -> int:
        """Trials trained (or attempted): every status but rejected and duplicate."""
        return sum(self.counts[s] for s in DISPATCHED)

    @property
    def failed(self) -> int:
        """Dispatched trials that did not train to a result (diverged, oom, invalid, error, timeout)."""
        return sum(self.counts[s] for s in FAILED)

    def keep_set(self) -> set[str]:
        """Trials whose weights are kept: the Pareto front (default val_acc, params) and the best."""
        best = self.leaders.best
        return {r["trial_id"] for r in self.leaders.front} | ({best["trial_id"]} if best is not None else set())
