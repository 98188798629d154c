"""The search driver: proposals in, recorded trials out, whatever engine trains them.

`SearchState` coordinates one search. It holds the results folder (`nas.record.folder`), the durable
record (`nas.record.jsonl`) and what learns each of its rows (`nas.driver.recorder`: the trial ledger of
`nas.driver.ledger`, the dedupe filter, the progress lines of `nas.driver.progress`), the admission filters
(`nas.driver.admission`), the trained weights it keeps (`nas.driver.weights`) and the controller restored
from the folder (`nas.driver.resume`).
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
from typing import TYPE_CHECKING, Any

from nas.config import SearchConfig, make_space, with_stem
from nas.controllers import Controller, Proposal, SpaceExhausted
from nas.driver.admission import UNTRAINED, SizeConstraints, SkipLimit  # noqa: F401 -- UNTRAINED: re-exported
from nas.driver.live import LiveReport
from nas.driver.progress import Log, stderr_log
from nas.driver.recorder import Recorder
from nas.driver.resume import restore_controller, settle_config
from nas.driver.slots import InFlight
from nas.driver.weights import KeptWeights
from nas.errors import SearchError, StorageError
from nas.record import results
from nas.record.folder import DataInfo, ResultsFolder
from nas.record.jsonl import Record
from nas.status import Status

if TYPE_CHECKING:
    from searchspace.space import SearchSpace

MAX_CONSECUTIVE_SKIPS = 2000
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
                self.cfg, self.space = _with_data(self.folder, self.cfg, info, resume, log)
                self.record, rows = Record.open_with_rows(self.folder.record)
                if controller is None:
                    controller = restore_controller(self.cfg, self.space, info, self.folder, rows, log)
                self.controller = controller
                if scorer is not None:  # zero-cost proxies for warm-up and the proxy filter (`nas.trial.proxies`)
                    self.controller.scorer = scorer
                if hasattr(self.controller, "costs"):  # the predictor's costs known before training (a table's own)
                    self.controller.costs = self.constraints.costs
        except BaseException:
            self.close(final=False)
            if self.fresh:  # a search that never started leaves no folder behind to be --resume'd
                self.folder.remove()
            raise
        self.recorder = Recorder(self.cfg, self.record, self.controller, self.folder, rows, log)  # the rows learned
        del rows  # a long record is not kept in memory
        self.ledger, self.dedupe, self.progress = self.recorder.ledger, self.recorder.dedupe, self.recorder.progress
        self.weights = KeptWeights(self.cfg, self.folder)  # saved, inherited and pruned (--keep-weights, --inherit)
        self.skips = SkipLimit(self.max_skips, self.max_slow)
        self.exhausted = ""  # why the controller has nothing left to propose (a finished grid)
        self.in_flight = InFlight()  # by trial id, each on a slot
        self.slots = self.in_flight.slots
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
        return self.weights.path(trial_id)

    def parent_weights(self, pending: Pending) -> bytes | None:
        """The safetensors bytes of the weights `pending` inherits (None: it trains from scratch)."""
        return self.weights.read(pending.inherit_from)

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
                    self.in_flight.start(pending)
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
                self.recorder.duplicate(p, fp, twin)
                return None
            if self.dedupe.wait_for_twin(p, fp, self.in_flight.twins(fp)):
                return None
        params, flops, rejected = self.constraints.check(p.genotype)
        if rejected is not None:
            self.recorder.add(p, fp, Status.REJECTED, rejected)
            return None
        parent = self.weights.parent(p)
        epochs = self.cfg.trial_epochs(parent is not None)
        return Pending(p, fp, params, flops, self.trial_seed(p.trial_id), inherit_from=parent, epochs=epochs)

    # ------------------------------------------------------------ complete

    def complete(
        self, trial_id: str, status: str, metrics: dict[str, Any], weights: dict | None = None
    ) -> dict[str, Any]:
        """Record a finished trial (fsync'd), tell the controller, resolve waiting twins; returns the row."""
        with self.folder.storage_errors():
            pending = self.in_flight.pop(trial_id)
            self.weights.save(trial_id, status, weights)
            measured = {"params": metrics.get("params", pending.params), "flops": metrics.get("flops", pending.flops)}
            times = self.in_flight.slot_times(pending)
            extra = {"seed": pending.seed, "started": pending.started, "inherited_from": pending.inherit_from}
            row = self.recorder.add(
                pending.proposal, pending.fingerprint, status, metrics | measured, times=times, **extra
            )
            for twin in self.dedupe.resolved(pending.fingerprint):
                self.recorder.duplicate(twin, pending.fingerprint, row)
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
        pending = self.in_flight.drop(trial_id)
        if pending is not None:
            self.dedupe.resolved(pending.fingerprint)

    def save_state(self) -> None:
        self.recorder.save_state()

    @property
    def keeps_weights(self) -> bool:
        """Whether trained weights are saved: to be kept, or to be inherited (--inherit)."""
        return self.weights.saved

    def prune_weights(self) -> None:
        """Remove the weights --keep-weights and --inherit no longer need (`KeptWeights.prune`)."""
        self.weights.prune(self.ledger, self.controller, self.in_flight)

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


def _with_data(
    folder: ResultsFolder, cfg: SearchConfig, info: DataInfo, resume: bool, log: Log
) -> tuple[SearchConfig, SearchSpace]:
    """The data checked against a resumed search's and saved, the search space made for it, and the config with
    the stem the input size chose (a new search saves it: a resume keeps it)."""
    if resume and folder.data.exists():
        _check_same_data(folder.read_data_info(), info, log)
    folder.write_data_info(info)
    space = make_space(cfg, info, saved=not folder.created)
    if folder.created and (stemmed := with_stem(cfg, space)) != cfg:
        cfg = stemmed
        folder.write_config(cfg.to_dict())
    return cfg, space


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
