"""The objectives a search can optimize, their directions, and the defaults. Standard library only."""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping
from typing import Any

SENSES: dict[str, str] = {"val_acc": "max", "params": "min", "flops": "min", "latency_ms": "min"}  # built in
ALIASES: dict[str, str] = {"latency": "latency_ms"}  # objective names users may write for a column
FRONT: dict[str, str] = {"val_acc": "max", "params": "min"}  # the front that reports and kept weights use


def senses(names: Iterable[str] = ()) -> dict[str, str]:
    """Objectives in order with 'max'/'min'; none given: the front's. Unknown names raise ValueError.

    A train_fn's own metric is named with its direction: ``my_metric:max`` or ``latency_ms:min``.
    """
    names = tuple(names) or tuple(FRONT)
    out: dict[str, str] = {}
    for entry in names:
        name, _, sense = entry.partition(":")
        name = ALIASES.get(name, name)
        if sense and sense not in ("max", "min"):
            raise ValueError(f"objective {entry!r}: the direction after ':' must be max or min")
        if name in SENSES:
            if sense and sense != SENSES[name]:
                raise ValueError(f"objective {entry!r}: {name} is always {SENSES[name]}imized")
            sense = SENSES[name]
        elif not sense or not name.isidentifier():
            raise ValueError(
                f"unknown objective {entry!r}; objectives: val_acc, params, flops, latency, or a train_fn's metric "
                "as NAME:max "
                "or NAME:min"
            )
        if name in out:
            raise ValueError(f"objective {name!r} is named twice")
        out[name] = sense
    return out


def front(names: Iterable[str] = ()) -> dict[str, str]:
    """The front that reports and kept weights use: `FRONT`, or the objectives when they name latency or a
    metric of the search's own training function."""
    chosen = senses(names) if tuple(names) else dict(FRONT)
    return chosen if any(n not in SENSES or n == "latency_ms" for n in chosen) else dict(FRONT)


def for_controller(default: Iterable[str] | None, names: Iterable[str] = ()) -> dict[str, str]:
    """What a controller optimizes: the names given, else its own `default_objectives` (tpe, random: val_acc),
    else (None) the front's objectives."""
    names = tuple(names)
    if not names and default:
        names = tuple(default)
    return senses(names)


def score(names: Iterable[str] = ()) -> tuple[str, str]:
    """The metric reports rank trials by, with its direction: the first objective of `front` that is not a
    cost (params, FLOPs, latency): val_acc, or a train_fn's metric such as ``val_macro_f1:max``."""
    return next(((n, s) for n, s in front(names).items() if n not in COSTS), ("val_acc", "max"))


COSTS = ("params", "flops", "latency_ms")  # objectives that measure a network's cost, known before training


def saved_front(config: Mapping[str, Any]) -> dict[str, str] | None:
    """`front` of a saved config.json's objectives; None when they are not valid objectives."""
    try:
        return front(config.get("objectives") or ())
    except (ValueError, TypeError, AttributeError):
        return None


def larger_better(metrics: Mapping[str, Any], senses: Mapping[str, str]) -> list[float]:
    """The objectives' values in order, each turned so that larger is better; NaN where one is missing or not a
    finite number (`counts` says whether there is none)."""
    return [
        (float(v) if sense == "max" else -float(v)) if is_finite_number(v := metrics.get(name)) else math.nan
        for name, sense in senses.items()
    ]


def counts(metrics: Mapping[str, Any], senses: Mapping[str, str]) -> bool:
    """Whether a result counts for a search with these objectives: every objective present and a finite number.

    The one definition every controller, the driver's front, the reports and ``export --trial best`` use (with
    their own statuses: `nas.controllers.base.counts_as_evaluated`, `nas.record.results.counted`). A row that
    lacks one objective (a train_fn that did not report it, latency not measured) or holds NaN or inf in one
    is not a result of this search, whichever metrics it has besides.
    """
    return all(is_finite_number(metrics.get(name)) for name in senses)


def is_finite_number(value: Any) -> bool:
    """A real number (bool excluded; numpy scalars included) that is finite."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
