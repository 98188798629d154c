"""The errors nasgraph reports to a user, and how their messages are cut to one line.

Every error meant for the user derives from `NasgraphError` (defined in `searchspace.values`, the
lowest layer, so that `GenotypeError` shares it): `UsageError` (cli), `ConfigError`, `DataError`,
`RecordError`, `ExportError`, `SearchError` and its `StorageError`. The CLI catches that one class,
prints its message on one line and exits 2. No torch, pandas or Ray.
"""

from __future__ import annotations

from searchspace.values import NasgraphError


class SearchError(NasgraphError, RuntimeError):
    """A search that cannot start or continue; the message is one line for the user."""


class StorageError(SearchError):
    """The results folder cannot be written (full disk, read-only, permissions); what was recorded is kept."""


def one_line(error: BaseException | str, limit: int = 500) -> str:
    """The whole message with its whitespace (newlines included) collapsed; the type's name when empty."""
    text = " ".join(str(error).split())
    if not text and isinstance(error, BaseException):
        text = type(error).__name__
    return text[:limit]


def first_line(error: BaseException | str, limit: int = 300) -> str:
    """The message's first non-blank line (an exception whose message goes on with details)."""
    lines = [ln.strip() for ln in str(error).splitlines() if ln.strip()]
    if not lines:
        return type(error).__name__ if isinstance(error, BaseException) else ""
    return lines[0][:limit]


def last_line(text: str, limit: int = 300) -> str:
    """The last non-blank line of a formatted traceback: the exception itself."""
    lines = [ln.strip() for ln in str(text).splitlines() if ln.strip()]
    return lines[-1][:limit] if lines else ""
