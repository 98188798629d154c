"""Weight inheritance, live on digits: does starting children from their parent's weights buy the front sooner?

    python bench/bench_inherit.py                 # 5 seeds x 3 arms x 30 trials (inherit: 48), 2 at a time
    python bench/bench_inherit.py --seeds 2 --trials 12 --epochs 2    # smoke test

Each arm is a real `launch.py search` (local engine, one CPU thread per search) on the embedded digits
data with the same seeds: random search, evolution from scratch, and evolution with ``--inherit``
(children train ``--child-epochs``, default half the epochs, from their parent's weights where names and
shapes survive the mutation). Compared against cumulative training seconds (the sum of the trials'
``train_seconds`` in record order): best validation accuracy and the hypervolume of the (val_acc max,
params min) front (reference: val_acc 0 and 1.1 x the largest parameter count of all runs, divided by
the reference box). Reported: medians over seeds at fractions of scratch evolution's median total
seconds, Mann-Whitney U of inheritance vs scratch, and the training seconds inheritance needs to reach
scratch's final median hypervolume (the issue's target: at most half).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from _common import ROOT, machine, quiet_machine_note, table, write_results
from scipy.stats import mannwhitneyu

ARMS: dict[str, list[str]] = {
    "random": ["--controller", "random", "--proxies", "all"],  # (and the proxies live: their Spearman on digits)
    "evolution": ["--controller", "evolution"],
    "evolution+inherit": ["--controller", "evolution", "--inherit"],
}
FRACTIONS = (0.25, 0.5, 0.75, 1.0)
INHERIT_TRIALS = 1.6  # the inheritance arm trains more (cheaper) trials, so that its seconds reach scratch's


def run_search(arm: str, seed: int, args: argparse.Namespace, root: Path) -> tuple[str, int, dict[str, Any]]:
    name = f"{arm.replace('+', '-')}-{seed}"
    trials = round(args.trials * INHERIT_TRIALS) if "inherit" in arm else args.trials  # (about equal seconds)
    cmd = [sys.executable, str(ROOT / "launch.py"), "search", "--engine", "local", "--trials", str(trials)]
    cmd += ["--epochs", str(args.epochs), "--seed", str(seed), "--keep-weights", "none"]
    cmd += ["--results-dir", str(root), "--name", name, *ARMS[arm]]
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"{arm} seed {seed} failed:\n{done.stderr[-2000:]}")
    from nas.record import results

    df = results.load(root / name)
    df = df[df["status"].isin(["ok", "diverged", "error", "oom", "timeout", "invalid"])]  # trained (not dupes)
    proxies = {c.removeprefix("proxy_"): df[c].tolist() for c in df.columns if c.startswith("proxy_")}
    run = {
        "proxies": proxies,
        "val": df["val_acc"].fillna(0.0).tolist(),
        "params": df["params"].fillna(0).astype(float).tolist(),
        "seconds": df["train_seconds"].fillna(0.0).tolist(),
        "inherited": df["inherited"].dropna().tolist() if "inherited" in df else [],
        "wall": time.perf_counter() - t0,
    }
    return arm, seed, run


def at_seconds(run: dict[str, Any], budget: float) -> int:
    """Trials that finished within `budget` cumulative training seconds."""
    return int(np.searchsorted(np.cumsum(run["seconds"]), budget, side="right"))


def best(run: dict[str, Any], n: int) -> float:
    return max(run["val"][:n], default=0.0)


def hv(run: dict[str, Any], n: int, ref_params: float) -> float:
    from nas import pareto

    if n == 0:
        return 0.0
    pts = np.array([[v, p] for v, p in zip(run["val"][:n], run["params"][:n], strict=True)])
    return pareto.hypervolume(pts, [0.0, ref_params], [True, False]) / ref_params


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--trials", type=int, default=30)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--workers", type=int, default=2, help="searches at once (one CPU thread each)")
    args = ap.parse_args()
    note = quiet_machine_note()
    if note:
        print(note, file=sys.stderr)
    t0 = time.perf_counter()
    runs: dict[str, list[dict[str, Any]]] = {arm: [] for arm in ARMS}
    with tempfile.TemporaryDirectory(prefix="nasgraph-inherit-") as tmp, ThreadPoolExecutor(args.workers) as pool:
        jobs = [pool.submit(run_search, arm, seed, args, Path(tmp)) for seed in range(args.seeds) for arm in ARMS]
        for job in jobs:
            arm, seed, run = job.result()
            runs[arm].append(run | {"seed": seed})
            print(f"{arm} seed {seed}: {len(run['val'])} trials, {sum(run['seconds']):.0f} s training", flush=True)
    wall = time.perf_counter() - t0
    ref = 1.1 * max(p for mine in runs.values() for r in mine for p in r["params"])
    total = float(np.median([sum(r["seconds"]) for r in runs["evolution"]]))
    rows, summary = [], {}
    for frac in FRACTIONS:
        budget = frac * total
        base_hv = [hv(r, at_seconds(r, budget), ref) for r in runs["evolution"]]
        base_best = [best(r, at_seconds(r, budget)) for r in runs["evolution"]]
        for arm, mine in runs.items():
            hvs = [hv(r, at_seconds(r, budget), ref) for r in mine]
            bests = [best(r, at_seconds(r, budget)) for r in mine]
            trials = [at_seconds(r, budget) for r in mine]
            p_hv = mannwhitneyu(hvs, base_hv).pvalue if arm != "evolution" else None
            p_best = mannwhitneyu(bests, base_best).pvalue if arm != "evolution" else None
            summary[f"{arm}@{frac}"] = {
                "seconds": budget,
                "trials": float(np.median(trials)),
                "best_val": float(np.median(bests)),
                "hypervolume": float(np.median(hvs)),
                "p_best_vs_evolution": p_best,
                "p_hv_vs_evolution": p_hv,
            }
            rows.append(
                [
                    arm,
                    f"{frac:.2f} ({budget:.0f} s)",
                    f"{np.median(trials):.0f}",
                    f"{np.median(bests):.4f}",
                    "-" if p_best is None else f"{p_best:.3f}",
                    f"{np.median(hvs):.4f}",
                    "-" if p_hv is None else f"{p_hv:.3f}",
                ]
            )
    target = float(np.median([hv(r, len(r["val"]), ref) for r in runs["evolution"]]))
    grid = np.linspace(0, 2 * total, 401)
    need = {}
    for arm, mine in runs.items():
        curve = [np.median([hv(r, at_seconds(r, s), ref) for r in mine]) for s in grid]
        need[arm] = next((float(s) for s, v in zip(grid, curve, strict=True) if v >= target), None)
    inherited = [s for r in runs["evolution+inherit"] for s in r["inherited"]]
    live = live_proxies(runs["random"])
    print(f"\n{args.seeds} seeds x {args.trials} trials x {args.epochs} epochs; {wall:.0f} s wall")
    print(
        table(
            ["arm", "share of scratch's seconds", "trials", "best val_acc", "p", "hypervolume", "p"],
            rows,
        )
    )
    print(f"\nscratch evolution's final median hypervolume {target:.4f}; training seconds each arm needs to reach it:")
    print(table(["arm", "seconds", "share of scratch's"], [[a, _s(n), _share(n, total)] for a, n in need.items()]))
    if inherited:
        print(
            f"\nchildren that inherited: {len(inherited)}; share of parameters inherited: median "
            f"{np.median(inherited):.0%}, quartiles {np.percentile(inherited, 25):.0%}-{np.percentile(inherited, 75):.0%}"
        )
    print(f"\nzero-cost proxies live on digits (random search's {live['n']} trained networks, all seeds):")
    print(
        table(
            ["proxy", "Spearman vs val_acc", "p"], [[k, f"{v[0]:.3f}", f"{v[1]:.1e}"] for k, v in live["rho"].items()]
        )
    )
    write_results(
        "inherit",
        {
            "machine": machine(),
            "args": vars(args),
            "summary": summary,
            "seconds_to_scratch_hv": need,
            "scratch_total_seconds": total,
            "inherited_share": inherited,
            "live_proxies": live,
            "runs": runs,
            "wall": wall,
        },
    )


def live_proxies(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Spearman of each recorded proxy with validation accuracy over the runs' trained networks."""
    from scipy.stats import spearmanr

    names = sorted(runs[0]["proxies"]) if runs else []
    rho = {}
    for name in names:
        pairs = [
            (p, v)
            for r in runs
            for p, v in zip(r["proxies"][name], r["val"], strict=True)
            if p is not None and p == p and v > 0
        ]
        stat = spearmanr([p for p, _ in pairs], [v for _, v in pairs])
        rho[name] = (float(stat.statistic), float(stat.pvalue))
    n = sum(len(r["val"]) for r in runs)
    return {"n": n, "rho": dict(sorted(rho.items(), key=lambda kv: -kv[1][0]))}


def _s(n: float | None) -> str:
    return "not reached" if n is None else f"{n:.0f}"


def _share(n: float | None, total: float) -> str:
    return "-" if n is None else f"{n / total:.2f}"


if __name__ == "__main__":
    main()
