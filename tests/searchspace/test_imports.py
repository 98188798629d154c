"""Import structure: the search space runs without torch, and no two modules import each other."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import networkx as nx

import searchspace as ss

REPO = Path(__file__).resolve().parents[2]

# What a controller process uses; each must import where torch cannot.
TORCH_FREE = (
    "searchspace",
    "searchspace.genotype",
    "searchspace.space",
    "searchspace.mutations",
    "searchspace.fingerprint",
    "searchspace.registry",
    "searchspace.shapes",
    "searchspace.wirings",
    "searchspace.zoo",
)

WITHOUT_TORCH = """
import importlib, random, sys

sys.modules["torch"] = None  # any `import torch` now raises ImportError
sys.modules["torchvision"] = None
for name in {modules!r}:
    importlib.import_module(name)

import searchspace as ss
from searchspace import registry
from searchspace.fingerprint import fingerprint, same_architecture
from searchspace.space import SearchSpace

space = SearchSpace()
rng = random.Random(0)
for _ in range(20):
    g = space.sample(rng)
    child = space.mutate(g, rng)
    assert space.is_valid(child) and space.validate(child) is child
    assert fingerprint(child) == child.fingerprint() != g.fingerprint()
    assert same_architecture(g, g) and not same_architecture(g, child)
ss.validate(ss.zoo.get("googlenet"), 3, 1000, 224)
for name in registry.names():
    spec = registry.get(name)
    assert spec.doc and spec.category and isinstance(spec.params, dict), name
loaded = sorted(m for m, mod in sys.modules.items() if mod is not None and m.split(".")[0] in ("torch", "torchvision"))
assert sys.modules["torch"] is None and not loaded, loaded
print("ok")
"""


def test_sampling_mutation_and_fingerprints_need_no_torch():
    code = WITHOUT_TORCH.format(modules=TORCH_FREE)
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-3000:]
    # and in a process with torch, the lazy names are the real ones
    model = ss.build(ss.zoo.get("resnet18"), 3, 10)
    assert isinstance(model, ss.Network) and ss.count_params(ss.zoo.get("resnet18"), 3, 10) == sum(
        p.numel() for p in model.parameters()
    )
    assert ss.blocks.ResBasic.__module__ == "searchspace.blocks" and ss.builder.build is ss.build


# ---------------------------------------------------------------- the import graph


def import_graph(package_dir: str | Path, package_name: str) -> nx.DiGraph:
    """Module -> module it imports, for every import in the package's own files, at any depth of code.

    Imports under ``if TYPE_CHECKING:`` are not edges (they never run). ``__init__.py``
    files are skipped: a package's facade may import its submodules. ``from pkg import x``
    where ``pkg.x`` is a module counts as importing ``pkg.x``.
    """
    package_dir = Path(package_dir)
    modules = {_module_name(p, package_dir, package_name): p for p in sorted(package_dir.rglob("*.py"))}
    graph = nx.DiGraph()
    for name, path in modules.items():
        if path.name == "__init__.py":
            continue
        graph.add_node(name)
        for target in _imported(ast.parse(path.read_text(encoding="utf-8")), name):
            if target != name and target in modules and modules[target].name != "__init__.py":
                graph.add_edge(name, target)
    return graph


def _module_name(path: Path, package_dir: Path, package_name: str) -> str:
    parts = [package_name, *path.relative_to(package_dir).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(tree: ast.AST, module: str) -> Iterator[str]:
    """Every module name an import statement in `tree` may load (outside TYPE_CHECKING blocks)."""
    for node in _runtime_nodes(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield from _prefixes(alias.name)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, module)
            yield from _prefixes(base)
            for alias in node.names:
                yield f"{base}.{alias.name}"


def _runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """All nodes, skipping the bodies of ``if TYPE_CHECKING:`` (their ``else`` still runs)."""
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            todo.extend(node.orelse)
        else:
            todo.extend(ast.iter_child_nodes(node))


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _absolute(node: ast.ImportFrom, module: str) -> str:
    """The module a ``from ... import`` names, with relative imports resolved (modules, not packages, import)."""
    if not node.level:
        return node.module or ""
    base = module.split(".")[: -node.level]
    return ".".join(base + ([node.module] if node.module else []))


def _prefixes(dotted: str) -> Iterator[str]:
    parts = dotted.split(".")
    for i in range(1, len(parts) + 1):
        yield ".".join(parts[:i])


def _describe(graph: nx.DiGraph) -> str:
    try:
        cycle = nx.find_cycle(graph)
    except nx.NetworkXNoCycle:
        return "no cycle"
    return " -> ".join(a for a, _ in cycle) + f" -> {cycle[0][0]}"


def test_searchspace_imports_form_no_cycle():
    graph = import_graph(REPO / "searchspace", "searchspace")
    assert ("searchspace.space", "searchspace.mutations") in graph.edges  # the parser sees the imports
    assert ("searchspace.mutations", "searchspace.space") not in graph.edges  # ...but not TYPE_CHECKING ones
    assert nx.is_directed_acyclic_graph(graph), f"import cycle: {_describe(graph)}"


def test_import_graph_sees_imports_inside_functions_and_skips_type_checking(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    files = {
        "__init__.py": "from pkg import a, b\n",
        "a.py": "from pkg import b\n",
        "b.py": "def f():\n    from pkg.c import x\n    return x\n",
        "c.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import a\nelse:\n    from . import d\n",
        "d.py": "import pkg.a\n",
    }
    for name, text in files.items():
        (pkg / name).write_text(textwrap.dedent(text))
    graph = import_graph(pkg, "pkg")
    assert set(graph.edges) == {("pkg.a", "pkg.b"), ("pkg.b", "pkg.c"), ("pkg.c", "pkg.d"), ("pkg.d", "pkg.a")}
    assert _describe(graph) != "no cycle"
