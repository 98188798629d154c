"""Engines train a search's trials behind one interface (`Engine`: start, run, stop).

- `LocalEngine` (``--engine local``, `local`): in this process, one trial after another.
- `RayEngine` (``--engine ray``, `ray_tune`): through Ray Tune on a local Ray runtime or a
  cluster; the only module that imports Ray, loaded when it is asked for.
- `TableEngine` (``--engine table:PATH``, `table`): answers looked up in a tabular benchmark.

`base` is the interface; `cluster` joins a token-authenticated Ray cluster before Ray is imported
(``--address``); `halving` holds MO-ASHA's rungs (``--asha`` with several objectives; no Ray). Engines call `nas.driver`'s coordinator and run `nas.trial` in their workers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nas.engines.base import Engine, trial_train_config
from nas.engines.local import LocalEngine

if TYPE_CHECKING:
    from nas.config import SearchConfig


def make_engine(cfg: SearchConfig, data: Any, train_fn: Any = None) -> Engine:
    """The engine a config asks for, around the data its trials train on (and the user's train_fn)."""
    if cfg.engine == "local":
        return LocalEngine(data, train_fn)
    if cfg.engine.startswith(("table:", "nb201:")):
        from nas.engines.table import TableEngine

        return TableEngine(data, train_fn, cfg.engine)
    from nas.engines.ray_tune import RayEngine

    return RayEngine(data, train_fn)


__all__ = ["Engine", "LocalEngine", "make_engine", "trial_train_config"]
