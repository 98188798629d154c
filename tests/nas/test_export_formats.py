"""Exports serve batches: each format is written by `nas.exporter.export`, loaded by the runtime that serves it
(``torch.jit.load``, ``torch.export.load``, onnxruntime) and run at batch sizes 1, 5 and 64, where its logits must
equal the eager library model's within `TOLERANCE` (relative to max(1, largest logit)).

Covered on every run: sampled genotypes that use every registered op between them, the smallest network of the
zoo families that export in seconds, and a search's winner served in a fresh interpreter. ``pytest -m
exhaustive`` (not run by default; 15 minutes here) adds the other families and every zoo network.
"""

from __future__ import annotations

import random
import shutil
import warnings
from pathlib import Path

import onnx
import onnxruntime
import pytest
import torch
from test_export import perturb, stem

import searchspace as ss
from nas.exporter import FILES, FORMATS, TOLERANCE, ExportError, export
from nas.plugins import load as load_plugin
from searchspace import registry, zoo
from searchspace.genotype import Genotype, Head
from searchspace.wirings import make_stage

BATCHES = (1, 5, 64)


def serve(fmt: str, path: Path):
    """The artifact as its serving runtime loads it: a callable from a float tensor to logits."""
    if fmt == "torchscript":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            return torch.jit.load(str(path))
    if fmt == "export":
        return torch.export.load(str(path)).module()
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (inp,) = session.get_inputs()
    return lambda x: torch.from_numpy(session.run(None, {inp.name: x.numpy()})[0])


def check_serving(folder: Path, g: Genotype, in_ch: int, num_classes: int, size: int) -> None:
    torch.manual_seed(0)
    model = ss.build(g, in_ch, num_classes, input_size=size)
    perturb(model, 1)
    model.eval()
    out = export(g, model.state_dict(), folder, in_channels=in_ch, num_classes=num_classes, input_size=size,
                 formats=FORMATS)  # fmt: skip
    batch = onnx.load(out / FILES["onnx"]).graph.input[0].type.tensor_type.shape.dim[0]
    assert batch.dim_param and not batch.HasField("dim_value")  # a named, symbolic batch dimension
    runners = {fmt: serve(fmt, out / FILES[fmt]) for fmt in FORMATS}
    gen = torch.Generator().manual_seed(3)
    for b in BATCHES:
        x = torch.randn(b, in_ch, size, size, generator=gen)
        with torch.no_grad():
            ref = model(x)
            for fmt, run in runners.items():
                got = run(x)
                assert got.shape == (b, num_classes), (fmt, b, got.shape)
                diff = float((got - ref).abs().max()) / max(1.0, float(ref.abs().max()))
                assert diff <= TOLERANCE, f"{fmt} at batch {b}: relative difference {diff:.2g}"


SHORTCUT_OPS = tuple(op for op in ss.ops.names() if "shortcut" in registry.get(op).params)
SHORTCUTS = ("projection", "zeropad")  # option B and option A (He et al. 2016)


def _uses(g: Genotype) -> set[tuple[str, str]]:
    """(op, shortcut kind or "") of every node: what the covering samples must span."""
    return {(n.op, str(dict(n.params).get("shortcut", registry.get(n.op).params["shortcut"].default)) if n.op in SHORTCUT_OPS else "")
            for s in g.all_stages() for n in s.nodes}  # fmt: skip


def covering_samples() -> list[Genotype]:
    """Small sampled genotypes that use every registered op between them, and every residual op with each
    shortcut kind (greedy: a sample is kept when it brings an (op, shortcut) not yet used)."""
    space = ss.SearchSpace(
        ops=tuple(ss.ops.names()),
        input_size=16,
        widths=(8, 16),
        nodes=(2, 4),
        ws_nodes=(4, 5),
        param_search=tuple((op, "shortcut", SHORTCUTS) for op in SHORTCUT_OPS),
    )
    todo = {(op, "") for op in ss.ops.names() if op not in SHORTCUT_OPS} | {
        (op, k) for op in SHORTCUT_OPS for k in SHORTCUTS
    }
    kept, rng = [], random.Random(0)
    while todo:
        g = space.sample(rng)
        if _uses(g) & todo:
            kept.append(g)
            todo -= _uses(g)
    return kept


SAMPLES = covering_samples()


@pytest.mark.parametrize("i", range(len(SAMPLES)))
def test_sampled_genotypes_covering_every_op_serve_batches_in_every_format(tmp_path, i):
    check_serving(tmp_path / "x", SAMPLES[i], 3, 10, 16)


def zoo_families() -> dict[str, list[str]]:
    """Zoo networks by family (the ops, their choices and the wirings they use; max-pooling and BN aside, which
    ImageNet stems add), smallest member first."""
    families: dict[tuple, list[tuple[int, str]]] = {}
    for name in zoo.names():
        e, g = zoo.info(name), zoo.get(name)
        nodes = [n for s in g.stages for n in s.nodes]
        choices = {(n.op, k, v) for n in nodes for k, v in n.params if isinstance(v, str)}
        ops = frozenset(n.op for n in nodes) - {"maxpool", "norm"}  # (ImageNet stems; VGG's pools)
        key = (ops, frozenset(choices), frozenset(s.wiring.kind for s in g.stages))
        families.setdefault(key, []).append((ss.count_params(g, e.in_channels, e.num_classes), name))
    return {min(v)[1]: [n for _, n in sorted(v)] for v in families.values()}


FAMILIES = zoo_families()


def check_zoo(tmp_path: Path, name: str) -> None:
    e = zoo.info(name)
    try:
        size = 64 if e.input_size > 32 else e.input_size
        check_serving(tmp_path / name, zoo.get(name), e.in_channels, e.num_classes, size)
    finally:  # an ImageNet VGG's four files take 2 GB; pytest keeps every test's folder until the session ends
        shutil.rmtree(tmp_path / name, ignore_errors=True)


QUICK_FAMILIES = ("lenet5", "allcnn_c", "highway_cnn", "resnet18_cifar", "preact_resnet18_cifar", "resnet20")


@pytest.mark.parametrize("name", QUICK_FAMILIES)
def test_a_zoo_network_of_the_quick_families_serves_batches_in_every_format(tmp_path, name):
    """Every run: the families whose smallest member exports in seconds (their blocks: conv, pools, highway,
    basic and pre-activation residual blocks; the sampled genotypes above use every op)."""
    check_zoo(tmp_path, name)


def test_the_covering_samples_use_every_op_and_both_shortcut_kinds():
    used = set().union(*map(_uses, SAMPLES))
    assert {op for op, _ in used} == set(ss.ops.names())
    assert {(op, k) for op in SHORTCUT_OPS for k in SHORTCUTS} <= used
    assert {"dirac", "res_basic"} <= {op for op, _ in used}


def test_a_diracnet_serves_batches_in_every_format(tmp_path):
    """DiracNet-18 (ImageNet stem, Dirac-parametrised convs, no shortcuts) at 32 x 32: every run, in seconds."""
    check_serving(tmp_path / "dirac", zoo.get("diracnet18"), 3, 1000, 32)


@pytest.mark.exhaustive
@pytest.mark.parametrize("name", sorted(set(FAMILIES) - set(QUICK_FAMILIES)))
def test_a_zoo_network_of_each_other_family_serves_batches_in_every_format(tmp_path, name):
    """``pytest -m exhaustive``: GoogLeNet, ResNet-50, ResNeXt-50, DenseNet-121, RandWire, VGG-BN (10-30 s each)."""
    check_zoo(tmp_path, name)


@pytest.mark.exhaustive
@pytest.mark.parametrize("name", zoo.names())
def test_every_zoo_network_serves_batches_in_every_format(tmp_path, name):
    check_zoo(tmp_path, name)


def test_the_families_cover_the_zoo_and_every_op_it_uses():
    assert sorted(n for members in FAMILIES.values() for n in members) == sorted(zoo.names())
    ops = {n.op for name in FAMILIES for s in zoo.get(name).all_stages() for n in s.nodes}
    assert ops == {n.op for name in zoo.names() for s in zoo.get(name).all_stages() for n in s.nodes}
    assert {"lenet5", "densenet121_cifar", "randwire_ws_small_cifar", "resnet18_cifar"} <= set(FAMILIES)
    assert set(QUICK_FAMILIES) < set(FAMILIES)


BRANCHY = '''
import torch
from torch import nn

import nas


@nas.register_op("branchy_test_op", category="conv")
class Branchy(nn.Module):
    """A 3x3 convolution whose output is negated when its mean is negative (data-dependent control flow)."""

    def __init__(self, in_ch, out_ch, stride=1):
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, 3, stride, 1)

    def forward(self, x):
        y = self.conv(x)
        if y.mean() < 0:
            return -y
        return y
'''


@pytest.fixture
def branchy(tmp_path):
    path = tmp_path / "branchy_plugin.py"
    path.write_text(BRANCHY)
    load_plugin(path)
    yield "branchy_test_op"
    registry.REGISTRY.pop("branchy_test_op", None)


@pytest.mark.parametrize("fmt", ["export", "onnx"])
def test_an_op_a_format_cannot_carry_is_named_and_nothing_is_written(tmp_path, branchy, fmt):
    """Data-dependent control flow: TorchScript traces one branch, torch.export and ONNX cannot export it."""
    g = Genotype(stem(), (make_stage("residual", [ss.node("conv"), ss.node(branchy)], 16, 2),), Head())
    out = tmp_path / "x"
    with pytest.raises(ExportError) as info:
        export(g, None, out, in_channels=3, num_classes=10, input_size=16, formats=("torchscript", fmt))
    message = str(info.value)
    assert message.startswith(f"format {fmt!r} cannot export op 'branchy_test_op' (stage 1 node 1, `s1_n1`)")
    assert "\n" not in message
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == ["branchy_plugin.py"]


SERVE = r"""
import json, sys
from pathlib import Path

import numpy as np
import onnxruntime
import torch

from nas.data import load_dataset

out, limit = Path(sys.argv[1]), int(sys.argv[2])
pre = json.loads((out / "preprocessing.json").read_text())
data = load_dataset("digits", limit=limit)  # the same splits the search had (its test split is fixed)
x = data.test_x.float() * pre["scale"]
x = (x - torch.tensor(pre["mean"]).view(1, -1, 1, 1)) / torch.tensor(pre["std"]).view(1, -1, 1, 1)
session = onnxruntime.InferenceSession(str(out / "model.onnx"))
program = torch.export.load(str(out / "model.pt2")).module()
correct = {}
for name, run in (("onnx", lambda b: torch.from_numpy(session.run(None, {"input": b.numpy()})[0])),
                  ("export", lambda b: program(b))):
    hits = 0
    for b, y in zip(x.split(64), data.test_y.split(64)):  # batches of 64 and the remainder
        with torch.no_grad():
            hits += int((run(b).argmax(1) == y).sum())
    correct[name] = hits
print(json.dumps({k: v / len(x) for k, v in correct.items()} | {"n": len(x)}))
"""


def test_an_exported_search_winner_serves_its_test_accuracy_in_a_fresh_interpreter(tmp_path):
    """The user's path: a search, `launch.py export --format onnx,export`, then onnxruntime and torch.export in
    another process, fed the test split normalised by the export's preprocessing.json in batches of 64."""
    import json
    import subprocess
    import sys

    from nas.record import results

    root = Path(__file__).resolve().parents[2]
    cli = [sys.executable, str(root / "launch.py")]
    search = [*cli, "search", "--engine", "local", "--trials", "2", "--epochs", "2", "--limit", "400", "--ops",
              "conv,maxpool", "--wirings", "chain", "--results-dir", str(tmp_path), "--name", "s"]  # fmt: skip
    subprocess.run(search, check=True, capture_output=True, timeout=300)
    out = tmp_path / "exported"
    done = subprocess.run([*cli, "export", str(tmp_path / "s"), "--trial", "best", "--out", str(out), "--format",
                           "onnx,export"], capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "## Input" in (out / "README.md").read_text()
    served = subprocess.run([sys.executable, "-c", SERVE, str(out), "400"], capture_output=True, text=True, timeout=300)
    assert served.returncode == 0, served.stderr[-3000:]
    got = json.loads(served.stdout)
    best = results.best(results.load(tmp_path / "s"))
    assert got["n"] == 360 and 0.2 < best["test_acc"]  # (it learned something: 10 classes)
    for fmt in ("onnx", "export"):  # the trial evaluated in fp32 (small networks): at most one image apart
        assert abs(got[fmt] - best["test_acc"]) <= 1 / got["n"] + 1e-9, (fmt, got, best["test_acc"])
