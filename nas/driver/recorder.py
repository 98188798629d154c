"""A search's write path: every row is one fsync'd line in ``trials.jsonl`` (`nas.record.jsonl`) before the
controller is told; then the ledger and the dedupe filter learn it, the controller's state is saved, and a
progress line is printed. The rows of a resumed record are learned the same way, without being told again."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from nas.driver.admission import Deduplication, duplicate_metrics
from nas.driver.ledger import Ledger
from nas.driver.progress import Log, Progress
from nas.record.row import trial_row
from nas.status import Status

if TYPE_CHECKING:
    from nas.config import SearchConfig
    from nas.controllers import Controller, Proposal
    from nas.record.folder import ResultsFolder
    from nas.record.jsonl import Record


class Recorder:
    """The record, the ledger and dedupe filter that learn its rows, the controller told each, and the progress
    lines, for `SearchState`; see the module docstring."""

    def __init__(
        self,
        cfg: SearchConfig,
        record: Record,
        controller: Controller,
        folder: ResultsFolder,
        rows: Iterable[dict[str, Any]],
        log: Log,
    ) -> None:
        self.record, self.controller, self.folder = record, controller, folder
        self.ledger, self.dedupe, self.dedupes = Ledger(cfg.front_senses()), Deduplication(), cfg.dedupe
        for row in rows:
            self.index(row)
        latency = bool(cfg.max_latency) or "latency_ms" in cfg.objective_senses()
        self.progress = Progress(cfg.trials, self.ledger, log, latency)  # (after the rows: it counts earlier trials)

    def index(self, row: dict[str, Any]) -> None:
        """The ledger and (with --dedupe) the dedupe filter learn a recorded row."""
        self.ledger.add(row)
        if self.dedupes:
            self.dedupe.add(row)

    def add(
        self, p: Proposal, fp: str, status: str, metrics: dict[str, Any], seed=None, started=None, **extra: Any
    ) -> dict[str, Any]:
        """Record `p`'s row (see the module docstring); returns the row as stored."""
        row = trial_row(p, self.controller.name, fp, status, metrics, seed=seed, started=started, **extra)
        stored = self.record.append(row)
        self.index(stored)
        self.controller.tell(p.trial_id, status, stored, p.genotype)
        self.save_state()
        self.progress(stored)
        return stored

    def duplicate(self, p: Proposal, fp: str, twin: dict[str, Any]) -> None:
        """Record `p` as a duplicate of its twin's row (`duplicate_metrics`)."""
        self.add(p, fp, Status.DUPLICATE, duplicate_metrics(twin), duplicate_of=twin["trial_id"])

    def save_state(self) -> None:
        """The controller's state, saved atomically."""
        self.folder.save_state(self.controller.state_dict())
