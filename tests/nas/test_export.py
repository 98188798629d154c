"""nas.export: a standalone model.py + safetensors that reproduce the library model bit for bit.

The key tests export many architectures, then run ONE isolated Python process (``python -I``, the
repository off sys.path and ``searchspace``/``nas`` imports blocked) that does what README.md says,
``from model import Net`` and ``load_state_dict(load_file(...))``, and writes its eval-mode outputs,
which must equal the library model's exactly (``torch.equal``) and count the same parameters.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

import searchspace as ss
from nas import exporter as ex
from nas.exporter import FORMATS, ExportError, export
from searchspace import blocks, layers, registry, zoo
from searchspace.genotype import Genotype, GenotypeError, Head, Node, Stage, Wiring
from searchspace.wirings import make_stage

ROOT = Path(__file__).resolve().parents[2]
MAX_ZOO_PARAMS = 50_000_000

# Runs in the isolated process: argv = repo root, torch threads, case folders.
RUNNER = r"""
import importlib.abc, sys
from pathlib import Path

root = Path(sys.argv[1]).resolve()
sys.path = [p for p in sys.path if p and Path(p).resolve() != root]


class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in ("searchspace", "nas"):  # also beats an editable install of nasgraph
            raise ModuleNotFoundError(f"{name} is not available to an exported model")
        return None


sys.meta_path.insert(0, Block())
try:
    import searchspace  # noqa: F401
except ImportError:
    pass
else:
    raise SystemExit("searchspace is importable in the isolated process")

import torch
from safetensors.torch import load_file, save_file

torch.set_num_threads(int(sys.argv[2]))
for case in map(Path, sys.argv[3:]):
    sys.path.insert(0, str(case / "export"))
    sys.modules.pop("model", None)
    from model import Net

    sys.path.pop(0)
    io = load_file(case / "input.safetensors")
    net = Net(num_classes=int(io["num_classes"]))
    net.load_state_dict(load_file(case / "export" / "weights.safetensors"))
    net.eval()
    with torch.no_grad():
        out = net(io["x"])
    params = sum(p.numel() for p in net.parameters())
    save_file({"out": out, "params": torch.tensor([params])}, case / "output.safetensors")
leaked = sorted(m for m in sys.modules if m.partition(".")[0] in ("searchspace", "nas"))
if leaked:
    raise SystemExit(f"exported models imported {leaked}")
"""


# ----------------------------------------------------------------------------- helpers


def perturb(model: torch.nn.Module, seed: int) -> None:
    """Make eval mode non-trivial: random BN statistics, and noise on every constant-initialised tensor."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():  # shares storage with the model
            if not t.is_floating_point() or t.numel() == 0:
                continue
            if name.endswith("running_var"):
                t.uniform_(0.5, 2.0, generator=gen)
            elif constant(t):  # BN weight/bias/mean, wsum weights, deform offsets, highway gate bias
                t.add_(0.1 * torch.randn(t.shape, generator=gen))


def constant(t: torch.Tensor) -> bool:
    flat = t.flatten()
    return bool((flat[:8] == flat[0]).all()) and bool((flat == flat[0]).all())  # random weights fail fast


@pytest.fixture(autouse=True)
def one_thread():
    """One intra-op thread here and in the isolated process: same kernels, and no spinning on a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def prepare(case: Path, g: Genotype, in_ch: int, num_classes: int, size: int, batch: int = 2) -> torch.Tensor:
    """Export a perturbed random model of g into case/export; return its eval output on case/input."""
    torch.manual_seed(0)
    model = ss.build(g, in_ch, num_classes, input_size=size)
    perturb(model, 1)
    model.eval()
    x = torch.randn(batch, in_ch, size, size, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        ref = model(x)
    assert torch.isfinite(ref).all()
    export(g, model.state_dict(), case / "export", in_channels=in_ch, num_classes=num_classes)
    save_file({"x": x, "num_classes": torch.tensor(num_classes)}, case / "input.safetensors")
    return ref


def run_isolated(cases: list[Path]) -> list[dict[str, torch.Tensor]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    cmd = [sys.executable, "-I", "-c", RUNNER, str(ROOT), str(torch.get_num_threads()), *map(str, cases)]
    proc = subprocess.run(cmd, cwd=cases[0].parent, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return [load_file(c / "output.safetensors") for c in cases]


def check_bit_for_bit(tmp_path: Path, items: list[tuple[str, Genotype, int, int, int]]) -> None:
    """items: (name, genotype, in_channels, num_classes, input size)."""
    cases, refs = [], []
    for name, g, in_ch, k, size in items:
        cases.append(tmp_path / name)
        refs.append(prepare(cases[-1], g, in_ch, k, size, batch=1 if size > 32 else 2))
    for (name, g, in_ch, k, _), ref, got in zip(items, refs, run_isolated(cases), strict=True):
        assert torch.equal(got["out"], ref), f"{name}: max diff {(got['out'] - ref).abs().max()}"
        assert int(got["params"]) == ss.count_params(g, in_ch, k), name


def load_exported(folder: Path, class_name: str = "Net"):
    spec = importlib.util.spec_from_file_location(f"exported_{folder.name}", folder / "model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, class_name)


def stem(width: int = 8) -> Stage:
    return make_stage("chain", [ss.node("conv")], width)


def small() -> Genotype:
    """A residual stage (shared input projection) after a strided sepconv chain."""
    s1 = make_stage("chain", [ss.node("sepconv", kernel=5)], 16, 2)
    s2 = make_stage("residual", [ss.node("conv"), ss.node("res_basic")], 24, 1)
    return Genotype(stem(), (s1, s2), Head(1, (12,), 0.1, "gelu"))


def mixed() -> Genotype:
    """ws, dense (concat, explicit outputs), residual, and a custom stage whose outputs include -1."""
    ws = make_stage("ws", [ss.node("sepconv", order="act_first")] * 7, 16, 2, k=4, p=0.5, seed=3)
    dense = make_stage(
        "dense", [ss.node("conv", width=4), ss.node("dilated", width=4), ss.node("conv1x1", width=4)], 16
    )
    res = make_stage("residual", [ss.node("res_bottleneck"), ss.node("highway"), ss.node("preact_basic")], 32, 2)
    custom = Stage(
        24,
        (ss.node("conv", width=24), Node("identity", (0, -1), merge="mean"), ss.node("maxpool", inputs=(-1,))),
        stride=1,
        out_merge="wsum",
        outputs=(-1, 1, 2),
    )
    return Genotype(stem(), (ws, dense, res, custom), Head(2, (20, 10), 0.2, "tanh"))


# Non-default numbers that no search explores.
EXTRA = {
    "res_basic": {"kernel": 5},
    "preact_basic": {"kernel": 5},
    "highway": {"kernel": 5, "gate_bias": -2.5},
    "res_bottleneck": {"groups": 2, "ratio": 0.75},
    "dense_block": {"bn_size": 2},
    "inception_v3": {"b1": 4, "r": 4, "b": 6, "pool_proj": 2},
    "inception_naive": {"b1": 4, "b3": 4, "b5": 4},
    "conv": {"padding": 2, "kernel": 5},
    "maxpool": {"kernel": 5, "padding": 2},
}


def variants(op: str) -> list[dict]:
    """Parameter sets covering every non-default choice and flag, the search values of numbers, and EXTRA."""
    spec = registry.get(op)
    alts = {}
    for name, p in spec.params.items():
        if isinstance(p, registry.Choice):
            alts[name] = [o for o in p.options if o != p.default]
        elif isinstance(p, registry.Bool):
            alts[name] = [not p.default]
        else:
            alts[name] = [v for v in p.search if v != p.default]
    n = max([len(v) for v in alts.values()] + [0])
    return [{k: v[i % len(v)] for k, v in alts.items() if v} for i in range(n)] + ([EXTRA[op]] if op in EXTRA else [])


HEADS = (Head(), Head(2, (12,), 0.1, "tanh"), Head(1, (16, 8), 0.0, "gelu"))


def op_genotype(op: str, i: int) -> Genotype:
    """The op with default parameters and each variant in a residual stage (a chain for global pooling)."""
    spec = registry.get(op)
    stride = 2 if spec.strides else 1

    def genotype(params: list[dict]) -> Genotype:
        nodes = [ss.node(op, **p) for p in params]
        kind = "chain" if spec.global_pool else "residual"
        return Genotype(stem(), (make_stage(kind, nodes, 16, stride),), HEADS[i % len(HEADS)])

    return genotype([{}, *variants(op)])


def zoo_items() -> list[tuple[str, Genotype, int, int, int]]:
    items = []
    for name in zoo.names():
        e, g = zoo.info(name), zoo.get(name)
        if ss.count_params(g, e.in_channels, e.num_classes) <= MAX_ZOO_PARAMS:
            items.append((name, g, e.in_channels, e.num_classes, 64 if e.input_size > 32 else e.input_size))
    return items


# ----------------------------------------------------------------------------- bit for bit


def test_zoo_exports_reproduce_the_library_bit_for_bit(tmp_path):
    """Every zoo architecture with at most 50M parameters, 64x64 for ImageNet entries (32x32 otherwise).

    Left out: the ImageNet VGGs (vgg11..19, _bn, vgg_a..e, vgg_a_lrn), alexnet, resnet152, resnext101_32x8d and
    wide_resnet50_2 with their _cifar forms. They use no class the others do not: vgg_*_cifar and alexnet_cifar
    cover VGG/AlexNet's conv/LRN/maxpool/FC head, resnet50/resnext50_32x4d the bottleneck blocks.
    """
    items = zoo_items()
    assert {"resnet50", "densenet121", "googlenet", "randwire_ws_small", "vgg_e_cifar", "lenet5"} <= {
        n for n, *_ in items
    }
    check_bit_for_bit(tmp_path, items)


def test_sampled_and_hand_made_genotypes_reproduce_the_library_bit_for_bit(tmp_path):
    """40 sampled genotypes, one per registered op (all its choices), a ws/dense/residual/custom mix, and merges
    of up to 31 inputs (their input lists are wrapped over several lines)."""
    space = ss.SearchSpace(input_size=16)
    items = [(f"sample{seed}", space.sample(random.Random(seed)), 3, 10, 16) for seed in range(40)]
    items += [(f"op_{op}", op_genotype(op, i), 3, 10, 16) for i, op in enumerate(ss.ops.names())]
    wide = Genotype(stem(), (make_stage("residual", [ss.node("conv1x1"), *[ss.node("identity")] * 29], 8),), Head())
    items += [("mixed", mixed(), 3, 10, 16), ("small_1ch", small(), 1, 7, 12), ("wide_merges", wide, 3, 10, 8)]
    used = {n.op for _, g, *_ in items for s in g.all_stages() for n in s.nodes}
    assert used == set(ss.ops.names())
    check_bit_for_bit(tmp_path, items)


# ----------------------------------------------------------------------------- files


def test_model_py_copies_only_what_it_uses_verbatim(tmp_path):
    out = export(small(), None, tmp_path / "x", in_channels=3, num_classes=10)
    src = (out / "model.py").read_text()
    defined = {ln.split()[1].split("(")[0].rstrip(":") for ln in src.splitlines() if ln.startswith(("class ", "def "))}
    want = {"make_norm", "make_act", "norm_act", "same_padding", "ConvNormAct", "Conv", "SepConv", "ResBasic"}
    want |= {"make_shortcut", "Projection", "ZeroPadShortcut"}
    assert defined == want | {"Combine", "Classifier", "Net"}
    for name in defined - {"Net"}:
        module = layers if hasattr(layers, name) else blocks
        assert inspect.getsource(getattr(module, name)) in src, name
    imports = {ln.split()[1].split(".")[0] for ln in src.splitlines() if ln.startswith(("import ", "from "))}
    assert imports == {"__future__", "math", "collections", "torch"}
    assert "searchspace (searchspace/layers.py" in src and "torchvision" not in src
    compile(src, "model.py", "exec")


def test_model_py_reads_like_the_graph(tmp_path):
    out = export(small(), None, tmp_path / "x", in_channels=3, num_classes=10)
    src = (out / "model.py").read_text()
    for line in [
        "self.stem_n0 = Conv(3, 8, 1)",
        "self.s1_n0 = SepConv(8, 16, 2, kernel=5)",
        "self.s2_proj_in_to24_s1 = Projection(16, 24, 1)",
        "self.s2_m1 = Combine('sum', 2)",
        "self.s2_n1 = ResBasic(24, 24, 1)",
        "self.head = Classifier(24, num_classes, pool_size=1, hidden=(12,), dropout=0.1, act='gelu')",
        "def forward(self, x: torch.Tensor) -> torch.Tensor:",
        "p_in_to24_s1 = self.s2_proj_in_to24_s1(x)",
        "n1 = self.s2_n1(self.s2_m1([p_in_to24_s1, n0]))",
        "return self.s2_out([p_in_to24_s1, n0, n1])",
    ]:
        assert line in src, line


def test_weights_are_renamed_to_the_layer_names(tmp_path):
    torch.manual_seed(0)
    model = ss.build(mixed(), 3, 10)
    out = export(mixed(), model.state_dict(), tmp_path / "x", in_channels=3, num_classes=10)
    w = load_file(out / "weights.safetensors")
    lib = model.state_dict()
    assert len(w) == len(lib)
    for theirs, ours in [
        ("stem.nodes.0.conv.weight", "stem_n0.conv.weight"),
        ("stages.0.merges.out.weight", None),  # the ws output is a mean
        ("stages.1.proj.in_to16_s1.conv.weight", None),  # concat keeps widths: no projection
        ("stages.2.proj.in_to32_s2.conv.weight", "s3_proj_in_to32_s2.conv.weight"),
        ("stages.2.nodes.1.gate.bias", "s3_n1.gate.bias"),
        ("stages.3.proj.in_to24_s1.norm.running_var", "s4_proj_in_to24_s1.norm.running_var"),  # sums: stage width
        ("stages.3.merges.1.weight", None),  # a mean has no weights
        ("stages.3.merges.out.weight", "s4_out.weight"),
        ("head.fc.fc0.weight", "head.fc.fc0.weight"),
    ]:
        if ours is None:
            assert theirs not in lib
        else:
            assert torch.equal(w[ours], lib[theirs]), theirs
    ws_merges = [k for k in lib if k.startswith("stages.0.merges.")]
    assert ws_merges and all(f"s1_m{k.split('.')[3]}.weight" in w for k in ws_merges)


def test_genotype_json_and_readme(tmp_path):
    metrics = {"val_acc": 0.9123, "test_acc": 0.9, "params": 123456, "flops": 7.5e6, "note": "a|b"}
    out = export(small(), None, tmp_path / "x", in_channels=3, num_classes=10, input_size=16, metrics=metrics)
    assert Genotype.from_json((out / "genotype.json").read_text()) == small()
    readme = (out / "README.md").read_text()
    for text in [
        "| validation accuracy | 0.9123 |",
        "| test accuracy | 0.9000 |",
        "| parameters | 123,456 |",
        "| FLOPs per image | 7,500,000 |",
        r"| note | a\|b |",
        'net = Net(num_classes=10); net.load_state_dict(load_file("weights.safetensors")); net.eval()',
        "weights_only=True",
        f"{ss.count_params(small(), 3, 10):,} parameters",
    ]:
        assert text in readme, text
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "genotype.json", "model.py", "weights.safetensors"]


def test_fresh_weights_when_no_state_dict(tmp_path):
    out = export(small(), None, tmp_path / "x", in_channels=2, num_classes=5, class_name="Small")
    net = load_exported(out, "Small")()
    assert net.head.fc.fc.out_features == 5
    net.load_state_dict(load_file(out / "weights.safetensors"))
    assert sum(p.numel() for p in net.parameters()) == ss.count_params(small(), 2, 5)


# ----------------------------------------------------------------------------- formats


def test_torch_export_and_torchscript_artifacts_agree(tmp_path):
    g = Genotype(
        stem(),
        (make_stage("residual", [ss.node("deformable"), ss.node("coordconv"), ss.node("inception_v3")], 16, 2),),
        Head(),
    )
    torch.manual_seed(0)
    model = ss.build(g, 3, 10)
    perturb(model, 0)
    model.eval()
    out = export(g, model.state_dict(), tmp_path / "x", in_channels=3, num_classes=10, input_size=(12, 16),
                 formats=("export", "torchscript"))  # fmt: skip
    x = torch.randn(1, 3, 12, 16)
    with torch.no_grad():
        ref = model(x)
        by_export = torch.export.load(out / "model.pt2").module()(x)
        with pytest.warns(FutureWarning):  # torch.jit is deprecated but still loads
            by_script = torch.jit.load(out / "model.torchscript.pt")(x)
    torch.testing.assert_close(by_export, ref)
    torch.testing.assert_close(by_script, ref)
    src = (out / "model.py").read_text()
    assert "from torchvision.ops import DeformConv2d" in src and "\nimport torchvision" not in src


def test_onnx_without_its_packages_says_what_to_install(tmp_path, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnxruntime" else real(name, *a))
    with pytest.raises(ExportError, match=r"format 'onnx' needs onnxruntime: pip install 'nasgraph\[onnx\]'"):
        export(small(), None, tmp_path / "x", in_channels=3, num_classes=10, input_size=16, formats=("onnx",))
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"formats": ("tflite",)}, "unknown format 'tflite'; known formats: " + ", ".join(FORMATS)),
        ({"formats": ("export",)}, "pass input_size"),
        ({"class_name": "class"}, "must be a Python identifier"),
        ({"class_name": "Conv"}, "collides"),
    ],
)
def test_bad_arguments_are_refused_before_anything_is_written(tmp_path, kw, match):
    with pytest.raises(ExportError, match=match):
        export(small(), None, tmp_path / "x", in_channels=3, num_classes=10, **kw)
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------- safety


def test_refuses_to_overwrite_unless_asked(tmp_path):
    out = tmp_path / "x"
    out.mkdir()  # an empty folder is fine
    export(small(), None, out, in_channels=3, num_classes=10)
    with pytest.raises(ExportError, match="not empty; pass overwrite=True"):
        export(mixed(), None, out, in_channels=3, num_classes=10)
    assert Genotype.from_json((out / "genotype.json").read_text()) == small()
    (out / "stale.txt").write_text("old")
    export(mixed(), None, out, in_channels=3, num_classes=10, overwrite=True)
    assert Genotype.from_json((out / "genotype.json").read_text()) == mixed()
    assert not (out / "stale.txt").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["x"]
    (tmp_path / "file").write_text("")
    with pytest.raises(ExportError, match="not a folder"):
        export(small(), None, tmp_path / "file", in_channels=3, num_classes=10, overwrite=True)


def test_a_failed_export_leaves_nothing_half_written(tmp_path, monkeypatch):
    """A failure after model.py and the weights are written: no out_dir, no temporary folder, old one intact."""
    written = []

    def boom(net, x, path):  # the whole network fails, each op alone saves
        if path.name == "model.pt2":
            written.extend(sorted(p.name for p in path.parent.iterdir()))
            raise RuntimeError("boom")

    monkeypatch.setitem(ex.SAVERS, "export", boom)
    with pytest.raises(ExportError, match="format 'export' cannot export this network: RuntimeError: boom"):
        export(small(), None, tmp_path / "x", in_channels=3, num_classes=10, input_size=16, formats=("export",))
    assert "model.py" in written
    assert list(tmp_path.iterdir()) == []
    old = tmp_path / "old"
    old.mkdir()
    (old / "keep.txt").write_text("keep")
    with pytest.raises(ExportError, match="boom"):
        export(small(), None, old, in_channels=3, num_classes=10, input_size=16, formats=["export"], overwrite=True)
    assert [p.name for p in tmp_path.iterdir()] == ["old"] and [p.name for p in old.iterdir()] == ["keep.txt"]


def test_a_state_dict_that_does_not_fit_names_the_first_bad_key(tmp_path):
    good = ss.build(small(), 3, 10).state_dict()
    cases = [
        (ss.build(mixed(), 3, 10).state_dict(), "'stages.0.nodes.0.conv.depthwise.weight' is .*has \\(8, 1, 5, 5\\)"),
        ({k: v for k, v in good.items() if k != "stages.1.nodes.1.bn2.running_var"}, "lacks 'stages.1.nodes.1.bn2"),
        ({**good, "stages.1.nodes.9.weight": torch.zeros(1)}, "unexpected key 'stages.1.nodes.9.weight'"),
        (ss.build(small(), 3, 11).state_dict(), "'head.fc.fc.weight' is \\(11, 12\\)"),
        ({**good, "head.fc.fc.bias": [0.0] * 10}, "'head.fc.fc.bias' is list"),
    ]
    for sd, match in cases:
        with pytest.raises(ExportError, match=f"state dict does not fit the genotype: .*{match}"):
            export(small(), sd, tmp_path / "x", in_channels=3, num_classes=10)
        assert list(tmp_path.iterdir()) == []


PAYLOAD = "conv'); import os; os.system('x') #"


def hostile_genotypes() -> list[Genotype]:
    g = small()
    s1, s2 = g.stages
    n0 = s1.nodes[0]
    return [
        g.replace(stages=[s1.replace(nodes=[n0.replace(op=PAYLOAD)]), s2]),
        g.replace(stages=[s1.replace(nodes=[n0.replace(params={"order": PAYLOAD})]), s2]),
        g.replace(stages=[s1.replace(nodes=[n0.replace(params={"kernel": PAYLOAD})]), s2]),
        g.replace(stages=[s1.replace(nodes=[n0.replace(params={PAYLOAD: 3})]), s2]),
        g.replace(stages=[s1, s2.replace(nodes=[s2.nodes[0], s2.nodes[1].replace(merge=PAYLOAD)])]),
        g.replace(stages=[s1, s2.replace(out_merge=PAYLOAD)]),
        g.replace(stages=[s1.replace(wiring=Wiring(PAYLOAD)), s2]),
        g.replace(stages=[s1.replace(wiring=Wiring("custom", (("note", PAYLOAD),))), s2]),
        g.replace(stages=[s1.replace(wiring=Wiring("ws", (("k", 2), ("p", PAYLOAD), ("seed", 1)))), s2]),
        g.replace(head=Head(act=PAYLOAD)),
        Genotype.from_dict({**g.to_dict(), "head": {"act": PAYLOAD}}),
    ]


@pytest.mark.parametrize("i", range(len(hostile_genotypes())))
def test_a_hostile_string_anywhere_is_rejected_before_model_py(tmp_path, i):
    with pytest.raises((GenotypeError, ExportError)):
        export(hostile_genotypes()[i], None, tmp_path / "x", in_channels=3, num_classes=10)
    assert list(tmp_path.iterdir()) == []


def test_values_with_a_hostile_repr_never_reach_model_py(tmp_path):
    """An int or str subclass with a hostile __repr__ is refused by validation; nothing is written."""

    class EvilInt(int):
        def __repr__(self) -> str:
            return PAYLOAD

    class EvilStr(str):
        def __repr__(self) -> str:
            return PAYLOAD

    g = small()
    s1, s2 = g.stages
    node = Node("sepconv", (-1,), 0, "sum", (("kernel", EvilInt(5)), ("norm", EvilStr("gn"))))
    evil = g.replace(stages=[s1.replace(nodes=[node], width=EvilInt(16)), s2])
    with pytest.raises(GenotypeError, match="must be an integer"):
        export(evil, None, tmp_path / "x", in_channels=3, num_classes=10)
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    ("pre", "match"),
    [
        ({"mean": [0.5, 0.5], "std": [0.2, 0.2], "scale": 1.0}, "needs 3 finite mean and std values"),
        ({"mean": [0.5] * 3, "std": [0.2, 0.0, 0.2], "scale": 1.0}, "std and scale must be positive"),
        ({"mean": [float("nan")] * 3, "std": [0.2] * 3}, "needs 3 finite mean and std values"),
        ({"std": [0.2] * 3}, "preprocessing must give mean and std"),
    ],
)
def test_bad_preprocessing_is_one_line_and_nothing_is_written(tmp_path, pre, match):
    with pytest.raises(ExportError, match=match):
        export(small(), None, tmp_path / "x", in_channels=3, num_classes=10, preprocessing=pre)
    assert not (tmp_path / "x").exists()


def test_preprocessing_is_the_trainers_normalisation(tmp_path):
    from nas.data import load_dataset, normalizer
    from nas.record.folder import DataInfo

    data = load_dataset("digits", limit=200)
    info = DataInfo.of(data)
    out = export(small(), None, tmp_path / "x", in_channels=3, num_classes=10,
                 preprocessing={"mean": info.mean * 3, "std": info.std * 3, "scale": info.scale})  # fmt: skip
    pre = json.loads((out / "preprocessing.json").read_text())
    scale, shift = normalizer(data, torch.device("cpu"))
    x = data.train_x[:4].float()
    by_file = (x * pre["scale"] - pre["mean"][0]) / pre["std"][0]
    torch.testing.assert_close(by_file, x * scale + shift)  # what the export says is what the trainer did
    assert "## Input" in (out / "README.md").read_text()
