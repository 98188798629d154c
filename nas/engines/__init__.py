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

from nas.engines.base import Engine, register_engine, trial_train_config
from nas.engines.local import LocalEngine
from nas.registry import BENCHMARKS, ENGINES, engine_entry

if TYPE_CHECKING:
    from nas.config import SearchConfig


def make_engine(cfg: SearchConfig, data: Any, train_fn: Any = None) -> Engine:
    """The engine a config asks for, around the data its trials train on (and the user's train_fn); a published
    benchmark's spec (nb201:DATASET) is answered by the table engine."""
    entry, _ = engine_entry(cfg.engine)
    if entry.kind == BENCHMARKS.kind:
        entry = ENGINES.get("table")
    return entry.load().create(data, train_fn, cfg.engine, cfg.engine_options)


__all__ = ["Engine", "LocalEngine", "make_engine", "register_engine", "trial_train_config"]
