"""Export a trained architecture as a standalone PyTorch module.

    from nas.exporter import export
    export(genotype, model.state_dict(), "exports/best", in_channels=3, num_classes=10,
           input_size=32, metrics={"val_acc": 0.93}, formats=("export",))

writes a folder that needs nothing of nasgraph:

- ``model.py``: the layer and block classes the network uses, copied verbatim
  (``inspect.getsource``) from `searchspace.layers`, `searchspace.blocks` and `searchspace.widths`,
  and a generated ``Net`` with named layers (``s1_n0``, ``s1_proj_in_to32_s2``,
  ``s1_m2``, ``head``) and one method per stage whose lines read like the graph;
- ``weights.safetensors``: the library model's weights under ``Net``'s names;
- ``genotype.json`` and ``README.md``;
- on request ``model.torchscript.pt``, ``model.pt2`` (torch.export), ``model.onnx``, each with a dynamic
  batch dimension (the spatial size stays the one exported at), and each checked before it is kept:
  loaded by its own runtime (``torch.jit.load``, ``torch.export.load``, onnxruntime) and run at batch
  sizes 1 and 5 against the eager model (`TOLERANCE`).

``model.py`` is generated only from validated values: the genotype is checked
by `searchspace.validate` first; numbers are rendered from their int/float
value, strings are taken from the registry's own option lists (never from the
genotype), and identifiers are built from indices. Everything is written to a
temporary folder beside ``out_dir`` and renamed into place at the end, so a
failed export leaves nothing half-written.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import importlib.util
import inspect
import io
import json
import keyword
import math
import operator
import os
import re
import shutil
import sys
import textwrap
import uuid
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

import searchspace as ss
from nas import plugins
from nas.errors import NasgraphError, first_line
from searchspace import blocks, layers, registry, widths
from searchspace.genotype import HEAD_ACTS, INPUT, MERGES, WIRINGS, Genotype, Stage
from searchspace.shapes import MergePlan, NetPlan, NodePlan, StagePlan

FORMATS = ("torchscript", "export", "onnx")
FILES = {"torchscript": "model.torchscript.pt", "export": "model.pt2", "onnx": "model.onnx"}
ONNX_PACKAGES = ("onnx", "onnxscript", "onnxruntime")  # the [onnx] extra
EXAMPLE_BATCH = 2  # traced at batch 2: a batch of 1 would be specialised by torch.export's 0/1 rule
CHECK_BATCHES = (1, 5)  # every artifact is run at these batch sizes before it is kept
TOLERANCE = 1e-4  # max |artifact - eager| over the logits, relative to max(1, max |eager logit|)
SOURCE_MODULES = (widths, layers, blocks)  # where the copied classes come from, in dependency order
LINE = 112  # wrap generated statements longer than this: with 8 spaces of indent they reach 120


class ExportError(NasgraphError, ValueError):
    """An export that cannot be done: bad arguments, or a state dict that does not fit the genotype."""


def export(
    genotype: Genotype,
    state_dict: Mapping[str, torch.Tensor] | None,
    out_dir: str | os.PathLike,
    *,
    in_channels: int,
    num_classes: int,
    input_size: tuple[int, int] | int | None = None,
    metrics: Mapping[str, Any] | None = None,
    formats: Sequence[str] = (),
    class_name: str = "Net",
    overwrite: bool = False,
    preprocessing: Mapping[str, Any] | None = None,
) -> Path:
    """Write the standalone model folder and return its path.

    Args:
        genotype: the architecture; validated first (GenotypeError if it does not build).
        state_dict: the `searchspace.build` model's state dict, or None for freshly initialised weights.
        out_dir: folder to create; an existing non-empty one is replaced only with `overwrite`.
        in_channels: input channels the weights were trained with.
        num_classes: classifier outputs the weights were trained with.
        input_size: (height, width) or a side; checks spatial sizes, and is needed by `formats`.
        metrics: shown as a table in README.md (val_acc, test_acc, params, flops, ...).
        formats: extra artifacts from FORMATS: torchscript, export (torch.export), onnx.
        class_name: name of the generated module class.
        overwrite: replace a non-empty out_dir.
        preprocessing: how training normalised the inputs, ``{"mean": [...], "std": [...], "scale": 1/255}``
            (x = (pixels * scale - mean) / std per channel); written to preprocessing.json and the README.
    """
    out = Path(out_dir)
    formats = _check_formats(formats, input_size)
    _check_out_dir(out, overwrite)
    plan = ss.validate(genotype, in_channels, num_classes, input_size)
    _check_wiring_params(genotype)
    source, prefixes = _generate(genotype, plan, class_name)
    weights = _rename(_state_dict(genotype, state_dict, in_channels, num_classes), prefixes)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{uuid.uuid4().hex[:12]}"
    tmp.mkdir()  # with the umask's permissions, unlike mkdtemp
    try:
        _write(tmp, genotype, plan, source, weights, class_name, metrics, formats, _preprocessing(preprocessing, plan))
        _publish(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _write(
    folder: Path,
    g: Genotype,
    plan: NetPlan,
    source: str,
    weights: dict[str, torch.Tensor],
    class_name: str,
    metrics: Mapping[str, Any] | None,
    formats: tuple[str, ...],
    preprocessing: dict[str, Any] | None = None,
) -> None:
    """model.py first; importing it and loading the weights strictly checks both; then everything else."""
    (folder / "model.py").write_text(source)
    with _imported(folder / "model.py") as module:
        net = _load(getattr(module, class_name), plan.num_classes, weights)
        diffs = _save_formats(net, formats, g, plan, folder)
    save_file(weights, str(folder / "weights.safetensors"), metadata={"genotype": g.fingerprint()})
    os.chmod(folder / "weights.safetensors", (folder / "model.py").stat().st_mode & 0o777)
    (folder / "genotype.json").write_text(g.to_json(indent=2) + "\n")
    params = sum(p.numel() for p in net.parameters())
    if preprocessing is not None:
        (folder / "preprocessing.json").write_text(json.dumps(preprocessing, indent=2) + "\n")
    (folder / "README.md").write_text(_readme(g, plan, class_name, params, metrics, diffs, preprocessing))


# ---------------------------------------------------------------- checks


def _check_formats(formats: Sequence[str], input_size: tuple[int, int] | int | None) -> tuple[str, ...]:
    if isinstance(formats, str):
        formats = (formats,)
    for fmt in formats:
        if fmt not in FORMATS:
            raise ExportError(f"unknown format {fmt!r}; known formats: {', '.join(FORMATS)}")
    if formats and input_size is None:
        raise ExportError(f"formats {', '.join(formats)} trace the model on an example input: pass input_size")
    missing = [m for m in ONNX_PACKAGES if importlib.util.find_spec(m) is None]
    if "onnx" in formats and missing:
        raise ExportError(
            f"format 'onnx' needs {', '.join(missing)}: pip install 'nasgraph[onnx]' (onnx, onnxscript, onnxruntime)"
        )
    return tuple(dict.fromkeys(formats))


def _preprocessing(p: Mapping[str, Any] | None, plan: NetPlan) -> dict[str, Any] | None:
    """The input's preprocessing, checked: one finite mean and positive std per channel, a positive scale;
    the whole path (``source``, ``steps``, ``input``; `nas.data.DataSplits.preprocessing`) and ``classes``
    (one name per output) kept where given."""
    if p is None:
        return None
    try:
        mean, std = [float(v) for v in p["mean"]], [float(v) for v in p["std"]]
        scale = float(p.get("scale", 1.0))
    except (KeyError, TypeError, ValueError):
        raise ExportError("preprocessing must give mean and std (one number per channel) and scale") from None
    c = plan.in_channels
    if len(mean) != c or len(std) != c or not all(math.isfinite(v) for v in (*mean, *std, scale)):
        raise ExportError(f"preprocessing needs {c} finite mean and std values (one per input channel)")
    if not all(v > 0 for v in std) or not scale > 0:
        raise ExportError("preprocessing: std and scale must be positive")
    out: dict[str, Any] = {}
    if p.get("steps") is not None:
        steps = p["steps"]
        if not isinstance(steps, list | tuple) or not all(isinstance(s, Mapping) and "op" in s for s in steps):
            raise ExportError("preprocessing: steps must be a list of {'op': name, ...} mappings")
        out = {"source": str(p.get("source", "")), "steps": [dict(s) for s in steps]}
        for key in ("ops", "input"):
            if isinstance(p.get(key), Mapping):
                out[key] = dict(p[key])
    classes = [str(v) for v in p.get("classes") or ()]
    if classes and len(classes) != plan.num_classes:
        raise ExportError(f"preprocessing: {len(classes)} class names for a network of {plan.num_classes} outputs")
    return out | {"classes": classes, "mean": mean, "std": std, "scale": scale}


def _check_out_dir(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise ExportError(f"{out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise ExportError(f"{out} is not empty; pass overwrite=True to replace it")


def _check_wiring_params(g: Genotype) -> None:
    """Generated wirings' genes are validated; a custom wiring has none, and free-form ones are refused."""
    for i, stage in enumerate(g.all_stages()):
        if stage.wiring.kind == "custom" and stage.wiring.params:
            where = "stem" if i == 0 else f"stage {i}"
            raise ExportError(f"{where}: a custom wiring takes no parameters, got {len(stage.wiring.params)}")


# ---------------------------------------------------------------- literals (validated values only)


def _int(v: Any) -> str:
    """An integer's digits, whatever its type's __repr__ says."""
    if isinstance(v, float) or not hasattr(type(v), "__index__"):
        raise ExportError(f"expected an integer in the plan, got {type(v).__name__}")
    return int.__repr__(operator.index(v))


def _number(v: Any) -> str:
    if isinstance(v, bool):
        return "True" if v else "False"
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ExportError("expected a finite number in the plan")
        return float.__repr__(v)
    return _int(v)


def _choice(options: Sequence[str], v: Any) -> str:
    """The registry's own string equal to v, quoted."""
    for option in options:
        if isinstance(v, str) and option == v:
            return repr(str(option))
    raise ExportError(f"value is not one of {', '.join(options)}")


def _param(spec: registry.Param, v: Any) -> str:
    if isinstance(spec, registry.Choice):
        return _choice(spec.options, v)
    if isinstance(spec, registry.Bool):
        if not isinstance(v, bool):
            raise ExportError("expected true or false")
        return "True" if v else "False"
    return _number(v)


# ---------------------------------------------------------------- copied source


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


def _copied(roots: Sequence[type]) -> tuple[str, set[str]]:
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


def _users_code(classes: set[type], taken: set[str]) -> str:
    """The user's op classes and what they use (`nas.plugins.op_sources`), after the library's copies."""
    try:
        imports, defs = plugins.op_sources(sorted(classes, key=lambda c: c.__name__), taken)
    except plugins.PluginError as e:
        raise ExportError(str(e)) from None
    rule = "# " + "-" * 98
    head = [rule, "# Your ops, copied from their source files with what they use.", rule]
    return "\n".join(["", "", *head, *imports, "", "", "\n\n\n".join(d.rstrip() for d in defs)])


# ---------------------------------------------------------------- generated Net


@dataclass
class _StageCode:
    """The generated lines of one stage: constructor statements, forward body, state-dict prefixes."""

    tag: str  # attribute prefix: "stem", "s1", ...
    lib: str  # the library module path: "stem", "stages.0", ...
    about: str  # e.g. "ws wiring (k=4, p=0.75, seed=1), 32 nodes, width 78, stride 2"
    init: list[str] = field(default_factory=list)
    body: list[str] = field(default_factory=list)
    prefixes: dict[str, str] = field(default_factory=dict)  # library module -> Net attribute
    classes: set[type] = field(default_factory=set)
    projected: set[str] = field(default_factory=set)

    @property
    def title(self) -> str:
        return "stem" if self.tag == "stem" else f"stage {self.tag[1:]}"

    @property
    def method(self) -> str:
        return "stem" if self.tag == "stem" else f"stage{self.tag[1:]}"

    def module(self, attr: str, lib: str, cls: type, args: str) -> None:
        self.init.append(f"self.{attr} = {cls.__name__}({args})")
        self.prefixes[f"{self.lib}.{lib}"] = attr
        self.classes.add(cls)


def _generate(genotype: Genotype, plan: NetPlan, class_name: str) -> tuple[str, dict[str, str]]:
    """model.py's text, and the renaming of library module paths to Net attributes."""
    if not class_name.isidentifier() or keyword.iskeyword(class_name):
        raise ExportError(f"class_name must be a Python identifier, got {class_name!r}")
    pairs = zip(plan.stages, genotype.all_stages(), strict=True)
    stages = [_stage(sp, stage, i) for i, (sp, stage) in enumerate(pairs)]
    used = {c for s in stages for c in s.classes} | {layers.Classifier}
    own = {c for c in used if c.__module__.split(".")[0] not in plugins.OWN_PACKAGES}  # ops registered by the user
    copied, names = _copied(sorted(used - own, key=lambda c: c.__name__))
    if own:
        copied += _users_code(own, names)
        names |= {c.__name__ for c in own}
    if class_name in names:
        raise ExportError(f"class_name {class_name!r} collides with a name model.py already defines")
    fp = genotype.fingerprint()
    if not re.fullmatch(r"[0-9a-f]+", fp):
        raise ExportError("the genotype fingerprint is not a hex digest")
    imports_tv = re.search(r"^\s*(from|import) torchvision\b", copied, re.MULTILINE)  # not a mention in a docstring
    needs = "torch and torchvision" if imports_tv else "only torch"
    doc = [
        f'"""{class_name}: a standalone PyTorch model exported by nasgraph from genotype {fp}.',
        "",
        f"It needs {needs}; load weights.safetensors as README.md shows.",
        '"""',
        "",
    ]
    rule = "# " + "-" * 98
    generated = [rule, "# Generated by nasgraph from the genotype (see genotype.json).", rule, "", ""]
    net = _net_class(class_name, fp, plan, genotype, stages)
    prefixes = {k: v for s in stages for k, v in s.prefixes.items()} | {"head": "head"}
    return "\n".join([*doc, copied, "", "", *generated, net]), prefixes


def _net_class(class_name: str, fp: str, plan: NetPlan, g: Genotype, stages: list[_StageCode]) -> str:
    n = len(stages) - 1
    lines = [f"class {class_name}(nn.Module):"]
    lines.append(f'    """{n} stage{"s" * (n != 1)} after the stem; generated by nasgraph from genotype {fp}."""')
    lines += ["", f"    def __init__(self, num_classes: int = {_int(plan.num_classes)}):", "        super().__init__()"]
    for s in stages:
        lines.append(f"        # {s.title}: {s.about}")
        lines += [f"        {ln}" for ln in s.init]
    lines += ["        # classifier", f"        self.head = {_head(g, plan)}", ""]
    lines += ["    def forward(self, x: torch.Tensor) -> torch.Tensor:"]
    lines += [f"        x = self.{s.method}(x)" for s in stages]
    lines += ["        return self.head(x)"]
    for s in stages:
        lines += ["", f"    def {s.method}(self, x: torch.Tensor) -> torch.Tensor:"]
        lines.append(f'        """{s.title.capitalize()}: {s.about}."""')
        lines += [f"        {ln}" for ln in s.body]
    return "\n".join(lines) + "\n"


def _about(sp: StagePlan, stage: Stage) -> str:
    """One line on a stage, from validated values only."""
    kind = _choice(WIRINGS, stage.wiring.kind)[1:-1]
    genes = ""
    if kind == "ws":
        w = dict(stage.wiring.params)
        genes = f" (k={_number(w['k'])}, p={_number(w['p'])}, seed={_number(w['seed'])})"
    n = len(sp.nodes)
    return f"{kind} wiring{genes}, {_int(n)} node{'s' * (n != 1)}, width {_int(stage.width)}, stride {_int(sp.stride)}"


def _stage(sp: StagePlan, stage: Stage, i: int) -> _StageCode:
    """The stage's modules in topological order, each after the projections and merge that feed it."""
    s = _StageCode(
        "stem" if i == 0 else f"s{_int(i)}", "stem" if i == 0 else f"stages.{_int(i - 1)}", _about(sp, stage)
    )
    for j in sp.order:
        node = sp.nodes[j]
        expr = _gather(s, str(_int(j)), node.merge)
        spec = registry.get(node.op)
        s.module(f"{s.tag}_n{_int(j)}", f"nodes.{_int(j)}", spec.fn, _op_args(spec, node))
        s.body += _assign(f"n{_int(j)} = ", f"self.{s.tag}_n{_int(j)}", expr)
    s.body += _assign("return ", "", _gather(s, "out", sp.out))
    return s


def _gather(s: _StageCode, key: str, m: MergePlan) -> str | list[str]:
    """Projections where needed, then the merge: one variable name, or the merge call and its inputs."""
    names = []
    for src, ch, stride in zip(m.sources, m.in_chs, m.strides, strict=True):
        var = "x" if src == INPUT else f"n{_int(src)}"
        out_ch = ch if m.kind == "concat" else m.out_ch
        if stride != 1 or out_ch != ch:  # one shared projection per (source, width, stride), as in the builder
            pkey = f"{'in' if src == INPUT else _int(src)}_to{_int(out_ch)}_s{_int(stride)}"
            if pkey not in s.projected:
                s.projected.add(pkey)
                attr = f"{s.tag}_proj_{pkey}"
                s.module(attr, f"proj.{pkey}", layers.Projection, f"{_int(ch)}, {_int(out_ch)}, {_int(stride)}")
                s.body.append(f"p_{pkey} = self.{attr}({var})")
            var = f"p_{pkey}"
        names.append(var)
    if len(names) == 1:
        return names[0]
    attr = f"{s.tag}_out" if key == "out" else f"{s.tag}_m{key}"
    s.module(attr, f"merges.{key}", layers.Combine, f"{_choice(MERGES, m.kind)}, {_int(len(names))}")
    return [f"self.{attr}", *names]


def _assign(lhs: str, call: str, expr: str | list[str]) -> list[str]:
    """`n2 = self.s1_n2(<expr>)`, or `return <expr>` without a call; a long merge input list gets lines of its own."""

    def statement(e: str) -> str:
        return f"{lhs}{call}({e})" if call else f"{lhs}{e}"

    if isinstance(expr, str):
        return [statement(expr)]
    merge, names = expr[0], expr[1:]
    line = statement(f"{merge}([{', '.join(names)}])")
    if len(line) <= LINE:
        return [line]
    listed = textwrap.wrap(", ".join(names), LINE - 4, break_long_words=False, break_on_hyphens=False)
    return ["xs = [", *[f"    {ln}" for ln in listed], "]", statement(f"{merge}(xs)")]


def _op_args(spec: registry.OpSpec, node: NodePlan) -> str:
    """`in_ch, out_ch, stride, name=value, ...` with the parameters that differ from the class's defaults."""
    args = [_int(node.in_ch), _int(node.out_ch), _int(node.stride)]
    defaults = {k: p.default for k, p in inspect.signature(spec.fn).parameters.items()}
    for name, pspec in spec.params.items():  # names from the registry, values rendered by type
        v = node.params[name]
        d = defaults.get(name, inspect.Parameter.empty)
        if type(d) is type(v) and d == v:
            continue
        if not name.isidentifier():
            raise ExportError(f"op {spec.name!r} declares a parameter that is not an identifier")
        args.append(f"{name}={_param(pspec, v)}")
    return ", ".join(args)


def _head(g: Genotype, plan: NetPlan) -> str:
    h = g.head
    hidden = ", ".join(_int(w) for w in h.hidden) + ("," if len(h.hidden) == 1 else "")
    return (
        f"Classifier({_int(plan.head_in_ch)}, num_classes, pool_size={_int(h.pool_size)}, hidden=({hidden}), "
        f"dropout={_number(h.dropout)}, act={_choice(HEAD_ACTS, h.act)})"
    )


# ---------------------------------------------------------------- weights


def _state_dict(
    g: Genotype, state_dict: Mapping[str, torch.Tensor] | None, in_channels: int, num_classes: int
) -> dict[str, torch.Tensor]:
    """The given state dict checked against the genotype's model (or a fresh model's), on the CPU."""
    if state_dict is None:
        return ss.build(g, in_channels, num_classes).state_dict()
    if not isinstance(state_dict, Mapping):
        raise ExportError(f"state_dict must be a mapping of names to tensors, got {type(state_dict).__name__}")
    with torch.device("meta"):
        expected = ss.build(g, in_channels, num_classes).state_dict()
    for key, ref in expected.items():
        v = state_dict.get(key)
        if v is None:
            raise ExportError(f"state dict does not fit the genotype: it lacks {key!r} (shape {tuple(ref.shape)})")
        if not isinstance(v, torch.Tensor) or v.shape != ref.shape:
            got = tuple(v.shape) if isinstance(v, torch.Tensor) else type(v).__name__
            raise ExportError(
                f"state dict does not fit the genotype: {key!r} is {got}, the genotype's model has {tuple(ref.shape)}"
            )
    for key in state_dict:
        if key not in expected:
            raise ExportError(f"state dict does not fit the genotype: unexpected key {key!r}")
    return {k: state_dict[k].detach().to("cpu").contiguous() for k in expected}


def _rename(weights: dict[str, torch.Tensor], prefixes: dict[str, str]) -> dict[str, torch.Tensor]:
    """Library keys (stages.0.nodes.3.conv.weight) -> Net keys (s1_n3.conv.weight); must be a bijection."""
    out: dict[str, torch.Tensor] = {}
    for key, v in weights.items():
        parts = key.split(".")
        lib = next((p for p in (".".join(parts[:n]) for n in (1, 3, 4)) if p in prefixes), None)
        if lib is None:
            raise ExportError(f"no exported layer for the library weight {key!r}")
        new = prefixes[lib] + key[len(lib) :]
        if new in out:
            raise ExportError(f"two library weights map to {new!r}")
        out[new] = v
    return out


# ---------------------------------------------------------------- loading, formats, publishing


@contextmanager
def _imported(path: Path) -> Iterator[Any]:
    """The generated model.py as a module, importable by name while in use."""
    name = f"_nasgraph_export_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ExportError(f"cannot import the generated {path.name}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        try:
            spec.loader.exec_module(module)
        except Exception as e:
            raise ExportError(f"the generated {path.name} does not import: {type(e).__name__}: {e}") from e
        yield module
    finally:
        sys.modules.pop(name, None)


def _load(cls: type[torch.nn.Module], num_classes: int, weights: dict[str, torch.Tensor]) -> torch.nn.Module:
    """The generated Net with the weights; its keys and shapes must be exactly the renamed ones."""
    try:
        with torch.device("meta"):
            net = cls(num_classes)
    except Exception as e:
        raise ExportError(f"the generated model cannot be built: {type(e).__name__}: {e}") from e
    try:
        net.load_state_dict(weights, strict=True, assign=True)
    except RuntimeError as e:
        raise ExportError(f"the generated model does not take the weights: {first_line(e)}") from e
    if any(t.is_meta for t in (*net.parameters(), *net.buffers())):
        raise ExportError("the generated model has tensors that are not in its state dict")
    return net.eval()


def _example(in_channels: int, size: tuple[int, int] | None, batch: int = EXAMPLE_BATCH) -> torch.Tensor | None:
    if size is None:
        return None
    return torch.randn(batch, in_channels, *size, generator=torch.Generator().manual_seed(batch))


def _batch() -> dict[int, Any]:
    """The dynamic batch dimension of the input (dimension 0, any size from 1)."""
    return {0: torch.export.Dim("batch", min=1)}


def _torchscript(net: torch.nn.Module, x: torch.Tensor, path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit is deprecated, still widely loaded
        warnings.simplefilter("ignore", torch.jit.TracerWarning)  # shape-dependent Python values are constants
        torch.jit.trace(net, x).save(str(path))


def _torch_export(net: torch.nn.Module, x: torch.Tensor, path: Path) -> None:
    torch.export.save(torch.export.export(net, (x,), dynamic_shapes=(_batch(),)), str(path))


def _onnx(net: torch.nn.Module, x: torch.Tensor, path: Path) -> None:
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():  # the exporter's progress lines
        warnings.simplefilter("ignore")
        torch.onnx.export(
            net, (x,), str(path), input_names=["input"], output_names=["logits"], dynamic_shapes=(_batch(),),
            dynamo=True, external_data=False,
        )  # fmt: skip


SAVERS: dict[str, Callable[[torch.nn.Module, torch.Tensor, Path], None]] = {
    "torchscript": _torchscript,
    "export": _torch_export,
    "onnx": _onnx,
}


def _runner(fmt: str, path: Path) -> Callable[[torch.Tensor], torch.Tensor]:
    """The saved artifact loaded by the runtime that serves it."""
    if fmt == "torchscript":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            return torch.jit.load(str(path))
    if fmt == "export":
        return torch.export.load(str(path)).module()
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return lambda x: torch.from_numpy(session.run(None, {"input": x.numpy()})[0])


def _save_formats(
    net: torch.nn.Module, formats: tuple[str, ...], g: Genotype, plan: NetPlan, folder: Path
) -> dict[str, float]:
    """Save each format, then run it at `CHECK_BATCHES` against the eager model; returns each one's max diff."""
    diffs: dict[str, float] = {}
    x = _example(plan.in_channels, plan.input_size)
    for fmt in formats:
        path = folder / FILES[fmt]
        try:
            with torch.no_grad():
                SAVERS[fmt](net, x, path)
        except Exception as e:
            where = _culprit(net, g, fmt, x, folder)
            raise ExportError(f"format {fmt!r} cannot {where}: {type(e).__name__}: {first_line(e)}") from e
        try:
            run = _runner(fmt, path)
            diffs[fmt] = max(
                _difference(net, run, _example(plan.in_channels, plan.input_size, b)) for b in CHECK_BATCHES
            )
        except Exception as e:
            raise ExportError(
                f"format {fmt!r}: the saved model does not run: {type(e).__name__}: {first_line(e)}"
            ) from e
        if not diffs[fmt] <= TOLERANCE:
            raise ExportError(
                f"format {fmt!r}: the saved model's logits differ from the eager model's by {diffs[fmt]:.2g} "
                f"(relative; at most {TOLERANCE:g} allowed)"
            )
    return diffs


def _difference(net: torch.nn.Module, run: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> float:
    """max |run(x) - net(x)| relative to max(1, max |net(x)|); inf when the shapes differ."""
    with torch.no_grad():
        ref, got = net(x), run(x)
    if got.shape != ref.shape:
        return math.inf
    return float((got.float() - ref).abs().max()) / max(1.0, float(ref.abs().max()))


NODE_ATTR = re.compile(r"(stem|s([0-9]+))_n([0-9]+)")  # a node's module in the generated Net: s1_n3, stem_n0


def _culprit(net: torch.nn.Module, g: Genotype, fmt: str, x: torch.Tensor, folder: Path) -> str:
    """'export op NAME (stage i node j)': the first node in forward order that the format cannot save on its
    own, found by saving each distinct op alone on the input it gets in the network; 'export this network'
    when every op saves alone."""
    stages = g.all_stages()
    seen: list[tuple[str, str, torch.nn.Module, torch.Tensor]] = []

    def hook(name: str, op: str) -> Callable[..., None]:
        def record(module: torch.nn.Module, args: tuple) -> None:
            if not any(op == o for o, *_ in seen):
                seen.append((op, name, module, args[0]))

        return record

    handles = []
    for name, module in net.named_children():
        m = NODE_ATTR.fullmatch(name)
        if m:
            i = 0 if m.group(1) == "stem" else int(m.group(2))
            handles.append(module.register_forward_pre_hook(hook(name, stages[i].nodes[int(m.group(3))].op)))
    try:
        with torch.no_grad():
            net(x)
    except Exception:  # noqa: BLE001 -- the eager model itself fails: say so without an op
        return "export this network (it does not run eagerly on the example input)"
    finally:
        for h in handles:
            h.remove()
    probe = folder / f".probe-{FILES[fmt]}"  # (torch.export's archive wants its own suffix)
    for op, name, module, arg in seen:
        try:
            with torch.no_grad():
                SAVERS[fmt](module, arg, probe)
        except Exception:  # noqa: BLE001 -- this op is the one the format cannot carry
            m = NODE_ATTR.fullmatch(name)
            where = "stem" if m.group(1) == "stem" else f"stage {m.group(2)}"
            return f"export op {op!r} ({where} node {m.group(3)}, `{name}`)"
        finally:
            probe.unlink(missing_ok=True)
    return "export this network"


def _publish(tmp: Path, out: Path) -> None:
    """Rename the finished folder into place; an existing out_dir is swapped out, then removed."""
    if not out.exists():
        os.replace(tmp, out)
        return
    old = out.parent / f".{out.name}.old-{uuid.uuid4().hex[:12]}"
    os.replace(out, old)
    try:
        os.replace(tmp, out)
    except BaseException:
        os.replace(old, out)
        raise
    shutil.rmtree(old, ignore_errors=True)


# ---------------------------------------------------------------- README

METRIC_NAMES = {
    "val_acc": "validation accuracy",
    "test_acc": "test accuracy",
    "params": "parameters",
    "flops": "FLOPs per image",
}


def _readme(
    g: Genotype,
    plan: NetPlan,
    class_name: str,
    params: int,
    metrics: Mapping[str, Any] | None,
    diffs: Mapping[str, float],
    preprocessing: Mapping[str, Any] | None = None,
) -> str:
    """What the folder is, its metrics, how to load it, its input, and its other formats as they were checked."""
    c, k = plan.in_channels, plan.num_classes
    h, w = plan.input_size or ("H", "W")
    lines = [
        f"# {class_name}: a network exported by nasgraph",
        "",
        f"A standalone PyTorch model of genotype `{g.fingerprint()}`: {len(g.stages)} stages after the stem, "
        f"{c} input channels, {k} classes, {params:,} parameters"
        + (f", exported at input size {h}x{w}." if plan.input_size else "."),
        "`model.py` needs only `torch` (and `torchvision` when the network has deformable convolutions); its layer "
        "classes are copied from nasgraph's `searchspace`, and `Net`'s named layers and per-stage methods follow "
        "the genotype's graph.",
        "",
    ]
    if metrics:
        lines += ["## Metrics", "", "| metric | value |", "| --- | --- |"]
        lines += [f"| {_cell(METRIC_NAMES.get(str(m), m))} | {_cell(v)} |" for m, v in metrics.items()]
        lines.append("")
    lines += [
        "## Usage",
        "",
        "```python",
        "import torch",
        "from safetensors.torch import load_file",
        f"from model import {class_name}",
        "",
        f'net = {class_name}(num_classes={k}); net.load_state_dict(load_file("weights.safetensors")); net.eval()',
        "with torch.no_grad():",
        f"    logits = net(torch.randn(1, {c}, {h}, {w}))"
        if plan.input_size
        else f"    logits = net(images)  # images: a float tensor of shape (N, {c}, H, W), normalised as in training",
        "```",
        "",
        "The weights are a safetensors file, not a pickle, so `torch.load(..., weights_only=True)` is NOT needed "
        "(and loading them runs no code).",
        "",
        *_input_section(preprocessing),
        "## Files",
        "",
        f"- `model.py`: the `{class_name}` module and the layer classes it uses.",
        "- `weights.safetensors`: its weights, by `state_dict` name.",
        "- `genotype.json`: the architecture as nasgraph data (`searchspace.Genotype.from_json`).",
    ]
    about = {
        "torchscript": "TorchScript (traced; `torch.jit.load(path)`, deprecated in recent PyTorch)",
        "export": "`torch.export` program (`torch.export.load(path).module()`)",
        "onnx": "ONNX model (input `input`, output `logits`; e.g. `onnxruntime.InferenceSession(path)`)",
    }
    lines += [f"- `{FILES[f]}`: {about[f]}." for f in diffs]
    if diffs:
        batches = " and ".join(str(b) for b in CHECK_BATCHES)
        lines += [
            "",
            "## Batches and input size",
            "",
            f"The batch dimension of `{'`, `'.join(FILES[f] for f in diffs)}` is dynamic (any batch of at least 1); "
            f"the input size is fixed at {c}x{h}x{w} (channels x height x width), as exported: resize images to "
            "it. Each file was loaded by its runtime when it was written and run at batches "
            f"{batches} against the eager `{class_name}`; largest difference of the logits, relative to "
            "max(1, largest logit):",
            "",
            "| file | max difference |",
            "| --- | --- |",
        ]
        lines += [f"| `{FILES[f]}` | {d:.1e} |" for f, d in diffs.items()]
    return "\n".join(lines) + "\n"


def _input_section(p: Mapping[str, Any] | None) -> list[str]:
    """How to turn a sample into the network's input (each step of preprocessing.json), and the classes."""
    if p is None:
        return []
    mean = ", ".join(f"{v:.6g}" for v in p["mean"])
    std = ", ".join(f"{v:.6g}" for v in p["std"])
    lines = ["## Input", ""]
    if p.get("steps"):
        lines += [
            f"One sample as you hold it: {p['source']}. Apply, in order (the same steps are data in "
            "`preprocessing.json`; stack the samples along a new first axis for a batch):",
            "",
        ]
        lines += [f"{i}. {_step_text(step)}" for i, step in enumerate(p["steps"], 1)]
    else:
        scale = p["scale"]
        pixels = "x = pixels / 255 (8-bit images)" if abs(scale - 1 / 255) < 1e-12 else f"x = pixels * {scale:g}"
        lines.append(
            f"Normalise images as in training: {pixels}, then `(x - mean) / std` per channel, with mean = ({mean}) "
            f"and std = ({std}) (also in `preprocessing.json`)."
        )
    lines.append("")
    if p.get("classes"):
        lines += [
            "## Classes",
            "",
            "Output `i` of the logits is class `classes[i]` (also in `preprocessing.json`):",
            "",
        ]
        lines += ["| output | class |", "| --- | --- |"]
        lines += [f"| {i} | {_cell(name)} |" for i, name in enumerate(p["classes"])]
        lines.append("")
    return lines


def _step_text(step: Mapping[str, Any]) -> str:
    """One preprocessing step in words."""
    args = {k: v for k, v in step.items() if k != "op"}
    op = step["op"]
    try:
        if op == "normalize":
            mean = ", ".join(f"{float(v):.6g}" for v in args["mean"])
            std = ", ".join(f"{float(v):.6g}" for v in args["std"])
            axis = args.get("axis", 0)
            return f"`normalize`: `(x - mean) / std` per channel (axis {axis}), mean = ({mean}), std = ({std})"
        if op == "multiply":
            return f"`multiply` by {float(args['by']):.10g}"
    except (KeyError, TypeError, ValueError):  # a step not as nasgraph writes it (an edited data.json): as it is
        pass
    return f"`{op}`" + (": " + ", ".join(f"{k} {v}" for k, v in args.items()) if args else "")


def _cell(v: Any) -> str:
    """A metric value for a Markdown table cell."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        text = str(v)
    elif isinstance(v, int):
        text = f"{v:,}"
    else:
        text = f"{v:.4f}" if abs(v) < 1000 else f"{v:,.0f}"
    return " ".join(text.replace("|", "\\|").split())
