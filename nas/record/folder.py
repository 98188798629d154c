"""A search's results folder: its layout, its lock, and the files beside the record.

    results/<name>/
      .lock                   held (flock) by the one search writing here; holds its pid
      config.json             the resolved SearchConfig
      data.json               the dataset's shape (`DataInfo`): what export needs to rebuild a network
      trials.jsonl            the record (`nas.record.jsonl`), the source of truth
      trials.parquet          a copy for fast loading (`nas.record.results`)
      state/controller.json   the controller's state after its last tell
      optuna.journal          the Optuna study (tpe, nsga2)
      weights/<id>.safetensors  trained weights: the front and the best, or all, or none
      ray/                    Ray Tune's own files (never used to resume)

Every file but the record is replaced atomically (`atomic_write`), so a reader sees the old or the
new content. A failed write raises `StorageError` (one line that says how to continue).
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nas.errors import SearchError, StorageError
from nas.record.jsonl import JSONL, atomic_file


@dataclass(frozen=True)
class DataInfo:
    """The dataset facts the driver needs (the data itself stays with the trainers); saved as data.json."""

    in_channels: int
    num_classes: int
    input_size: tuple[int, int]
    name: str = ""
    # how the trainer normalises an image: x = (pixels * scale - mean) / std per channel (None: not recorded)
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    scale: float | None = None  # 1/255 for uint8 images, 1 for float data
    classes: tuple[str, ...] = ()  # the name of each output, where the dataset has them
    # the whole path from a sample as the user holds it to the network's input (`DataSplits.preprocessing`)
    preprocessing: dict[str, Any] | None = None

    @classmethod
    def of(cls, data: Any) -> DataInfo:
        """The facts of a `nas.data.DataSplits` (or anything with its shape attributes and `normalization()`)."""
        mean, std, scale = data.normalization() if hasattr(data, "normalization") else (None, None, None)
        classes = tuple(getattr(data, "classes", ()))
        steps = data.preprocessing() if hasattr(data, "preprocessing") else None
        return cls(
            data.in_channels, data.num_classes, tuple(data.input_size), data.name, mean, std, scale, classes, steps
        )


class Layout:
    """Where each file of a results folder is; no file access."""

    CONFIG, DATA, STATE, JOURNAL = "config.json", "data.json", "state/controller.json", "optuna.journal"

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    @property
    def config(self) -> Path:
        return self.root / self.CONFIG

    @property
    def data(self) -> Path:
        return self.root / self.DATA

    @property
    def state(self) -> Path:
        return self.root / self.STATE

    @property
    def record(self) -> Path:
        return self.root / JSONL

    @property
    def journal(self) -> Path:
        return self.root / self.JOURNAL

    @property
    def ray(self) -> Path:
        return self.root / "ray"

    @property
    def weights_folder(self) -> Path:
        return self.root / "weights"

    def weights(self, trial_id: str) -> Path:
        return self.weights_folder / f"{trial_id}.safetensors"

    def read_data_info(self) -> DataInfo:
        """The dataset's shape saved by the search; a missing or malformed data.json raises SearchError."""
        try:
            info = json.loads(self.data.read_text())
        except FileNotFoundError:
            raise SearchError(f"{self.root}: not a results folder (no {self.DATA})") from None
        except (OSError, ValueError) as e:
            raise SearchError(f"{self.root}: cannot read {self.DATA} ({' '.join(str(e).split())})") from None
        try:
            size = tuple(int(v) for v in info["input_size"])
            norm = {k: tuple(float(v) for v in info[k]) if info.get(k) is not None else None for k in ("mean", "std")}
            scale = float(info["scale"]) if info.get("scale") is not None else None
            classes = tuple(str(c) for c in info.get("classes") or ())
            steps = info.get("preprocessing")
            return DataInfo(
                int(info["in_channels"]),
                int(info["num_classes"]),
                size,
                str(info.get("name", "")),
                **norm,
                scale=scale,
                classes=classes,
                preprocessing=steps if isinstance(steps, dict) else None,
            )
        except (KeyError, TypeError, ValueError):
            raise SearchError(f"{self.root}: {self.DATA} must give in_channels, num_classes and input_size") from None


class ResultsFolder(Layout):
    """A results folder held by this search: created or reopened, locked, written atomically."""

    def __init__(self, root: str | os.PathLike[str], resume: bool) -> None:
        """Create (new search) or reopen (resume) the folder and take its lock; SearchError if it cannot."""
        super().__init__(root)
        self.created = not resume and not self.root.exists()
        self._lock_fd: int | None = _lock(self.root, resume)

    @contextmanager
    def storage_errors(self) -> Iterator[None]:
        """Turn a failed write under the folder into a one-line StorageError that says how to continue."""
        with storage_errors(self.root):
            yield

    def write_config(self, config: dict[str, Any]) -> None:
        atomic_write(self.config, json.dumps(config, indent=2).encode())

    def write_data_info(self, info: DataInfo) -> None:
        """data.json, once: what export needs to rebuild a trial's network."""
        if not self.data.exists():
            atomic_write(self.data, json.dumps(dataclasses.asdict(info)).encode())

    def save_state(self, state: dict[str, Any]) -> None:
        atomic_write(self.state, json.dumps(state).encode())

    def save_weights(self, trial_id: str, state_dict: dict) -> None:
        """Trained weights as safetensors, written atomically."""
        from safetensors.torch import save

        atomic_write(self.weights(trial_id), save({k: v.contiguous() for k, v in state_dict.items()}))

    def prune_weights(self, keep: set[str]) -> None:
        """Remove every weights file but those of `keep` (a read-only folder keeps a few too many)."""
        if not self.weights_folder.is_dir():
            return
        for f in self.weights_folder.glob("*.safetensors"):
            if f.stem not in keep:
                with suppress(OSError):
                    f.unlink(missing_ok=True)

    def release(self) -> None:
        """Release the lock; releasing twice is fine."""
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    def remove(self) -> None:
        """Release the lock and delete the folder (a new search that never recorded a trial)."""
        self.release()
        shutil.rmtree(self.root, ignore_errors=True)


@contextmanager
def storage_errors(root: Path) -> Iterator[None]:
    """Turn a failed write under `root` into a one-line StorageError that says how to continue."""
    try:
        yield
    except OSError as e:
        what = e.filename or f"to {root}"
        raise StorageError(
            f"cannot write {what}: {e.strerror or e}; the trials recorded so far are intact -- "
            f"free space or make the folder writable, then `launch.py search --resume {root}`"
        ) from e


def atomic_write(path: Path, data: bytes) -> None:
    """Write a file so that readers see the old or the new content, never a mix (`nas.record.jsonl.atomic_file`)."""
    with atomic_file(path) as f:
        f.write(data)


LOCK = ".lock"


def held(root: str | os.PathLike[str]) -> bool:
    """Whether a search holds the results folder's lock (it is running, on this machine or one sharing the
    folder); tested with a shared, non-blocking lock that is dropped at once."""
    try:
        fd = os.open(Path(root) / LOCK, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def _lock(root: Path, resume: bool) -> int:
    """Create or reopen the results folder and take its lock; returns the lock's descriptor."""
    if resume and not (root / Layout.CONFIG).exists():
        raise SearchError(f"--resume {root}: no search there (no {Layout.CONFIG})")
    if not resume and root.exists() and any(p.name != LOCK for p in root.iterdir()):
        raise SearchError(
            f"results folder {root} already exists; pass --resume {root} to continue it (from Python: "
            f"nas.Search.resume({str(root)!r})), or choose another --name"
        )
    try:
        root.mkdir(parents=True, exist_ok=True)
        fd = os.open(root / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise SearchError(f"cannot write to results folder {root}: {e.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
        os.close(fd)
        raise SearchError(
            f"results folder {root} is in use by another search (pid {holder}); wait for it or stop it"
        ) from None
    if not resume and any(p.name != LOCK for p in root.iterdir()):  # another search started here meanwhile
        os.close(fd)
        raise SearchError(f"results folder {root} was just created by another search; choose another --name")
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        for folder in (root, root / "state", root / "weights"):  # a killed search's half-written files
            for tmp in folder.glob(".*.tmp"):
                tmp.unlink()
    except OSError as e:
        os.close(fd)
        raise SearchError(f"cannot write to results folder {root}: {e.strerror}") from None
    return fd
