"""A trial's phases on a GPU: a new architecture's first trial against a repeat of it, cuDNN autotuning on and off.

    python bench/gpu_phases.py --out DIR                # on a CUDA machine (~1-2 minutes)
    python bench/gpu_phases.py --dry-run --out DIR      # on a CPU, small: checks the script itself

For each setting (``cudnn_benchmark`` true, then false) a fresh process trains three architectures sampled from
the default space (seed 0) on CIFAR-shaped synthetic data, each twice in a row: the first trial of an architecture
meets its layer shapes for the first time (cuDNN's autotuning of each, lazy kernel loading), the repeat finds them
chosen. Each row is the trial's ``phases`` (`nas.record.row.PHASES`), its wall time and its overhead (wall minus
the training epochs). The issue's targets: overhead < 1 s for a repeat, < 2 s for a new architecture.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
from pathlib import Path

from _common import ROOT, machine, table

ARCHITECTURES = 3


def one_setting(cudnn: bool, dry: bool) -> list[dict]:
    """In this process: each architecture trained twice; the rows."""
    from nas.data import load_dataset
    from nas.trial.train import TrainConfig, train_trial
    from searchspace.space import SearchSpace

    data = load_dataset("synthetic:3x32x32:10:1000" if dry else "synthetic:3x32x32:10:20000")
    cfg = TrainConfig(epochs=1, device="cpu" if dry else "cuda", cudnn_benchmark=cudnn, latency=False)
    rng = random.Random(0)
    space = SearchSpace()
    rows = []
    for arch in range(ARCHITECTURES):
        genotype = space.sample(rng)
        for run in ("new", "repeat"):
            result = train_trial(genotype, data, cfg, seed=arch)
            m = result.metrics
            rows.append({"cudnn_benchmark": cudnn, "architecture": arch, "run": run, "status": result.status,
                         "wall_seconds": m.get("wall_seconds"), "train_seconds": m.get("train_seconds"),
                         "flops": m.get("flops"), "phases": m.get("phases", {})})  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "gpu"))
    parser.add_argument("--dry-run", action="store_true")
    parser.add_argument("--setting", choices=["on", "off"], help=argparse.SUPPRESS)  # (the child process)
    args = parser.parse_args()
    if args.setting:
        print(json.dumps(one_setting(args.setting == "on", args.dry_run)))
        return
    rows = []
    for setting in ("on", "off"):  # a fresh process each: nothing chosen or loaded carries over
        argv = [sys.executable, __file__, "--setting", setting, *(["--dry-run"] if args.dry_run else [])]
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=600)
        if proc.returncode:
            raise SystemExit(f"setting {setting}: {proc.stderr[-2000:]}")
        rows += json.loads(proc.stdout.strip().splitlines()[-1])
    shown = []
    for r in rows:
        p = r["phases"]
        overhead = (r["wall_seconds"] or 0) - (r["train_seconds"] or 0)
        shown.append([r["cudnn_benchmark"], r["architecture"], r["run"], r["status"], r["wall_seconds"], overhead,
                      p.get("first_step", 0), p.get("train", 0), p.get("evaluate", 0), p.get("build", 0),
                      p.get("to_device", 0)])  # fmt: skip
    print(table(["cudnn_benchmark", "arch", "run", "status", "wall s", "overhead s", "first_step s", "train s",
                 "evaluate s", "build s", "to_device s"], shown))  # fmt: skip
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / ("gpu_phases_dry.json" if args.dry_run else "gpu_phases.json")
    path.write_text(json.dumps({"machine": machine(), "rows": rows}, indent=1))
    print(path)


if __name__ == "__main__":
    main()
