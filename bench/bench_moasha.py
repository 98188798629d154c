"""Multi-objective ASHA on digits: hypervolume of (val_acc, params) at equal training seconds.

    python bench/bench_moasha.py                        # 10 seeds x 3 arms, real `launch.py search` runs (Ray)
    python bench/bench_moasha.py --seeds 2 --trials 4   # smoke test

Three arms, each a real `launch.py search` on a local Ray runtime (two trials at a time, default space,
regularized evolution over val_acc and params, the same seeds):

- ``none``: no early stopping, ``--trials`` trials;
- ``asha-score``: ``--asha --asha-by score``, Ray's ASHA ranking each rung by val_acc alone;
- ``mo-asha``: ``--asha`` (MO-ASHA, `nas.engines.halving`: non-dominated rank, then crowding distance).

Both ASHA arms get ``ASHA_TRIALS`` times the trials (most stop after the grace epoch). Every run is
scored at the same budget B of training seconds, the smallest total of all runs (so every run reaches
it; a run's seconds are the sum of its trials' ``train_seconds`` in record order, stopped trials
included): the hypervolume of the ok trials finished within B (reference: val_acc 0 and 1.1 x the
largest parameter count of all runs, divided by the reference box). Also shown: the hypervolume at each
run's end (different seconds per run). Reported: median and quartiles over seeds, two-sided Mann-Whitney
U between arms.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import RESULTS, ROOT, machine, table, write_results
from scipy.stats import mannwhitneyu

ARMS: dict[str, list[str]] = {
    "none": [],
    "asha-score": ["--asha", "--asha-by", "score"],
    "mo-asha": ["--asha"],
}
ASHA_TRIALS = 5  # the ASHA arms' trials per trial of `none` (most stop after the grace epoch): enough to pass B
PARTIAL = RESULTS / "bench_moasha_runs.jsonl"  # one line per finished run, so an interrupted bench keeps them


def run_search(arm: str, seed: int, args: argparse.Namespace, root: Path) -> dict[str, Any]:
    name = f"{arm}-{seed}"
    trials = args.trials * (ASHA_TRIALS if arm != "none" else 1)
    cmd = [sys.executable, str(ROOT / "launch.py"), "search", "--trials", str(trials), "--epochs", str(args.epochs)]
    cmd += ["--grace-epochs", str(args.grace), "--seed", str(seed), "--keep-weights", "none", "--report-every", "0"]
    cmd += ["--results-dir", str(root), "--name", name, *ARMS[arm]]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=os.environ | {"OMP_NUM_THREADS": "1"})
    if done.returncode != 0:
        raise SystemExit(f"{arm} seed {seed} failed:\n{done.stderr[-3000:]}")
    rows = [json.loads(line) for line in (root / name / "trials.jsonl").read_text().splitlines() if line.strip()]
    trained = [r for r in rows if r["status"] not in ("duplicate", "rejected")]
    return {
        "arm": arm,
        "seed": seed,
        "wall_seconds": time.perf_counter() - t0,
        "statuses": [r["status"] for r in trained],
        "epochs": [r.get("epochs") or 0 for r in trained],
        "train_seconds": [r.get("train_seconds") or 0.0 for r in trained],
        "val_acc": [r.get("val_acc") for r in trained],
        "params": [r.get("params") for r in trained],
    }


def hypervolume_at(run: dict[str, Any], budget: float, ref_params: float, log: bool = False) -> float:
    """Normalised hypervolume of the run's ok trials finished within `budget` cumulative training seconds (`log`:
    over log10 of the parameters, from 1 parameter to the reference, so the small networks weigh as much as the
    large ones)."""
    from nas import pareto

    spent = np.cumsum(run["train_seconds"])
    points = [
        (v, np.log10(p) if log else p)
        for s, status, v, p in zip(spent, run["statuses"], run["val_acc"], run["params"], strict=True)
        if s <= budget and status == "ok" and v is not None and p is not None
    ]
    if not points:
        return 0.0
    ref = np.log10(ref_params) if log else ref_params
    return pareto.hypervolume(np.asarray(points, float), [0.0, ref], [True, False]) / ref


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--trials", type=int, default=12, help="trials of the arm without early stopping")
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--grace", type=int, default=1, help="ASHA's grace epochs (rungs at grace x 4^k)")
    ap.add_argument("--fresh", action="store_true", help=f"ignore the runs already in {PARTIAL.name}")
    args = ap.parse_args()
    setting = {"trials": args.trials, "epochs": args.epochs, "grace": args.grace, "asha_trials": ASHA_TRIALS}
    runs = [] if args.fresh or not PARTIAL.exists() else [json.loads(x) for x in PARTIAL.read_text().splitlines()]
    runs = [r for r in runs if r.get("setting") == setting and r["seed"] < args.seeds]
    have = {(r["arm"], r["seed"]) for r in runs}
    with tempfile.TemporaryDirectory(prefix="bench-moasha-") as tmp:
        for seed in range(args.seeds):
            for arm in ARMS:
                if (arm, seed) in have:
                    continue
                run = run_search(arm, seed, args, Path(tmp)) | {"setting": setting}
                runs.append(run)
                with PARTIAL.open("a") as f:
                    f.write(json.dumps(run) + "\n")
                print(f"{arm:10s} seed {seed}: {len(run['statuses'])} trials, {sum(run['train_seconds']):.1f} train s, "
                      f"{run['wall_seconds']:.0f} s wall", flush=True)  # fmt: skip
    report(runs, args)


def report(runs: list[dict[str, Any]], args: argparse.Namespace) -> None:
    budget = float(min(sum(r["train_seconds"]) for r in runs))
    ref = 1.1 * max(p for r in runs for p in r["params"] if p is not None)
    scores = {arm: [hypervolume_at(r, budget, ref) for r in runs if r["arm"] == arm] for arm in ARMS}
    at_end = {arm: [hypervolume_at(r, np.inf, ref) for r in runs if r["arm"] == arm] for arm in ARMS}
    logs = {arm: [hypervolume_at(r, budget, ref, log=True) for r in runs if r["arm"] == arm] for arm in ARMS}
    rows = []
    for arm in ARMS:
        mine = [r for r in runs if r["arm"] == arm]
        hv = np.asarray(scores[arm])
        rows.append([
            arm, len(mine), f"{np.median(hv):.4f}", f"{np.percentile(hv, 25):.4f}-{np.percentile(hv, 75):.4f}",
            f"{np.median(at_end[arm]):.4f}",
            f"{np.median(logs[arm]):.4f}",
            float(np.median([len(r["statuses"]) for r in mine])),
            float(np.median([sum(s == "stopped" for s in r["statuses"]) for r in mine])),
            float(np.median([sum(r["train_seconds"]) for r in mine])),
            float(np.median([r["wall_seconds"] for r in mine])),
        ])  # fmt: skip
    print(f"\nbudget B = {budget:.1f} training seconds (the smallest run's total); reference params {ref:,.0f}")
    print(table(["arm", "seeds", "HV at B (median)", "IQR", "HV at end", "log-params HV at B", "trials", "stopped",
                 "train s", "wall s"], rows))  # fmt: skip
    tests = {}
    for a, b in (("mo-asha", "asha-score"), ("mo-asha", "none"), ("asha-score", "none")):
        p = float(mannwhitneyu(scores[a], scores[b], alternative="two-sided").pvalue)
        q = float(mannwhitneyu(logs[a], logs[b], alternative="two-sided").pvalue)
        tests[f"{a} vs {b}"], tests[f"{a} vs {b} (log params)"] = p, q
        print(f"{a} vs {b}: Mann-Whitney U two-sided p = {p:.3g} (log-params hypervolume: {q:.3g})")
    write_results(
        "bench_moasha",
        {
            "machine": machine(),
            "args": vars(args),
            "budget_s": budget,
            "ref_params": ref,
            "hv": scores,
            "hv_at_end": at_end,
            "hv_log_params": logs,
            "p": tests,
            "runs": runs,
        },  # fmt: skip
    )


if __name__ == "__main__":
    main()
