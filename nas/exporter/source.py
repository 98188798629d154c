"""The library's code that model.py carries: classes copied verbatim with what they use.

The layer and block classes a network uses, their base classes, the helpers and constants they
name and their imports, copied (``inspect.getsource``) from `searchspace.widths`, `searchspace.layers`
and `searchspace.blocks` in file order; then the user's registered op classes (`nas.plugins.op_sources`).
"""

from __future__ import annotations

import ast
import functools
import inspect
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from nas import plugins
from nas.exporter.literals import ExportError
from searchspace import blocks, layers, widths

SOURCE_MODULES = (widths, layers, blocks)  # where the copied classes come from, in dependency order


@dataclass(frozen=True)
class _Def:
    """A module-level name of a source module: a class, function or constant, or an import."""

    name: str
    order: tuple[int, int]  # (source module, line): copied definitions keep their file order
    source: str
    refs: frozenset[str] = frozenset()
    is_import: bool = False


@functools.cache
def _definitions() -> dict[str, _Def]:
    defs: dict[str, _Def] = {}
    for m, module in enumerate(SOURCE_MODULES):
        for node in ast.parse(inspect.getsource(module)).body:
            for d in _module_defs(m, module, node):
                if d.name in defs and not (d.is_import and d.source == defs[d.name].source):
                    raise ExportError(f"{d.name!r} is bound twice in the copied searchspace modules")
                defs.setdefault(d.name, d)
    return defs


def _module_defs(m: int, module: Any, node: ast.stmt) -> list[_Def]:
    refs = frozenset(plugins.free_names(ast.unparse(node)))
    if isinstance(node, ast.ClassDef | ast.FunctionDef):
        return [_Def(node.name, (m, node.lineno), inspect.getsource(getattr(module, node.name)), refs)]
    if isinstance(node, ast.Assign | ast.AnnAssign):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        text = ast.get_source_segment(inspect.getsource(module), node) or ""  # a constant, copied as written
        return [_Def(t.id, (m, node.lineno), text, refs) for t in targets if isinstance(t, ast.Name)]
    if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in ("__future__", "searchspace"):
        return []  # the future import is always written; searchspace names are copied definitions
    if isinstance(node, ast.Import | ast.ImportFrom):
        out = []
        for alias in node.names:
            one = ast.ImportFrom(node.module, [alias], node.level) if isinstance(node, ast.ImportFrom) else None
            text = ast.unparse(one or ast.Import([alias]))
            out.append(_Def(alias.asname or alias.name.split(".")[0], (-1, node.lineno), text, is_import=True))
        return out
    return []


def _closure(roots: Sequence[type]) -> list[_Def]:
    """The definitions the roots need (bases, helpers, imports), in file order."""
    defs = _definitions()
    todo, seen = [], set()
    for cls in roots:
        if cls.__name__ not in defs or defs[cls.__name__].is_import:
            raise ExportError(f"{cls.__qualname__} is not defined in searchspace.layers or searchspace.blocks")
        todo.append(cls.__name__)
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(r for r in defs[name].refs if r in defs and r not in seen)
            module = vars(SOURCE_MODULES[max(defs[name].order[0], 0)])
            unknown = sorted(r for r in defs[name].refs if r in module and r not in defs and r != "annotations")
            if unknown:
                raise ExportError(f"{name} uses {unknown[0]!r}, which model.py cannot carry")
    return sorted((defs[n] for n in seen), key=lambda d: (d.order, d.name))


def copied(roots: Sequence[type]) -> tuple[str, set[str]]:
    """Imports and verbatim definitions, and the names they bind."""
    defs = _closure(roots)
    imports = sorted((d for d in defs if d.is_import), key=lambda d: d.order)
    stdlib = [d.source for d in imports if d.source.split()[1].split(".")[0] in sys.stdlib_module_names]
    others = [d.source for d in imports if d.source not in stdlib]
    parts = ["from __future__ import annotations", "", *stdlib, *([""] if stdlib else []), *others, ""]
    parts.append("# " + "-" * 98)
    parts.append(
        "# Copied verbatim from nasgraph's searchspace (searchspace/layers.py, searchspace/blocks.py, "
        "searchspace/widths.py):"
    )
    parts.append("# the classes this network uses, their base classes and the helpers they call.")
    parts.append("# " + "-" * 98)
    for m, module in enumerate(SOURCE_MODULES):
        chunk = [d.source.rstrip() for d in defs if not d.is_import and d.order[0] == m]
        if chunk:
            parts += ["", "", f"# from {module.__name__}", "", "", "\n\n\n".join(chunk)]
    return "\n".join(parts), {d.name for d in defs}


def users_code(classes: set[type], taken: set[str]) -> str:
    """The user's op classes and what they use (`nas.plugins.op_sources`), after the library's copies."""
    try:
        imports, defs = plugins.op_sources(sorted(classes, key=lambda c: c.__name__), taken)
    except plugins.PluginError as e:
        raise ExportError(str(e)) from None
    rule = "# " + "-" * 98
    head = [rule, "# Your ops, copied from their source files with what they use.", rule]
    return "\n".join(["", "", *head, *imports, "", "", "\n\n\n".join(d.rstrip() for d in defs)])
