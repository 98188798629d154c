"""Packing trials on one GPU: trials per hour with 1, 2, 4 and 8 trials sharing the card.

    python bench/bench_packing.py                      # on a CUDA machine: k = 1, 2, 4, 8
    python bench/bench_packing.py --dry-run            # on a CPU, small: checks the script itself

Each setting is the same random search (seed 0, so every setting trains the same architectures
in the same order) through Ray Tune (`nas.engines.ray_tune.RayEngine`), with ``gpus_per_trial = 1/k`` and
``concurrency = k``: Ray places k trials on the GPU at once, and each trial caps its own share of
the card's memory at 1/k (``set_per_process_memory_fraction``). The networks are small CNNs on
CIFAR-shaped synthetic data: alone, one uses a fraction of an H200 (the k = 1 row's GPU
utilization says how much). One Ray runtime serves every setting, so its start-up is paid once
and timed separately. Throughput = counted trials / wall time of the search; the baseline is k = 1
in the same run. nvidia-smi is sampled during each setting (utilization, memory, processes).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import statistics
import tempfile
import time
import warnings
from pathlib import Path

from _common import GpuSampler, machine, table, write_results

from nas.config import SearchConfig
from nas.data import DataSplits, load_dataset
from nas.driver.coordinator import DataInfo, SearchState
from nas.status import DISPATCHED
from nas.trial.train import TrainConfig

SPACE = {
    "ops": ["conv", "sepconv", "res_basic", "maxpool"],
    "wirings": ["chain", "residual"],
    "stages": [2, 2],
    "nodes": [2, 3],
    "widths": [32, 64],
    "head_hidden": [0],
    "head_dropout": [0.0],
}


def run_setting(k: int, data: DataSplits, trials: int, epochs: int, cpus: float, gpu: bool) -> dict:
    """One random search with k trials per GPU; wall time and the trials' own numbers."""
    from nas.engines.ray_tune import RayEngine

    cfg = SearchConfig(
        name=f"packing-{k}",
        controller="random",
        trials=trials,
        concurrency=k,
        cpus_per_trial=cpus,
        gpus_per_trial=1 / k if gpu else 0.0,
        keep_weights="none",
        space=SPACE,
        train=TrainConfig(epochs=epochs, device="cuda" if gpu else "cpu"),
    )
    with tempfile.TemporaryDirectory(prefix="nasgraph-packing-") as tmp:
        with SearchState(cfg, Path(tmp) / "s", DataInfo.of(data), log=lambda line: None) as state:
            with GpuSampler() as sampler:
                t0 = time.perf_counter()
                with _quiet():
                    RayEngine(data).run(state)
                wall = time.perf_counter() - t0
            rows = [r for r in state.record.rows() if r["status"] in DISPATCHED]
    return {
        "k": k,
        "gpus_per_trial": cfg.gpus_per_trial,
        "trials": len(rows),
        "statuses": {s: sum(1 for r in rows if r["status"] == s) for s in {r["status"] for r in rows}},
        "wall_s": wall,
        "trials_per_hour": 3600 * len(rows) / wall,
        "trial_wall_median_s": statistics.median(r["wall_seconds"] or 0.0 for r in rows) if rows else None,
        "train_images_per_second_median": statistics.median(r["images_per_second"] or 0.0 for r in rows)
        if rows
        else None,
        "peak_memory_mb_max": max((r.get("peak_memory_mb") or 0.0 for r in rows), default=None),
        "resident_memory_mb_max": max((r.get("resident_memory_mb") or 0.0 for r in rows), default=None),
        "workers": len({r.get("worker") for r in rows}),
        "gpu": sampler.summary(),
    }


@contextlib.contextmanager
def _quiet():
    """Tune's progress and warnings off: the table is the output."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        logging.getLogger("ray").setLevel(logging.ERROR)
        yield


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dry-run", action="store_true", help="CPU, tiny: check the script")
    ap.add_argument("--ks", default="1,2,4,8", help="trials per GPU to measure")
    ap.add_argument("--trials", type=int, default=8, help="trials per setting")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--images", type=int, default=10000, help="CIFAR-shaped synthetic images")
    ap.add_argument("--cpus-per-trial", type=float, default=1.0)
    ap.add_argument("--out", default=None, help="also write the JSON here")
    args = ap.parse_args()
    import torch

    from nas.engines.ray_tune import init_ray

    gpu = torch.cuda.is_available() and not args.dry_run
    ks = [int(k) for k in args.ks.split(",")]
    if args.dry_run:
        ks, args.trials, args.epochs, args.images = [1, 2], 4, 1, 600
    data = load_dataset(f"synthetic:3x32x32:10:{args.images}")
    t0 = time.perf_counter()
    init_ray(None, num_cpus=None if gpu else 2)
    ray_start = time.perf_counter() - t0
    rows = []
    for k in ks:
        rows.append(run_setting(k, data, args.trials, args.epochs, args.cpus_per_trial, gpu))
        r = rows[-1]
        print(f"  k={k}: {r['trials']} trials in {r['wall_s']:.1f}s, {r['trials_per_hour']:,.0f}/h", flush=True)
        if args.out:  # what is measured survives a run cut short
            Path(args.out).write_text(json.dumps({"partial": True, "rows": rows}, indent=2, default=str) + "\n")
    base = rows[0]["trials_per_hour"]
    body = [
        [
            r["k"],
            f"{r['gpus_per_trial']:.3g}",
            r["trials"],
            r["wall_s"],
            r["trials_per_hour"],
            f"{r['trials_per_hour'] / base:.2f}x",
            r["trial_wall_median_s"],
            r["train_images_per_second_median"],
            r["gpu"].get("util_mean", float("nan")),
            r["gpu"].get("memory_used_max_mb", float("nan")),
            r["peak_memory_mb_max"],
        ]
        for r in rows
    ]
    headers = ["k", "GPU/trial", "trials", "wall s", "trials/h", "vs k=1", "trial s (median)", "img/s/trial"]
    headers += ["GPU util % (mean)", "GPU mem max MiB", "trial peak MiB"]
    text = table(headers, body)
    print(f"\npacking, {data.name}, {args.trials} trials x {args.epochs} epochs, Ray start {ray_start:.1f}s\n{text}")
    payload = {
        "machine": machine(),
        "dataset": data.name,
        "trials": args.trials,
        "epochs": args.epochs,
        "space": SPACE,
        "ray_start_s": ray_start,
        "rows": rows,
        "table": text,
    }
    path = write_results("bench_packing" + ("_dry" if args.dry_run else ""), payload)
    if args.out:
        Path(args.out).write_text(json.dumps(payload, indent=2, default=str) + "\n")
    print(f"results: {path}")


if __name__ == "__main__":
    main()
