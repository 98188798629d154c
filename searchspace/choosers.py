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
