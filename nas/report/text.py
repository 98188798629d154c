"""Text summaries of results folders (what `launch.py show` prints)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pandas as pd

from nas import objectives
from nas.record import results
from nas.status import DISPATCHED


def op_mix(genotype_json: str, top: int = 3) -> str:
    """The most used ops of a genotype, e.g. 'sepconv x4, conv x2, maxpool'; a NAS-Bench-201 network's cell
    as its arch string."""
    g = json.loads(genotype_json)
    if len(g.get("stages", ())) == 3 and len(g["stages"][0].get("nodes", ())) == 45:  # perhaps NAS-Bench-201's
        from searchspace import nb201
        from searchspace.genotype import Genotype, GenotypeError

        try:
            return nb201.arch_string(nb201.ops_of(Genotype.from_dict(g)))
        except GenotypeError:
            pass
    ops = Counter(n["op"] for s in g["stages"] for n in s["nodes"])
    return ", ".join(f"{op} x{k}" if k > 1 else op for op, k in ops.most_common(top))


def summary(paths: str | Path | list, top: int = 10) -> str:
    """Trials by status, the best trial, and the Pareto front as a table: (val_acc max, params min), or the
    search's own objectives when they name its train_fn's metrics (read from one folder's config.json)."""
    df = results.load(paths)
    if df.empty:
        return "no trials recorded yet"
    senses = _front(paths)
    first = next(iter(senses))
    lines = []
    for search, part in df.groupby("search", sort=False):
        counts = part["status"].value_counts()
        lines.append(f"search {search}: {len(part)} rows (" + ", ".join(f"{k} {v}" for k, v in counts.items()) + ")")
        front = results.pareto_front(part, senses)
        if front.empty:
            lines.append("  no successful trials")
            continue
        best = front.iloc[0]
        test = f" (test {best['test_acc']:.4f})" if first == "val_acc" and pd.notna(best["test_acc"]) else ""
        lines.append(
            f"  best {first} {best[first]:.4f}{test} trial {best['trial_id']}, "
            f"{int(best['params']):,} params, {int(best['flops']):,} FLOPs"
        )
        shown = front.head(top)
        columns = {"trial": shown["trial_id"]} | {k: shown[k].round(4) for k in senses if k not in ("params", "flops")}
        if "test_acc" not in columns and shown["test_acc"].notna().any():
            columns["test_acc"] = shown["test_acc"].round(4)
        columns |= {"params": shown["params"], "flops": shown["flops"], "ops": [op_mix(g) for g in shown["genotype"]]}
        described = ", ".join(f"{k} {v}" for k, v in senses.items())
        lines.append(f"  Pareto front ({described}), {len(front)} trials:")
        lines.extend("    " + ln for ln in pd.DataFrame(columns).to_string(index=False).splitlines())
        lines.extend(_proxies_and_inheritance(part))
        lines.extend(time_lines(part))
    lines.append(f"results: {', '.join(str(p) for p in ([paths] if isinstance(paths, str | Path) else paths))}")
    return "\n".join(lines)


def _proxies_and_inheritance(part: pd.DataFrame) -> list[str]:
    """What the search's record says of its zero-cost proxies (their rank correlation with validation accuracy
    on its own data) and of inherited weights."""
    lines = []
    corr = results.proxy_correlation(part).sort_values("spearman", ascending=False, na_position="last")
    if not corr.empty:
        n = int(corr["n"].max())
        shown = ", ".join(
            f"{r.proxy} {r.spearman:+.2f}" + (f" (p {r.p:.2g})" if r.p == r.p else "") for r in corr.itertuples()
        )
        lines.append(f"  zero-cost proxies vs val_acc, Spearman over {n} trained trials: {shown}")
    if "inherited" in part.columns and part["inherited"].notna().any():
        share = part["inherited"].dropna()
        lines.append(
            f"  {len(share)} trials started from a parent's weights (median {share.median():.0%} of parameters)"
        )
    return lines


SLOT_WORDS = {"trials": "running trials", "start_and_return": "starting them and taking results", "idle": "idle"}


def time_lines(part: pd.DataFrame, indent: str = "  ") -> list[str]:
    """Where one search's time went (`results.time_spent`): 'time: of 1,234 trial-seconds, 71 % train, 12 %
    evaluate, ...' (phases under 0.5 % left out), and how busy its slots were."""
    spent = results.time_spent(part)
    lines = []
    phases = spent[spent["kind"] == "phase"].sort_values("seconds", ascending=False, kind="stable")
    if len(phases):
        shown = ", ".join(f"{r.share:.0%} {r.part}" for r in phases.itertuples() if r.share >= 0.005)
        lines.append(f"{indent}time: of {phases['seconds'].sum():,.0f} trial-seconds, {shown}")
    slots = spent[spent["kind"] == "slot"]
    if len(slots):
        count = int(part["slot"].max()) + 1 if "slot" in part.columns and part["slot"].notna().any() else 1
        shown = ", ".join(f"{r.share:.0%} {SLOT_WORDS.get(r.part, r.part)}" for r in slots.itertuples())
        plural = "s" if count != 1 else ""
        lines.append(f"{indent}slots: {slots['seconds'].sum():,.0f} slot-seconds over {count} slot{plural}: {shown}")
    return lines


def progress_line(root: str | Path) -> str:
    """'12 of 20 trials done: ok 10, error 2 (recorded too: rejected 1, duplicate 3)' for one results folder."""
    df = results.load(root)
    counts = df["status"].value_counts() if len(df) else pd.Series(dtype="int64")
    done = {s: int(k) for s, k in counts.items() if s in DISPATCHED}
    other = {s: int(k) for s, k in counts.items() if s not in DISPATCHED}
    try:
        trials = json.loads((Path(root) / "config.json").read_text()).get("trials")
    except (OSError, ValueError):
        trials = None
    line = f"{sum(done.values())}" + (f" of {trials}" if isinstance(trials, int) else "") + " trials done"
    line += (": " + ", ".join(f"{s} {k}" for s, k in done.items())) if done else ""
    return line + (" (recorded too: " + ", ".join(f"{s} {k}" for s, k in other.items()) + ")" if other else "")


def _front(paths: str | Path | list) -> dict[str, str]:
    """The front of one results folder's search (`nas.objectives.front`); `FRONT` for several or none."""
    if isinstance(paths, str | Path):
        try:
            front = objectives.saved_front(json.loads((Path(paths) / "config.json").read_text()))
        except (OSError, ValueError):
            front = None
        if front is not None:
            return front
    return dict(objectives.FRONT)
