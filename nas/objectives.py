"""The objectives a search can optimize, their directions, and the defaults. Standard library only."""

from __future__ import annotations

from collections.abc import Iterable

SENSES: dict[str, str] = {"val_acc": "max", "params": "min", "flops": "min"}  # every objective, max or min
FRONT: dict[str, str] = {"val_acc": "max", "params": "min"}  # the front that reports and kept weights use
SINGLE_OBJECTIVE_CONTROLLERS = ("tpe", "random")  # optimize val_acc alone unless told otherwise


def senses(names: Iterable[str] = ()) -> dict[str, str]:
    """Objectives in order with 'max'/'min'; none given: the front's. Unknown names raise ValueError."""
    names = tuple(names) or tuple(FRONT)
    unknown = [n for n in names if n not in SENSES]
    if unknown:
        raise ValueError(f"unknown objective {unknown[0]!r}; objectives: {', '.join(SENSES)}")
    return {n: SENSES[n] for n in names}


def for_controller(controller: str, names: Iterable[str] = ()) -> dict[str, str]:
    """What a controller optimizes: the names given, else val_acc (tpe, random) or the front's objectives."""
    names = tuple(names)
    if not names and controller in SINGLE_OBJECTIVE_CONTROLLERS:
        names = ("val_acc",)
    return senses(names)
