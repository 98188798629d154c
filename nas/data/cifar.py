"""CIFAR-10 and CIFAR-100: the binary version parsed with numpy, or the python version read through
torchvision only after every file's MD5 matches the official release (nothing else is unpickled)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nas.data.idx import missing, torchvision_class
from nas.data.registry import Request, source
from nas.data.splits import DataError, Pool, Step
from nas.errors import one_line


@dataclass(frozen=True)
class _Cifar:
    """Where one CIFAR variant lives on disk and how its binary records look."""

    name: str
    label: str  # human name, e.g. "CIFAR-10"
    bin_dir: str  # binary version: records of label byte(s) + 3072 pixel bytes
    train_files: tuple[str, ...]
    test_files: tuple[str, ...]
    label_bytes: int  # CIFAR-100 records carry (coarse, fine); the fine label is the last one
    num_classes: int
    py_dir: str  # python (pickle) version, read only through torchvision after MD5 checks
    tv_class: str
    names_file: str  # plain-text class names shipped with the binary version


_CIFAR = {
    "cifar10": _Cifar(
        name="cifar10",
        label="CIFAR-10",
        bin_dir="cifar-10-batches-bin",
        train_files=tuple(f"data_batch_{i}.bin" for i in range(1, 6)),
        test_files=("test_batch.bin",),
        label_bytes=1,
        num_classes=10,
        py_dir="cifar-10-batches-py",
        tv_class="CIFAR10",
        names_file="batches.meta.txt",
    ),
    "cifar100": _Cifar(
        name="cifar100",
        label="CIFAR-100",
        bin_dir="cifar-100-binary",
        train_files=("train.bin",),
        test_files=("test.bin",),
        label_bytes=2,
        num_classes=100,
        py_dir="cifar-100-python",
        tv_class="CIFAR100",
        names_file="fine_label_names.txt",
    ),
}
_CIFAR_PIXELS = 3 * 32 * 32


def _read_cifar_bin(path: Path, spec: _Cifar) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 3, 32, 32) and fine labels from one binary batch file."""
    record = spec.label_bytes + _CIFAR_PIXELS
    if not path.is_file():
        raise DataError(f"{spec.name}: missing {path}")
    size = path.stat().st_size
    if size == 0 or size % record:
        raise DataError(
            f"{spec.name}: {path} has {size} bytes, expected a positive multiple of "
            f"the {record}-byte {spec.label} record"
        )
    records = np.fromfile(path, dtype=np.uint8).reshape(-1, record)
    y = records[:, spec.label_bytes - 1].astype(np.int64)
    if y.max() >= spec.num_classes:
        raise DataError(f"{spec.name}: {path} has label {y.max()}, expected < {spec.num_classes}")
    return records[:, spec.label_bytes :].reshape(-1, 3, 32, 32), y


def _cifar_binary(spec: _Cifar, folder: Path) -> tuple[np.ndarray, ...]:
    train = [_read_cifar_bin(folder / f, spec) for f in spec.train_files]
    test = [_read_cifar_bin(folder / f, spec) for f in spec.test_files]
    return *_concat(train), *_concat(test)


def _concat(pairs: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    return np.concatenate([x for x, _ in pairs]), np.concatenate([y for _, y in pairs])


def _cifar_python(spec: _Cifar, root: Path, download: bool) -> tuple[tuple[np.ndarray, ...], tuple[str, ...]]:
    """The python version through torchvision (arrays, class names), refusing any file that is not the official one.

    torchvision 0.29.1 (datasets/cifar.py) already checks, in ``CIFAR10.__init__``, every
    batch file's MD5 against the official release (``_check_integrity``) before its
    ``pickle.load``, and ``_load_meta`` checks the meta file's MD5 before unpickling it. We
    check the same MD5s here first as well, so that an unofficial file is never unpickled
    even if a later torchvision loosens its checks.
    """
    from torchvision.datasets.utils import download_and_extract_archive

    cls = torchvision_class(spec.tv_class)
    if download and _cifar_unverified(cls, root) is not None:
        try:  # torchvision's downloader checks the archive's MD5
            download_and_extract_archive(cls.url, str(root), filename=cls.filename, md5=cls.tgz_md5)
        except Exception as e:  # network, HTTP and archive errors come in many types
            raise DataError(f"{spec.name}: download failed: {one_line(e)}") from e
    bad = _cifar_unverified(cls, root)
    if bad is not None:
        problem = "is not the official" if bad.is_file() else "is missing, expected the official"
        raise DataError(
            f"{spec.name}: {bad} {problem} {spec.label} file (MD5 check); refusing to unpickle "
            f"anything in {spec.py_dir}/. Use the binary version ({spec.bin_dir}/) or --download"
        )
    try:
        train, test = cls(str(root), train=True), cls(str(root), train=False)
    except (RuntimeError, OSError) as e:
        raise DataError(f"{spec.name}: cannot read {root / spec.py_dir}: {one_line(e)}") from e
    to_chw = (0, 3, 1, 2)  # torchvision keeps HWC
    train_y, test_y = (np.asarray(d.targets, dtype=np.int64) for d in (train, test))
    arrays = train.data.transpose(to_chw), train_y, test.data.transpose(to_chw), test_y
    names = tuple(map(str, train.classes))
    return arrays, names if len(names) == spec.num_classes else ()


def _cifar_unverified(cls: type, root: Path) -> Path | None:
    """The first python-version file that is missing or fails its official MD5, or None."""
    from torchvision.datasets.utils import check_integrity

    meta = (cls.meta["filename"], cls.meta["md5"])
    for filename, md5 in [*cls.train_list, *cls.test_list, meta]:
        path = root / cls.base_folder / filename
        if not check_integrity(str(path), md5):
            return path
    return None


def _load_cifar(spec: _Cifar, root: Path, download: bool) -> Pool:
    """CIFAR from the binary version if present, else the verified python version."""
    if (root / spec.bin_dir).is_dir():
        arrays = _cifar_binary(spec, root / spec.bin_dir)
        classes = _cifar_names(root / spec.bin_dir / spec.names_file, spec.num_classes)
        record = f"{spec.label_bytes} label byte{'s' if spec.label_bytes > 1 else ''}"
        source = f"a record of {spec.bin_dir}/{spec.test_files[0]} after its {record}: uint8 (3, 32, 32), RGB"
        steps: tuple[Step, ...] = ()
    elif download or (root / spec.py_dir).is_dir():
        arrays, classes = _cifar_python(spec, root, download)
        source = f"torchvision.datasets.{spec.tv_class}(root).data[i]: uint8 (32, 32, 3), RGB"
        steps = ({"op": "transpose", "axes": [2, 0, 1]},)
    else:
        raise missing(spec.name, spec.label, root, f"{spec.bin_dir}/ or {spec.py_dir}/")
    return Pool(spec.name, *arrays, spec.num_classes, True, 4, classes, source, steps)


def _cifar_names(path: Path, num_classes: int) -> tuple[str, ...]:
    """Class names from the binary version's text file, or () if absent or malformed."""
    try:
        names = tuple(n.strip() for n in path.read_text().splitlines() if n.strip())
    except (OSError, UnicodeDecodeError):
        return ()
    return names if len(names) == num_classes else ()


@source("cifar10")
def load_cifar10(req: Request) -> Pool:
    """CIFAR-10: 32x32 colour images, 10 classes."""
    return _load_cifar(_CIFAR["cifar10"], req.root, req.download)


@source("cifar100")
def load_cifar100(req: Request) -> Pool:
    """CIFAR-100: 32x32 colour images, 100 fine classes."""
    return _load_cifar(_CIFAR["cifar100"], req.root, req.download)
