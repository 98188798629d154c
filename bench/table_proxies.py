"""Zero-cost proxies over the whole digits-cell table: how well each predicts trained accuracy.

    python bench/table_proxies.py             # computes bench/table/digits-cell-proxies.parquet if missing
    python bench/table_proxies.py --compute   # recompute it

Every architecture of the table is scored by every proxy of `nas.trial.proxies` at two initialisations
(seeds 0 and 1: the network's initial weights and the batch of 64 training images both change), on
the digits split the table was trained with. Reported: Spearman and Kendall rank correlation of each
proxy (seed 0) with the table's validation accuracy (mean of its training runs) and test accuracy,
with a 95 % bootstrap interval over architectures; the proxy's own seed-to-seed Spearman; how many of
the table's top 5 % the proxy's top 5 % holds; seconds per architecture. "vote" is the mean rank of
synflow, jacob_cov and snip (the paper's majority vote, as ranks). The scores are written beside the
table, for `bench/bench_quality.py --warmup`.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
import pandas as pd
from _common import ROOT, machine, table, write_results
from scipy.stats import kendalltau, rankdata, spearmanr

TABLE = ROOT / "bench" / "table" / "digits-cell.parquet"
PROXY_TABLE = ROOT / "bench" / "table" / "digits-cell-proxies.parquet"
SEEDS = (0, 1)
VOTE = ("synflow", "jacob_cov", "snip")


def compute(table_path: str, out: str) -> pd.DataFrame:
    from nas.benchmarks.table import load
    from nas.data import load_dataset
    from nas.trial.proxies import PROXIES, ProxyBatch, score
    from searchspace.genotype import Genotype

    t = load(table_path)
    data = load_dataset(t.meta["dataset"], val_fraction=t.meta["val_fraction"], limit=t.meta.get("limit"))
    rows = []
    for seed in SEEDS:
        batch = ProxyBatch.of(data, seed=seed)
        for i, e in enumerate(t.entries):
            t0 = time.perf_counter()
            scores = score(Genotype.from_json(e.genotype), batch, PROXIES, seed=seed)
            rows.append({"fingerprint": e.fingerprint, "seed": seed, **scores, "seconds": time.perf_counter() - t0})
            if (i + 1) % 200 == 0:
                print(f"seed {seed}: {i + 1}/{len(t.entries)}", flush=True)
    frame = pd.DataFrame(rows)
    frame.to_parquet(out, index=False)
    return frame


def vote(frame: pd.DataFrame) -> np.ndarray:
    """Mean rank of the VOTE proxies (NaN ranks last)."""
    ranks = [rankdata(frame[n].fillna(-np.inf)) for n in VOTE]
    return np.mean(ranks, axis=0)


def boot_spearman(a: np.ndarray, b: np.ndarray, n: int = 1000, seed: int = 0) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(a), size=(n, len(a)))
    stats = [spearmanr(a[i], b[i]).statistic for i in idx]
    return float(np.nanpercentile(stats, 2.5)), float(np.nanpercentile(stats, 97.5))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--table", default=str(TABLE))
    ap.add_argument("--out", default=str(PROXY_TABLE))
    ap.add_argument("--compute", action="store_true", help="recompute the proxies even if the file exists")
    args = ap.parse_args()
    from nas.benchmarks.table import load
    from nas.trial.proxies import PROXIES

    t0 = time.perf_counter()
    if args.compute or not (ROOT / args.out).exists():
        frame = compute(args.table, args.out)
    else:
        frame = pd.read_parquet(args.out)
    wall = time.perf_counter() - t0
    t = load(args.table)
    acc = pd.DataFrame(
        [{"fingerprint": e.fingerprint, "val": e.mean("val_acc"), "test": e.mean("test_acc")} for e in t.entries]
    )
    by_seed = {s: frame[frame.seed == s].set_index("fingerprint").loc[acc.fingerprint] for s in SEEDS}
    first = by_seed[SEEDS[0]]
    val, test = acc.val.to_numpy(), acc.test.to_numpy()
    top = val >= np.quantile(val, 0.95)
    results: dict[str, Any] = {}
    rows = []
    for name in (*PROXIES, "vote"):
        x = vote(first) if name == "vote" else first[name].fillna(-np.inf).to_numpy()
        other = vote(by_seed[SEEDS[1]]) if name == "vote" else by_seed[SEEDS[1]][name].fillna(-np.inf).to_numpy()
        rho = float(spearmanr(x, val).statistic)
        low, high = boot_spearman(x, val)
        picked = x >= np.quantile(x, 0.95)
        r = {
            "spearman_val": rho,
            "ci95": [low, high],
            "kendall_val": float(kendalltau(x, val).statistic),
            "spearman_test": float(spearmanr(x, test).statistic),
            "seed_to_seed": float(spearmanr(x, other).statistic),
            "top5_hits": int((picked & top).sum()),
            "top5_size": int(top.sum()),
            "nan": int(first[name].isna().sum()) if name != "vote" else 0,
            "seconds_per_arch": float(frame["seconds"].mean()) if name != "vote" else None,
        }
        results[name] = r
        rows.append(
            [
                name,
                f"{rho:.3f} [{low:.3f}, {high:.3f}]",
                f"{r['kendall_val']:.3f}",
                f"{r['spearman_test']:.3f}",
                f"{r['seed_to_seed']:.3f}",
                f"{r['top5_hits']}/{r['top5_size']}",
                r["nan"],
            ]
        )
    print(f"{len(acc)} architectures; all proxies of one architecture: {frame['seconds'].mean() * 1000:.0f} ms")
    print(
        table(
            ["proxy", "Spearman vs val [95% CI]", "Kendall", "Spearman vs test", "seed 0 vs 1", "top 5 %", "NaN"],
            rows,
        )
    )
    write_results(
        "table_proxies",
        {"machine": machine(), "table": args.table, "architectures": len(acc), "proxies": results, "wall": wall},
    )


if __name__ == "__main__":
    main()
