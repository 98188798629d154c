"""The import paths of nasgraph's flat layout (`nas.train`, `nas.table`, ...): deprecated, still working.

Until issue 26 `nas/` was 35 modules side by side; they now live in packages by job (README's
"Repository"). Code, notebooks and `python -m` lines that name an old module keep working:
``from nas.train import TrainConfig``, ``python -m nas.table build`` get the module at its new path —
the same module object, so its state (a registry, a patched function) is shared, whichever name set
it — with a DeprecationWarning naming the new path (issue 35). Deprecated rather than removed: the old
paths are in users' notebooks, scripts and pickles made by reference (a results folder's objects),
where removing them would fail with a bare ModuleNotFoundError and no hint of where the module went;
the warning tells them for one release, and `REMOVED_IN` says which release drops this module.
``nas.results`` is not deprecated: it is the public name of `nas.record.results`.

Two mechanisms, one per kind of move:

- a module that moved into another package (`MOVED`) is found by `_MovedFinder`, which sits at the
  end of ``sys.meta_path`` (asked only for names no file answers) and hands back the new module;
- a module that became a package of the same name (`nas.driver`, `nas.record`, `nas.report`) answers
  its old names through the package's ``__getattr__`` (`forward`), which reads them from the module
  that holds them now (`nas.driver.coordinator`, `nas.record.jsonl`, `nas.report.text`).

Standard library only, and nothing is imported until an old name is used.
"""

from __future__ import annotations

import functools
import importlib
import importlib.machinery
import importlib.util
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any

REMOVED_IN = "0.3"  # the release that drops these paths (and this module)
PUBLIC = frozenset({"nas.results"})  # old paths that are public names now, never warned about

# old module -> where it lives now
MOVED = {
    "nas.admission": "nas.driver.admission",
    "nas.ledger": "nas.driver.ledger",
    "nas.resume": "nas.driver.resume",
    "nas.progress": "nas.driver.progress",
    "nas.live": "nas.driver.live",
    "nas.folder": "nas.record.folder",
    "nas.results": "nas.record.results",
    "nas.train": "nas.trial.train",
    "nas.owndata": "nas.data.owndata",
    "nas.trial.data": "nas.data",  # (until issue 33 the datasets were one module of nas/trial)
    "nas.trial.owndata": "nas.data.owndata",
    "nas.proxies": "nas.trial.proxies",
    "nas.inherit": "nas.trial.inherit",
    "nas.latency": "nas.trial.latency",
    "nas.html_report": "nas.report.html",
    "nas.plots": "nas.report.plots",
    "nas.table": "nas.benchmarks.table",
    "nas.nb201": "nas.benchmarks.nb201",
    "nas.cluster": "nas.engines.cluster",
    "nas.formats": "nas.human",  # (until issue 35; `nas.exporter.formats` is the export formats)
}


class _MovedLoader:  # (the protocol of importlib.abc.Loader; that module is not imported for it)
    """Loads an old name as the module at its new path."""

    def __init__(self, new: str, spec: importlib.machinery.ModuleSpec) -> None:
        self.new, self.spec = new, spec

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> None:
        return None  # a placeholder module, replaced in sys.modules by exec_module

    def exec_module(self, module: ModuleType) -> None:
        # The import system returns whatever sys.modules holds under the name once this returns.
        if module.__name__ not in PUBLIC:
            deprecated(module.__name__, self.new)
        sys.modules[module.__name__] = importlib.import_module(self.new)

    def get_code(self, fullname: str) -> Any:
        """``python -m OLD`` (runpy asks for this): the new module's own code, run as ``__main__``."""
        return self.spec.loader.get_code(self.new)

    def is_package(self, fullname: str) -> bool:
        return False


class _MovedFinder:  # (importlib.abc.MetaPathFinder's protocol)
    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        new = MOVED.get(fullname)
        spec = importlib.util.find_spec(new) if new else None
        if spec is None:
            return None
        return importlib.machinery.ModuleSpec(fullname, _MovedLoader(new, spec), origin=spec.origin)


def deprecated(old: str, new: str) -> None:
    """Warn that an old import path was used, naming the new one."""
    import warnings

    warnings.warn(
        f"{old} is deprecated: import {new} (the old path goes in nasgraph {REMOVED_IN})",
        DeprecationWarning,
        stacklevel=_caller_level(),
    )


def _caller_level() -> int:
    """The stacklevel of the code that named the old path: past this module and the import system's frames."""
    frame, level = sys._getframe(2), 2  # (the caller of `deprecated`)
    while frame is not None and (frame.f_code.co_filename == __file__ or "importlib" in frame.f_code.co_filename):
        name = frame.f_code.co_filename
        level += not ("importlib" in name and "_bootstrap" in name)  # (warn skips the import system's own frames)
        frame = frame.f_back
    return level


def install() -> None:
    """Answer the old module names (idempotent; `nas/__init__.py` calls it)."""
    if not any(isinstance(f, _MovedFinder) for f in sys.meta_path):
        sys.meta_path.append(_MovedFinder())


def forward(package: str, holder: str) -> Callable[[str], Any]:
    """A package's ``__getattr__`` that answers the names of the module it replaced from `holder`, the
    module holding them now (`from nas.driver import SearchState` as before the move). Its own
    submodules' names are left to the import system (`from nas.driver import ledger` loads only that)."""

    def __getattr__(name: str) -> Any:
        if name.startswith("__") or name in _submodules(package):
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        try:
            value = getattr(importlib.import_module(holder), name)
        except AttributeError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        deprecated(f"{package}.{name}", f"{holder}.{name}")
        return value

    return __getattr__


@functools.cache
def _submodules(package: str) -> frozenset[str]:
    import pkgutil

    return frozenset(m.name for m in pkgutil.iter_modules(sys.modules[package].__path__))
