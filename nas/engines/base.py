"""The engine interface: what trains a search's trials.

The driver (`nas.driver.coordinator.SearchState`) decides what to train and records what happened; an engine
only trains. `start` gets it ready (a device, a Ray runtime), `run` asks the search for proposals
and hands back results until the budget is spent or `stop` is called, and `stop` may be called
from a signal handler at any time. The local engine trains in this process, the Ray engine through
Ray Tune on workers; a table engine (answers looked up in a tabular benchmark) fits the same three
methods.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any

from nas.errors import SearchError
from nas.registry import ENGINES, RegistryError

if TYPE_CHECKING:
    from nas.config import SearchConfig
    from nas.driver.coordinator import SearchState


class Engine(ABC):
    """Trains the proposals of one search; see the module docstring."""

    name = "engine"  # set by `register_engine` to the registered name
    stop_message = ""  # what the user is told when a first stop lets running trials end by themselves

    def __init__(self, data: Any, train_fn: Any = None) -> None:
        self.data = data
        self.train_fn = train_fn  # the user's training function (`nas.trial.train.TrainFn`); None: the built-in one
        self.stopping = False  # no new trials; running ones are abandoned, not recorded
        self.failure: SearchError | None = None  # why the engine had to stop (raised by run once it has)

    @classmethod
    def create(cls, data: Any, train_fn: Any, spec: str, options: Any) -> Engine:
        """A new engine for a search: its data and train_fn, the ``--engine`` spec (``NAME`` or ``NAME:ARG``)
        and its registered options dataclass (override to use them)."""
        return cls(data, train_fn)

    def start(self, state: SearchState) -> None:  # noqa: B027 -- optional: most engines need no preparation
        """Get ready to train: check the device, join the cluster. Signal handlers go in after this."""

    @abstractmethod
    def run(self, state: SearchState) -> None:
        """Train proposals until the budget is spent or `stop` is called; raises a failure that stopped it."""

    def stop(self) -> bool:
        """Ask for a stop. True: running trials end by themselves; False: the caller must interrupt this
        process (the trial runs in it)."""
        self.stopping = True
        return False

    def misused(self, state: SearchState, trial_id: str, message: str) -> None:
        """A train_fn broke its contract (`nas.trial.train.MISUSE`): the trial is not a result, and the search stops."""
        state.abandon(trial_id)
        self.fail(SearchError(f"train_fn: {message}"))

    def fail(self, error: SearchError) -> None:
        """Stop because of `error`; `run` raises it once its trials have stopped."""
        self.failure = self.failure or error
        self.stopping = True


def register_engine(
    name: str,
    *,
    options: type | None = None,
    summary: str = "",
    usage: str = "",
    takes_arg: bool = False,
    **traits: Any,
) -> Any:
    """Decorator: make ``--engine name`` (``name:ARG`` with ``takes_arg``) this `Engine` subclass, made by its
    `Engine.create`. ``traits`` say what its trials give (`nas.registry.engine_entry`): ``trains=False`` for
    one that looks results up, ``latency=False`` for one without latencies, ``images=False`` without data."""

    def decorate(cls: type) -> type:
        if not (isinstance(cls, type) and issubclass(cls, Engine)):
            raise RegistryError(f"register_engine({name!r}): {cls!r:.60} is not a subclass of nas.Engine")
        ENGINES.register(name, options=options, summary=summary, usage=usage, takes_arg=takes_arg, **traits)(cls)
        cls.name = name
        return cls

    return decorate


def trial_train_config(cfg: SearchConfig):
    """The TrainConfig each trial uses: the search's, with its time limit, thread count and latency resolved."""
    changes: dict[str, Any] = {"max_seconds": cfg.trial_timeout or cfg.train.max_seconds}
    changes["latency"] = cfg.measures_latency()
    if not cfg.train.threads:
        changes["threads"] = max(1, int(cfg.cpus_per_trial))
    if cfg.gpus_per_trial and cfg.gpus_per_trial < 1 and not cfg.train.memory_fraction:
        changes["memory_fraction"] = cfg.gpus_per_trial
    return dataclasses.replace(cfg.train, **changes)


def inherited_weights(blob: bytes | None):
    """A parent's weights (`SearchState.parent_weights`) as tensors, read with safetensors (None: none)."""
    if blob is None:
        return None
    from safetensors.torch import load

    return load(blob)


# The Ray engine's module imports Ray: it is registered by path (first, the default), imported when a search uses it
ENGINES.register_lazy(
    "ray", "nas.engines.ray_tune:RayEngine", summary="through Ray Tune on a local Ray runtime or a cluster (--address)"
)
