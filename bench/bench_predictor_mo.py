"""The predictor's round with two objectives (accuracy and parameters): what it costs, before and after.

    python bench/bench_predictor_mo.py           # 5 repeats
    python bench/bench_predictor_mo.py --quick   # 1 repeat

Two parts of a round, each timed with the way it was done before (the baseline, in the same run) and now:

- the costs known before training of the round's 100 candidates (NAS-Bench-201 cells at 32 px): parameters
  and FLOPs (`ss.complexity`, a forward pass on the meta device: what the predictor was given) against
  parameters alone from cached modules (`ss.count_params`: what it asks for when FLOPs are no objective);
- picking the round's 10 proposals by expected hypervolume improvement over 5 ensemble members: one
  hypervolume per candidate and member (the loop it was) against `nas.pareto.hypervolume_gains` (one
  vectorised pass over the front's staircase); the picks are checked to be the same.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

import numpy as np
from _common import machine, table, write_results

import searchspace as ss
from nas import pareto


def costs_ms(genotypes: list, flops: bool) -> float:
    t0 = time.perf_counter()
    for g in genotypes:
        ss.complexity(g, 3, 10, (32, 32)) if flops else ss.count_params(g, 3, 10)
    return (time.perf_counter() - t0) * 1e3


def picks_by_loop(points: np.ndarray, preds: np.ndarray, ref: np.ndarray, size: int) -> list[int]:
    chosen: list[int] = []
    for _ in range(size):
        base = pareto.hypervolume(points, ref, [True, True])
        gains = np.full(preds.shape[1], -np.inf)
        for i in range(preds.shape[1]):
            if i not in chosen:
                gains[i] = np.mean([pareto.hypervolume(np.vstack([points, p[i]]), ref, [True, True]) - base
                                    for p in preds])  # fmt: skip
        best = int(np.argmax(gains))
        chosen.append(best)
        points = np.vstack([points, preds[:, best].mean(0)])
    return chosen


def picks_by_gains(points: np.ndarray, preds: np.ndarray, ref: np.ndarray, size: int) -> list[int]:
    chosen: list[int] = []
    for _ in range(size):
        gains = np.mean([pareto.hypervolume_gains(points, p, ref, [True, True]) for p in preds], 0)
        gains[chosen] = -np.inf
        best = int(np.argmax(gains))
        chosen.append(best)
        points = np.vstack([points, preds[:, best].mean(0)])
    return chosen


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    repeats = 1 if args.quick else 5
    space, rng = ss.SearchSpace(template="nb201", num_classes=10), random.Random(0)
    ss.count_params(space.sample(rng), 3, 10)  # (the modules' cache warm, as in a running search)
    results: dict[str, list[float]] = {k: [] for k in ("flops", "params", "loop", "gains")}
    for r in range(repeats):
        cells = [space.sample(rng) for _ in range(100)]
        results["flops"].append(costs_ms(cells, flops=True))
        results["params"].append(costs_ms(cells, flops=False))
        g = np.random.default_rng(r)
        points = np.column_stack([g.random(40), -g.random(40) * 1e6])  # 40 results: (accuracy, -params)
        preds = np.stack([np.column_stack([g.random(100), -g.random(100) * 1e6]) for _ in range(5)])
        ref = points.min(0) - 0.1 * (np.ptp(points, 0) + 1e-12)
        t0 = time.perf_counter()
        slow = picks_by_loop(points, preds, ref, 10)
        results["loop"].append((time.perf_counter() - t0) * 1e3)
        t0 = time.perf_counter()
        fast = picks_by_gains(points, preds, ref, 10)
        results["gains"].append((time.perf_counter() - t0) * 1e3)
        if fast != slow:
            raise SystemExit(f"the picks differ: {slow} vs {fast}")
    med = {k: statistics.median(v) for k, v in results.items()}
    rows = [
        ["costs of 100 candidates", f"{med['flops']:.0f}", f"{med['params']:.0f}", med["flops"] / med["params"]],
        ["10 picks by EHVI (5 members)", f"{med['loop']:.0f}", f"{med['gains']:.1f}", med["loop"] / med["gains"]],
    ]
    print(table(["one round", "before (ms)", "after (ms)", "before / after"], rows))
    name = "bench_predictor_mo_quick" if args.quick else "bench_predictor_mo"
    write_results(name, {"machine": machine(), "repeats": repeats, "ms": results, "median": med})


if __name__ == "__main__":
    main()
