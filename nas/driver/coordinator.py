"""The search driver: proposals in, recorded trials out, whatever engine trains them.

`SearchState` coordinates one search. It holds the results folder (`nas.record.folder`), the durable
record (`nas.record.jsonl`), the trial ledger (`nas.driver.ledger`), the admission filters (`nas.driver.admission`),
the controller restored from the folder (`nas.driver.resume`) and the progress lines (`nas.driver.progress`).
An engine (`nas.engines`: local, Ray) asks it for the next proposal to train (`propose`) and hands
back each result (`complete`); nothing here imports torch or Ray.

Durability: every finished trial is one fsync'd line in ``trials.jsonl`` before the controller is
told; the controller's state is saved atomically after every tell. Failures of the folder itself --
a full disk, a read-only or immutable folder -- end the search with `StorageError` (one line, exit
code 2): the record stays the old one or the new one, never half of each. Two searches never share
a folder: the second is refused by the lock. A new search that ends without one recorded row
removes its folder, so the same command can run again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nas.config import SearchConfig, make_space, with_stem
from nas.controllers import Controller, Proposal, SpaceExhausted
from nas.driver.admission import Deduplication, SizeConstraints, SkipLimit
from nas.driver.ledger import Ledger
from nas.driver.live import LiveReport
from nas.driver.progress import Log, Progress, stderr_log
from nas.driver.resume import restore_controller, settle_config
from nas.driver.slots import Slots
from nas.errors import SearchError, StorageError
from nas.record import results
from nas.record.folder import DataInfo, ResultsFolder
from nas.record.jsonl import Record
from nas.record.row import METRICS, custom_metrics, proxy_scores, trial_row
from nas.status import EVALUATED, Status
from searchspace.genotype import GenotypeError

MAX_CONSECUTIVE_SKIPS = 2000
UNTRAINED = ("params", "flops", "latency_ms", "latency_batch_ms", "latency_batch")  # measured before training
MAX_CONSECUTIVE_SLOW = 100

__all__ = ["DataInfo", "Pending", "SearchError", "SearchState", "StorageError"]


@dataclass
class Pending:
    """A proposal sent (or about to be sent) to a worker."""

    proposal: Proposal
    fingerprint: str
    params: int | None  # known before training only when a constraint needed it
    flops: int | None
    seed: int
    started: float = field(default_factory=time.time)
    inherit_from: str | None = None  # the parent whose trained weights it starts from (--inherit)
    epochs: int = 0  # epochs it trains for (`SearchConfig.trial_epochs`)
    slot: int = -1  # the search's slot it runs in (`nas.driver.slots`), and how long that slot was idle before it
    slot_idle: float = 0.0

    @property
    def trial_id(self) -> str:
        return self.proposal.trial_id

    @property
    def complexity(self) -> tuple[int, int] | None:
        """(parameters, FLOPs) when admission counted both (a trial need not count them again)."""
        return (self.params, self.flops) if self.params is not None and self.flops is not None else None


class SearchState:
    """One search's folder, record, ledger, filters and controller; see the module docstring."""

    max_skips = MAX_CONSECUTIVE_SKIPS  # proposals in a row that may be rejected or duplicates before giving up
    max_slow = MAX_CONSECUTIVE_SLOW  # trials in a row that may be over --max-latency before giving up

    def __init__(
        self,
        cfg: SearchConfig,
        root: str | Path,
        info: DataInfo,
        *,
        resume: bool = False,
        log: Log = stderr_log,
        controller: Controller | None = None,
        scorer: Any = None,
    ):
        self.info, self.log = info, log
        self.folder = ResultsFolder(root, resume)
        self.root, self.fresh, self.record = self.folder.root, self.folder.created, None
        try:
            with self.folder.storage_errors():
                self.cfg = settle_config(self.folder, cfg, resume)
                self.constraints = SizeConstraints(self.cfg, info)
                if resume and self.folder.data.exists():
                    _check_same_data(self.folder.read_data_info(), info, log)
                self.folder.write_data_info(info)
                self.space = make_space(self.cfg, info, saved=not self.fresh)
                if self.fresh and (stemmed := with_stem(self.cfg, self.space)) != self.cfg:
                    self.cfg = stemmed  # saved with the stem the input size chose: a resume keeps it
                    self.folder.write_config(self.cfg.to_dict())
                self.record, rows = Record.open_with_rows(self.folder.record)
                if controller is None:
                    controller = restore_controller(self.cfg, self.space, info, self.folder, rows, log)
                self.controller = controller
                if (
                    scorer is not None
                ):  # zero-cost proxy scores for warm-up and the proxy filter (`nas.trial.proxies.Scorer`)
                    self.controller.scorer = scorer
                if hasattr(self.controller, "costs"):  # the predictor's costs known before training (a table's own)
                    self.controller.costs = self.constraints.costs
        except BaseException:
            self.close(final=False)
            if self.fresh:  # a search that never started leaves no folder behind to be --resume'd
                self.folder.remove()
            raise
        self.ledger, self.dedupe = Ledger(self.cfg.front_senses()), Deduplication()
        for row in rows:
            self._index(row)
        del rows  # a long record is not kept in memory
        self.skips = SkipLimit(self.max_skips, self.max_slow)
        self.exhausted = ""  # why the controller has nothing left to propose (a finished grid)
        self.in_flight: dict[str, Pending] = {}
        self.slots = Slots()
        latency = bool(self.cfg.max_latency) or "latency_ms" in self.cfg.objective_senses()
        self.progress = Progress(self.cfg.trials, self.ledger, log, latency)
        self.live = LiveReport(self.root, self.cfg.report_every, log)

    @property
    def recorded(self) -> int:
        """Rows in the record (trials, duplicates and rejected proposals)."""
        return self.ledger.recorded

    @property
    def dispatched(self) -> int:
        return self.ledger.dispatched

    @property
    def done(self) -> bool:
        return self.dispatched >= self.cfg.trials or (bool(self.exhausted) and not self.in_flight)

    def remaining(self) -> int:
        return max(0, self.cfg.trials - self.dispatched - len(self.in_flight))

    def trial_seed(self, trial_id: str) -> int:
        return self.cfg.seed * 1_000_003 + int(trial_id)

    def weights_path(self, trial_id: str) -> Path:
        return self.folder.weights(trial_id)

    def parent_weights(self, pending: Pending) -> bytes | None:
        """The safetensors bytes of the weights `pending` inherits (None: it trains from scratch)."""
        if pending.inherit_from is None:
            return None
        with self.folder.storage_errors():
            return self.folder.weights(pending.inherit_from).read_bytes()

    # ------------------------------------------------------------ propose

    def propose(self) -> Pending | None:
        """The next proposal to train, or None when the budget is spent (in flight included)."""
        with self.folder.storage_errors():  # rejected and duplicate proposals are recorded too
            while self.remaining() > 0 and not self.exhausted:
                self.skips.check()
                try:
                    p = self.controller.ask()
                except SpaceExhausted as e:
                    self.exhausted = str(e)
                    self.log(f"{e}; the search ends here")
                    break
                pending = self._admit(p)
                if pending is not None:
                    pending.slot, pending.slot_idle = self.slots.take(pending.started)
                    self.in_flight[p.trial_id] = pending
                    self.skips.admitted()
                    return pending
                self.skips.skipped()
        return None

    def _admit(self, p: Proposal) -> Pending | None:
        """The admission filters; a proposal that does not pass is recorded (duplicate, rejected) or waits."""
        fp = p.genotype.fingerprint()
        if self.cfg.dedupe:
            twin = self.dedupe.trained_twin(fp, p.genotype)
            if twin is not None:
                self._record_duplicate(p, fp, twin)
                return None
            in_flight = [q.proposal for q in self.in_flight.values() if q.fingerprint == fp]
            if self.dedupe.wait_for_twin(p, fp, in_flight):
                return None
        try:
            params, flops = self.constraints.measure(p.genotype)
        except GenotypeError as e:
            self._record(p, fp, Status.REJECTED, {"error": f"does not build at this input size: {e}"})
            return None
        reason = self.constraints.violation(params, flops)
        if reason:
            self._record(p, fp, Status.REJECTED, {"error": reason, "params": params, "flops": flops})
            return None
        parent = p.parents[0] if self.cfg.inherit and p.parents else None
        if parent is not None and not self.folder.weights(parent).is_file():
            parent = None  # its weights are gone (trained before --inherit, or pruned): from scratch
        epochs = self.cfg.trial_epochs(parent is not None)
        return Pending(p, fp, params, flops, self.trial_seed(p.trial_id), inherit_from=parent, epochs=epochs)

    # ------------------------------------------------------------ complete

    def complete(
        self, trial_id: str, status: str, metrics: dict[str, Any], weights: dict | None = None
    ) -> dict[str, Any]:
        """Record a finished trial (fsync'd), tell the controller, resolve waiting twins; returns the row."""
        with self.folder.storage_errors():
            pending = self.in_flight.pop(trial_id)
            if weights is not None and status == Status.OK and self.keeps_weights:
                self.folder.save_weights(trial_id, weights)
            measured = {"params": metrics.get("params", pending.params), "flops": metrics.get("flops", pending.flops)}
            now = time.time()
            self.slots.give_back(pending.slot, now)
            times = {
                "slot": pending.slot,
                "slot_idle_seconds": pending.slot_idle,
                "slot_seconds": now - pending.started,
            }
            row = self._record(
                pending.proposal,
                pending.fingerprint,
                status,
                metrics | measured,
                pending.seed,
                pending.started,
                inherited_from=pending.inherit_from,
                times=times,
            )
            for twin in self.dedupe.resolved(pending.fingerprint):
                self._record_duplicate(twin, pending.fingerprint, row)
            self.prune_weights()
            self.skips.finished(status)
        self.live.finished(self.dispatched, self.cfg.trials, len(self.in_flight))
        return row

    def epoch_done(self, trial_id: str, metrics: dict[str, Any]) -> None:
        """A running trial's report after an epoch: a progress line for a long trial (`Progress.epoch`)."""
        pending = self.in_flight.get(trial_id)
        if pending is not None:
            epochs = pending.epochs or self.cfg.train.epochs
            self.progress.epoch(trial_id, metrics, epochs, time.time() - pending.started)

    def trial_note(self, trial_id: str, note: dict[str, Any]) -> None:
        """A running trial's progress inside its epochs: a line (`Progress.note`)."""
        if trial_id in self.in_flight:
            self.progress.note(trial_id, note)

    def abandon(self, trial_id: str) -> None:
        """Forget an in-flight trial that will never report (its run was interrupted); it is not recorded."""
        pending = self.in_flight.pop(trial_id, None)
        if pending is not None:
            self.slots.give_back(pending.slot, time.time())
            self.dedupe.resolved(pending.fingerprint)

    def _record(self, p: Proposal, fp: str, status: str, metrics: dict[str, Any], seed=None, started=None, **extra):
        row = trial_row(p, self.controller.name, fp, status, metrics, seed=seed, started=started, **extra)
        stored = self.record.append(row)
        self._index(stored)
        self.controller.tell(p.trial_id, status, stored, p.genotype)
        self.save_state()
        self.progress(stored)
        return stored

    def _record_duplicate(self, p: Proposal, fp: str, twin: dict[str, Any]) -> None:
        if twin.get("status") in EVALUATED:
            copied: tuple[str, ...] = (*METRICS, "params", "flops")
            metrics = {k: twin.get(k) for k in copied} | {"custom": custom_metrics(twin)}
        else:  # a failed twin's accuracy, losses (a diverged net's chance level) and own metrics are no result: its
            metrics = {k: twin.get(k) for k in UNTRAINED}  # repeat copies what is known without training, no more
        metrics["error"] = twin.get("error", "")
        metrics["proxies"] = proxy_scores(twin)
        self._record(p, fp, Status.DUPLICATE, metrics, duplicate_of=twin["trial_id"])

    def _index(self, row: dict[str, Any]) -> None:
        self.ledger.add(row)
        if self.cfg.dedupe:
            self.dedupe.add(row)

    def save_state(self) -> None:
        self.folder.save_state(self.controller.state_dict())

    @property
    def keeps_weights(self) -> bool:
        """Whether trained weights are saved: to be kept, or to be inherited (--inherit)."""
        return self.cfg.keep_weights != "none" or self.cfg.inherit

    def prune_weights(self) -> None:
        """With --keep-weights front: only the front's, the best's and the running trials' weights stay; with
        --inherit also the weights children may still inherit (the controller's population, the running
        trials' parents), and with --keep-weights none only those."""
        if self.cfg.keep_weights == "all" or not self.keeps_weights:
            return
        keep = self.ledger.keep_set() if self.cfg.keep_weights == "front" else set()
        if self.cfg.inherit:
            keep |= self.controller.parent_pool() | {p.inherit_from for p in self.in_flight.values() if p.inherit_from}
        self.folder.prune_weights(keep | set(self.in_flight))

    # ------------------------------------------------------------ closing

    def close(self, final: bool = True) -> None:
        """Write the parquet copy, prune weights and release the lock."""
        if self.record is not None:
            if final:
                try:
                    results.write_parquet(self.record)
                    self.prune_weights()
                except OSError as e:  # a copy and a clean-up: the record itself is complete
                    self.log(f"warning: could not write {e.filename or 'trials.parquet'} ({e.strerror or e})")
            self.record.close()
        self.folder.release()

    def __enter__(self) -> SearchState:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.fresh and not self.recorded:  # a new search that never recorded a trial (Ray failed, Ctrl-C, ...)
            self.close(final=False)
            self.folder.remove()  # leaves nothing behind: the same command can run again
            return
        self.close(final=exc[0] is None)


def _check_same_data(saved: DataInfo, given: DataInfo, log: Log = stderr_log) -> None:
    """A resumed search trains on data of the shape its recorded trials had (SearchError otherwise); other
    preprocessing steps than its trials had (e.g. an image folder read by an older nasgraph) are a warning."""

    def shape(i: DataInfo) -> str:
        return f"{i.in_channels}x{i.input_size[0]}x{i.input_size[1]} images, {i.num_classes} outputs"

    if (saved.in_channels, saved.num_classes, tuple(saved.input_size)) != (
        given.in_channels,
        given.num_classes,
        tuple(given.input_size),
    ):
        raise SearchError(
            f"the data differs from the data this search was made with ({shape(saved)}; given {shape(given)})"
        )
    before, now = (i.preprocessing.get("steps") if i.preprocessing else None for i in (saved, given))
    if before and now and before != now:
        log(
            "warning: the data is preprocessed otherwise than when this search was made (preprocessing.json's "
            "steps differ): trials before and after this resume saw different pixels"
        )
