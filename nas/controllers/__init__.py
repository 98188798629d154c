"""Controllers: plain-Python proposers of genotypes behind one ask/tell interface, registered by name.

ctrl = make_controller("evolution", space, seed=0)
p = ctrl.ask(); ...train p.genotype...; ctrl.tell(p.trial_id, "ok", {"val_acc": 0.93, "params": 12345})

- `base`: the interface (`Controller`, `Proposal`, `Setting`), what ask and tell exchange, and
  `register_controller` (a new controller is one decorated subclass; README: Extending nasgraph);
- `evolution`: regularized (aging) evolution and the tournament variant; `local_search`: hill climbing
  with restarts; `random_search`; `grid`: every architecture of a finite space once;
- `optuna_search`: Optuna's TPE and NSGA-II through the space's chooser;
- `predictor`: BANANAS-like, an MLP ensemble ranking mutations of the best (features: `encoding`);
- `fixed`: given genotypes in order (``launch.py train``; not a search's controller).

The registry imports every module here on first use, so each registers itself (`nas.registry.CONTROLLERS`):
a new controller is a new module, listed nowhere else.
No torch, pandas or Ray: a controller runs in any process (`tests/nas/test_architecture.py`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from nas.controllers.base import Controller, Proposal, Setting, SpaceExhausted, register_controller
from nas.controllers.evolution import Evolution
from nas.controllers.grid import Grid
from nas.controllers.local_search import LocalSearch
from nas.controllers.predictor import Predictor
from nas.controllers.random_search import RandomSearch
from nas.registry import CONTROLLERS as REGISTRY

if TYPE_CHECKING:
    from searchspace.space import SearchSpace


def __getattr__(name: str) -> Any:
    if name == "CONTROLLERS":  # the registered names, plugins' included (a tuple until issue 35)
        return REGISTRY.names()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def make_controller(
    name: str, space: SearchSpace, seed: int = 0, objectives: Mapping[str, str] | None = None, **options: Any
) -> Controller:
    """A registered controller by name; options go to its constructor (unknown ones raise TypeError)."""
    return REGISTRY.get(name).load()(space, seed, objectives, **options)


__all__ = [
    "Controller",
    "Evolution",
    "Grid",
    "LocalSearch",
    "Predictor",
    "Proposal",
    "RandomSearch",
    "Setting",
    "SpaceExhausted",
    "make_controller",
    "register_controller",
]
