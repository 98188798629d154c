"""The contract of your own training function (``train_fn(model, data, context, report) -> metrics``): what it
is told about its trial (`TrialContext`), the metrics it may report and return (`own_metrics`), and how it
breaks the contract (`TrainFnError`, `MISUSE`). `nas.trial.train` runs it as a trial."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from nas.data import DataSplits
from nas.errors import NasgraphError
from nas.record.row import METRICS, ROW_FIELDS
from searchspace.genotype import Genotype

if TYPE_CHECKING:
    from nas.trial.train import TrainConfig

Report = Callable[[dict[str, Any]], None]
TrainFn = Callable[[nn.Module, DataSplits, "TrialContext", Report], Mapping[str, Any]]
MISUSE = "misuse"  # not a trial status: a train_fn that broke its contract; the search stops with the message
MEASURED = ("wall_seconds", "peak_memory_mb", "resident_memory_mb")  # what the trial runner measures itself
# names a train_fn's metrics may not use: the record's own fields (but the metrics a trainer reports), the
# columns results.load adds, and the keys of a trial's report to Tune (`nas.engines.ray_tune._packed`)
RESERVED = (ROW_FIELDS - set(METRICS)) | set(MEASURED) | {"search", "trial", "custom", "final", "retire", "metrics"}
RESERVED_PREFIX = "proxy_"  # the record's columns of zero-cost proxies (`nas.record.row.PROXY_PREFIX`)


@dataclass(frozen=True)
class TrialContext:
    """What a training function knows about its trial: the search's `TrainConfig` (its fields read
    through: ``config.epochs``, ``config.lr``...), the trial's seed, the device the model is on, the
    genotype, and the time limit (`time_left`; `report` ends the trial once it has run out)."""

    train: TrainConfig
    seed: int
    device: torch.device
    genotype: Genotype
    deadline: float = math.inf  # time.perf_counter() at which the time limit is reached

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name == "train":
            raise AttributeError(name)
        return getattr(self.train, name)

    def time_left(self) -> float:
        """Seconds left under the trial's time limit (inf without one)."""
        return self.deadline - time.perf_counter()


class TimeUp(BaseException):
    """Raised by `report` in a train_fn past its time limit (a BaseException: a train_fn's except Exception
    must not swallow it)."""


class TrainFnError(NasgraphError, TypeError):
    """A training function that broke its contract (returned no metrics, or a non-number)."""


def own_metrics(values: Any, what: str) -> dict[str, Any]:
    """A train_fn's metrics checked: a non-empty mapping of identifier names to numbers (floats or ints;
    numpy and 0-d tensor numbers are converted; NaN and infinity become None). TrainFnError otherwise."""
    if not isinstance(values, Mapping) or not values:
        got = "an empty mapping" if isinstance(values, Mapping) else f"{type(values).__name__} {values!r:.60}"
        raise TrainFnError(
            f"{what} {got}; a train_fn returns a dict of metric names to numbers, e.g. {{'val_acc': 0.9}}"
        )
    out: dict[str, Any] = {}
    for key, v in values.items():
        reserved = isinstance(key, str) and (key in RESERVED or key.startswith(RESERVED_PREFIX))
        if not isinstance(key, str) or not key.isidentifier() or reserved:
            why = "is a field the search records itself" if reserved else "is not an identifier"
            raise TrainFnError(f"{what} the metric name {key!r}, which {why}")
        if isinstance(v, torch.Tensor) and v.numel() == 1:
            v = v.item()
        elif isinstance(v, np.generic):
            v = v.item()
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise TrainFnError(f"{what} {key}={v!r:.60} ({type(v).__name__}); metrics must be numbers")
        out[key] = v if isinstance(v, int) or math.isfinite(v) else None
    return out


def custom_part(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """The metrics that are not the built-in trainer's own (kept in the record under their names)."""
    return {k: v for k, v in metrics.items() if k not in METRICS and k != "error"}
