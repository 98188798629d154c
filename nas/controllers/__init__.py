"""Controllers: plain-Python proposers of genotypes behind one ask/tell interface.

ctrl = make_controller("evolution", space, seed=0)
p = ctrl.ask(); ...train p.genotype...; ctrl.tell(p.trial_id, "ok", {"val_acc": 0.93, "params": 12345})

- `base`: the interface (`Controller`, `Proposal`) and what ask and tell exchange;
- `evolution`: regularized (aging) evolution and the tournament variant; `local_search`: hill climbing
  with restarts; `random_search`; `grid`: every architecture of a finite space once;
- `optuna_search`: Optuna's TPE and NSGA-II through the space's chooser;
- `predictor`: BANANAS-like, an MLP ensemble ranking mutations of the best (features: `encoding`);
- `fixed`: given genotypes in order (``launch.py train``).

No torch, pandas or Ray: a controller runs in any process (`tests/nas/test_architecture.py`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from nas.controllers.base import Controller, Proposal, SpaceExhausted
from nas.controllers.evolution import Evolution
from nas.controllers.grid import Grid
from nas.controllers.local_search import LocalSearch
from nas.controllers.predictor import Predictor
from nas.controllers.random_search import RandomSearch

if TYPE_CHECKING:
    from searchspace.space import SearchSpace

CONTROLLERS = ("evolution", "random", "tpe", "nsga2", "local_search", "predictor", "grid")


def make_controller(
    name: str, space: SearchSpace, seed: int = 0, objectives: Mapping[str, str] | None = None, **options: Any
) -> Controller:
    """A controller by name; options go to its constructor (unknown ones raise TypeError)."""
    if name == "evolution":
        return Evolution(space, seed, objectives, **options)
    if name == "random":
        return RandomSearch(space, seed, objectives, **options)
    if name == "local_search":
        return LocalSearch(space, seed, objectives, **options)
    if name == "predictor":
        return Predictor(space, seed, objectives, **options)
    if name == "grid":
        return Grid(space, seed, objectives, **options)
    if name in ("tpe", "nsga2"):
        from nas.controllers.optuna_search import OptunaSearch

        return OptunaSearch(space, seed, objectives, sampler=name, **options)
    raise ValueError(f"unknown controller {name!r}; choose from {', '.join(CONTROLLERS)}")


__all__ = [
    "CONTROLLERS",
    "Controller",
    "Evolution",
    "Grid",
    "LocalSearch",
    "Predictor",
    "Proposal",
    "RandomSearch",
    "SpaceExhausted",
    "make_controller",
]
