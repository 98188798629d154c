"""Engines train a search's trials behind one interface (`Engine`: start, run, stop).

- `LocalEngine` (``--engine local``): in this process, one trial after another.
- `RayEngine` (``--engine ray``, `nas.engines.ray_tune`): through Ray Tune on a local Ray runtime or a
  cluster; the only module that imports Ray, loaded when it is asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nas.engines.base import Engine, trial_train_config
from nas.engines.local import LocalEngine

if TYPE_CHECKING:
    from nas.config import SearchConfig


def make_engine(cfg: SearchConfig, data: Any) -> Engine:
    """The engine a config asks for, around the data its trials train on."""
    if cfg.engine == "local":
        return LocalEngine(data)
    from nas.engines.ray_tune import RayEngine

    return RayEngine(data)


__all__ = ["Engine", "LocalEngine", "make_engine", "trial_train_config"]
