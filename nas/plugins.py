"""Your own code in a search: plugin files, ops registered outside nasgraph, and shipping both to workers.

A plugin is a Python file the user names (``launch.py search --plugin my_ops.py``; saved in
config.json, so ``--resume DIR`` loads it again). Importing it runs it: it is the user's own code,
trusted as such, never data. It registers what it brings with the same calls a notebook uses:
`searchspace.registry.register_op` (ops), `searchspace.zoo.register` (architectures),
`nas.register_dataset` (datasets).

Ray workers are other processes, possibly on other machines. What a search of yours needs there --
the ops you registered and your training function -- is shipped with each trial by value
(cloudpickle), whether it lives in a notebook cell, a plugin file or a module beside your notebook,
so no worker has to import your code. Installed packages are the exception: they are shipped by
reference and must be installed on every node, as any dependency of a trial is.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.util
import inspect
import symtable
import sys
import sysconfig
import textwrap
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from nas.errors import NasgraphError, one_line
from searchspace.ops import BUILTIN as BUILTIN_OPS  # every op nasgraph registers itself
from searchspace.opspec import REGISTRY, OpSpec

OWN_PACKAGES = ("nas", "searchspace")
_LOADED: dict[Path, ModuleType] = {}


class PluginError(NasgraphError, ValueError):
    """A plugin file that cannot be loaded, or an op of yours that does not do what it declares."""


def load(path: str | Path) -> ModuleType:
    """Import a plugin file (once per path) and return its module; PluginError in one line if it fails."""
    resolved = Path(path).expanduser().resolve()
    if resolved in _LOADED:
        return _LOADED[resolved]
    if resolved.suffix != ".py" or not resolved.is_file():
        raise PluginError(f"--plugin {path}: not a Python file (a path to a .py file is expected)")
    digest = hashlib.sha1(str(resolved).encode()).hexdigest()[:10]
    name = f"nasgraph_plugin_{resolved.stem if resolved.stem.isidentifier() else 'file'}_{digest}"
    spec = importlib.util.spec_from_file_location(name, resolved)
    if spec is None or spec.loader is None:
        raise PluginError(f"--plugin {path}: cannot be imported")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as e:
        sys.modules.pop(name, None)
        raise PluginError(f"--plugin {path}: importing it failed: {type(e).__name__}: {one_line(e)}") from None
    _LOADED[resolved] = module
    return module


def load_all(paths: Iterable[str]) -> None:
    for path in paths:
        load(path)


def train_fn_spec(spec: str) -> str:
    """``FILE.py:NAME`` with the file's path made absolute (what config.json keeps, so a resume finds it)."""
    path, sep, name = spec.rpartition(":")
    if not sep or not path.endswith(".py") or not name.isidentifier():
        raise PluginError(f"--train-fn {spec}: expected FILE.py:FUNCTION, e.g. my_training.py:train")
    return f"{Path(path).expanduser().resolve()}:{name}"


def train_fn_from(spec: str) -> Any:
    """The training function a ``FILE.py:NAME`` spec names (the file is loaded as a plugin)."""
    path, _, name = spec.rpartition(":")
    module = load(path)
    fn = getattr(module, name, None)
    if not callable(fn):
        raise PluginError(f"--train-fn {spec}: {path} defines no function {name!r}")
    return fn


def resolvable(spec: str) -> bool:
    """Whether a saved train_fn spec names a file (the CLI's ``--train-fn``), not a function given from Python."""
    path, sep, name = spec.rpartition(":")
    return bool(sep) and path.endswith(".py") and name.isidentifier()


def user_ops() -> list[OpSpec]:
    """The ops registered outside nasgraph (a notebook, a plugin, a module of yours), by name."""
    return [REGISTRY[n] for n in sorted(set(REGISTRY) - BUILTIN_OPS)]


@dataclass
class Shipment:
    """What a Ray worker needs of the user's code besides the data: ops and the training function."""

    ops: list[OpSpec] = field(default_factory=list)
    train_fn: Any = None
    objective: tuple[str, str] = ("val_acc", "max")  # what the trial reports to Tune as its score (ASHA's metric)

    @classmethod
    def gather(
        cls, pickler: ModuleType, train_fn: Any = None, objective: tuple[str, str] = ("val_acc", "max")
    ) -> Shipment:
        """The user's ops and train_fn, with every module of the user's marked to be pickled by value by
        `pickler` (the cloudpickle the engine serializes with: Ray's own copy for Ray); see the module
        docstring."""
        by_value(pickler)
        return cls(user_ops(), train_fn, objective)

    def install(self) -> None:
        """Register the shipped ops in this (worker) process, where they are not yet known."""
        for spec in self.ops:
            REGISTRY.setdefault(spec.name, spec)


def by_value(pickler: ModuleType) -> None:
    """Have `pickler` (a cloudpickle) ship every loaded module of the user's by value: plugin files, a
    notebook's own modules and the helpers they import. nasgraph's own modules, the standard library's
    and installed packages go by reference (``__main__`` is always by value)."""
    for name, module in list(sys.modules.items()):
        if module is None or name == "__main__" or not _users(module):
            continue
        try:
            pickler.register_pickle_by_value(module)
        except ValueError:  # a module cloudpickle cannot ship by value: it goes by reference
            continue


def _users(module: ModuleType) -> bool:
    """Whether a module is the user's own code (not nasgraph's, the standard library's or installed)."""
    if not isinstance(module, ModuleType) or module.__name__.split(".")[0] in OWN_PACKAGES:
        return False
    origin = getattr(module, "__file__", None)
    if not isinstance(origin, str) or not Path(origin).is_absolute():  # built in, or a namespace object
        return False
    resolved = Path(origin).resolve()
    return not any(resolved.is_relative_to(p) for p in _installed_all())


@functools.cache
def _installed_all() -> tuple[Path, ...]:
    """Where the standard library and installed packages live."""
    paths = sysconfig.get_paths()
    return tuple({Path(paths[k]).resolve() for k in ("stdlib", "platstdlib", "purelib", "platlib")})


def check_ops(names: Iterable[str], input_size: tuple[int, int]) -> None:
    """Build each user op among `names` once and check that its forward gives the width and spatial size it
    declares, at stride 1 and (if it may downsample) 2; PluginError naming the op otherwise."""
    import torch

    side = min(input_size)
    in_ch, width = 8, 16
    for name in sorted(set(names) - BUILTIN_OPS):
        spec = REGISTRY.get(name)
        if spec is None:
            continue  # the search space says it is unknown
        params = spec.resolve({})
        for stride in (1, 2) if spec.strides and side >= 2 else (1,):
            out_ch = spec.output_width(in_ch, width, params)
            declared = (out_ch, spec.spatial(side, stride, params), spec.spatial(side, stride, params))
            try:
                module = spec.fn(in_ch, out_ch, stride, **params).eval()
                with torch.no_grad():
                    out = module(torch.zeros(2, in_ch, side, side))
            except Exception as e:  # noqa: BLE001 -- the user's op, any failure
                raise PluginError(
                    f"op {name!r} fails on a 2x{in_ch}x{side}x{side} input at stride {stride}: "
                    f"{type(e).__name__}: {one_line(e)}"
                ) from None
            got = tuple(out.shape[1:]) if isinstance(out, torch.Tensor) else type(out).__name__
            if got != declared:
                raise PluginError(
                    f"op {name!r} gives {got} for a {in_ch}x{side}x{side} input at stride {stride}, but it "
                    f"declares {declared} (register_op's width and spatial rules)"
                )


def op_sources(classes: Iterable[Any], taken: set[str]) -> tuple[list[str], list[str]]:
    """(import lines, definitions) that carry the given user op classes into an exported model.py.

    Each class's source is copied with what it uses from its module: the user's own classes, functions
    and plain constants (copied too), and modules or names from torch, torchvision and the standard
    library (imported). Anything else -- a name from another package or module of the user's, a value
    that is not a plain constant -- is refused in one line naming the op, as is a source that cannot be
    found or a name that `taken` (model.py's own names) already binds.
    """
    imports: dict[str, None] = {}
    defs: dict[str, tuple[tuple[str, int], str]] = {}  # name -> ((file, line), source)
    todo = [(cls, cls) for cls in classes]
    while todo:
        op, obj = todo.pop()
        name = obj.__name__
        if name in defs:
            continue
        if name in taken:
            raise PluginError(f"op {_op_name(op)!r}: its {name!r} has the name of a class model.py already defines")
        try:
            source = _undecorated(textwrap.dedent(inspect.getsource(obj)))
            line = inspect.getsourcelines(obj)[1]
        except (OSError, TypeError) as e:
            raise PluginError(
                f"op {_op_name(op)!r}: the source of {name} cannot be found ({one_line(e)}), so model.py cannot "
                "carry it; define the op in a .py file (a plugin or a module of yours) to export it"
            ) from None
        defs[name] = ((inspect.getsourcefile(obj) or "", line), source)
        module = sys.modules.get(obj.__module__)
        scope = vars(module) if module is not None else {}
        for ref in sorted(free_names(source) - {name}):
            if ref not in scope:
                continue  # a builtin, or a local name
            value = scope[ref]
            if isinstance(value, ModuleType):
                if not _importable(value.__name__):
                    raise PluginError(
                        f"op {_op_name(op)!r} uses the module {value.__name__}, which model.py cannot import"
                    )
                last = value.__name__.rsplit(".", 1)[-1]
                imports[
                    f"import {value.__name__}"
                    if value.__name__ == ref
                    else (
                        f"from {value.__name__.rsplit('.', 1)[0]} import {last} as {ref}"
                        if "." in value.__name__
                        else f"import {value.__name__} as {ref}"
                    )
                ] = None
            elif inspect.isclass(value) or inspect.isfunction(value):
                if value.__module__ == obj.__module__:
                    todo.append((op, value))
                elif _importable(value.__module__):
                    imports[f"from {value.__module__} import {value.__qualname__} as {ref}"] = None
                else:
                    raise PluginError(
                        f"op {_op_name(op)!r} uses {ref} from {value.__module__}, which model.py cannot carry; "
                        "define it in the op's own file"
                    )
            elif _is_literal(value):
                if ref in taken:
                    raise PluginError(
                        f"op {_op_name(op)!r}: its {ref!r} has the name of a value model.py already defines"
                    )
                defs.setdefault(ref, (("", -1), f"{ref} = {value!r}"))
            else:
                raise PluginError(
                    f"op {_op_name(op)!r} uses {ref} ({type(value).__name__}), which model.py cannot carry"
                )
    ordered = [src for _, src in sorted(defs.values(), key=lambda d: d[0])]
    return sorted(imports), ordered


def free_names(source: str) -> set[str]:
    """The names a piece of module-level source reads from its module's globals (or the builtins).

    Python's own scoping decides, through the standard library's `symtable`: parameters, locals,
    comprehension variables, names of enclosing functions and class-body names seen from the class
    body are not free; a class-body name read inside a method is (methods do not see the class body),
    as is a name declared ``global``.
    """
    found: set[str] = set()

    def visit(table: symtable.SymbolTable, top: bool) -> None:
        for sym in table.get_symbols():
            # at the top, a name read is free even where the statement also binds it (`X = X + [Y]` reads the
            # earlier X); a def's or class's own name is the caller's to drop
            if sym.is_referenced() and ((top and not sym.is_imported()) or (not top and sym.is_global())):
                found.add(sym.get_name())
        for child in table.get_children():
            visit(child, False)

    visit(symtable.symtable(source, "<source>", "exec"), True)
    return found


def _undecorated(source: str) -> str:
    """A class or function's source without its decorators (``@register_op(...)`` stays in the plugin)."""
    node = ast.parse(source).body[0]
    if not getattr(node, "decorator_list", None):
        return source
    return "\n".join(source.splitlines()[node.lineno - 1 :]) + "\n"


def _op_name(cls: Any) -> str:
    return next((s.name for s in REGISTRY.values() if s.factory is cls), getattr(cls, "__name__", "?"))


def _importable(module: str) -> bool:
    """Whether model.py may import from this module: torch, torchvision or the standard library."""
    top = module.split(".")[0]
    return top in ("torch", "torchvision") or top in sys.stdlib_module_names


def _is_literal(value: Any) -> bool:
    """Whether model.py can define it as ``NAME = repr(value)``: None, bool, int, float, str, or tuples of them."""
    if isinstance(value, bool | int | float | str | type(None)):
        return True
    return isinstance(value, tuple) and all(_is_literal(v) for v in value)
