"""The trained weights a search keeps (--keep-weights all, front or none; --inherit): saved for a trial that
trained, read for a child that starts from its parent's, and pruned to what is asked for. Without torch (the
results folder reads and writes them)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from nas.status import Status

if TYPE_CHECKING:
    from nas.config import SearchConfig
    from nas.controllers import Controller, Proposal
    from nas.driver.coordinator import Pending
    from nas.driver.ledger import Ledger
    from nas.record.folder import ResultsFolder


class KeptWeights:
    """Which trials' weights the results folder holds, for `SearchState`; see the module docstring."""

    def __init__(self, cfg: SearchConfig, folder: ResultsFolder) -> None:
        self.cfg, self.folder = cfg, folder

    @property
    def saved(self) -> bool:
        """Whether trained weights are saved: to be kept, or to be inherited (--inherit)."""
        return self.cfg.keep_weights != "none" or self.cfg.inherit

    def path(self, trial_id: str) -> Path:
        return self.folder.weights(trial_id)

    def save(self, trial_id: str, status: str, weights: dict | None) -> None:
        """A finished trial's weights, where it trained (``ok``) and weights are saved."""
        if weights is not None and status == Status.OK and self.saved:
            self.folder.save_weights(trial_id, weights)

    def parent(self, p: Proposal) -> str | None:
        """The trial whose weights `p` starts from: its first parent with --inherit, while their weights are there."""
        parent = p.parents[0] if self.cfg.inherit and p.parents else None
        if parent is not None and not self.folder.weights(parent).is_file():
            parent = None  # its weights are gone (trained before --inherit, or pruned): from scratch
        return parent

    def read(self, trial_id: str | None) -> bytes | None:
        """The safetensors bytes of a trial's weights (None for no trial: a child trained from scratch)."""
        if trial_id is None:
            return None
        with self.folder.storage_errors():
            return self.folder.weights(trial_id).read_bytes()

    def prune(self, ledger: Ledger, controller: Controller, in_flight: dict[str, Pending]) -> None:
        """With --keep-weights front: only the front's, the best's and the running trials' weights stay; with
        --inherit also the weights children may still inherit (the controller's population, the running
        trials' parents), and with --keep-weights none only those."""
        if self.cfg.keep_weights == "all" or not self.saved:
            return
        keep = ledger.keep_set() if self.cfg.keep_weights == "front" else set()
        if self.cfg.inherit:
            keep |= controller.parent_pool() | {p.inherit_from for p in in_flight.values() if p.inherit_from}
        self.folder.prune_weights(keep | set(in_flight))
