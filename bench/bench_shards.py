"""Prepared shards against the in-memory path: epoch speed, prepare speed, and memory as the set grows.

    python bench/bench_shards.py throughput     # images/s of an epoch: in memory vs streamed from shards
    python bench/bench_shards.py prepare        # launch.py prepare of 3,000 JPEG photos: 1 vs 2 workers
    python bench/bench_shards.py memory         # a search over shards 3x and 30x the object store
    python bench/bench_shards.py readahead DIR  # disk bytes read for random batches, page cache dropped (root)

``throughput``: the same network and seed trained 2 epochs by `nas.trial.train.train_trial` on the same images,
once held in memory (today's resident path) and once memory-mapped from shards written by `nas.data.prepare`
(streamed: a batch gathered by a thread while the previous one trains). Two datasets: digits at 8 px (the
default; the smallest batches, where per-batch overhead shows most) and synthetic CIFAR-sized 3x32x32 images.
Arms alternate, 3 rounds each; the ratio is of medians of ``images_per_second`` (training steps only).

``prepare``: 3,000 JPEGs of 256-480 px cut from scikit-learn's two sample photographs (real photos, shipped with
it), decoded and resized to 64 px by ``launch.py prepare`` in a subprocess with ``--workers 1`` and ``2``: the
images/s it reports (decoding and writing, Ray's start-up excluded) and the command's wall time.

``memory``: ``ray start --head --object-store-memory 100000000`` in its own process; a synthetic 3x64x64 set
prepared at N and 10 N images (0.3 and 3 GB: 3x and 30x the object store); for each, ``launch.py search
--address`` with 4 trials of one epoch stopped at 15 s (``--trial-timeout``), sampling every 0.5 s the driver's
and every Ray worker's RSS split into anonymous memory (private: what a process holds itself) and file pages
(the mapped shards: page cache, shared by every process on the node). Peak values per run.

``readahead``: 30 random batches of 256 images from a prepared DIR, each arm in a fresh process after
``sync; echo 3 > /proc/sys/vm/drop_caches`` (root only): the bytes the process read from disk
(/proc/self/io) with the kernel's default readahead on the maps and with ``madvise(MADV_RANDOM)``
(`ShardImages.advice`), against the bytes of the images asked for.
Results: bench/results/shards_<part>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from _common import ROOT, machine, table, write_results

LAUNCH = [sys.executable, str(ROOT / "launch.py")]


# ------------------------------------------------------------------ throughput


def throughput(rounds: int) -> dict[str, Any]:
    import ray

    import searchspace as ss
    from nas.config import SearchConfig, make_space
    from nas.data import load_dataset
    from nas.data.prepare import Options, prepare
    from nas.record.folder import DataInfo
    from nas.trial.train import TrainConfig, train_trial

    out: dict[str, Any] = {"machine": machine(), "rounds": rounds, "sets": {}}
    tmp = Path(tempfile.mkdtemp(prefix="bench_shards_"))
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        for name, source, size in (("digits 8 px", "digits", 8), ("synthetic 32 px", "synthetic:3x32x32:10:6000", 32)):
            prepare(Options(source, size), tmp / name.replace(" ", "_"), log=lambda line: None)
            mem = load_dataset(source)
            mapped = load_dataset(f"shards:{tmp / name.replace(' ', '_')}")
            space = make_space(SearchConfig(), DataInfo(mem.in_channels, mem.num_classes, mem.input_size, name))
            g = space.sample(random.Random(1))
            cfg = TrainConfig(epochs=2, latency=False, keep_weights=False)
            rates: dict[str, list[float]] = {"memory": [], "shards": []}
            for _ in range(rounds):
                for arm, data in (("memory", mem), ("shards", mapped)):
                    r = train_trial(g, data, cfg, seed=0)
                    assert r.status == "ok", r.metrics
                    rates[arm].append(r.metrics["images_per_second"])
            med = {arm: statistics.median(v) for arm, v in rates.items()}
            out["sets"][name] = {
                "train_images": len(mem.train_x),
                "flops": ss.complexity(g, mem.in_channels, mem.num_classes, mem.input_size)[1],
                "images_per_second": rates,
                "median": med,
                "ratio": med["shards"] / med["memory"],
            }
            print(f"{name}: memory {med['memory']:,.0f}/s, shards {med['shards']:,.0f}/s, "
                  f"ratio {med['shards'] / med['memory']:.3f}", flush=True)  # fmt: skip
    finally:
        ray.shutdown()
    rows = [
        [k, v["train_images"], v["median"]["memory"], v["median"]["shards"], v["ratio"]] for k, v in out["sets"].items()
    ]
    print(table(["set", "train images", "in memory img/s", "shards img/s", "shards / memory"], rows))
    return out


# ------------------------------------------------------------------ prepare


def photo_folder(root: Path, n: int) -> Path:
    """n JPEGs of 256-480 px cut from scikit-learn's sample photographs, in 5 class folders."""
    from PIL import Image
    from sklearn.datasets import load_sample_images

    photos = [Image.fromarray(a) for a in load_sample_images().images]
    rng = random.Random(0)
    for i in range(n):
        photo = photos[i % len(photos)]
        side = rng.randint(256, 480)
        x, y = rng.randint(0, photo.width - side // 2), rng.randint(0, photo.height - side // 2)
        crop = photo.crop((x, y, x + side // 2, y + side // 2)).resize((side, side))
        folder = root / f"class{i % 5}"
        folder.mkdir(parents=True, exist_ok=True)
        crop.save(folder / f"{i:05d}.jpg", quality=90)
    return root


def prepare_speed(n: int) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="bench_prepare_"))
    photos = photo_folder(tmp / "photos", n)
    out: dict[str, Any] = {"machine": machine(), "images": n, "size": 64, "runs": {}}
    for workers in (1, 2, 1, 2):
        dest = tmp / f"out{workers}-{time.time_ns()}"
        t0 = time.perf_counter()
        proc = subprocess.run([*LAUNCH, "prepare", str(photos), "--image-size", "64", "--out", str(dest),
                               "--workers", str(workers)], capture_output=True, text=True)  # fmt: skip
        wall = time.perf_counter() - t0
        assert proc.returncode == 0, proc.stderr[-2000:]
        rate = float(re.findall(r"([\d,]+) images/s", proc.stderr)[-1].replace(",", ""))
        out["runs"].setdefault(str(workers), []).append({"images_per_second": rate, "wall_seconds": wall})
        print(f"workers {workers}: {rate:,.0f} images/s, {wall:.1f} s wall", flush=True)
    med = {w: statistics.median(r["images_per_second"] for r in runs) for w, runs in out["runs"].items()}
    out["median"] = med
    out["speedup_2_over_1"] = med["2"] / med["1"]
    print(table(["workers", "images/s (median of 2)"], [[w, v] for w, v in med.items()]))
    return out


# ------------------------------------------------------------------ memory


def _status(pid: int) -> dict[str, int]:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return {}
    return {k: int(v.split()[0]) * 1024 for k, v in re.findall(r"^(VmRSS|RssAnon|RssFile):\s+(.*)$", text, re.M)}


def _ray_workers() -> list[int]:
    """Ray's worker processes (``ray::<task or actor>``), not its agents."""
    pids = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                cmd = (p / "cmdline").read_bytes()
            except OSError:
                continue
            if cmd.startswith(b"ray::") and b"Agent" not in cmd:
                pids.append(int(p.name))
    return pids


def _sample(stop: threading.Event, driver: int, peaks: dict[str, dict[str, int]]) -> None:
    """Peak RSS, anonymous and file-backed, of the driver and of any one Ray worker, every 0.5 s until stopped."""
    while not stop.is_set():
        for role, pids in (("driver", [driver]), ("worker", _ray_workers())):
            for pid in pids:
                for k, v in _status(pid).items():
                    peaks[role][k] = max(peaks[role].get(k, 0), v)
        time.sleep(0.5)


def memory(base: int, trials: int) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="bench_memory_"))
    env = os.environ | {"RAY_AUTH_MODE": os.environ.get("RAY_AUTH_MODE", "")}
    port = 6390
    head = subprocess.Popen(
        ["ray", "start", "--head", "--block", f"--port={port}", "--num-cpus=2", "--object-store-memory=100000000",
         "--include-dashboard=false", f"--temp-dir={tmp / 'ray'}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, env=env,
    )  # fmt: skip
    out: dict[str, Any] = {"machine": machine(), "object_store_bytes": 100_000_000, "runs": []}
    try:
        time.sleep(12)
        for scale in (1, 10):
            n = base * scale
            shards = tmp / f"set{scale}"
            t0 = time.perf_counter()
            proc = subprocess.run([*LAUNCH, "prepare", f"synthetic:3x64x64:10:{n}", "--image-size", "64", "--out",
                                   str(shards), "--address", f"127.0.0.1:{port}"], capture_output=True, text=True)  # fmt: skip
            assert proc.returncode == 0, proc.stderr[-2000:]
            prep_s = time.perf_counter() - t0
            size = sum(f.stat().st_size for f in shards.glob("*.npy"))
            cmd = [*LAUNCH, "search", "--dataset", f"shards:{shards}", "--address", f"127.0.0.1:{port}",
                   "--trials", str(trials), "--epochs", "1", "--trial-timeout", "15", "--val-fraction", "0.004",
                   "--results-dir", str(tmp / "results"), "--name", f"set{scale}", "--concurrency", "2"]  # fmt: skip
            search = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            peaks: dict[str, dict[str, int]] = {"driver": {}, "worker": {}}
            stop = threading.Event()
            sampler = threading.Thread(target=_sample, args=(stop, search.pid, peaks), daemon=True)
            sampler.start()
            _, err = search.communicate(timeout=1800)
            stop.set()
            sampler.join()
            assert search.returncode == 0, err[-2000:]
            run = {"scale": scale, "images": n, "bytes": size, "store_multiple": size / 100_000_000,
                   "prepare_seconds": prep_s, "peak_bytes": peaks, "last_lines": err.splitlines()[-3:]}  # fmt: skip
            out["runs"].append(run)
            print(json.dumps({k: run[k] for k in ("scale", "bytes", "store_multiple", "peak_bytes")}), flush=True)
    finally:
        os.killpg(head.pid, signal.SIGTERM)  # the head we started, and only it
        head.wait(timeout=60)
    rows = []
    for r in out["runs"]:
        p = r["peak_bytes"]
        rows.append([f"{r['bytes'] / 1e9:.2f} GB ({r['store_multiple']:.0f}x store)",
                     p["driver"].get("RssAnon", 0) / 2**20, p["driver"].get("RssFile", 0) / 2**20,
                     p["worker"].get("RssAnon", 0) / 2**20, p["worker"].get("RssFile", 0) / 2**20])  # fmt: skip
    print(table(["prepared set", "driver anon MB", "driver file MB", "worker anon MB", "worker file MB"], rows))
    return out


READ = r"""
import json, re, sys, time
from pathlib import Path
import numpy as np
from nas.data import load_dataset
from nas.data.shards import ShardImages
ShardImages.advice = sys.argv[2] == "random"
x = load_dataset(f"shards:{sys.argv[1]}").train_x
io = lambda: int(re.search(r"read_bytes:\s+(\d+)", Path("/proc/self/io").read_text()).group(1))
before, t0, rng = io(), time.perf_counter(), np.random.default_rng(1)
for _ in range(30):
    x.take(rng.integers(0, len(x), 256))
asked = 30 * 256 * int(np.prod(x.image_shape))
print(json.dumps({"read_bytes": io() - before, "asked_bytes": asked, "seconds": time.perf_counter() - t0}))
"""


def readahead(folder: str) -> dict[str, Any]:
    out: dict[str, Any] = {"machine": machine(), "folder": folder, "arms": {}}
    for arm in ("default", "random", "default", "random"):
        subprocess.run(["sync"], check=True)
        Path("/proc/sys/vm/drop_caches").write_text("3\n")  # (root only: PermissionError otherwise)
        proc = subprocess.run([sys.executable, "-c", READ, folder, arm], capture_output=True, text=True, cwd=ROOT)
        assert proc.returncode == 0, proc.stderr[-2000:]
        out["arms"].setdefault(arm, []).append(json.loads(proc.stdout))
        print(arm, proc.stdout.strip(), flush=True)
    rows = [[arm, statistics.median(r["read_bytes"] for r in runs) / 2**20, runs[0]["asked_bytes"] / 2**20,
             statistics.median(r["seconds"] for r in runs)] for arm, runs in out["arms"].items()]  # fmt: skip
    print(table(["readahead", "read from disk MB", "images asked MB", "seconds"], rows))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("part", choices=["throughput", "prepare", "memory", "readahead"])
    parser.add_argument("folder", nargs="?", help="readahead: a prepared folder")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--images", type=int, default=3000, help="prepare: JPEGs to write")
    parser.add_argument("--base", type=int, default=25000, help="memory: images of the 1x set (3x64x64: 0.3 GB)")
    parser.add_argument("--trials", type=int, default=4)
    args = parser.parse_args()
    if args.part == "throughput":
        result = throughput(args.rounds)
    elif args.part == "prepare":
        result = prepare_speed(args.images)
    elif args.part == "readahead":
        result = readahead(args.folder)
    else:
        result = memory(args.base, args.trials)
    write_results(f"shards_{args.part}", result)


if __name__ == "__main__":
    main()
