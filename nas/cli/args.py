"""Argument types and the parser: every bad value is one line on stderr and exit code 2."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from nas.errors import NasgraphError

EXIT_BAD_INPUT = 2


class UsageError(NasgraphError):
    """Bad command-line input: printed as one line, exit code 2."""


class Parser(argparse.ArgumentParser):
    """argparse whose errors are one line and exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message} (see --help)")


def count(text: str) -> int:
    """An integer with an optional k/M/G suffix: 250k, 1.5M."""
    scale = {"k": 1e3, "K": 1e3, "m": 1e6, "M": 1e6, "g": 1e9, "G": 1e9}
    try:
        value = float(text[:-1]) * scale[text[-1]] if text and text[-1] in scale else float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a count like 250000, 250k or 1.5M, got {text!r}") from None
    if value <= 0 or value != value or value > 1e15:
        raise argparse.ArgumentTypeError(f"expected a positive count, got {text!r}")
    return int(value)


def csv(text: str) -> tuple[str, ...]:
    return tuple(t.strip() for t in text.split(",") if t.strip())


def _checked(convert: Callable[[str], Any], kind: str, ok: Callable[[Any], bool], bound: str, suffix: str = ""):
    """An argparse type: `convert` the text (without `suffix`), else 'expected KIND'; then `ok`, else 'expected
    BOUND'. NaN fails every comparison, so it is refused by any bound."""

    def parse(text: str) -> Any:
        try:
            value = convert(text.removesuffix(suffix) if suffix else text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {kind}, got {text!r}") from None
        if not ok(value):
            raise argparse.ArgumentTypeError(f"expected {bound}, got {text!r}")
        return value

    return parse


INF = float("inf")
positive_int = _checked(int, "an integer", lambda v: v >= 1, "an integer >= 1")
nonneg_int = _checked(int, "an integer", lambda v: v >= 0, "an integer >= 0")
positive_float = _checked(float, "a number", lambda v: 0 < v < INF, "a number > 0")
nonneg_float = _checked(float, "a number", lambda v: 0 <= v < INF, "a number >= 0")
milliseconds = _checked(  # 5, 2.5 or 5ms
    float, "milliseconds like 5 or 2.5ms", lambda v: 0 < v < INF, "a positive number of milliseconds", suffix="ms"
)


def proxy_list(text: str) -> tuple[str, ...]:
    from nas.trial.proxies import parse

    try:
        return parse(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def engine_spec(text: str) -> str:
    """A registered engine or published benchmark (`nas.registry.engine_entry`)."""
    from nas.errors import NasgraphError
    from nas.registry import engine_entry

    try:
        engine_entry(text)
    except NasgraphError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text
