"""Bad input everywhere a user can hand something in: each answered with one line on stderr and exit code 2.

Extends tests/nas/test_cli.py (which has the first dozen flags and config files) and
tests/searchspace/test_genotype.py; genotype JSON is fuzzed in test_hostile_genotypes.py. Also: nothing
in the project evaluates, executes or unpickles what a user hands in (a scan of the source), and
exported weights load without unpickling (safetensors). That a genotype field cannot inject code into
an exported model.py is tests/nas/test_export.py::test_a_hostile_string_anywhere_is_rejected_before_model_py.
"""

from __future__ import annotations

import ast
import gzip
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from harness import QUICK, ROOT

from nas.cli import main

LOCAL = ["--engine", "local", *QUICK, "--trials", "1"]


def refused(capsys, args: list[str], message: str) -> str:
    """main(args) exits 2 with one stderr line containing message; returns that line."""
    assert main(args) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert message.lower() in lines[0].lower(), lines[0]
    return lines[0]


class Evil:
    """A pickle that, if ever unpickled, leaves a file behind."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


# ------------------------------------------------------------------ flags


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--trials", "-5"], "expected an integer >= 1"),
        (["--trials", "1e9"], "expected an integer, got '1e9'"),
        (["--max-params", "nan"], "expected a positive count"),
        (["--max-flops", "inf"], "expected a positive count"),
        (["--trial-timeout", "inf"], "expected a number >= 0"),
        (["--trial-timeout", "nan"], "expected a number >= 0"),
        (["--gpus-per-trial", "-1"], "expected a number >= 0"),
        (["--cpus-per-trial", "inf"], "cpus_per_trial must be a number > 0"),
        (["--cpus-per-trial", "0"], "cpus_per_trial must be a number > 0"),
        (["--lr", "nan"], "lr must be a positive number"),
        (["--val-fraction", "2"], "val_fraction must be a number in (0, 0.9)"),
        (["--seed", "-1"], "seed must be an integer >= 0"),
        (["--batch-size", "1"], "batch_size must be 0 (auto) or >= 2"),
        (["--device", "tpu"], "device must be auto, cpu, mps, cuda or cuda:N"),
        (["--device", "cuda:3"], "--device: device 'cuda:3' requested but CUDA is not available"),
        (["--ops", "nosuchop"], "unknown op 'nosuchop'"),
        (["--ops", "identity"], "needs at least one op that can downsample"),
        (["--wirings", "spiral"], "wirings must be chosen from chain, residual, dense, ws"),
        (["--population", "1"], "population must be an integer >= 2"),
        (["--sample", "25"], "sample must be between 1 and the population (8; pass --population too)"),
        (["--limit", "1"], "limit must be an integer >= 2"),
        (["--dataset", "synthetic:1x99999x99999:2:100"], "over the 2 GiB cap"),
        (["--address", "127.0.0.1:1", "--engine", "ray"], "no Ray cluster answers there"),
        (["--address", "no-such-host.invalid:6379", "--engine", "ray"], "no Ray cluster answers there"),
    ],
)
def test_bad_flags(tmp_path, capsys, flags, message):
    refused(capsys, ["search", *LOCAL, *flags, "--results-dir", str(tmp_path / "r")], message)
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").iterdir())  # no results folder left behind


# ------------------------------------------------------------------ config files


CONFIGS = {
    "binary.yaml": (b"trials: \xff\xfe\x00", "is not utf-8 text"),
    "huge-int.json": (b'{"trials": ' + b"9" * 5000 + b"}", "is not valid json"),
    "deep.json": (b"[" * 100_000 + b"]" * 100_000, "is not valid json"),
    "deep.yaml": (b"[" * 5_000 + b"]" * 5_000, "is not valid yaml"),
    "laughs.yaml": (
        b"a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
        b"c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n",
        "unknown option 'a'",
    ),
    "train-list.yaml": (b"train: [1]\n", "train must be a mapping"),
    "fault.yaml": (b"train: {fault: explode}\n", "fault must be one of"),
    "fault-rate.yaml": (b"train: {fault_rate: 2}\n", "fault_rate must be in [0, 1]"),
    "hang.yaml": (b"train: {hang_seconds: .inf}\n", "hang_seconds must be a number >= 0"),
    "threads.yaml": (b"train: {threads: -1}\n", "threads must be >= 0"),
    "momentum.yaml": (b"train: {momentum: -5}\n", "momentum must be a number >= 0"),
    "decay.yaml": (b"train: {weight_decay: .nan}\n", "weight_decay must be a number >= 0"),
    "eval-batch.yaml": (b"train: {eval_batch_size: -1}\n", "eval_batch_size must be >= 0"),
    "widths.yaml": (b"space: {widths: abc}\n", "search space:"),
    "stages.yaml": (b"space: {stages: [3, 1]}\n", "search space:"),
    "nodes.yaml": (b"space: {nodes: [0, -1]}\n", "search space:"),
    "stages3.yaml": (b"space: {stages: [1, 2, 3]}\n", "search space:"),
    "max-width.yaml": (b"space: {max_width: 0}\n", "search space:"),
    "stem.yaml": (b"space: {stem_stride: 100}\n", "search space:"),
    "ws.yaml": (b"space: {wirings: [ws], ws_p: [5.0]}\n", "search space:"),
    "name.yaml": (b"name: ../../tmp/escape\n", "name must be letters, digits"),
}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_bad_config_files(tmp_path, capsys, name):
    text, message = CONFIGS[name]
    (tmp_path / name).write_bytes(text)
    args = ["search", "--config", str(tmp_path / name), "--engine", "local", "--trials", "1", "--limit", "300"]
    refused(capsys, [*args, "--results-dir", str(tmp_path / "r")], message)
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").iterdir())


# ------------------------------------------------------------------ datasets


def test_missing_and_malformed_dataset_folders(tmp_path, capsys):
    from PIL import Image

    r = ["--results-dir", str(tmp_path / "r"), *LOCAL]
    (tmp_path / "empty").mkdir()
    refused(capsys, ["search", "--dataset", f"imagefolder:{tmp_path / 'empty'}", *r], "no class folders")
    (tmp_path / "junk" / "cat").mkdir(parents=True)
    (tmp_path / "junk" / "dog").mkdir(parents=True)
    for cls in ("cat", "dog"):
        for i in range(3):
            Image.new("RGB", (8, 8), (i * 40, 0, 0)).save(tmp_path / "junk" / cls / f"{i}.png")
    (tmp_path / "junk" / "dog" / "evil.png").write_bytes(pickle.dumps(Evil(tmp_path / "PWNED")))
    refused(capsys, ["search", "--dataset", f"imagefolder:{tmp_path / 'junk'}", *r], "evil.png: cannot read image")
    raw = tmp_path / "mnist" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for stem in (
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ):
        (raw / f"{stem}.gz").write_bytes(gzip.compress(b"\x00\x00\x08\x03" + b"\x00" * 7))  # truncated header
    refused(capsys, ["search", "--dataset", "mnist", "--data-dir", str(tmp_path / "mnist"), *r], "mnist")
    py = tmp_path / "cifar" / "cifar-10-batches-py"
    py.mkdir(parents=True)
    for name in (
        "data_batch_1",
        "data_batch_2",
        "data_batch_3",
        "data_batch_4",
        "data_batch_5",
        "test_batch",
        "batches.meta",
    ):
        (py / name).write_bytes(pickle.dumps(Evil(tmp_path / "PWNED")))
    refused(
        capsys, ["search", "--dataset", "cifar10", "--data-dir", str(tmp_path / "cifar"), *r], "refusing to unpickle"
    )
    assert not (tmp_path / "PWNED").exists()  # nothing was unpickled
    assert not (tmp_path / "r").exists()


# ------------------------------------------------------------------ resume and export


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    """A finished search: trials 00001, 00003, 00004 diverged (fault nan), 00002 and 00005 ok."""
    folder = tmp_path_factory.mktemp("searched")
    (folder / "nan.yaml").write_text("train: {fault: nan, fault_rate: 0.5}\n")
    args = ["search", "--config", str(folder / "nan.yaml"), *QUICK, "--engine", "local", "--trials", "5"]
    assert main([*args, "--results-dir", str(folder), "--name", "s"]) == 0
    return folder / "s"


def test_export_of_a_failed_or_missing_trial_or_broken_weights_is_refused(searched, tmp_path, capsys):
    capsys.readouterr()
    out = ["--out", str(tmp_path / "out")]
    refused(capsys, ["export", str(searched), "--trial", "00001", *out], "did not train successfully (status diverged)")
    refused(capsys, ["export", str(searched), "--trial", "00042", *out], "no trial '00042'")
    refused(capsys, ["export", str(searched), "--trial", "../../etc/passwd", *out], "no trial")
    refused(capsys, ["export", str(tmp_path / "nothing"), *out], "not a results folder")
    copy = tmp_path / "copy"
    shutil.copytree(searched, copy)
    best = sorted((copy / "weights").glob("*.safetensors"))[0]
    best.write_bytes(pickle.dumps({"w": Evil(tmp_path / "PWNED")}))  # a pickle where safetensors belong
    refused(capsys, ["export", str(copy), "--trial", best.stem, *out], "is not a readable safetensors file")
    assert not (tmp_path / "PWNED").exists()
    (copy / "data.json").write_text('{"in_channels": "three"}')
    refused(capsys, ["export", str(copy), "--trial", best.stem, *out], "data.json must give")
    assert not (tmp_path / "out").exists()


def test_export_when_every_trial_failed_is_refused(tmp_path, capsys):
    (tmp_path / "nan.yaml").write_text("train: {fault: nan}\n")
    args = ["search", "--config", str(tmp_path / "nan.yaml"), *QUICK, "--engine", "local", "--trials", "2"]
    assert main([*args, "--results-dir", str(tmp_path), "--name", "s"]) == 0
    capsys.readouterr()
    refused(capsys, ["export", str(tmp_path / "s"), "--out", str(tmp_path / "o")], "no trial qualifies")
    refused(
        capsys, ["export", str(tmp_path / "s"), "--trial", "pareto", "--out", str(tmp_path / "o")], "no pareto front"
    )


def test_resume_of_damaged_folders_is_refused(searched, tmp_path, capsys):
    capsys.readouterr()
    resume = ["search", *LOCAL, "--resume"]
    refused(capsys, [*resume, str(searched / "config.json")], "cannot read its config.json")
    for name, text, message in [
        ("config.json", "nope", "cannot read its config.json"),
        ("config.json", '{"trials": "x"}', "trials must be int"),
        ("state/controller.json", "[1, 2]", "controller.json is unreadable"),
        ("state/controller.json", '{"controller": "evolution"}', "controller.json is unreadable"),
    ]:
        copy = tmp_path / f"copy-{name.replace('/', '-')}-{len(text)}"
        shutil.copytree(searched, copy)
        (copy / name).write_text(text)
        refused(capsys, [*resume, str(copy)], message)
        assert (copy / name).read_text() == text  # left as it was


# ------------------------------------------------------------------ code that must not run on user input


def forbidden(source: str) -> list[tuple[int, str]]:
    """(line, call) of eval/exec, pickle-style loads, unsafe yaml.load and torch.load without weights_only=True."""
    found = []
    for call in (n for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Call)):
        f = call.func
        name = f.id if isinstance(f, ast.Name) else ""
        if isinstance(f, ast.Attribute):
            name = f"{f.value.id}.{f.attr}" if isinstance(f.value, ast.Name) else f".{f.attr}"
        kw = {k.arg: k.value for k in call.keywords}
        weights_only = isinstance(kw.get("weights_only"), ast.Constant) and kw["weights_only"].value is True
        bad = name in ("eval", "exec", "compile", "__import__")
        bad |= name.split(".")[0] in ("pickle", "cPickle", "marshal", "shelve", "dill") and "load" in name
        bad |= name == "yaml.load" and "SafeLoader" not in ast.dump(kw.get("Loader", ast.Constant(None)))
        bad |= name in ("yaml.unsafe_load", "yaml.full_load") or (name == "torch.load" and not weights_only)
        if bad:
            found.append((call.lineno, name))
    return found


def test_the_scan_finds_what_it_looks_for():
    planted = "eval(x)\nnet.eval()\npickle.loads(b)\ntorch.load(p)\ntorch.load(p, weights_only=True)\n"
    planted += "yaml.load(t)\nyaml.load(t, Loader=yaml.SafeLoader)\nexec(c)\nyaml.safe_load(t)\n"
    assert forbidden(planted) == [(1, "eval"), (3, "pickle.loads"), (4, "torch.load"), (6, "yaml.load"), (8, "exec")]


def test_nothing_evaluates_executes_or_unpickles_user_input():
    """The whole project except tests: no eval/exec, no unpickling, no unsafe YAML, torch.load only weights_only."""
    skip = {"tests", ".git", ".venv", "venv", "build", "results", "__pycache__"}
    files = [p for p in ROOT.rglob("*.py") if not skip & set(p.relative_to(ROOT).parts)]
    assert any(p.relative_to(ROOT).as_posix() == "nas/cli/search.py" for p in files) and len(files) > 20
    found = [f"{p.relative_to(ROOT)}:{line}: {name}" for p in files for line, name in forbidden(p.read_text())]
    assert not found, found


def test_exported_weights_load_without_unpickling(searched, tmp_path, capsys):
    capsys.readouterr()
    out = tmp_path / "exported"
    assert main(["export", str(searched), "--trial", "best", "--out", str(out)]) == 0
    model_py, readme = (out / "model.py").read_text(), (out / "README.md").read_text()
    assert "torch.load" not in model_py and "pickle" not in model_py
    assert 'load_file("weights.safetensors")' in readme  # how the README loads them
    header = (out / "weights.safetensors").read_bytes()[:8]
    assert int.from_bytes(header, "little") < 10**6  # a safetensors header length, not a pickle opcode
    (out / "weights.safetensors").write_bytes(pickle.dumps({"w": Evil(tmp_path / "PWNED")}))
    code = "from safetensors.torch import load_file; load_file('weights.safetensors')"
    proc = subprocess.run([sys.executable, "-c", code], cwd=out, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "SafetensorError" in proc.stderr
    assert not (tmp_path / "PWNED").exists()
    assert os.path.getsize(out / "model.py") > 0
