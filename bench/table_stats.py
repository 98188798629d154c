"""What the digits-cell table holds: accuracy distribution, seed-to-seed agreement, the best architectures.

    python bench/table_stats.py [--table bench/table/digits-cell.parquet]

Printed as Markdown tables and written to ``bench/results/table_stats.json``. Seed-to-seed
agreement is the Spearman and Kendall rank correlation of the two training seeds' validation
accuracy over all architectures, per epoch; "val vs test" correlates the seeds' mean validation
and test accuracy at the last epoch.
"""

from __future__ import annotations

import argparse
from collections import Counter
from typing import Any

import numpy as np
from _common import ROOT, table, write_results
from scipy.stats import kendalltau, spearmanr

TABLE = ROOT / "bench" / "table" / "digits-cell.parquet"


def cell_ops(genotype: str) -> str:
    import json

    cell = json.loads(genotype)["stages"][0]["nodes"]
    return " | ".join(f"{n['op']}<-{','.join('in' if i == -1 else f'n{i}' for i in n['inputs'])}" for n in cell)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--table", default=str(TABLE))
    args = ap.parse_args()
    from nas.benchmarks.table import load

    t = load(args.table)
    entries = [e for e in t.entries if len(e.seeds) >= 2]
    epochs = t.epochs
    val = np.array([[c[-1] for c in e.val_acc[:2]] for e in entries])  # [arch, seed]
    test = np.array([[c[-1] for c in e.test_acc[:2]] for e in entries])
    out: dict[str, Any] = {
        "table": args.table,
        "architectures": len(t),
        "with_two_seeds": len(entries),
        "meta": {k: t.meta.get(k) for k in ("dataset", "val_fraction", "machine", "command")},
    }
    q = [0, 5, 25, 50, 75, 95, 100]
    mean_val, mean_test = val.mean(1), test.mean(1)
    out["val_acc_quantiles"] = dict(zip(map(str, q), np.percentile(mean_val, q).round(4).tolist(), strict=True))
    out["test_acc_quantiles"] = dict(zip(map(str, q), np.percentile(mean_test, q).round(4).tolist(), strict=True))
    agreement = []
    for ep in range(epochs):
        row: dict[str, Any] = {"epoch": ep + 1}
        for key in ("val_acc", "test_acc"):
            a = np.array([getattr(e, key)[0][ep] for e in entries])
            b = np.array([getattr(e, key)[1][ep] for e in entries])
            row[key] = {
                "spearman": float(spearmanr(a, b)[0]),
                "kendall": float(kendalltau(a, b)[0]),
                "mean_abs_diff": float(np.mean(np.abs(a - b))),
            }
        agreement.append(row)
    out["seed_agreement"] = agreement
    out["val_vs_test_spearman"] = float(spearmanr(mean_val, mean_test)[0])
    params = np.array([e.params for e in entries])
    secs = np.array([np.mean(e.train_seconds) for e in entries])
    out["params"] = {"min": int(params.min()), "median": int(np.median(params)), "max": int(params.max())}
    out["train_seconds"] = {
        "mean": float(secs.mean()),
        "median": float(np.median(secs)),
        "total_both_seeds": float(sum(sum(e.train_seconds) for e in entries)),
    }
    order = np.argsort(-mean_val)
    out["top"] = [
        {
            "val": float(mean_val[i]),
            "test": float(mean_test[i]),
            "params": int(params[i]),
            "cell": cell_ops(entries[i].genotype),
        }
        for i in order[:5]
    ]
    ops_top = Counter(
        n.split("<-")[0] for i in order[: len(order) // 10] for n in cell_ops(entries[i].genotype).split(" | ")
    )
    ops_all = Counter(n.split("<-")[0] for e in entries for n in cell_ops(e.genotype).split(" | "))
    out["op_share_top10pct_vs_all"] = {
        op: [ops_top[op] / sum(ops_top.values()), ops_all[op] / sum(ops_all.values())] for op in ops_all
    }
    write_results("table_stats", out)

    print(f"{args.table}: {len(t)} architectures ({len(entries)} with two seeds), {t.meta.get('dataset')}, "
          f"validation share {t.meta.get('val_fraction')}, {epochs} epochs")  # fmt: skip
    print()
    print(table(["", *(f"p{x}" for x in q)], [["val_acc (mean of seeds)", *out["val_acc_quantiles"].values()],
                                                ["test_acc", *out["test_acc_quantiles"].values()]]))  # fmt: skip
    print()
    print(table(["epoch", "val: Spearman (run 0 vs 1)", "Kendall", "mean |diff|", "test: Spearman", "Kendall", "mean |diff|"],
                [[a["epoch"], *(f"{a[k][m]:.3f}" if m != "mean_abs_diff" else f"{a[k][m]:.4f}"
                                for k in ("val_acc", "test_acc") for m in ("spearman", "kendall", "mean_abs_diff"))]
                 for a in agreement]))  # fmt: skip
    print(f"\nval vs test (mean of seeds), Spearman: {out['val_vs_test_spearman']:.3f}")
    print(f"params {out['params']}; train seconds per run: mean {secs.mean():.2f}, median {np.median(secs):.2f}")
    print()
    print(table(["val (mean)", "test (mean)", "params", "cell (op<-inputs)"],
                [[f"{x['val']:.4f}", f"{x['test']:.4f}", x["params"], x["cell"]] for x in out["top"]]))  # fmt: skip
    print()
    print(table(["op", "share of nodes in the top 10 %", "share in all"],
                [[op, f"{a:.2f}", f"{b:.2f}"] for op, (a, b) in sorted(out["op_share_top10pct_vs_all"].items())]))  # fmt: skip


if __name__ == "__main__":
    main()
