"""An export serves at its recorded accuracy when its own preprocessing.json is followed.

For every built-in dataset (small files in the real formats, made from scikit-learn's digits), an
image folder, and a folder of JPEGs prepared into shards by ``launch.py prepare`` (decoded at a reduced
JPEG scale, which its steps say): a one-trial search, an ONNX export, then a script that does not import nasgraph reads
the raw data as a user holds it (the ``source`` preprocessing.json names), applies the ``steps`` one
by one with numpy / Pillow (torchvision only for a resize step that names it), runs onnxruntime on
the whole test set in one batch and must reproduce the recorded test accuracy. Class names travel
to data.json, preprocessing.json and the export's README.

The bug this guards against: the digits export said ``pixels / 255`` while the digits are 0..16 and
were rescaled to 0..255 without saying so; followed as written, it served at 17 % accuracy.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sklearn.datasets import load_digits

import nas
import nas.data as nas_data

pytest.importorskip("onnxruntime")

WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
SMALL = {"ops": ["conv", "sepconv", "maxpool"], "wirings": ["chain"], "widths": [16], "stages": [2, 2], "nodes": [1, 2]}
N_TRAIN = 1400  # digits 0..1399 train, the rest test, for the formats that have an official test split

CONSUMER = r'''
"""A user's serving script: preprocessing.json and onnxruntime, no nasgraph."""
import json, sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image


def apply(sample, steps):
    x = sample
    for s in steps:
        op = s["op"]
        if op == "multiply":
            x = x * s["by"]
        elif op == "round":
            x = np.rint(x)
        elif op == "clip":
            x = np.clip(x, s["min"], s["max"])
        elif op == "cast":
            x = np.asarray(x).astype(s["dtype"])
        elif op == "expand_dims":
            x = np.expand_dims(x, s["axis"])
        elif op == "transpose":
            x = x.transpose(s["axes"])
        elif op == "open_image":
            assert s["library"] == "PIL"
            image = Image.open(x)
            if s.get("draft") and image.format == "JPEG":
                image.draft(s["mode"], (s["draft"][1], s["draft"][0]))
            if s.get("exif_transpose"):
                from PIL import ImageOps

                image = ImageOps.exif_transpose(image)
            x = image.convert(s["mode"])
        elif op == "resize":
            h, w = s["size"]
            assert s["interpolation"] == "bilinear", s
            if s["library"].startswith("PIL"):
                x = x.resize((w, h), Image.Resampling.BILINEAR)
            else:
                assert s["library"].startswith("torchvision.transforms.v2.functional.resize"), s
                import torch
                from torchvision.transforms.v2 import functional as F

                x = F.resize(torch.from_numpy(np.ascontiguousarray(x)), [h, w], antialias=s["antialias"]).numpy()
        elif op == "to_array":
            x = np.asarray(x, dtype=s["dtype"])
        elif op == "normalize":
            shape = [1] * x.ndim
            shape[s["axis"]] = -1
            mean = np.asarray(s["mean"], dtype=x.dtype).reshape(shape)
            std = np.asarray(s["std"], dtype=x.dtype).reshape(shape)
            x = (x - mean) / std
        else:
            raise SystemExit(f"unknown step {op!r}")
    return x


def raw_test_set(kind, where):
    """The test samples as a user holds them, and their labels."""
    if kind == "digits":
        from sklearn.datasets import load_digits

        bunch = load_digits()
        idx = np.asarray(where["indices"])
        return list(bunch.images[idx]), bunch.target[idx]
    if kind == "torchvision":
        import torchvision

        ds = getattr(torchvision.datasets, where["class"])(where["root"], train=False)
        return [ds.data[i].numpy() for i in range(len(ds))], ds.targets.numpy()
    if kind == "cifar_binary":
        records = np.fromfile(where["file"], dtype=np.uint8).reshape(-1, where["label_bytes"] + 3072)
        return list(records[:, where["label_bytes"]:].reshape(-1, 3, 32, 32)), records[:, where["label_bytes"] - 1]
    if kind == "folder":
        classes = sorted(p.name for p in Path(where["root"]).iterdir())
        files = [(f, i) for i, c in enumerate(classes) for f in sorted((Path(where["root"]) / c).iterdir())]
        return [str(f) for f, _ in files], np.array([i for _, i in files])
    raise SystemExit(kind)


out = {}
for case in json.loads(Path(sys.argv[1]).read_text()):
    export = Path(case["export"])
    prep = json.loads((export / "preprocessing.json").read_text())
    assert {s["op"] for s in prep["steps"]} == set(prep["ops"]), prep["ops"]  # each op used is explained
    samples, labels = raw_test_set(case["kind"], case["where"])
    batch = np.stack([apply(s, prep["steps"]) for s in samples])
    assert list(batch.shape[1:]) == prep["input"]["shape"] and batch.dtype == np.float32, batch.shape
    session = ort.InferenceSession(str(export / "model.onnx"))
    logits = session.run(None, {session.get_inputs()[0].name: batch})[0]
    pred = logits.argmax(1)
    out[case["name"]] = {
        "acc": float((pred == labels).mean()),
        "n": len(labels),
        "distinct": len(set(pred.tolist())),
        "classes": prep["classes"],
    }
print(json.dumps(out))
'''


def _digits() -> tuple[np.ndarray, np.ndarray]:
    bunch = load_digits()
    return bunch.images, bunch.target


def _as_uint8(images: np.ndarray, side: int) -> np.ndarray:
    """Digits (N, 8, 8) 0..16 as uint8 (N, side, side): nearest-neighbour upscaled, centred."""
    up = np.kron(np.rint(images * 255 / 16).astype(np.uint8), np.ones((side // 8, side // 8), np.uint8))
    pad = (side - up.shape[1]) // 2
    return np.pad(up, ((0, 0), (pad, side - up.shape[1] - pad), (pad, side - up.shape[2] - pad)))


def _write_idx(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(struct.pack(f">I{array.ndim}I", 0x0800 + array.ndim, *array.shape) + array.tobytes())


def _mnist_like(root: Path, folder: str) -> dict:
    images, labels = _digits()
    x = _as_uint8(images, 28)
    raw = root / folder / "raw"
    for split, part in (("train", slice(0, N_TRAIN)), ("t10k", slice(N_TRAIN, None))):
        _write_idx(raw / f"{split}-images-idx3-ubyte", x[part])
        _write_idx(raw / f"{split}-labels-idx1-ubyte", labels[part].astype(np.uint8))
    return {"class": folder, "root": str(root)}


def _cifar(root: Path, name: str) -> dict:
    """The binary version: label byte(s) then 3072 bytes of R, G, B planes; a tint per class."""
    images, labels = _digits()
    grey = _as_uint8(images, 32).astype(np.float32)
    tint = np.random.default_rng(0).uniform(0.4, 1.0, (10, 3)).astype(np.float32)
    x = (grey[:, None] * tint[labels][:, :, None, None]).astype(np.uint8)
    label_bytes = 1 if name == "cifar10" else 2
    cols = [labels.astype(np.uint8)[:, None]] * label_bytes  # cifar100: (coarse, fine)
    records = np.concatenate([*cols, x.reshape(len(x), -1)], axis=1)
    if name == "cifar10":
        folder, names = root / "cifar-10-batches-bin", [f"class_{i}" for i in range(10)]
        train_files, test_file, names_file = (
            [f"data_batch_{i}.bin" for i in range(1, 6)],
            "test_batch.bin",
            "batches.meta.txt",
        )
    else:
        folder, names = root / "cifar-100-binary", [f"fine_{i}" for i in range(100)]
        train_files, test_file, names_file = ["train.bin"], "test.bin", "fine_label_names.txt"
    folder.mkdir(parents=True)
    for k, chunk in enumerate(np.array_split(records[:N_TRAIN], len(train_files))):
        (folder / train_files[k]).write_bytes(chunk.tobytes())
    (folder / test_file).write_bytes(records[N_TRAIN:].tobytes())
    (folder / names_file).write_text("\n".join(names) + "\n")
    return {"file": str(folder / test_file), "label_bytes": label_bytes}


def _folder(root: Path) -> dict:
    """train/<class>/ and test/<class>/ of 8x8 greyscale PNGs (mode L: the steps convert them to RGB)."""
    images, labels = _digits()
    x = np.rint(images * 255 / 16).astype(np.uint8)
    for i, (image, label) in enumerate(zip(x, labels, strict=True)):
        split = "train" if i < N_TRAIN else "test"
        (root / split / WORDS[label]).mkdir(parents=True, exist_ok=True)
        Image.fromarray(image, mode="L").save(root / split / WORDS[label] / f"{i:04d}.png")
    return {"root": str(root / "test")}


def _jpeg_folder(root: Path) -> dict:
    """train/<class>/ and test/<class>/ of 64x64 colour JPEGs (prepared at 16 px: decoded at a quarter scale)."""
    images, labels = _digits()
    x = _as_uint8(images, 64)
    tint = np.random.default_rng(1).uniform(0.4, 1.0, (10, 3))
    for i, (image, label) in enumerate(zip(x, labels, strict=True)):
        split = "train" if i < N_TRAIN else "test"
        (root / split / WORDS[label]).mkdir(parents=True, exist_ok=True)
        rgb = (image[..., None] * tint[label]).astype(np.uint8)
        Image.fromarray(rgb).save(root / split / WORDS[label] / f"{i:04d}.jpg", quality=95)
    return {"root": str(root / "test")}


def _prepared(source: Path, out: Path) -> str:
    """``launch.py prepare`` of an image folder, as a user runs it; the dataset name of what it wrote."""
    launch = Path(__file__).resolve().parents[2] / "launch.py"
    cmd = [
        sys.executable,
        str(launch),
        "prepare",
        str(source),
        "--image-size",
        "16",
        "--out",
        str(out),
        "--workers",
        "1",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return f"shards:{out}"


def _digits_test_indices() -> list[int]:
    """Which of load_digits()'s images are the digits test set (carved with the fixed test seed)."""
    _, labels = _digits()
    _, test = nas_data.stratified_split(labels, nas_data.TEST_FRACTION, nas_data.TEST_SEED, "digits")
    return test.tolist()


@pytest.mark.timeout(900)
def test_every_dataset_serves_at_its_recorded_accuracy_from_its_preprocessing_json(tmp_path):
    root = tmp_path / "data"
    cases = [  # name, dataset, image_size, how the consumer reads the raw test set
        ("digits", "digits", None, "digits", {"indices": _digits_test_indices()}),
        ("mnist", "mnist", None, "torchvision", _mnist_like(root, "MNIST")),
        ("fashion_mnist at 16", "fashion_mnist", 16, "torchvision", _mnist_like(root, "FashionMNIST")),
        ("cifar10", "cifar10", None, "cifar_binary", _cifar(root, "cifar10")),
        ("cifar100", "cifar100", None, "cifar_binary", _cifar(root, "cifar100")),
        ("image folder", f"imagefolder:{tmp_path / 'pngs'}", 16, "folder", _folder(tmp_path / "pngs")),
    ]
    jpegs = _jpeg_folder(tmp_path / "jpegs")  # prepared into shards, searched from them (memory-mapped)
    cases.append(("prepared shards", _prepared(tmp_path / "jpegs", tmp_path / "prepared"), None, "folder", jpegs))
    plan, recorded = [], {}
    for name, dataset, size, kind, where in cases:
        search = nas.Search(
            {
                "name": name.replace(" ", "-"),
                "dataset": dataset,
                "data_dir": str(root),
                "image_size": size,
                "controller": "random",
                "trials": 1,
                "engine": "local",
                "space": SMALL,  # small networks: each proposal trains in a second or two
                "report_every": 0,
                "train": {"epochs": 3, "latency": False},
            },
            results_dir=tmp_path / "results",
            progress=False,
        )
        df = search.run()
        assert list(df["status"]) == ["ok"], (name, df[["status", "error"]].to_dict("records"))
        row = df[df["status"] == "ok"].iloc[0]
        out = search.export(tmp_path / "exports" / name.replace(" ", "-"), formats=("onnx",))
        recorded[name] = float(row["test_acc"])
        plan.append({"name": name, "export": str(out), "kind": kind, "where": where})
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    (tmp_path / "serve.py").write_text(CONSUMER)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run(
        [sys.executable, "-I", str(tmp_path / "serve.py"), str(tmp_path / "plan.json")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    served = json.loads(proc.stdout)
    for name, *_ in cases:
        got = served[name]
        assert got["distinct"] >= 3, (name, got)  # a network that learnt something, not a constant
        assert recorded[name] > 0.2, (name, recorded[name])  # twice chance or more: it learnt
        # the same images and weights: equal up to an image whose top two logits are within float error
        assert abs(got["acc"] - recorded[name]) <= 1 / got["n"] + 1e-9, (name, got["acc"], recorded[name])
    assert served["image folder"]["classes"] == sorted(WORDS)
    assert served["prepared shards"]["classes"] == sorted(WORDS)
    assert served["cifar10"]["classes"] == [f"class_{i}" for i in range(10)]
    assert served["mnist"]["classes"] == [str(i) for i in range(10)]
    data_json = json.loads((tmp_path / "results" / "image-folder" / "data.json").read_text())
    assert data_json["classes"] == sorted(WORDS)
    readme = (tmp_path / "exports" / "image-folder" / "README.md").read_text()
    assert "| 0 | eight |" in readme and "`open_image`" in readme
