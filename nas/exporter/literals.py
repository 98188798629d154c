"""Validated values as Python source: how every number, option and name in model.py is written.

model.py is generated from validated values only: numbers are rendered from their int/float value
(whatever a subclass's ``__repr__`` says), strings are the registry's own option strings (never the
genotype's), identifiers are built from indices. `ExportError` is the error of every export step.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from typing import Any

from nas.errors import NasgraphError
from searchspace import registry

LINE = 112  # wrap generated statements longer than this: with 8 spaces of indent they reach 120


class ExportError(NasgraphError, ValueError):
    """An export that cannot be done: bad arguments, or a state dict that does not fit the genotype."""


def integer(v: Any) -> str:
    """An integer's digits, whatever its type's __repr__ says."""
    if isinstance(v, float) or not hasattr(type(v), "__index__"):
        raise ExportError(f"expected an integer in the plan, got {type(v).__name__}")
    return int.__repr__(operator.index(v))


def number(v: Any) -> str:
    if isinstance(v, bool):
        return "True" if v else "False"
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ExportError("expected a finite number in the plan")
        return float.__repr__(v)
    return integer(v)


def choice(options: Sequence[str], v: Any) -> str:
    """The registry's own string equal to v, quoted."""
    for option in options:
        if isinstance(v, str) and option == v:
            return repr(str(option))
    raise ExportError(f"value is not one of {', '.join(options)}")


def param(spec: registry.Param, v: Any) -> str:
    if isinstance(spec, registry.Choice):
        return choice(spec.options, v)
    if isinstance(spec, registry.Bool):
        if not isinstance(v, bool):
            raise ExportError("expected true or false")
        return "True" if v else "False"
    return number(v)
