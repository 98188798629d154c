"""The leaf of the package: the error types, parameter values and the genotype's fixed vocabularies.

Every other module of `searchspace` may import these, and this module imports
nothing of `searchspace`, so no import cycle can pass through them.
"""

from __future__ import annotations

INPUT = -1  # a node input or stage output naming the stage's input
MERGES = ("sum", "mean", "wsum", "concat")
WIRINGS = ("chain", "residual", "dense", "ws", "custom")
HEAD_ACTS = ("relu", "tanh", "gelu")

Value = int | float | str | bool
Params = tuple[tuple[str, Value], ...]


class NasgraphError(Exception):
    """Root of the errors nasgraph reports to a user in one line (`nas.errors` re-exports it).

    It lives here, in the lowest layer, so that `searchspace` and `nas` errors share it.
    """


class GenotypeError(NasgraphError, ValueError):
    """A genotype that cannot be read or built; the message says where and why."""


def freeze_params(params: dict[str, Value] | Params | None) -> Params:
    """Return params as a tuple of (name, value) pairs sorted by name."""
    if not params:
        return ()
    items = params.items() if isinstance(params, dict) else params
    return tuple(sorted((str(k), v) for k, v in items))
