"""How well parameters and FLOPs predict inference latency on this CPU, and how repeatable latency is.

    python bench/bench_latency.py                           # 80 sampled digits networks, each timed twice
    python bench/bench_latency.py --quick                   # smoke test: 10 networks (latency_quick.json)
    python bench/bench_latency.py --results results/digits-evolution   # also: a search's recorded trials

Each sampled network of the default digits search space is timed the way a trial times it
(`nas.trial.latency.measure` on the fx-traced network, one thread as a default trial has, bf16 autocast and
channels_last where the trial would use them; 3 warm-up runs, median of 10 timed runs, at batch 1 and
batch 64). Two passes over all networks, the second in reverse order, give the test-retest agreement.
Reported: Spearman rank correlation of latency with parameters and with FLOPs (95 % bootstrap
intervals over networks, p-values), and the two passes' Spearman and median relative difference.
With `--results`, the same correlations over the trials a search recorded (measured inside its trials).
"""

from __future__ import annotations

import argparse
import random
import sys
import time

import numpy as np
import torch
from _common import machine, quiet_machine_note, table, write_results
from scipy.stats import spearmanr

import searchspace as ss
from nas.config import SearchConfig, make_space
from nas.data import load_dataset
from nas.driver.coordinator import DataInfo
from nas.trial import latency
from nas.trial.train import TrainConfig, uses_bf16

BATCHES = (1, 64)


def spearman_ci(
    x: np.ndarray, y: np.ndarray, rng: np.random.Generator, n: int = 2000
) -> tuple[float, float, float, float]:
    """Spearman's rho, its p-value and a 95 % bootstrap interval over pairs."""
    rho, p = spearmanr(x, y)
    boot = []
    for _ in range(n):
        i = rng.integers(0, len(x), len(x))
        boot.append(spearmanr(x[i], y[i])[0])
    lo, hi = np.nanpercentile(boot, [2.5, 97.5])
    return float(rho), float(p), float(lo), float(hi)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nets", type=int, default=80)
    ap.add_argument("--quick", action="store_true", help="10 networks; writes latency_quick.json")
    ap.add_argument("--results", help="a results folder whose trials recorded latency_ms")
    args = ap.parse_args()
    if args.quick:
        args.nets = 10
    note = quiet_machine_note()
    if note:
        print(note, file=sys.stderr)
    torch.set_num_threads(1)
    data = load_dataset("digits", val_fraction=0.3)
    info = DataInfo.of(data)
    space = make_space(SearchConfig(), info)
    cfg, cpu = TrainConfig(), torch.device("cpu")
    nets = []
    for i in range(args.nets):
        g = space.sample(random.Random(i))
        params, flops = ss.complexity(g, info.in_channels, info.num_classes, info.input_size)
        model = ss.build(g, info.in_channels, info.num_classes)
        amp = uses_bf16(cfg, cpu, flops)
        fmt = torch.channels_last if amp else torch.contiguous_format
        nets.append(
            {"net": ss.trace(model.to(memory_format=fmt)), "params": params, "flops": flops, "amp": amp, "fmt": fmt}
        )
    sample = (info.in_channels, *info.input_size)
    t0 = time.perf_counter()
    passes = []
    for order in (range(len(nets)), reversed(range(len(nets)))):
        timed = {}
        for i in order:
            n = nets[i]
            timed[i] = latency.measure(n["net"], sample, cpu, BATCHES, amp=n["amp"], memory_format=n["fmt"])
        passes.append([timed[i] for i in range(len(nets))])
    seconds = time.perf_counter() - t0
    rng = np.random.default_rng(0)
    params = np.array([n["params"] for n in nets], dtype=float)
    flops = np.array([n["flops"] for n in nets], dtype=float)
    rows, out = [], {"nets": len(nets), "seconds": seconds, "bf16_share": float(np.mean([n["amp"] for n in nets]))}
    for b in BATCHES:
        a = np.array([t[b] for t in passes[0]])
        c = np.array([t[b] for t in passes[1]])
        mean = (a + c) / 2
        retest = spearmanr(a, c)[0]
        rel = float(np.median(np.abs(a - c) / mean))
        for name, x in (("params", params), ("flops", flops)):
            rho, p, lo, hi = spearman_ci(x, mean, rng)
            rows.append([f"sampled, batch {b}", name, rho, f"[{lo:.2f}, {hi:.2f}]", f"{p:.1e}", retest, rel,
                         float(np.median(mean))])  # fmt: skip
            out[f"batch{b}_{name}"] = {"rho": rho, "p": p, "ci": [lo, hi]}
        out[f"batch{b}"] = {"retest_spearman": retest, "median_rel_diff": rel, "median_ms": float(np.median(mean)),
                            "range_ms": [float(mean.min()), float(mean.max())]}  # fmt: skip
    if args.results:
        from nas.record import results

        df = results.load(args.results)
        df = df[df["latency_ms"].notna()]
        for col, b in (("latency_ms", 1), ("latency_batch_ms", int(df["latency_batch"].dropna().iloc[0]))):
            y = df[col].to_numpy(dtype=float)
            for name in ("params", "flops"):
                rho, p, lo, hi = spearman_ci(df[name].to_numpy(dtype=float), y, rng)
                rows.append([f"search ({len(df)} trials), batch {b}", name, rho, f"[{lo:.2f}, {hi:.2f}]", f"{p:.1e}",
                             float("nan"), float("nan"), float(np.median(y))])  # fmt: skip
                out[f"search_batch{b}_{name}"] = {"rho": rho, "p": p, "ci": [lo, hi], "n": len(df)}
    print(table(["networks", "predictor", "Spearman", "95% CI", "p", "retest", "median |diff|", "median ms"], rows))
    print(f"{len(nets)} networks, {out['bf16_share']:.0%} timed under bf16 autocast; {seconds:.0f} s of timing")
    path = write_results("latency_quick" if args.quick else "latency", out | {"machine": machine()})
    print(f"results: {path}")


if __name__ == "__main__":
    main()
