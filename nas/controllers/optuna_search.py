"""Optuna controllers (TPE, NSGA-II) driving the same search space through its chooser.

The space's sampling code asks its questions through a chooser; here each
question becomes ``trial.suggest_categorical`` or ``trial.suggest_int`` on an
Optuna trial, so the space needs no second description. The study lives in
Optuna's own storage (a journal file beside the results by default), so it
survives restarts; trials left RUNNING by a killed search are marked FAIL on
resume. A sampled genotype that does not validate is told to Optuna as FAIL
and never dispatched.
"""

from __future__ import annotations

import dataclasses
import logging
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nas.controllers.base import POPULATION, Controller, Proposal, Setting, check_population, register_controller
from nas.registry import option
from searchspace.genotype import GenotypeError

if TYPE_CHECKING:  # Optuna is imported when a study is opened: registering these costs nothing
    import optuna

    from searchspace.space import SearchSpace

SAMPLERS = ("tpe", "nsga2")
MAX_INVALID = 200


class OptunaChooser:
    """A chooser answering through an Optuna trial."""

    def __init__(self, trial: optuna.trial.Trial):
        self.trial = trial

    def choose(self, name: str, options: Sequence[Any]) -> Any:
        return self.trial.suggest_categorical(name, list(options))

    def integer(self, name: str, lo: int, hi: int) -> int:
        return self.trial.suggest_int(name, lo, hi)


class OptunaSearch(Controller):
    """TPE (single- or multi-objective) or NSGA-II over a SearchSpace."""

    name = "tpe"

    def __init__(
        self,
        space: SearchSpace,
        seed: int = 0,
        objectives: Mapping[str, str] | None = None,
        sampler: str = "",
        storage: str | Path | None = None,
        study_name: str = "nasgraph",
        population: int = 20,
    ):
        super().__init__(space, seed, objectives)
        sampler = sampler or type(self).name
        if sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {', '.join(SAMPLERS)}, got {sampler!r}")
        self.name = sampler
        self.sampler_name = sampler
        self.population = population
        self.storage_path = str(storage) if storage else None
        self.study_name = study_name
        self.numbers: dict[str, int] = {}  # our trial id -> Optuna trial number, while pending
        self.invalid = 0  # sampled genotypes that failed validation (told FAIL, never dispatched)
        import optuna

        optuna.logging.set_verbosity(logging.WARNING)
        self.study = self._open_study()

    def _make_sampler(self) -> optuna.samplers.BaseSampler:
        import optuna

        if self.sampler_name == "nsga2":
            return optuna.samplers.NSGAIISampler(population_size=self.population, seed=self.seed)
        with warnings.catch_warnings():  # multivariate/group are flagged experimental; they model conditional spaces
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.samplers.TPESampler(seed=self.seed, multivariate=True, group=True, constant_liar=True)

    def _open_study(self) -> optuna.Study:
        import optuna
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        storage = JournalStorage(JournalFileBackend(self.storage_path)) if self.storage_path else None
        directions = ["maximize" if s == "max" else "minimize" for s in self.objectives.values()]
        return optuna.create_study(
            storage=storage,
            sampler=self._make_sampler(),
            study_name=self.study_name,
            directions=directions,
            load_if_exists=True,
        )

    def propose(self, trial_id: str) -> Proposal:
        for _ in range(MAX_INVALID):
            trial = self.study.ask()
            try:
                genotype = self.space.sample(OptunaChooser(trial))
            except GenotypeError:
                self.invalid += 1
                self.study.tell(trial, state=_fail())
                continue
            self.numbers[trial_id] = trial.number
            return Proposal(trial_id, genotype, (), trial.number, {"optuna_trial": trial.number})
        raise GenotypeError(f"{self.name}: {MAX_INVALID} sampled genotypes in a row failed validation")

    def observe(self, trial_id: str, status: str, metrics: dict[str, Any], proposal: Proposal | None) -> None:
        number = self.numbers.pop(trial_id, None)
        if number is None:
            return  # not proposed by this study (or already told before a restart)
        if self.counts(status, metrics):
            self.study.tell(number, [float(metrics[k]) for k in self.objectives], skip_if_finished=True)
        else:
            self.study.tell(number, state=_fail(), skip_if_finished=True)

    def drop_pending(self) -> list[str]:
        """Forget outstanding proposals and mark every RUNNING Optuna trial FAIL."""
        for t in self.study.get_trials(deepcopy=False, states=(_state("RUNNING"),)):
            self.study.tell(t.number, state=_fail(), skip_if_finished=True)
        gone = sorted(set(self.numbers) | set(super().drop_pending()))
        self.numbers.clear()
        return gone

    def state_dict(self) -> dict[str, Any]:
        return super().state_dict() | {
            "sampler": self.sampler_name,
            "storage": self.storage_path,
            "study_name": self.study_name,
            "numbers": self.numbers,
            "invalid": self.invalid,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self.numbers = dict(state["numbers"])
        self.invalid = state["invalid"]


def _state(name: str) -> Any:
    from optuna.trial import TrialState

    return TrialState[name]


def _fail() -> Any:
    return _state("FAIL")


@register_controller("tpe")
class TPESearch(OptunaSearch):
    """TPE through Optuna (multivariate, with the constant liar for trials in flight)."""

    @classmethod
    def create(cls, options: Any, setting: Setting) -> OptunaSearch:
        storage = {"storage": setting.journal, "study_name": setting.study_name} if setting.journal else {}
        return cls(setting.space, setting.seed, setting.objectives, cls.name, **storage, **dataclasses.asdict(options))


@dataclass(frozen=True)
class NSGA2Options:
    population: int = option(POPULATION, "NSGA-II's population size (default 8)")

    def __post_init__(self) -> None:
        check_population(self.population)


@register_controller("nsga2", options=NSGA2Options)
class NSGA2Search(TPESearch):
    """NSGA-II through Optuna: non-dominated sorting and crowding over the search's objectives."""

    default_objectives = None  # the front's: val_acc and params
