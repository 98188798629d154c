"""Choosers: who answers sampling's named decisions.

Kept apart from `searchspace.space` so that mutations, which sample fresh ops
through a chooser, need not import the space that calls them.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


class Chooser(Protocol):
    """Answers the named decisions of sampling."""

    def choose(self, name: str, options: Sequence[T]) -> T: ...

    def integer(self, name: str, lo: int, hi: int) -> int: ...


class RandomChooser:
    """A chooser backed by a `random.Random`; records every decision it made."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.decisions: dict[str, Any] = {}

    def choose(self, name: str, options: Sequence[T]) -> T:
        value = options[self.rng.randrange(len(options))]
        self.decisions[name] = value
        return value

    def integer(self, name: str, lo: int, hi: int) -> int:
        value = self.rng.randint(lo, hi)
        self.decisions[name] = value
        return value


class TooLarge(ValueError):
    """A decision with more options than a grid walks through."""


class GridChooser:
    """Answers decisions from a path of option indices, extending it with 0s: one leaf of the decision tree.

    `advance` moves the path to the next leaf in depth-first order, so that running sampling once per
    path visits every distinct sequence of decisions exactly once (`searchspace.space.SearchSpace.leaf`).
    """

    max_options = 10_000  # a decision with more options (a random seed) makes the space too large to walk

    def __init__(self, path: Sequence[int] = ()):
        self.path = list(path)
        self.sizes: list[int] = []  # number of options of each decision taken on this path
        self.decisions: dict[str, Any] = {}

    def choose(self, name: str, options: Sequence[T]) -> T:
        return options[self._next(name, len(options))]

    def integer(self, name: str, lo: int, hi: int) -> int:
        return lo + self._next(name, hi - lo + 1)

    def _next(self, name: str, n: int) -> int:
        if n > self.max_options:
            raise TooLarge(f"decision {name!r} has {n} options; a grid walks through at most {self.max_options}")
        depth = len(self.sizes)
        if depth == len(self.path):
            self.path.append(0)
        self.sizes.append(n)
        index = self.path[depth]
        self.decisions[name] = index
        return index

    def advance(self) -> list[int] | None:
        """The path of the next leaf after the one just taken, or None when the tree is exhausted."""
        path = self.path[: len(self.sizes)]
        while path:
            path[-1] += 1
            if path[-1] < self.sizes[len(path) - 1]:
                return path
            path.pop()
        return None
