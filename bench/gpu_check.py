"""The CUDA code paths no CPU test reaches, each checked on a real GPU and reported pass/fail.

    python bench/gpu_check.py --out DIR            # on a CUDA machine (bench/gpu_check.sh runs it)
    python bench/gpu_check.py --out DIR --dry-run  # the same script on a CPU, smaller: catches its own bugs

Checks, in order (each one's outcome, numbers and reasons go to DIR/gpu_check.json as it finishes,
so a run cut short keeps what it measured):

- ``env``: the GPU, its memory, and a bf16 matrix-product rate measured here (the MFU ceiling).
- ``search_fractional``: ``launch.py search`` on CIFAR-shaped synthetic data with
  ``--gpus-per-trial 0.25 --concurrency 4`` whose population starts (``--init``) with a genotype
  whose activations need well over a quarter of the card: that trial must be recorded ``oom`` (a
  real CUDA out-of-memory under ``set_per_process_memory_fraction``), every other trial ``ok``,
  four trials must have run at once, and each reused worker must give its memory back between
  trials (``resident_memory_mb`` after each trial, ``peak_memory_mb`` during it).
- ``device_refused``: ``--device cuda:N`` past the last GPU is refused in one line, exit 2, no folder
  (Ray and local engines).
- ``overhead``: a new architecture's first trial against a repeat of it, cuDNN autotuning on and off:
  where a short trial's time goes (a measurement, always "pass").
- ``precision``: bf16 autocast and channels_last against fp32/NCHW on the same architectures and
  seeds (digits placed on a 32x32 canvas: real, learnable, CIFAR-shaped): mean validation accuracy
  within the seed-to-seed band.
- ``compile``: ``launch.py train ... --compile`` through Ray: one trial ``ok``, its throughput
  against the same trial without compiling.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

from _common import ROOT, GpuSampler, machine

LAUNCH = [sys.executable, str(ROOT / "launch.py")]
MIB = 2**20


class Report:
    """The checks' results, rewritten to disk after each check."""

    def __init__(self, path: Path):
        self.path = path
        self.data: dict[str, Any] = {"machine": machine(), "checks": {}}
        self.save()

    def add(self, name: str, result: dict[str, Any]) -> None:
        self.data["checks"][name] = result
        self.save()
        status = "PASS" if result.get("pass") else "FAIL"
        print(f"[{status}] {name}: {result.get('summary', result.get('error', ''))}", flush=True)

    def save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=2, default=str) + "\n")
        tmp.replace(self.path)


def run_check(report: Report, name: str, fn, *args: Any) -> None:
    t0 = time.perf_counter()
    try:
        result = fn(*args)
    except Exception as e:  # noqa: BLE001 -- a broken check is a failed check, the others still run
        result = {"pass": False, "error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()}
    result["seconds"] = round(time.perf_counter() - t0, 1)
    report.add(name, result)


def cli(args: list[str], timeout: float, cwd: Path) -> subprocess.CompletedProcess:
    env = os.environ | {"PYTHONUNBUFFERED": "1"}
    return subprocess.run(LAUNCH + args, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)


def read_rows(folder: Path) -> list[dict[str, Any]]:
    rows = []
    for line in (folder / "trials.jsonl").read_text().splitlines():
        if line.strip():
            rows.append(json.loads(line))
    return rows


def tail(text: str, n: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-n:])


# ------------------------------------------------------------------ env


def check_env(device: str) -> dict[str, Any]:
    import torch

    if device == "cpu":
        return {"pass": True, "summary": "dry run on the CPU", "device": "cpu"}
    props = torch.cuda.get_device_properties(0)
    n = 8192
    a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(10):
        a @ b
    end.record()
    torch.cuda.synchronize()
    tflops = 10 * 2 * n**3 / (start.elapsed_time(end) / 1e3) / 1e12
    del a, b
    torch.cuda.empty_cache()
    return {
        "pass": True,
        "summary": f"{props.name}, {props.total_memory / 2**30:.0f} GiB, bf16 matmul {tflops:.0f} TFLOP/s",
        "gpu": props.name,
        "gpus": torch.cuda.device_count(),
        "memory_gib": props.total_memory / 2**30,
        "capability": f"{props.major}.{props.minor}",
        "multiprocessors": props.multi_processor_count,
        "bf16_matmul_tflops": tflops,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version(),
    }


# ------------------------------------------------------------------ a search on a quarter GPU each, with a real OOM


def oversized_genotype(width: int, depth: int):
    """A genotype of tiny parameter count whose saved activations are ~400 MB per 32x32 image at width 4096.

    A conv stem to `width` channels, then `depth` BatchNorm+ReLU nodes at full resolution: each saves
    its input and output for the backward pass. At batch 128 that is far over a quarter of any GPU.
    """
    import searchspace as ss
    from searchspace import wirings
    from searchspace.genotype import Genotype, Head, Stage

    return Genotype(
        Stage(width, (ss.node("conv"),)), (wirings.make_stage("chain", [ss.node("norm")] * depth, width, 1),), Head()
    )


def check_search_fractional(work: Path, dry: bool) -> dict[str, Any]:
    big = oversized_genotype(256 if dry else 4096, 4 if dry else 32)
    spec = work / "oversized.json"
    spec.write_text(big.to_json())
    trials = 6 if dry else 12
    args = [
        "search",
        *("--dataset", "synthetic:3x32x32:10:" + ("600" if dry else "5000")),
        *("--trials", str(trials), "--epochs", "1" if dry else "3"),
        *("--concurrency", "4", "--cpus-per-trial", "1" if dry else "2"),
        *("--init", str(spec), "--results-dir", str(work), "--name", "fractional"),
        *(["--device", "cpu"] if dry else ["--gpus-per-trial", "0.25"]),
    ]
    with GpuSampler() as gpu:
        proc = cli(args, timeout=300, cwd=work)
    folder = work / "fractional"
    rows = read_rows(folder) if (folder / "trials.jsonl").exists() else []
    counted = [r for r in rows if r["status"] not in ("rejected", "duplicate")]
    first = next((r for r in counted if r.get("meta", {}).get("origin") == "init"), None)
    others = [r for r in counted if r is not first]
    spans = [(r["finished"] - r["wall_seconds"], r["finished"]) for r in counted if r.get("wall_seconds")]
    at_once = max((sum(1 for s, e in spans if s <= t < e) for t, _ in spans), default=0)
    per_worker: dict[str, list[dict[str, Any]]] = {}
    for r in counted:
        per_worker.setdefault(str(r.get("worker")), []).append(
            {
                "trial": r["trial_id"],
                "status": r["status"],
                "peak_memory_mb": r.get("peak_memory_mb"),
                "resident_memory_mb": r.get("resident_memory_mb"),
                "params": r.get("params"),
            }
        )
    resident = [r.get("resident_memory_mb") for r in counted]
    resident_known = [v for v in resident if v is not None]
    # growth per reused worker, from its first trial that trained to the end: a trial that failed early (the
    # OOM) never created the cuBLAS/cuDNN workspaces that every later trial keeps (66 MiB on the H200)
    growth = []
    for seq in per_worker.values():
        done = [t["resident_memory_mb"] or 0.0 for t in seq if t["status"] == "ok"]
        if len(done) > 1:
            growth.append(max(done) - done[0])
    checks = {
        "exit_0": proc.returncode == 0,
        "all_trials_recorded": len(counted) == trials,
        # a sampled network may legitimately diverge; none may fail, nor run out of memory beside the oversized one
        "others_trained": any(r["status"] == "ok" for r in others)
        and all(r["status"] in ("ok", "diverged") for r in others),
        # trials' own start/end times overlapping, or nvidia-smi seeing that many processes on the GPU at once
        "several_at_once": max(at_once, gpu.concurrent_processes) >= (2 if dry else 4),  # a 2-core dry run: two
        "workers_reused": any(len(seq) > 1 for seq in per_worker.values()),
    }
    if not dry:  # a CPU has no memory fraction to exceed, and no CUDA memory to release
        checks["oversized_is_oom"] = first is not None and first["status"] == "oom"
        checks["on_cuda"] = len(resident_known) == len(counted)  # resident memory is measured on CUDA only
        checks["memory_released"] = bool(resident_known) and max(resident_known) < 512 and max(growth or [0]) < 64
    return {
        "pass": all(checks.values()),
        "summary": f"{len(counted)} trials, statuses {sorted({r['status'] for r in counted})}, "
        f"oversized {first and first['status']}, {at_once} at once, resident max "
        f"{max(resident_known, default=float('nan')):.0f} MiB",
        "checks": checks,
        "exit_code": proc.returncode,
        "oversized": {
            "params": first and first.get("params"),
            "status": first and first["status"],
            "error": first and first.get("error"),
            "worker": first and first.get("worker"),
        },
        "max_trials_at_once": at_once,
        "per_worker": per_worker,
        "resident_growth_mb": growth,
        "gpu": gpu.summary(),
        "statuses": {s: sum(1 for r in counted if r["status"] == s) for s in {r["status"] for r in counted}},
        "wall_seconds_search": sum(r.get("wall_seconds") or 0 for r in counted),
        "stderr_tail": tail(proc.stderr),
        "stdout_tail": tail(proc.stdout),
    }


# ------------------------------------------------------------------ a device this machine lacks


def check_device_refused(work: Path, dry: bool) -> dict[str, Any]:
    import torch

    index = torch.cuda.device_count() if torch.cuda.is_available() else 1
    out: dict[str, Any] = {"device": f"cuda:{index}", "engines": {}}
    ok = True
    for engine in ("ray", "local"):
        name = f"refused-{engine}"
        proc = cli(
            ["search", "--device", f"cuda:{index}", "--engine", engine, "--trials", "1", "--results-dir", str(work)]
            + ["--name", name],
            timeout=120,
            cwd=work,
        )
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
        result = {
            "exit_code": proc.returncode,
            "stderr": proc.stderr.strip()[-600:],
            "one_line": len(lines) == 1 and f"cuda:{index}" in lines[0],
            "no_folder": not (work / name).exists(),
        }
        result["pass"] = proc.returncode == 2 and result["one_line"] and result["no_folder"]
        ok = ok and result["pass"]
        out["engines"][engine] = result
    first = next(iter(out["engines"].values()))
    return out | {"pass": ok, "summary": first["stderr"].splitlines()[-1] if first["stderr"] else "(no message)"}


# ------------------------------------------------------------------ bf16 + channels_last vs fp32


def check_precision(device: str, dry: bool) -> dict[str, Any]:
    """fp32/NCHW against the product path (bf16 autocast + channels_last), and each of the two alone on one case."""
    import random

    from bench_trainer import small_net

    from nas.config import SearchConfig, make_space
    from nas.data import load_dataset
    from nas.driver.coordinator import DataInfo
    from nas.trial.train import TrainConfig, train_trial

    seeds = (0, 1) if dry else (0, 1, 2)
    data = digits32(load_dataset("digits", val_fraction=0.25))  # 450 validation images: steps of 0.2 points
    space = make_space(SearchConfig(dataset=data.name), DataInfo.of(data))
    both = {"fp32": (False, False), "bf16+cl": (True, True)}
    cases = [
        ("small", small_net(), both | {"bf16": (True, False), "channels_last": (False, True)}),
        ("sampled:1", space.sample(random.Random(1)), both),
    ]
    results: dict[str, Any] = {}
    ok = True
    for net_name, g, combos in cases:
        key = f"digits32 {net_name}"
        accs: dict[str, list[float]] = {}
        speed: dict[str, float] = {}
        for label, (bf16, cl) in combos.items():
            cfg = TrainConfig(epochs=2 if dry else 15, device=device, bf16=bf16, channels_last=cl, keep_weights=False)
            runs = [train_trial(g, data, cfg, seed=s) for s in seeds]
            bad = [r.metrics.get("error") for r in runs if r.status != "ok"]
            if bad:
                raise RuntimeError(f"{key} {label}: {bad[0]}")
            accs[label] = [r.metrics["val_acc"] for r in runs]
            speed[label] = statistics.median(r.metrics["images_per_second"] for r in runs)
        base = accs["fp32"]
        band = max(2 * statistics.stdev(base), 0.01)  # two seed-to-seed standard deviations, at least 1 point
        diffs = {k: statistics.fmean(v) - statistics.fmean(base) for k, v in accs.items()}
        case_ok = all(abs(d) <= band for d in diffs.values())
        ok = ok and case_ok
        results[key] = {
            "pass": case_ok,
            "val_acc": accs,
            "mean": {k: statistics.fmean(v) for k, v in accs.items()},
            "diff_vs_fp32": diffs,
            "band": band,
            "images_per_second": speed,
        }
    summary = "; ".join(
        f"{k}: fp32 {v['mean']['fp32']:.3f}, bf16+cl {v['mean']['bf16+cl']:.3f} (band {v['band']:.3f}), "
        f"speed x{v['images_per_second']['bf16+cl'] / v['images_per_second']['fp32']:.2f}"
        for k, v in results.items()
    )
    return {"pass": ok, "summary": summary, "seeds": list(seeds), "cases": results}


# ------------------------------------------------------------------ where a short trial's time goes


def check_overhead(device: str, dry: bool) -> dict[str, Any]:
    """A new architecture's first trial against a repeat of it (every per-shape cache warm), with cuDNN's
    autotuning on and off: how much of a short trial is first-time cost, and how much of that is autotuning.

    The H200 run of 2026-11-29 saw small 3-epoch trials take ~10 s of which ~1 s was training; this says why.
    """
    import random

    from nas.config import SearchConfig, make_space
    from nas.data import load_dataset
    from nas.driver.coordinator import DataInfo
    from nas.trial.train import TrainConfig, train_trial

    data = load_dataset("synthetic:3x32x32:10:" + ("600" if dry else "5000"))
    space = make_space(SearchConfig(dataset=data.name), DataInfo.of(data))
    rows = []
    for i, bench in enumerate((True, False)):
        g = space.sample(random.Random(100 + i))  # a new architecture each time: new layer shapes
        cfg = TrainConfig(epochs=1 if dry else 3, device=device, cudnn_benchmark=bench, keep_weights=False)
        for run in ("first", "repeat"):
            m = train_trial(g, data, cfg, seed=0).metrics
            rows.append(
                {
                    "arch": i,
                    "cudnn_benchmark": bench,
                    "run": run,
                    "wall_seconds": m.get("wall_seconds"),
                    "train_seconds": m.get("train_seconds"),
                    "outside_training_seconds": (m.get("wall_seconds") or 0) - (m.get("train_seconds") or 0),
                    "flops": m.get("flops"),
                }
            )

    def first_cost(bench: bool) -> list[float]:
        pairs = [r for r in rows if r["cudnn_benchmark"] is bench]
        return [a["wall_seconds"] - b["wall_seconds"] for a, b in zip(pairs[::2], pairs[1::2], strict=True)]

    on, off = first_cost(True), first_cost(False)
    walls = {
        b: [r["wall_seconds"] for r in rows if r["cudnn_benchmark"] is b and r["run"] == "first"] for b in (True, False)
    }
    return {
        "pass": True,  # a measurement: it informs the cudnn_benchmark default, it cannot fail
        "summary": f"first-trial extra cost: benchmark on {statistics.fmean(on):.1f}s, off {statistics.fmean(off):.1f}s; "
        f"first-trial wall: on {statistics.fmean(walls[True]):.1f}s, off {statistics.fmean(walls[False]):.1f}s",
        "rows": rows,
        "first_cost_on": on,
        "first_cost_off": off,
    }


def digits32(data):
    """A learnable CIFAR-shaped task from real images: each digit scaled to 24x24, placed at a random spot
    of a 3x32x32 canvas and tinted a random colour (synthetic:... has random labels, so no accuracy to compare)."""
    import dataclasses

    import torch
    import torch.nn.functional as F

    gen = torch.Generator().manual_seed(0)

    def convert(x: torch.Tensor) -> torch.Tensor:
        n = len(x)
        big = F.interpolate(x.float(), size=(24, 24), mode="bilinear", align_corners=False)
        tint = 0.4 + 0.6 * torch.rand(n, 3, 1, 1, generator=gen)
        canvas = torch.zeros(n, 3, 32, 32)
        dy, dx = torch.randint(0, 9, (n,), generator=gen), torch.randint(0, 9, (n,), generator=gen)
        for i in range(n):
            canvas[i, :, dy[i] : dy[i] + 24, dx[i] : dx[i] + 24] = big[i] * tint[i]
        return canvas.clamp(0, 255).to(torch.uint8)

    train_x = convert(data.train_x)
    stats = train_x.float().div(255)
    mean = tuple(stats.mean(dim=(0, 2, 3)).tolist())
    std = tuple(stats.std(dim=(0, 2, 3)).tolist())
    return dataclasses.replace(
        data,
        name="digits32",
        train_x=train_x,
        val_x=convert(data.val_x),
        test_x=convert(data.test_x),
        mean=mean,
        std=std,
        crop_padding=4,
    )


# ------------------------------------------------------------------ torch.compile on one trial


def check_compile(work: Path, device: str, dry: bool) -> dict[str, Any]:
    from nas.data import load_dataset
    from nas.trial.train import TrainConfig, train_trial
    from searchspace import zoo

    dataset = "synthetic:3x32x32:10:" + ("600" if dry else "5000")
    epochs = 1 if dry else 3
    name = "allcnn_c"
    spec = work / f"{name}.json"
    spec.write_text(zoo.get(name).to_json())
    args = ["train", str(spec), "--dataset", dataset, "--epochs", str(epochs), "--compile"]
    args += ["--results-dir", str(work), "--name", "compiled"]
    args += ["--device", "cpu"] if dry else ["--gpus-per-trial", "1"]
    proc = cli(args, timeout=400, cwd=work)
    folder = work / "compiled"
    rows = read_rows(folder) if (folder / "trials.jsonl").exists() else []
    row = rows[0] if rows else {}
    eager = train_trial(
        zoo.get(name), load_dataset(dataset), TrainConfig(epochs=epochs, device=device, keep_weights=False), seed=0
    )
    compiled_speed = row.get("images_per_second")
    eager_speed = eager.metrics.get("images_per_second")
    ok = proc.returncode == 0 and row.get("status") == "ok"
    return {
        "pass": ok,
        "summary": f"status {row.get('status')}, {compiled_speed or 0:,.0f} img/s compiled vs {eager_speed or 0:,.0f} "
        f"eager (epoch loops incl. compile), wall {row.get('wall_seconds') or 0:.0f}s vs "
        f"{eager.metrics.get('wall_seconds', 0):.0f}s",
        "exit_code": proc.returncode,
        "row": {
            k: row.get(k) for k in ("status", "error", "val_acc", "images_per_second", "train_seconds", "wall_seconds")
        },
        "eager": {k: eager.metrics.get(k) for k in ("val_acc", "images_per_second", "train_seconds", "wall_seconds")}
        | {"status": eager.status},
        "stderr_tail": tail(proc.stderr),
    }


# ------------------------------------------------------------------ main


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(ROOT / "bench" / "results"), help="folder for gpu_check.json")
    ap.add_argument("--dry-run", action="store_true", help="on the CPU, small: check this script itself")
    ap.add_argument("--only", default="", help="comma-separated checks to run (default: all)")
    args = ap.parse_args()
    import torch

    device = "cpu" if args.dry_run else "cuda"
    if device == "cuda" and not torch.cuda.is_available():
        print("error: no CUDA device (use --dry-run on a CPU machine)", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report = Report(out / ("gpu_check_dry.json" if args.dry_run else "gpu_check.json"))
    work = Path(tempfile.mkdtemp(prefix="nasgraph-gpu-check-"))
    checks = {
        "env": (check_env, device),
        "search_fractional": (check_search_fractional, work, args.dry_run),
        "device_refused": (check_device_refused, work, args.dry_run),
        "overhead": (check_overhead, device, args.dry_run),
        "precision": (check_precision, device, args.dry_run),
        "compile": (check_compile, work, device, args.dry_run),
    }
    only = [c for c in args.only.split(",") if c]
    for name, (fn, *fargs) in checks.items():
        if not only or name in only:
            run_check(report, name, fn, *fargs)
    results = report.data["checks"]
    print(f"\n{sum(r.get('pass', False) for r in results.values())}/{len(results)} checks passed -> {report.path}")
    return 0 if all(r.get("pass") for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
