"""The ask/tell interface every controller implements, and what it exchanges.

A controller proposes genotypes (`ask`) and observes how they did (`tell`),
possibly with several proposals outstanding at once. Its whole state is JSON
(`state_dict` / `load_state_dict`), so a search killed at any point resumes
with it intact. Randomness comes only from the controller's seeded generator.
Controllers are plain Python: they import neither torch nor Ray.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from nas import objectives as objective_senses
from nas.status import EVALUATED
from searchspace.genotype import Genotype

if TYPE_CHECKING:
    from searchspace.space import SearchSpace


class SpaceExhausted(Exception):
    """Raised by `ask` when a controller has nothing left to propose (a grid over a finite space)."""


@dataclass(frozen=True)
class Proposal:
    """A genotype to evaluate, with where it came from."""

    trial_id: str
    genotype: Genotype
    parents: tuple[str, ...] = ()
    generation: int = 0
    meta: Mapping[str, Any] = field(default_factory=dict)  # e.g. the mutations applied, Optuna's trial number


class Controller(ABC):
    """Proposes genotypes and learns from their results."""

    name = "controller"

    def __init__(self, space: SearchSpace, seed: int = 0, objectives: Mapping[str, str] | None = None):
        self.space = space
        self.seed = seed
        # a controller made without objectives optimizes validation accuracy alone
        self.objectives = dict(objectives or objective_senses.senses(("val_acc",)))
        for key, sense in self.objectives.items():
            if sense not in ("max", "min"):
                raise ValueError(f"objective {key!r} must be 'max' or 'min', got {sense!r}")
        self.rng = random.Random(seed)
        self.asked = 0  # proposals made, ever
        self.told = 0  # results told, ever (in a search: the first `told` rows of its record)
        self.last_told = ""  # the trial id told last
        self._seen: set[str] = set()  # trial ids told in this process
        self.pending: dict[str, Proposal] = {}  # proposed, not yet told

    # ------------------------------------------------------------ the interface

    def ask(self) -> Proposal:
        """The next genotype to evaluate (other proposals may still be running)."""
        self.asked += 1
        proposal = self._propose(f"{self.asked:05d}")
        self.pending[proposal.trial_id] = proposal
        return proposal

    def tell(
        self, trial_id: str, status: str, metrics: Mapping[str, Any] | None = None, genotype: Genotype | None = None
    ) -> None:
        """The result of a proposal: its status and, when it trained, its metrics.

        `genotype` is needed only for trials this controller did not propose in
        this process (a resumed search replaying its record).
        """
        if trial_id in self._seen:
            return  # telling twice is a no-op
        self.told += 1
        self.last_told = trial_id
        self._seen.add(trial_id)
        proposal = self.pending.pop(trial_id, None)
        if proposal is None:
            proposal = Proposal(trial_id, genotype) if genotype is not None else None
        self._observe(trial_id, status, dict(metrics or {}), proposal)

    def drop_pending(self) -> list[str]:
        """Forget proposals that will never be told (a resumed search); returns their ids."""
        gone = list(self.pending)
        self.pending.clear()
        return gone

    @abstractmethod
    def _propose(self, trial_id: str) -> Proposal:
        """A new proposal with this id."""

    def _observe(self, trial_id: str, status: str, metrics: dict[str, Any], proposal: Proposal | None) -> None:
        """What a subclass learns from one result (proposal None: unknown to this controller)."""
        return None  # random search learns nothing

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue, as JSON-serialisable data."""
        return {
            "controller": self.name,
            "seed": self.seed,
            "objectives": self.objectives,
            "rng": _rng_state(self.rng),
            "asked": self.asked,
            "told": self.told,  # the state is the record's first `told` rows (its size does not grow with them)
            "last_told": self.last_told,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if state.get("controller") != self.name:
            raise ValueError(f"state is for controller {state.get('controller')!r}, not {self.name!r}")
        self.seed = state["seed"]
        self.objectives = dict(state["objectives"])
        self.rng.setstate(_rng_from_state(state["rng"]))
        self.asked = state["asked"]
        if "observed" in state:  # a state saved before 2026-11-30 listed every trial id told, in record order
            observed = state["observed"]
            self.told, self.last_told = len(observed), observed[-1] if observed else ""
        else:
            self.told, self.last_told = state["told"], state["last_told"]
        self._seen = set()

    # ------------------------------------------------------------ helpers

    def objective_vector(self, metrics: Mapping[str, Any]) -> list[float]:
        """Metrics in objective order, each turned so that larger is better."""
        out = []
        for key, sense in self.objectives.items():
            v = float(metrics.get(key, float("nan")))
            out.append(v if sense == "max" else -v)
        return out


def _rng_state(rng: random.Random) -> list[Any]:
    version, internal, gauss = rng.getstate()
    return [version, list(internal), gauss]


def _rng_from_state(state: list[Any]) -> tuple:
    return (state[0], tuple(state[1]), state[2])


def counts_as_evaluated(status: str, metrics: Mapping[str, Any]) -> bool:
    """Whether a result carries usable metrics for the objectives."""
    return status in EVALUATED and metrics.get("val_acc") is not None
