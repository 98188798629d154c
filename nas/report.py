"""Text summaries of results folders (what `launch.py show` prints)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pandas as pd

from nas import results


def op_mix(genotype_json: str, top: int = 3) -> str:
    """The most used ops of a genotype, e.g. 'sepconv x4, conv x2, maxpool'."""
    g = json.loads(genotype_json)
    ops = Counter(n["op"] for s in g["stages"] for n in s["nodes"])
    return ", ".join(f"{op} x{k}" if k > 1 else op for op, k in ops.most_common(top))


def summary(paths: str | Path | list, top: int = 10) -> str:
    """Trials by status, best accuracy, and the Pareto front (val_acc max, params min) as a table."""
    df = results.load(paths)
    if df.empty:
        return "no trials recorded yet"
    lines = []
    for search, part in df.groupby("search", sort=False):
        counts = part["status"].value_counts()
        lines.append(f"search {search}: {len(part)} rows (" + ", ".join(f"{k} {v}" for k, v in counts.items()) + ")")
        ok = part[part["status"] == "ok"]
        if ok.empty:
            lines.append("  no successful trials")
            continue
        best = ok.loc[ok["val_acc"].idxmax()]
        lines.append(
            f"  best val_acc {best['val_acc']:.4f} (test {best['test_acc']:.4f}) trial {best['trial_id']}, "
            f"{int(best['params']):,} params, {int(best['flops']):,} FLOPs"
        )
        front = results.pareto_front(part).head(top)
        table = pd.DataFrame(
            {
                "trial": front["trial_id"],
                "val_acc": front["val_acc"].round(4),
                "test_acc": front["test_acc"].round(4),
                "params": front["params"],
                "flops": front["flops"],
                "ops": [op_mix(g) for g in front["genotype"]],
            }
        )
        lines.append(f"  Pareto front (val_acc max, params min), {len(results.pareto_front(part))} trials:")
        lines.extend("    " + ln for ln in table.to_string(index=False).splitlines())
    lines.append(f"results: {', '.join(str(p) for p in ([paths] if isinstance(paths, str | Path) else paths))}")
    return "\n".join(lines)
