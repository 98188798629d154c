"""``launch.py prepare``: decode and resize a dataset once, in parallel, into shards that trials memory-map.

    launch.py prepare ~/photos --image-size 64 --out /nfs/photos-64          # an image folder
    launch.py prepare cifar100 --image-size 16 --classes 20 --per-class 200 --out c100-16
    launch.py search --dataset shards:/nfs/photos-64 ...

What it writes is `nas.data.shards`'s layout: uint8 (n, C, H, W) ``.npy`` shards of ``shard_size`` images (512
by default, fewer where that passes 64 MB) and their labels, and manifest.json (classes, splits, counts, SHA-256 of each shard, the preprocessing
steps, the training split's channel statistics, the source's fingerprint, the files it could not read).

- **Parallel**: each shard of an image folder (or of a synthetic set) is one Ray task on the runtime the
  caller started (this machine's, or a cluster's: then DIR must be a path every node can write, as it
  must be one every node can read for the search). Decoding is `nas.data.steps.read_image`, the steps
  the manifest records, so an export's preprocessing.json is what the shards hold. Built-in arrays
  (CIFAR, MNIST, digits) and plugins' datasets are in memory already: the driver resizes and writes them.
- **Resumable**: a shard is written to a temporary name and renamed, then marked done
  (``.prepare/<shard>.json``); killed and run again with the same arguments, it writes only the shards
  not marked. The plan (what goes in which shard) is a pure function of the source and the options, and
  ``.prepare/plan.json`` is compared before anything is reused; different arguments on the same DIR stop
  in one line. The manifest is written last, atomically: a folder without one is not a dataset yet.
- **Subsets** for proxy searches (NAS-Bench-201's ImageNet16-120 is 120 classes at 16 px):
  ``classes`` (a number drawn with ``seed``, or names) and ``per_class`` (training images kept per class,
  drawn with ``seed``; the test split keeps every image of the kept classes).
- **Awkward files** convert as Pillow converts them (greyscale, palette, RGBA, CMYK, 16-bit; EXIF
  rotation undone); a file Pillow cannot read is listed in the manifest's ``skipped`` and reported in one
  line naming it, never dropped silently.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nas.data.imagefolder import list_folder
from nas.data.registry import Request, parse_name
from nas.data.shards import MANIFEST, Manifest, Shard
from nas.data.splits import DataError, DataSplits, Pool, resolve_data_dir, stats_of_histograms
from nas.data.steps import RESIZE_STEP, image_steps, read_image, resize

SHARD_BYTES = 64 * 2**20  # default shard size: at most this many bytes of images ...
SHARD_IMAGES = 512  # ... and at most this many images (small sets still make enough tasks to run in parallel)
STATE = ".prepare"  # the folder of a prepare in progress: plan.json and one done-marker per shard
Log = Callable[[str], None]


@dataclass(frozen=True)
class Options:
    """What to prepare: the source and the options (saved in plan.json, compared on resume)."""

    source: str  # a dataset name, or a folder (an image folder)
    image_size: int
    classes: str = ""  # "" all; "K" a seeded draw of K classes; "a,b,c" those names
    per_class: int = 0  # 0 all; else training images kept per class (seeded)
    seed: int = 0
    shard_size: int = 0  # images per shard; 0: SHARD_IMAGES, fewer where they would pass SHARD_BYTES
    data_dir: str | None = None  # for the built-in datasets
    download: bool = False


@dataclass
class Job:
    """One shard to write: an image folder's files, a range of a synthetic stream, or rows of a loaded pool."""

    split: str
    index: int
    files: list[tuple[str, int]] = field(default_factory=list)  # (path, label)
    synthetic: tuple[int, ...] = ()  # (C, H, W, K, start, stop)
    rows: tuple[int, int] = (0, 0)  # of the loaded pool's split

    @property
    def name(self) -> str:
        return f"{self.split}-{self.index:05d}"


@dataclass
class Plan:
    """Every shard's job, and what the manifest says besides the shards."""

    name: str
    shape: tuple[int, int, int]
    classes: tuple[str, ...]
    num_classes: int
    flip: bool
    crop_padding: int
    source: str
    steps: tuple[dict[str, Any], ...]
    fingerprint: dict[str, Any]
    subset: dict[str, Any]
    jobs: list[Job]
    pool: Pool | None = None  # a loaded dataset whose rows the jobs name (not saved)

    def key(self, opts: Options) -> dict[str, Any]:
        """What must match for a resume to reuse shards."""
        return {
            "options": asdict(opts) | {"source": self.name, "data_dir": None, "download": False},
            "fingerprint": self.fingerprint,
            "shards": [
                [j.name, len(j.files) or (j.rows[1] - j.rows[0]) or (j.synthetic[5] - j.synthetic[4])]
                for j in self.jobs
            ],
        }


def prepare(
    opts: Options, out: Path, *, workers: int = 0, log: Log | None = None, start: Callable[[], None] | None = None
) -> Manifest:
    """Prepare ``opts.source`` into ``out`` (see the module docstring). Shards to decode (an image folder, a
    synthetic set) run as Ray tasks: ``start()`` is called first, only then, to start or join the runtime
    (else Ray must be up), except with ``workers=1`` and no runtime, where the driver decodes them itself; a
    built-in or plugin's dataset in memory is written by the driver."""
    log = log or (lambda line: print(line, file=sys.stderr, flush=True))
    _check(opts)
    if not isinstance(workers, int) or workers < 0:
        raise DataError(f"--workers must be an integer >= 0 (0: the runtime's CPUs), got {workers!r}")
    out = Path(out).expanduser().resolve()
    plan = make_plan(opts)
    key = plan.key(opts)
    state = out / STATE
    if (out / MANIFEST).is_file():
        done_key = json.loads((out / MANIFEST).read_text()).get("prepared_with")
        if done_key == key:
            log(f"{out}: already prepared ({MANIFEST} matches these arguments)")
            return Manifest.read(out)
        raise DataError(f"{out} holds another prepared dataset; choose another --out (or delete it)")
    if out.exists() and any(out.iterdir()):
        saved = state / "plan.json"
        if not saved.is_file():
            raise DataError(f"{out} is not empty and holds no prepare in progress; choose another --out")
        if json.loads(saved.read_text()) != key:
            raise DataError(
                f"{out} holds a prepare in progress with other arguments or another version of the source; "
                "run that command again, or choose another --out"
            )
    if plan.pool is None and start is not None:
        start()  # before anything is written: a runtime that cannot start leaves no folder
    created = not out.exists()
    state.mkdir(parents=True, exist_ok=True)
    _write_json(state / "plan.json", key)
    try:
        return _write(plan, opts, key, out, workers, log)
    except DataError:
        if created:  # (a source with no readable image: nothing worth resuming)
            shutil.rmtree(out, ignore_errors=True)
        raise


def _write(plan: Plan, opts: Options, key: dict[str, Any], out: Path, workers: int, log: Log) -> Manifest:
    state = out / STATE
    done = {j.name: _read_done(state, j.name) for j in plan.jobs}
    todo = [j for j in plan.jobs if done[j.name] is None]
    if len(todo) < len(plan.jobs):
        log(f"resuming: {len(plan.jobs) - len(todo)} of {len(plan.jobs)} shards already written")
    started, images = time.perf_counter(), 0
    for result in _run(plan, todo, out, workers):
        _write_json(state / f"{result['name']}.json", result)
        done[result["name"]] = result
        images += result["count"]
        for skipped in result["skipped"]:
            log(f"skipped {skipped['file']}: {skipped['error']}")
        finished = sum(r is not None for r in done.values())
        rate = images / max(time.perf_counter() - started, 1e-9)
        log(f"shard {result['name']}: {finished}/{len(plan.jobs)} written, {rate:,.0f} images/s")
    manifest = _manifest(plan, done)
    _write_json(out / MANIFEST, manifest.to_json() | {"prepared_with": key})
    shutil.rmtree(state, ignore_errors=True)
    for tmp in out.glob(".*.tmp"):  # a task's leftovers: its worker died mid-write and the task ran again
        tmp.unlink(missing_ok=True)
    return manifest


def _check(opts: Options) -> None:
    if not isinstance(opts.image_size, int) or not 1 <= opts.image_size <= 4096:
        raise DataError(f"--image-size must be an integer in [1, 4096], got {opts.image_size!r}")
    if opts.seed < 0:
        raise DataError(f"--seed must be an integer >= 0, got {opts.seed}")
    if opts.per_class < 0:
        raise DataError(f"--per-class must be a positive number of images (0: all), got {opts.per_class}")
    if opts.shard_size < 0:
        raise DataError(
            f"--shard-size must be a positive number of images (0: the default, 512 or 64 MB), got {opts.shard_size}"
        )


# ------------------------------------------------------------------ the plan


def make_plan(opts: Options) -> Plan:
    """What goes in which shard: a pure function of the source and the options."""
    text = opts.source
    if Path(text).expanduser().is_dir() and ":" not in text.split("/")[0]:
        text = f"imagefolder:{text}"
    entry, arg = parse_name(text)
    size = opts.image_size
    if entry.name == "imagefolder":
        return _folder_plan(opts, arg)
    if entry.name == "synthetic":
        return _synthetic_plan(opts, arg)
    if entry.name == "shards":
        raise DataError("prepare reads a dataset, an image folder or a plugin's dataset; shards are prepared already")
    req = Request(arg, resolve_data_dir(opts.data_dir), opts.download)
    if entry.plugin is not None:
        from nas.data.owndata import dataset

        loaded: Any = dataset(entry.plugin(req.root), name=entry.name)
    else:
        loaded = entry.load(req)  # type: ignore[misc]
    pool = _as_pool(loaded) if isinstance(loaded, DataSplits) else loaded
    if pool.train_x.dtype != np.uint8:
        raise DataError(f"{text}: prepare writes uint8 images; this dataset's are {pool.train_x.dtype}")
    names, keep = _pick_classes(pool.classes or tuple(map(str, range(pool.num_classes))), opts, text)
    rows: dict[str, np.ndarray] = {}
    labels: dict[str, np.ndarray] = {}
    for split, y in (("train", pool.train_y), ("test", pool.test_y)):
        idx = _subset(y, keep, opts if split == "train" else None)
        rows[split], labels[split] = idx, _relabel(y[idx], keep)
    c, h, w = pool.train_x.shape[1:]
    steps = pool.steps
    if (h, w) != (size, size):
        steps += (RESIZE_STEP | {"size": [size, size]},)
    per = opts.shard_size or _auto_shard(c, size)
    jobs = [
        Job(split, k, rows=(lo, min(lo + per, len(rows[split]))))
        for split in ("train", "test")
        for k, lo in enumerate(range(0, len(rows[split]), per))
    ]
    padding = max(1, round(pool.crop_padding * size / max(h, w)))
    chosen = Pool(pool.name, pool.train_x[rows["train"]], labels["train"], pool.test_x[rows["test"]],
                  labels["test"], len(names), pool.flip, pool.crop_padding)  # fmt: skip
    digest = hashlib.sha256()
    for array in (chosen.train_x, chosen.train_y, chosen.test_x, chosen.test_y):
        digest.update(np.ascontiguousarray(array).data)
    fingerprint = {"name": pool.name, "sha256": digest.hexdigest()}  # of the images chosen: a resume checks them
    plan = Plan(pool.name, (c, size, size), names, len(names), pool.flip, padding, pool.source, steps,
                fingerprint, _subset_info(opts, names), jobs)  # fmt: skip
    plan.pool = chosen
    return plan


def _as_pool(data: DataSplits) -> Pool:
    """A plugin's DataSplits as a pool: train and val together (the search carves val again), and test."""
    import torch

    x = torch.cat([data.train_x, data.val_x]).numpy()
    y = torch.cat([data.train_y, data.val_y]).numpy()
    if not data.labelled:
        raise DataError(f"{data.name}: prepare writes class-labelled images; these targets are not class labels")
    return Pool(data.name, x, y, data.test_x.numpy(), data.test_y.numpy(), data.num_classes, data.flip,
                data.crop_padding, data.classes, data.source, data.steps)  # fmt: skip


def _folder_plan(opts: Options, arg: str | None) -> Plan:
    listing = list_folder(arg)
    names, keep = _pick_classes(listing.classes, opts, listing.name)
    size, per = opts.image_size, opts.shard_size or _auto_shard(3, opts.image_size)
    jobs: list[Job] = []
    splits = {"train": listing.train, "test": listing.test}
    if listing.test is None:  # carve a fixed test split, as the in-memory loader does
        from nas.data.splits import TEST_FRACTION, TEST_SEED, stratified_split

        y = np.array([c for _, c in listing.train])
        tr, te = stratified_split(y, TEST_FRACTION, TEST_SEED, listing.name)
        splits = {"train": tuple(listing.train[i] for i in tr), "test": tuple(listing.train[i] for i in te)}
    for split, files in splits.items():
        y = np.array([c for _, c in files], dtype=np.int64)
        idx = _subset(y, keep, opts if split == "train" else None)
        new = _relabel(y[idx], keep)
        chosen = [(str(files[i][0]), int(label)) for i, label in zip(idx, new, strict=True)]
        jobs += [Job(split, k, files=chosen[lo : lo + per]) for k, lo in enumerate(range(0, len(chosen), per))]
    root = listing.name.removeprefix("imagefolder:")
    fingerprint = _folder_fingerprint(root, [f for fs in splits.values() for f, _ in fs])
    return Plan(listing.name, (3, size, size), names, len(names), True, max(1, size // 8), listing.source,
                image_steps(size), fingerprint, _subset_info(opts, names), jobs)  # fmt: skip


def _synthetic_plan(opts: Options, arg: str | None) -> Plan:
    from nas.data.synthetic import parse_synthetic

    c, h, w, k, n = parse_synthetic(arg, max_bytes=2**50)
    if opts.classes or opts.per_class:
        raise DataError("--classes and --per-class do not apply to synthetic data (its spec sets K and N)")
    if (h, w) != (opts.image_size, opts.image_size):
        raise DataError(f"synthetic:{arg} is {h}x{w}; prepare it with --image-size {h} (noise is not resized)")
    per = opts.shard_size or _auto_shard(c, h)
    n_test = max(1, n // 5)
    jobs = [Job("train", i, synthetic=(c, h, w, k, lo, min(lo + per, n))) for i, lo in enumerate(range(0, n, per))]
    jobs += [
        Job("test", i, synthetic=(c, h, w, k, n + lo, n + min(lo + per, n_test)))
        for i, lo in enumerate(range(0, n_test, per))
    ]
    name = f"synthetic:{c}x{h}x{w}:{k}:{n}"
    source = f"a synthetic image: uint8 ({c}, {h}, {w}), seeded uniform noise"
    classes = tuple(map(str, range(k)))
    return Plan(name, (c, h, w), classes, k, True, max(1, min(h, w) // 8), source, (), {"name": name}, {}, jobs)


def _auto_shard(channels: int, size: int) -> int:
    return max(1, min(SHARD_IMAGES, SHARD_BYTES // (channels * size * size)))


def _pick_classes(names: Sequence[str], opts: Options, what: str) -> tuple[tuple[str, ...], np.ndarray]:
    """(kept class names, their old indices in order) for --classes."""
    if not opts.classes:
        return tuple(names), np.arange(len(names))
    if opts.classes.isdigit():
        k = int(opts.classes)
        if not 2 <= k <= len(names):
            raise DataError(f"--classes {k}: {what} has {len(names)} classes; keep between 2 and {len(names)}")
        keep = np.sort(np.random.default_rng(opts.seed).choice(len(names), k, replace=False))
    else:
        wanted = sorted({c.strip() for c in opts.classes.split(",") if c.strip()})
        unknown = [c for c in wanted if c not in names]
        if unknown:
            raise DataError(f"--classes: {what} has no class {unknown[0]!r}; its classes: {', '.join(names[:20])}")
        if len(wanted) < 2:
            raise DataError(
                f"--classes names {len(wanted)} class; a classifier needs at least 2 (a,b,...) or a count K"
            )
        keep = np.array(sorted(list(names).index(c) for c in wanted), dtype=np.int64)
    return tuple(names[i] for i in keep), keep


def _subset(y: np.ndarray, keep: np.ndarray, opts: Options | None) -> np.ndarray:
    """Sorted indices of the images of the kept classes; with `opts.per_class`, at most that many per class."""
    idx = np.flatnonzero(np.isin(y, keep))
    if opts is None or not opts.per_class:
        return idx
    rng = np.random.default_rng(opts.seed + 1)
    picked = [rng.permutation(idx[y[idx] == c])[: opts.per_class] for c in keep]
    return np.sort(np.concatenate(picked)) if picked else idx[:0]


def _relabel(y: np.ndarray, keep: np.ndarray) -> np.ndarray:
    lookup = np.full(int(max(keep.max(initial=0), y.max(initial=0))) + 1, -1, dtype=np.int64)
    lookup[keep] = np.arange(len(keep))
    return lookup[y]


def _subset_info(opts: Options, names: Sequence[str]) -> dict[str, Any]:
    if not opts.classes and not opts.per_class:
        return {}
    return {"classes": opts.classes, "kept": list(names), "per_class": opts.per_class, "seed": opts.seed}


def _folder_fingerprint(root: str, files: Sequence[Path]) -> dict[str, Any]:
    """Of an image folder: how many files, their bytes, and a SHA-256 over (relative path, size, mtime)."""
    digest, total = hashlib.sha256(), 0
    for f in sorted(map(str, files)):
        st = os.stat(f)
        total += st.st_size
        digest.update(f"{os.path.relpath(f, root)}\t{st.st_size}\t{st.st_mtime_ns}\n".encode())
    return {"root": root, "files": len(files), "bytes": total, "sha256": digest.hexdigest()}


# ------------------------------------------------------------------ writing shards


def _run(plan: Plan, jobs: list[Job], out: Path, workers: int):
    """Results of the jobs as they finish: Ray tasks for decoding, the driver for rows of a loaded pool."""
    if plan.pool is not None:
        for job in jobs:
            yield _write_rows(plan, job, out)
        return
    import ray

    if workers == 1 and not ray.is_initialized():  # one worker on this machine: the driver decodes, no runtime
        for job in jobs:
            yield write_shard(job, str(out), plan.shape[1])
        return
    if not ray.is_initialized():
        raise DataError("prepare needs a Ray runtime for this source (launch.py prepare starts one)")
    task = ray.remote(num_cpus=1, max_retries=2)(write_shard)
    limit = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
    size = plan.shape[1]
    pending: list[Any] = []
    queue = list(jobs)
    while queue or pending:
        while queue and len(pending) < 2 * limit:
            pending.append(task.remote(queue.pop(0), str(out), size))
        ready, pending = ray.wait(pending, num_returns=1)
        yield ray.get(ready[0])


def write_shard(job: Job, out: str, size: int) -> dict[str, Any]:
    """Decode, resize and write one shard (a Ray task); its done-marker's content."""
    import torch

    torch.set_num_threads(1)
    skipped: list[dict[str, str]] = []
    if job.synthetic:
        from nas.data.synthetic import images

        c, h, w, k, lo, hi = job.synthetic
        xt, yt = images(c, h, w, k, lo, hi)
        x, y = xt.numpy(), yt.numpy().astype(np.int64)
    else:
        x = np.empty((len(job.files), 3, size, size), dtype=np.uint8)
        keep = []
        for i, (path, _) in enumerate(job.files):
            try:
                x[len(keep)] = read_image(Path(path), size)
                keep.append(i)
            except DataError as e:
                skipped.append({"file": path, "error": str(e).removeprefix(f"{path}: ")})
        x = x[: len(keep)]
        y = np.array([job.files[i][1] for i in keep], dtype=np.int64)
    return _save(Path(out), job, x, y) | {"skipped": skipped}


def _write_rows(plan: Plan, job: Job, out: Path) -> dict[str, Any]:
    pool = plan.pool
    assert pool is not None
    x_all, y_all = (pool.train_x, pool.train_y) if job.split == "train" else (pool.test_x, pool.test_y)
    lo, hi = job.rows
    x = x_all[lo:hi]
    if x.shape[1:] != plan.shape:
        x = resize(np.ascontiguousarray(x), plan.shape[1], plan.shape[2])
    return _save(out, job, np.ascontiguousarray(x), y_all[lo:hi]) | {"skipped": []}


def _save(out: Path, job: Job, x: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """Write one shard's images and labels atomically; its count, SHA-256 and pixel histogram."""
    from nas.data.splits import channel_histograms

    files = {}
    for part, array in (("x", x), ("y", y)):
        final = out / f"{job.name}.{part}.npy"
        tmp = final.with_name(f".{final.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as f:
            np.save(f, array)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, final)
        files[part] = final
    digest = hashlib.sha256()
    with open(files["x"], "rb") as f:
        while chunk := f.read(2**22):
            digest.update(chunk)
    hist = channel_histograms(x).tolist() if len(x) else []
    return {"name": job.name, "split": job.split, "count": len(x), "sha256": digest.hexdigest(), "hist": hist}


def _read_done(state: Path, name: str) -> dict[str, Any] | None:
    marker = state / f"{name}.json"
    out = state.parent
    try:
        done = json.loads(marker.read_text())
    except (OSError, ValueError):
        return None
    if not all((out / f"{name}.{p}.npy").is_file() for p in "xy"):
        return None
    return done


def _manifest(plan: Plan, done: dict[str, dict[str, Any] | None]) -> Manifest:
    results = [done[j.name] for j in plan.jobs]
    assert all(r is not None for r in results)
    splits: dict[str, tuple[Shard, ...]] = {}
    for split in ("train", "test"):
        rows = [r for r in results if r is not None and r["split"] == split and r["count"]]
        splits[split] = tuple(Shard(f"{r['name']}.x.npy", f"{r['name']}.y.npy", r["count"], r["sha256"]) for r in rows)
    hists = [np.array(r["hist"]) for r in results if r is not None and r["split"] == "train" and r["count"]]
    if not hists:
        raise DataError(f"{plan.name}: no training image could be read")
    mean, std = stats_of_histograms(np.sum(hists, axis=0))
    skipped = tuple(s for r in results if r is not None for s in r["skipped"])
    return Manifest(plan.name, plan.shape, plan.num_classes, plan.classes, splits, mean, std, plan.flip,
                    plan.crop_padding, plan.source, plan.steps, plan.subset, plan.fingerprint, skipped)  # fmt: skip


def _write_json(path: Path, value: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(value, indent=1) + "\n")
    os.replace(tmp, path)
