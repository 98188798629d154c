"""`launch.py ... --plugin FILE.py`: a user's file registers an op, a dataset and a zoo entry for the CLI.

Run the way users run it: the CLI in a subprocess, the plugin a file outside the project; the resume is
`--resume DIR` with no other flag, and finds the plugin again from config.json.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from nas.record.jsonl import Record

ROOT = Path(__file__).resolve().parents[2]

PLUGIN = '''
import numpy as np
import torch
from sklearn.datasets import load_digits
from torch import nn

import nas
from searchspace import zoo
from searchspace.genotype import Genotype, Head
from searchspace.registry import node


@nas.register_op("gated_conv", category="conv")
class GatedConv(nn.Module):
    """A 3x3 convolution gated by a sigmoid of a second one (gated linear units for images)."""

    def __init__(self, in_ch, out_ch, stride=1):
        super().__init__()
        self.conv = nn.Conv2d(in_ch, 2 * out_ch, 3, stride, 1)

    def forward(self, x):
        a, b = self.conv(x).chunk(2, 1)
        return a * torch.sigmoid(b)


def small_digits(data_dir):
    x, y = load_digits(return_X_y=True)
    x = x.reshape(-1, 8, 8).astype(np.float32)
    return {"train": (x[:500], y[:500]), "test": (x[1500:], y[1500:])}


nas.register_dataset("small_digits", small_digits)


def train(model, data, config, report):
    """Two passes of Adam; accuracy, and accuracy per thousand parameters (the search's objective)."""
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    x = (data.train_x - data.mean[0]) / data.std[0]
    for _ in range(2):
        for idx in torch.randperm(len(x)).split(64):
            loss = torch.nn.functional.cross_entropy(model(x[idx]), data.train_y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    acc = (model((data.val_x - data.mean[0]) / data.std[0]).argmax(1) == data.val_y).float().mean().item()
    return {"val_acc": acc, "kacc": acc * 1000 / sum(p.numel() for p in model.parameters())}


@zoo.register("gated_pair", "a test plugin")
def gated_pair():
    stem = zoo.chain(8, [node("gated_conv")])
    return Genotype(stem, (zoo.chain(16, [node("gated_conv"), node("gated_conv")], stride=2),), Head())
'''

ARGS = [
    "--engine",
    "local",
    "--epochs",
    "1",
    "--ops",
    "gated_conv,conv",
    "--wirings",
    "chain",
    "--init",
    "gated_pair",
    "--keep-weights",
    "all",
]


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "launch.py"), *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def test_a_plugin_brings_an_op_a_dataset_and_a_zoo_entry_through_search_resume_and_export(tmp_path):
    plugin = tmp_path / "plugin" / "my_ops.py"
    plugin.parent.mkdir()
    plugin.write_text(PLUGIN)
    work = tmp_path / "work"
    work.mkdir()
    base = ["--results-dir", str(work), "--name", "p"]
    first = run_cli(
        "search",
        "--plugin",
        "../plugin/my_ops.py",
        "--dataset",
        "small_digits",
        "--train-fn",
        "../plugin/my_ops.py:train",
        "--objectives",
        "kacc:max,params",
        *ARGS,
        "--trials",
        "2",
        *base,
        cwd=work,
    )
    assert first.returncode == 0, first.stderr[-3000:]
    assert "best kacc" in first.stdout and "Pareto front (kacc max, params min)" in first.stdout
    saved = json.loads((work / "p" / "config.json").read_text())
    assert saved["plugins"] == [str(plugin.resolve())]  # absolute: a resume from anywhere finds it
    assert saved["train_fn"] == f"{plugin.resolve()}:train"
    resumed = run_cli("search", "--resume", str(work / "p"), "--trials", "3", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    rows = Record.open(work / "p").rows()
    assert len(rows) == 3 and {r["status"] for r in rows} == {"ok"}
    assert all(r["kacc"] > 0 and r["epochs"] is None for r in rows)  # trained by the plugin's train, not ours
    assert rows[0]["genotype"]["stem"]["nodes"][0]["op"] == "gated_conv"  # the plugin's zoo entry seeded it
    exported = run_cli("export", str(work / "p"), "--trial", "00001", "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr[-3000:]
    model_py = (tmp_path / "out" / "model.py").read_text()
    assert "class GatedConv(nn.Module):" in model_py and "register_op" not in model_py
    check = (
        "import torch, model; from safetensors.torch import load_file; net = model.Net().eval(); "
        "net.load_state_dict(load_file('weights.safetensors')); print(tuple(net(torch.zeros(64, 1, 8, 8)).shape))"
    )
    loaded = subprocess.run([sys.executable, "-c", check], cwd=tmp_path / "out", capture_output=True, text=True)
    assert loaded.stdout.strip() == "(64, 10)", loaded.stderr[-2000:]


def test_a_train_fn_flag_that_names_nothing_is_one_line(tmp_path):
    plugin = tmp_path / "t.py"
    plugin.write_text("def other(model, data, config, report):\n    return {}\n")
    for spec, message in [
        (f"{plugin}:train", f"--train-fn {plugin}:train: {plugin} defines no function 'train'"),
        ("t.py", "--train-fn t.py: expected FILE.py:FUNCTION"),
    ]:
        proc = run_cli("search", "--train-fn", spec, "--results-dir", str(tmp_path / "r"), cwd=tmp_path)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith(f"error: {message}"), proc.stderr
        assert not (tmp_path / "r").exists()


def test_a_plugin_that_fails_to_import_is_one_line_and_writes_nothing(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import nas\nraise RuntimeError('plugin setup failed')\n")
    proc = run_cli("search", "--plugin", str(bad), *ARGS[:4], "--results-dir", str(tmp_path / "r"), cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"error: --plugin {bad}: importing it failed: RuntimeError: plugin setup failed"
    ]
    assert not (tmp_path / "r").exists()
    missing = run_cli("search", "--plugin", "nope.py", "--results-dir", str(tmp_path / "r"), cwd=tmp_path)
    assert missing.returncode == 2 and f"--plugin {tmp_path / 'nope.py'}: not a Python file" in missing.stderr


@pytest.mark.slow
def test_ray_workers_get_a_plugin_files_op_and_train_fn_by_value(tmp_path):
    """The plugin module exists only in the driver (a name made from its path): workers must receive it."""
    plugin = tmp_path / "my_ops.py"
    plugin.write_text(PLUGIN)
    args = ["--engine", "ray", "--concurrency", "2", "--epochs", "1", "--ops", "gated_conv", "--wirings", "chain"]
    proc = run_cli(
        "search",
        "--plugin",
        str(plugin),
        "--train-fn",
        f"{plugin}:train",
        "--objectives",
        "kacc:max,params",
        "--dataset",
        "small_digits",
        "--trials",
        "2",
        *args,
        "--results-dir",
        str(tmp_path),
        "--name",
        "r",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = Record.open(tmp_path / "r").rows()
    assert len(rows) == 2 and all(r["status"] == "ok" and r["kacc"] > 0 and r.get("node") for r in rows), rows
