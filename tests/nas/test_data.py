"""Tests for nas.data: every dataset format, written to disk in its real layout, round-trips."""

from __future__ import annotations

import gzip
import hashlib
import pickle
import struct
from pathlib import Path
from urllib.error import URLError

import numpy as np
import pytest
import torch
from PIL import Image

import nas.data as data
from nas.data import DATASETS, DataError, DataSplits, load_dataset, parse_synthetic

# ------------------------------------------------------------------ helpers


def write_idx(path: Path, array: np.ndarray, *, gz: bool = False) -> Path:
    """Write a uint8 array in the IDX format (magic 0x0800 + ndim, big-endian dims)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = struct.pack(f">I{array.ndim}I", 0x0800 + array.ndim, *array.shape)
    payload = header + array.astype(np.uint8).tobytes()
    if gz:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(payload))
    else:
        path.write_bytes(payload)
    return path


def write_cifar_bin(path: Path, x: np.ndarray, *labels: np.ndarray) -> None:
    """Write CIFAR binary records: label byte(s) then 3072 pixel bytes (R, G, B planes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    cols = [lab.astype(np.uint8)[:, None] for lab in labels]
    path.write_bytes(np.concatenate([*cols, x.reshape(len(x), -1)], axis=1).tobytes())


def images(rng: np.random.Generator, n: int, shape: tuple[int, ...]) -> np.ndarray:
    return rng.integers(0, 256, (n, *shape), dtype=np.uint8)


def rows(x: torch.Tensor, y: torch.Tensor) -> list[bytes]:
    """Each sample as bytes (pixels + label), sorted: a multiset to compare splits by."""
    return sorted(xi.numpy().tobytes() + bytes([int(yi)]) for xi, yi in zip(x, y, strict=True))


class _TouchOnUnpickle:
    """Unpickling this creates a file: proof of whether something was unpickled."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple:
        return (open, (str(self.path), "w"))


# ------------------------------------------------------------------ digits


@pytest.fixture(scope="module")
def digits() -> DataSplits:
    return load_dataset("digits", val_fraction=0.1, seed=0)


def test_digits_shapes_and_stats(digits: DataSplits) -> None:
    assert digits.train_x.dtype == torch.uint8 and digits.train_y.dtype == torch.int64
    assert digits.train_x.shape[1:] == (1, 8, 8)
    assert (digits.in_channels, digits.input_size, digits.num_classes) == (1, (8, 8), 10)
    assert len(digits.train_x) + len(digits.val_x) + len(digits.test_x) == 1797
    assert len(digits.test_x) == 360 and len(digits.val_x) == 144
    assert int(digits.train_x.max()) == 255 and set(digits.train_y.tolist()) == set(range(10))
    pixels = digits.train_x.double() / 255
    assert digits.mean[0] == pytest.approx(pixels.mean().item(), abs=1e-9)
    assert digits.std[0] == pytest.approx(pixels.std(unbiased=False).item(), abs=1e-9)
    assert (digits.flip, digits.crop_padding) == (False, 1)
    assert "train=1293" in repr(digits)


def test_digits_splits_partition_the_dataset(digits: DataSplits) -> None:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = torch.from_numpy(np.rint(bunch.images * 255 / 16).astype(np.uint8)[:, None])
    whole = rows(x, torch.from_numpy(bunch.target))
    parts = [(digits.train_x, digits.train_y), (digits.val_x, digits.val_y)]
    parts.append((digits.test_x, digits.test_y))
    together = sorted(r for px, py in parts for r in rows(px, py))
    assert together == whole  # every image exactly once across train, val and test


def test_digits_test_set_fixed_and_val_seeded(digits: DataSplits) -> None:
    other = load_dataset("digits", seed=1)
    assert torch.equal(digits.test_x, other.test_x) and torch.equal(digits.test_y, other.test_y)
    assert not torch.equal(digits.val_x, other.val_x)
    assert rows(digits.train_x, digits.train_y) != rows(other.train_x, other.train_y)


def test_digits_split_is_stratified(digits: DataSplits) -> None:
    for split, total in ((digits.val_y, 144), (digits.test_y, 360)):
        counts = torch.bincount(split, minlength=10).double()
        assert torch.all((counts - total / 10).abs() <= 3), counts


def test_limit_and_image_size(digits: DataSplits) -> None:
    small = load_dataset("digits", limit=300, image_size=16, seed=3)
    assert len(small.train_x) + len(small.val_x) == 300
    assert torch.equal(torch.bincount(small.test_y), torch.bincount(digits.test_y))
    assert small.train_x.shape[1:] == (1, 16, 16) and small.test_x.shape[1:] == (1, 16, 16)
    assert small.crop_padding == 2


@pytest.mark.parametrize(
    "kwargs",
    [
        {"val_fraction": 1.0},
        {"val_fraction": -0.1},
        {"limit": 0},
        {"limit": 2.5},
        {"image_size": 0},
        {"image_size": True},
    ],
)
def test_bad_options(kwargs: dict) -> None:
    with pytest.raises(DataError, match=next(iter(kwargs))):
        load_dataset("digits", **kwargs)


# ------------------------------------------------------------------ MNIST / Fashion-MNIST


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize(
    ("name", "folder", "flip"), [("mnist", "MNIST", False), ("fashion_mnist", "FashionMNIST", True)]
)
def test_idx_round_trip(tmp_path: Path, name: str, folder: str, flip: bool, gz: bool) -> None:
    rng = np.random.default_rng(0)
    raw = tmp_path / folder / "raw"
    train_x, test_x = images(rng, 12, (28, 28)), images(rng, 5, (28, 28))
    train_y, test_y = np.arange(12) % 10, np.array([9, 0, 3, 3, 7])
    write_idx(raw / "train-images-idx3-ubyte", train_x, gz=gz)
    write_idx(raw / "train-labels-idx1-ubyte", train_y, gz=gz)
    write_idx(raw / "t10k-images-idx3-ubyte", test_x, gz=gz)
    write_idx(raw / "t10k-labels-idx1-ubyte", test_y, gz=gz)
    splits = load_dataset(name, tmp_path, val_fraction=0)
    assert np.array_equal(splits.train_x[:, 0].numpy(), train_x)
    assert np.array_equal(splits.train_y.numpy(), train_y)
    assert np.array_equal(splits.test_x[:, 0].numpy(), test_x)
    assert np.array_equal(splits.test_y.numpy(), test_y)
    assert (splits.num_classes, splits.flip, splits.crop_padding) == (10, flip, 2)
    held = load_dataset(name, tmp_path, val_fraction=0.25)
    assert len(held.val_x) == 3 and len(held.train_x) == 9
    assert rows(torch.cat([held.train_x, held.val_x]), torch.cat([held.train_y, held.val_y])) == (
        rows(splits.train_x, splits.train_y)
    )


def _mnist_files(root: Path) -> Path:
    raw = root / "MNIST" / "raw"
    write_idx(raw / "train-images-idx3-ubyte", np.zeros((4, 28, 28), np.uint8))
    write_idx(raw / "train-labels-idx1-ubyte", np.array([0, 1, 2, 3]))
    write_idx(raw / "t10k-images-idx3-ubyte", np.zeros((2, 28, 28), np.uint8))
    write_idx(raw / "t10k-labels-idx1-ubyte", np.array([0, 1]))
    return raw


def test_idx_missing_file_is_named(tmp_path: Path) -> None:
    raw = _mnist_files(tmp_path)
    (raw / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte"):
        load_dataset("mnist", tmp_path)


@pytest.mark.parametrize(
    ("file", "content", "message"),
    [
        ("train-images-idx3-ubyte", struct.pack(">IIII", 2049, 4, 28, 28), "magic number 2051"),
        ("train-images-idx3-ubyte", struct.pack(">IIII", 2051, 4, 28, 28) + b"\0" * 9, "9 data"),
        ("train-labels-idx1-ubyte", struct.pack(">II", 2049, 3) + b"\0\1\2", "3 labels"),
        ("train-labels-idx1-ubyte", struct.pack(">II", 2049, 4) + b"\0\1\2\12", "label 10"),
        ("t10k-labels-idx1-ubyte", b"\0\0", "magic number 2049"),
    ],
)
def test_idx_malformed(tmp_path: Path, file: str, content: bytes, message: str) -> None:
    raw = _mnist_files(tmp_path)
    (raw / file).write_bytes(content)
    with pytest.raises(DataError, match=message):
        load_dataset("mnist", tmp_path)


def test_idx_corrupt_gzip(tmp_path: Path) -> None:
    raw = _mnist_files(tmp_path)
    (raw / "train-labels-idx1-ubyte").unlink()
    (raw / "train-labels-idx1-ubyte.gz").write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises(DataError, match=r"train-labels-idx1-ubyte\.gz: cannot read"):
        load_dataset("mnist", tmp_path)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("mnist", "MNIST/raw/train-images-idx3-ubyte"),
        ("fashion_mnist", "FashionMNIST/raw/"),
        ("cifar10", "cifar-10-batches-bin/ or cifar-10-batches-py/"),
        ("cifar100", "cifar-100-binary/ or cifar-100-python/"),
    ],
)
def test_missing_files_message(tmp_path: Path, name: str, expected: str) -> None:
    with pytest.raises(DataError) as info:
        load_dataset(name, tmp_path)
    message = str(info.value)
    assert message.startswith(f"{name}: no ") and str(tmp_path) in message
    assert expected in message and "pass --data-dir or --download" in message
    assert "\n" not in message


def test_mnist_download_failure_is_a_data_error(tmp_path: Path, monkeypatch) -> None:
    import torchvision.datasets.mnist as tv_mnist

    def offline(*args: object, **kwargs: object) -> None:
        raise URLError("offline")

    monkeypatch.setattr(tv_mnist, "download_and_extract_archive", offline)
    with pytest.raises(DataError, match="mnist: download failed"):
        load_dataset("mnist", tmp_path, download=True)


# ------------------------------------------------------------------ CIFAR binary


def test_cifar10_binary_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    folder = tmp_path / "cifar-10-batches-bin"
    xs = [images(rng, 3, (3, 32, 32)) for _ in range(5)]
    ys = [rng.integers(0, 10, 3) for _ in range(5)]
    xs[0][0] = 0
    xs[0][0, 0, 1, 2], xs[0][0, 1, 3, 4], xs[0][0, 2, 5, 6] = 11, 22, 33  # R, G, B planes
    for i, (x, y) in enumerate(zip(xs, ys, strict=True), start=1):
        write_cifar_bin(folder / f"data_batch_{i}.bin", x, y)
    test_x, test_y = images(rng, 2, (3, 32, 32)), np.array([9, 4])
    write_cifar_bin(folder / "test_batch.bin", test_x, test_y)
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse"]
    (folder / "batches.meta.txt").write_text("\n".join([*names, "ship", "truck", ""]))
    splits = load_dataset("cifar10", tmp_path, val_fraction=0)
    assert np.array_equal(splits.train_x.numpy(), np.concatenate(xs))
    assert np.array_equal(splits.train_y.numpy(), np.concatenate(ys))
    assert np.array_equal(splits.test_x.numpy(), test_x)
    assert np.array_equal(splits.test_y.numpy(), test_y)
    first = splits.train_x[0]
    assert (int(first[0, 1, 2]), int(first[1, 3, 4]), int(first[2, 5, 6])) == (11, 22, 33)
    assert int(first.sum()) == 66
    assert (splits.num_classes, splits.flip, splits.crop_padding) == (10, True, 4)
    assert splits.classes[-1] == "truck" and len(splits.classes) == 10


def test_cifar100_binary_uses_fine_labels(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    folder = tmp_path / "cifar-100-binary"
    train_x, test_x = images(rng, 6, (3, 32, 32)), images(rng, 2, (3, 32, 32))
    coarse, fine = np.array([1, 2, 3, 4, 5, 19]), np.array([99, 0, 42, 42, 7, 64])
    write_cifar_bin(folder / "train.bin", train_x, coarse, fine)
    write_cifar_bin(folder / "test.bin", test_x, np.array([0, 3]), np.array([55, 98]))
    splits = load_dataset("cifar100", tmp_path, val_fraction=0)
    assert np.array_equal(splits.train_x.numpy(), train_x)
    assert splits.train_y.tolist() == fine.tolist() and splits.test_y.tolist() == [55, 98]
    assert np.array_equal(splits.test_x.numpy(), test_x)
    assert splits.num_classes == 100 and splits.classes == ()


def _cifar10_bin(root: Path, n: int = 2) -> Path:
    folder = root / "cifar-10-batches-bin"
    for f in [*(f"data_batch_{i}.bin" for i in range(1, 6)), "test_batch.bin"]:
        write_cifar_bin(folder / f, np.zeros((n, 3, 32, 32), np.uint8), np.arange(n))
    return folder


def test_cifar_binary_truncated(tmp_path: Path) -> None:
    folder = _cifar10_bin(tmp_path)
    path = folder / "data_batch_3.bin"
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(DataError, match=r"data_batch_3\.bin has 6145 bytes.*3073-byte"):
        load_dataset("cifar10", tmp_path)


def test_cifar_binary_empty_missing_and_bad_label(tmp_path: Path) -> None:
    folder = _cifar10_bin(tmp_path)
    (folder / "test_batch.bin").write_bytes(b"")
    with pytest.raises(DataError, match=r"test_batch\.bin has 0 bytes"):
        load_dataset("cifar10", tmp_path)
    (folder / "test_batch.bin").unlink()
    with pytest.raises(DataError, match=r"missing .*test_batch\.bin"):
        load_dataset("cifar10", tmp_path)
    write_cifar_bin(folder / "test_batch.bin", np.zeros((1, 3, 32, 32), np.uint8), np.array([10]))
    with pytest.raises(DataError, match="label 10"):
        load_dataset("cifar10", tmp_path)


# ------------------------------------------------------------------ CIFAR python version


def _fake_cifar10_py(root: Path, payload: bytes) -> Path:
    import torchvision.datasets as tvd

    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    names = [f for f, _ in tvd.CIFAR10.train_list + tvd.CIFAR10.test_list]
    for name in [*names, tvd.CIFAR10.meta["filename"]]:
        (folder / name).write_bytes(payload)
    return folder


def test_cifar_python_unofficial_files_are_not_unpickled(tmp_path: Path) -> None:
    control = tmp_path / "control"
    pickle.loads(pickle.dumps(_TouchOnUnpickle(control))).close()  # noqa: S301 (our own bytes)
    assert control.exists()  # the payload does what the check below relies on
    sentinel = tmp_path / "unpickled"
    _fake_cifar10_py(tmp_path / "data", pickle.dumps(_TouchOnUnpickle(sentinel)))
    with pytest.raises(DataError, match="data_batch_1 is not the official CIFAR-10 file"):
        load_dataset("cifar10", tmp_path / "data")
    assert not sentinel.exists()


def test_cifar_python_missing_file_refused(tmp_path: Path) -> None:
    folder = _fake_cifar10_py(tmp_path, b"junk")
    (folder / "data_batch_1").unlink()
    with pytest.raises(DataError, match="data_batch_1 is missing, expected the official"):
        load_dataset("cifar10", tmp_path)


def test_cifar_python_verified_files_load(tmp_path: Path, monkeypatch) -> None:
    """With the MD5 table pointed at our own files, the torchvision path round-trips CHW."""
    import torchvision.datasets as tvd

    rng = np.random.default_rng(3)
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    batches = {f"data_batch_{i}": images(rng, 2, (3, 32, 32)) for i in range(1, 6)}
    batches["test_batch"] = images(rng, 3, (3, 32, 32))
    table = {}
    for name, x in batches.items():
        entry = {"data": x.reshape(len(x), -1), "labels": list(range(len(x)))}
        table[name] = _dump(folder / name, entry)
    meta_md5 = _dump(folder / "batches.meta", {"label_names": [str(i) for i in range(10)]})
    monkeypatch.setattr(tvd.CIFAR10, "train_list", [[f"data_batch_{i}", table[f"data_batch_{i}"]] for i in range(1, 6)])
    monkeypatch.setattr(tvd.CIFAR10, "test_list", [["test_batch", table["test_batch"]]])
    monkeypatch.setattr(tvd.CIFAR10, "meta", {**tvd.CIFAR10.meta, "md5": meta_md5})
    splits = load_dataset("cifar10", tmp_path, val_fraction=0)
    train = np.concatenate([batches[f"data_batch_{i}"] for i in range(1, 6)])
    assert np.array_equal(splits.train_x.numpy(), train)
    assert np.array_equal(splits.test_x.numpy(), batches["test_batch"])
    assert splits.train_y.tolist() == [0, 1] * 5 and splits.test_y.tolist() == [0, 1, 2]


def _dump(path: Path, obj: object) -> str:
    path.write_bytes(pickle.dumps(obj))
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_cifar_download_failure_is_a_data_error(tmp_path: Path, monkeypatch) -> None:
    import torchvision.datasets.utils as tv_utils

    def offline(*args: object, **kwargs: object) -> None:
        raise URLError("offline")

    monkeypatch.setattr(tv_utils, "download_and_extract_archive", offline)
    with pytest.raises(DataError, match="cifar100: download failed: .*offline"):
        load_dataset("cifar100", tmp_path, download=True)


# ------------------------------------------------------------------ image folders

COLOURS = {"cat": (255, 0, 0), "dog": (0, 255, 0), "eel": (0, 0, 255)}


def write_pngs(folder: Path, counts: dict[str, int], *, size: tuple[int, int] = (12, 10)) -> None:
    """Solid-colour PNGs, one colour per class, so a pixel tells which class an image is."""
    for cls, n in counts.items():
        (folder / cls).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            Image.new("RGB", size, COLOURS[cls]).save(folder / cls / f"{i}.png")


def assert_colours_match_labels(splits: DataSplits, x: torch.Tensor, y: torch.Tensor) -> None:
    for image, label in zip(x, y, strict=True):
        expected = COLOURS[splits.classes[int(label)]]
        assert tuple(image[:, 0, 0].tolist()) == expected
        assert bool((image == image[:, :1, :1]).all())


def test_imagefolder_flat(tmp_path: Path) -> None:
    write_pngs(tmp_path / "pets", {"cat": 5, "dog": 5, "eel": 5})
    Image.new("L", (9, 9), 128).save(tmp_path / "pets" / "eel" / "grey.png")  # 6 eels
    (tmp_path / "pets" / "dog" / "notes.txt").write_text("not an image")
    splits = load_dataset(f"imagefolder:{tmp_path / 'pets'}", image_size=8, val_fraction=0)
    assert splits.classes == ("cat", "dog", "eel") and splits.num_classes == 3
    assert splits.train_x.shape[1:] == (3, 8, 8) and splits.input_size == (8, 8)
    assert len(splits.train_x) + len(splits.test_x) == 16 and len(splits.test_x) == 4
    assert set(splits.test_y.tolist()) == {0, 1, 2}  # stratified
    assert (splits.flip, splits.crop_padding) == (True, 1)
    everything = torch.cat([splits.train_x, splits.test_x])
    assert int((everything == 128).all(dim=(1, 2, 3)).sum()) == 1  # grey image became RGB
    again = load_dataset(f"imagefolder:{tmp_path / 'pets'}", image_size=8, seed=5)
    assert torch.equal(splits.test_x, again.test_x)  # fixed test split


@pytest.mark.parametrize("held", ["test", "val"])
def test_imagefolder_train_test(tmp_path: Path, held: str) -> None:
    write_pngs(tmp_path / "train", {"cat": 4, "dog": 4})
    write_pngs(tmp_path / held, {"cat": 1, "dog": 2})
    splits = load_dataset(f"imagefolder:{tmp_path}", val_fraction=0.25)
    assert splits.train_x.shape[1:] == (3, 32, 32) and splits.crop_padding == 4
    assert (len(splits.train_x), len(splits.val_x), len(splits.test_x)) == (6, 2, 3)
    assert sorted(splits.test_y.tolist()) == [0, 1, 1]
    for x, y in ((splits.train_x, splits.train_y), (splits.test_x, splits.test_y)):
        assert_colours_match_labels(splits, x, y)
    assert splits.name == f"imagefolder:{tmp_path.resolve()}"


def test_imagefolder_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not a directory"):
        load_dataset(f"imagefolder:{tmp_path / 'nowhere'}")
    with pytest.raises(DataError, match="needs a path"):
        load_dataset("imagefolder:")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no class folders"):
        load_dataset(f"imagefolder:{tmp_path / 'empty'}")
    (tmp_path / "noimg" / "cat").mkdir(parents=True)
    (tmp_path / "noimg" / "cat" / "readme.txt").write_text("hi")
    with pytest.raises(DataError, match="no images in .*cat"):
        load_dataset(f"imagefolder:{tmp_path / 'noimg'}")


def test_imagefolder_empty_class_and_mismatch(tmp_path: Path) -> None:
    write_pngs(tmp_path / "a", {"cat": 3})
    (tmp_path / "a" / "dog").mkdir()
    with pytest.raises(DataError, match=r"no images in .*\{dog\}"):
        load_dataset(f"imagefolder:{tmp_path / 'a'}")
    write_pngs(tmp_path / "b" / "train", {"cat": 3, "dog": 3})
    write_pngs(tmp_path / "b" / "test", {"cat": 1, "eel": 1})
    with pytest.raises(DataError, match=r"class folders in train/ and test/ differ: \['dog', 'eel'\]"):
        load_dataset(f"imagefolder:{tmp_path / 'b'}")


def test_imagefolder_corrupt_image(tmp_path: Path) -> None:
    write_pngs(tmp_path, {"cat": 3, "dog": 3})
    (tmp_path / "dog" / "broken.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(DataError, match=r"broken\.png: cannot read image"):
        load_dataset(f"imagefolder:{tmp_path}")


# ------------------------------------------------------------------ synthetic and names


def test_synthetic_default_and_spec() -> None:
    default = load_dataset("synthetic")
    assert default.name == "synthetic:3x32x32:10:5000"
    assert (len(default.train_x) + len(default.val_x), len(default.test_x)) == (5000, 1000)
    assert default.train_x.shape[1:] == (3, 32, 32) and default.num_classes == 10
    small = load_dataset("synthetic:1x8x6:3:100", seed=2)
    assert small.input_size == (8, 6) and small.in_channels == 1 and small.num_classes == 3
    assert (len(small.train_x), len(small.val_x), len(small.test_x)) == (90, 10, 20)
    assert set(small.train_y.tolist()) <= {0, 1, 2}
    assert torch.equal(small.test_x, load_dataset("synthetic:1x8x6:3:100", seed=9).test_x)


def test_parse_synthetic() -> None:
    assert parse_synthetic(None) == (3, 32, 32, 10, 5000)
    assert parse_synthetic("1x28x28:10") == (1, 28, 28, 10, 5000)
    assert parse_synthetic("3x64x64:100:20000") == (3, 64, 64, 100, 20000)


@pytest.mark.parametrize("spec", ["", "3x32", "3x32x32", "0x8x8:3", "3x8x8:1", "axbxc:3", "3x8x8:3:1", "3x8x8:3:4:5"])
def test_synthetic_malformed(spec: str) -> None:
    with pytest.raises(DataError, match="synthetic spec"):
        load_dataset(f"synthetic:{spec}")


def test_synthetic_too_large() -> None:
    with pytest.raises(DataError, match="2 GiB"):
        load_dataset("synthetic:3x1024x1024:10:1000")


def test_unknown_name_lists_datasets() -> None:
    with pytest.raises(DataError) as info:
        load_dataset("imagenet")
    assert "'imagenet'" in str(info.value)
    assert all(name in str(info.value) for name in DATASETS)


def test_argument_to_plain_dataset() -> None:
    with pytest.raises(DataError, match="takes no ':' argument"):
        load_dataset("digits:extra")


def test_data_dir_default_and_env(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv(data.DATA_DIR_ENV, raising=False)
    assert data.resolve_data_dir() == Path.home() / ".cache" / "nasgraph" / "data"
    monkeypatch.setenv(data.DATA_DIR_ENV, str(tmp_path))
    assert data.resolve_data_dir() == tmp_path
    assert data.resolve_data_dir("~/x") == Path.home() / "x"
    with pytest.raises(DataError, match=str(tmp_path)):
        load_dataset("cifar10")


def test_datasplits_validates_itself(digits: DataSplits) -> None:
    with pytest.raises(DataError, match="splits have different image dtypes"):
        DataSplits(
            "bad",
            digits.train_x,
            digits.train_y,
            digits.val_x.float(),
            digits.val_y,
            digits.test_x,
            digits.test_y,
            num_classes=10,
            mean=digits.mean,
            std=digits.std,
            flip=False,
            crop_padding=1,
        )


def test_a_validation_split_too_small_to_rank_architectures_is_warned_about(tmp_path: Path, digits: DataSplits) -> None:
    """Under 10 validation images of a class: accuracies move in steps too coarse to tell architectures apart."""
    assert data.small_validation(digits, 0.3) is None  # 431 validation digits, 43 a class
    write_pngs(tmp_path / "pets", {"cat": 60, "dog": 60, "eel": 12})
    splits = load_dataset(f"imagefolder:{tmp_path / 'pets'}", val_fraction=0.25)
    counts = torch.bincount(splits.val_y, minlength=3).tolist()
    assert counts[2] < 10 <= min(counts[:2])
    warning = data.small_validation(splits, 0.25)
    assert warning == (
        f"warning: the validation split has {counts[2]} images of class 'eel' and under 10 of 1 of the 3 classes "
        f"({sum(counts)} in all): accuracies that close apart rank architectures by chance; hold out more with "
        "--val-fraction (now 0.25) or add images"
    )
    lines: list[str] = []
    import nas

    nas.search(
        {"dataset": f"imagefolder:{tmp_path / 'pets'}", "val_fraction": 0.25, "engine": "local", "trials": 1,
         "train": {"epochs": 1}, "space": {"ops": ["conv"], "wirings": ["chain"]}},
        results_dir=tmp_path / "results",
        progress=lines.append,
    )  # fmt: skip
    assert warning in lines  # said where a search's progress goes, before its trials
