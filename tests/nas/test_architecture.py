"""The shape of the code: controllers and the record without torch, no import cycles, one status list."""

from __future__ import annotations

import ast
import pickle
import re
import subprocess
import sys
from pathlib import Path

import networkx as nx

from nas.objectives import FRONT, SENSES
from nas.status import DISPATCHED, EVALUATED, NOT_DISPATCHED, Status

ROOT = Path(__file__).resolve().parents[2]

BLOCKED = """
import sys
for name in {blocked!r}:
    sys.modules[name] = None  # importing it raises ImportError
{body}
print("loaded:", sorted({{m.split(".")[0] for m in sys.modules if sys.modules[m] is not None}} & set({blocked!r})))
"""


def run_blocked(body: str, blocked: tuple[str, ...]) -> str:
    code = BLOCKED.format(blocked=list(blocked), body=body)
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_controllers_propose_and_learn_in_a_process_without_torch_pandas_or_ray():
    body = """
import random
from nas.controllers import make_controller
from searchspace.space import SearchSpace

space = SearchSpace(in_channels=1, num_classes=10, input_size=8, widths=(8, 16))
for name in ("evolution", "random"):
    ctrl = make_controller(name, space, seed=1, objectives={"val_acc": "max", "params": "min"})
    for i in range(12):
        p = ctrl.ask()
        ctrl.tell(p.trial_id, "ok", {"val_acc": (i % 5) / 5, "params": 100 + i})
    assert ctrl.told == 12 and p.genotype.fingerprint()
"""
    out = run_blocked(body, ("torch", "torchvision", "pandas", "ray"))
    assert out.strip().endswith("loaded: []"), out


def test_the_record_and_the_pareto_maths_import_without_pandas_torch_or_ray():
    body = """
import nas.record.jsonl, nas.pareto, nas.status, nas.objectives, nas.errors, nas.driver.ledger
"""
    out = run_blocked(body, ("torch", "torchvision", "pandas", "pyarrow", "ray"))
    assert out.strip().endswith("loaded: []"), out


def import_graph(package_dir: Path, package: str) -> nx.DiGraph:
    """Modules of a package (a subpackage as its ``__init__``) and the imports between them, the ones
    inside functions included; imports under ``if TYPE_CHECKING:`` never run and are left out."""
    graph = nx.DiGraph()
    modules = {_module(p, package_dir, package): p for p in package_dir.rglob("*.py")}
    for name, path in modules.items():
        graph.add_node(name)
        tree = ast.parse(path.read_text())
        skipped = {id(n) for node in ast.walk(tree) if _is_type_checking(node) for n in ast.walk(node)}
        for node in ast.walk(tree):
            if id(node) not in skipped:
                graph.add_edges_from((name, target) for target in _imported(node, modules) if target != name)
    return graph


def _module(path: Path, package_dir: Path, package: str) -> str:
    parts = path.relative_to(package_dir).with_suffix("").parts
    return ".".join((package, *(parts[:-1] if parts[-1] == "__init__" else parts)))


def _is_type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _imported(node: ast.AST, modules: dict[str, Path]) -> list[str]:
    """The package's modules an import statement runs (`from a import b`: b when it is a module, else a)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name in modules]
    if not isinstance(node, ast.ImportFrom) or node.level or not node.module:
        return []
    subs = [f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in modules]
    plain = len(subs) < len(node.names) and node.module in modules
    return subs + ([node.module] if plain else [])


def test_the_nas_package_has_no_import_cycle():
    cycles = list(nx.simple_cycles(import_graph(ROOT / "nas", "nas")))
    assert not cycles, cycles[:5]


# nas/'s packages and shared modules from the bottom up: each imports only from its own layer or below
LAYERS = (
    (
        "_compat",
        "errors",
        "status",
        "objectives",
        "pareto",
        "human",
        "plugins",
        "registry",
    ),  # shared, no torch/pandas
    ("record", "controllers"),  # what a search leaves; what proposes (neither knows the other)
    ("benchmarks", "report"),  # tables of results; reading results for people
    ("data",),  # datasets: sources, prepared shards, preprocessing steps
    ("trial",),  # one trial: training, proxies, latency
    ("config",),
    ("driver",),  # the search loop
    ("engines",),  # what trains the loop's trials
    ("exporter",),
    ("api",),
    ("cli", "nas"),  # the command line; nas/__init__.py (its public names load lazily)
)


def test_packages_import_only_their_own_layer_or_below():
    layer = {name: i for i, names in enumerate(LAYERS) for name in names}
    graph = import_graph(ROOT / "nas", "nas")
    top = {m.split(".")[1] if "." in m else "nas" for m in graph.nodes}
    assert top == set(layer), f"LAYERS is missing {sorted(top - set(layer))} or lists gone ones"
    upward = []
    for a, b in graph.edges:
        pa, pb = (m.split(".")[1] if "." in m else "nas" for m in (a, b))
        if layer[pb] > layer[pa]:
            upward.append(f"{a} imports {b}")
    assert not upward, upward


def test_statuses_are_defined_once_and_the_readme_lists_the_same():
    assert set(Status) == DISPATCHED | NOT_DISPATCHED and not DISPATCHED & NOT_DISPATCHED
    assert EVALUATED <= set(Status) and Status.DUPLICATE in EVALUATED
    readme = (ROOT / "README.md").read_text()
    listed = re.search(r"`status` \(a `nas\.status\.Status`: ([^)]*)\)", readme)
    assert listed, "README's Results section lists the statuses"
    assert re.findall(r"`(\w+)`", listed.group(1)) == [s.value for s in Status]


def test_objectives_have_one_definition():
    from nas import objectives
    from nas.config import SearchConfig

    assert set(FRONT) <= set(SENSES)
    assert SearchConfig().objective_senses() == FRONT  # evolution's default: the front's objectives
    assert SearchConfig(controller="tpe").objective_senses() == {"val_acc": "max"}
    assert objectives.for_controller("nsga2", ("val_acc", "flops")) == {"val_acc": "max", "flops": "min"}


def test_the_flat_layouts_module_paths_still_import_as_the_same_modules():
    """`nas.results`, `nas.train`, ... (the layout before the packages) are the modules at their new paths."""
    import importlib

    from nas import _compat

    for old, new in _compat.MOVED.items():
        assert importlib.import_module(old) is importlib.import_module(new), old
        assert not (ROOT / (old.replace(".", "/") + ".py")).exists(), f"{old} is a file again: drop it from MOVED"
    from nas.driver import SearchState  # a package that replaced a module of the same name answers its names
    from nas.record import Record
    from nas.report import summary

    assert SearchState.__module__ == "nas.driver.coordinator" and Record.__module__ == "nas.record.jsonl"
    assert summary.__module__ == "nas.report.text"
    import nas

    assert nas.results is importlib.import_module("nas.record.results")  # public, after a bare `import nas`
    old_pickle = b"cnas.train\nTrainConfig\n."  # a class pickled by reference under its old module (protocol 0)
    assert pickle.loads(old_pickle) is importlib.import_module("nas.trial.train").TrainConfig  # noqa: S301 (ours)


def test_python_dash_m_with_an_old_module_path_runs_the_moved_module():
    done = subprocess.run(
        [sys.executable, "-m", "nas.table", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "usage: python -m nas.benchmarks.table" in done.stdout and "build" in done.stdout


def test_every_package_docstring_and_the_readme_name_their_modules():
    """The tree explains itself: each package's first docstring names each of its modules, and README's
    "Repository" table names each package and top-level module of nas/."""
    readme = (ROOT / "README.md").read_text().split("## Repository", 1)[1]
    for init in sorted((ROOT / "nas").glob("*/__init__.py")):
        doc = ast.get_docstring(ast.parse(init.read_text())) or ""
        mods = sorted(p.stem for p in init.parent.glob("*.py") if p.stem != "__init__")
        missing = [m for m in mods if f"`{m}`" not in doc and f"`{m}.py`" not in doc]
        assert not missing, f"{init.parent.name}/__init__.py's docstring does not name {missing}"
        assert f"`{init.parent.name}/`" in readme, f"README's Repository table lacks {init.parent.name}/"
    for module in sorted((ROOT / "nas").glob("*.py")):
        if not module.stem.startswith("_"):
            assert f"`{module.name}`" in readme, f"README's Repository table lacks {module.name}"


MAX_MODULE_LINES, MAX_CLASS_LINES = 700, 200  # past these a module or a class does more than one job: split it by job


def test_no_module_is_over_700_lines_and_no_class_over_200():
    """Every module of nas/ and searchspace/, and launch.py, is at most `MAX_MODULE_LINES` lines, and every class
    in them at most `MAX_CLASS_LINES` (from its first decorator to its last line)."""
    paths = sorted([*(ROOT / "nas").rglob("*.py"), *(ROOT / "searchspace").rglob("*.py"), ROOT / "launch.py"])
    over = []
    for path in paths:
        text, name = path.read_text(), path.relative_to(ROOT)
        if (lines := len(text.splitlines())) > MAX_MODULE_LINES:
            over.append(f"{name} has {lines} lines (at most {MAX_MODULE_LINES})")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ClassDef):
                size = node.end_lineno - min([node.lineno, *(d.lineno for d in node.decorator_list)]) + 1
                if size > MAX_CLASS_LINES:
                    over.append(f"{name}: class {node.name} has {size} lines (at most {MAX_CLASS_LINES})")
    assert len(paths) > 50 and not over, "split by job: " + "; ".join(over)


def test_an_old_module_path_warns_naming_the_new_one_and_the_public_nas_results_does_not():
    """`_compat` is deprecated, not removed (its docstring says why): an old path still imports, with a warning."""
    import subprocess

    code = (
        "import warnings; warnings.simplefilter('error', DeprecationWarning)\n"
        "import nas.results\n"  # public: no warning
        "try:\n    import nas.inherit\nexcept DeprecationWarning as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().startswith("nas.inherit is deprecated: import nas.trial.inherit (the old path goes in")
