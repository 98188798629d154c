"""Search quality at scale, on nasgraph's own tabular benchmark (`bench/table/digits-cell.parquet`).

    python bench/bench_quality.py               # full: 6 controllers x 100 seeds x 300 queries (random: 1,000)
    python bench/bench_quality.py --tune        # also: evolution's and local search's options on the table
    python bench/bench_quality.py --quick       # smoke test: 5 seeds x 40 queries

Every controller runs as `launch.py search` builds it (`nas.driver.resume.new_controller`, the config's
defaults) over the table's search space, with the table answering each proposal the way
``--engine table:PATH`` does: one of the architecture's training seeds drawn per trial from the
trial's seed. A query is one trained architecture: a proposal of an architecture this run already
trained replays its result and is not counted (the driver's dedupe). Every run goes on until it has
made the most queries and spent the most simulated seconds that are compared. The loop runs in memory (no
results folder), so 60,000 searches take minutes; the table engine through the driver is measured
by `bench/bench_scale.py`.

Reported per controller, over seeds, after 25, 50, 100, 150 and 300 queries and at equal simulated
training seconds (the same budgets in units of the table's mean training time): the best
validation accuracy, the test accuracy of the architecture picked (never used to select), and
the hypervolume of the (val_acc max, params min) front (reference point: val_acc 0 and 1.1 x the
table's largest parameter count; divided by the reference box, so in 0..1). Medians with 95 %
bootstrap intervals; each controller against random search (the baseline, same seeds) with a
two-sided Mann-Whitney U test; and the queries random search needs to match a controller's median
best accuracy at 150 queries ("queries saved").
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from _common import RESULTS, ROOT, machine, quiet_machine_note, table, write_results

TABLE = ROOT / "bench" / "table" / "digits-cell.parquet"
BUDGETS = (25, 50, 100, 150, 300)
BASELINE = "random"
# label -> SearchConfig options; each is what `launch.py search --controller ...` gives with these flags
CONTROLLERS: dict[str, dict[str, Any]] = {
    "random": {"controller": "random"},
    "evolution": {"controller": "evolution"},
    "evolution-tournament": {"controller": "evolution", "variant": "tournament", "population": 50, "sample": 25},
    "local_search": {"controller": "local_search"},
    "tpe": {"controller": "tpe"},
    "nsga2": {"controller": "nsga2"},
    "predictor": {"controller": "predictor"},
    "evolution-val_acc": {"controller": "evolution", "objectives": ("val_acc",)},  # --objectives val_acc
}

PROXY_TABLE = ROOT / "bench" / "table" / "digits-cell-proxies.parquet"  # bench/table_proxies.py
WARMUP = 200  # architectures scored by the proxy before a warm-up search (15 % of the table; the paper: 19 %)
FILTER = 10  # candidates per proposal of a proxy-filtered search


def proxy_variants(proxies: list[str], filtered: bool = False) -> dict[str, dict[str, Any]]:
    """Warm-up (and with `filtered`, evolution with the proxy filter) with each proxy, as `--warmup` and
    `--proxy-filter` give. The filter is slow here (10 mutations scored per child, and in a space of 1,300
    its favourite children are often trained already: up to 20 asks per query) -- about 30 ms a query."""
    out: dict[str, dict[str, Any]] = {}
    for proxy in proxies:
        for controller in ("random", "evolution", "local_search"):
            out[f"{controller}+warmup:{proxy}"] = {"controller": controller, "warmup": WARMUP, "proxy": proxy}
        if filtered:
            out[f"evolution+filter:{proxy}"] = {"controller": "evolution", "proxy_filter": FILTER, "proxy": proxy}
    return out


_TABLE: Any = None
_PROXIES: Any = None  # fingerprint -> {proxy: score} (seed 0), when the proxy table exists
_SPACE: Any = None
_INFO: Any = None
_MODE = "draw"


def _load(path: str, mode: str = "draw") -> None:
    """Per worker process: the table and its search space (and how the table answers: draw or mean)."""
    global _TABLE, _SPACE, _INFO, _MODE, _PROXIES
    _MODE = mode
    if PROXY_TABLE.exists():
        import pandas as pd

        frame = pd.read_parquet(PROXY_TABLE)
        _PROXIES = frame[frame.seed == 0].set_index("fingerprint").to_dict("index")
    import optuna

    from nas.benchmarks.table import load
    from nas.config import SearchConfig, make_space
    from nas.record.folder import DataInfo

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if path.startswith("nb201:"):  # NAS-Bench-201's table, converted once (`nas.benchmarks.nb201`)
        from nas.benchmarks.nb201 import BenchmarkData, table_path

        _TABLE = load(table_path(path))
        _INFO = DataInfo.of(BenchmarkData.of(path))
    else:
        _TABLE = load(path)
        _INFO = DataInfo(in_channels=1, num_classes=10, input_size=(8, 8), name=_TABLE.meta["dataset"])
    _SPACE = make_space(SearchConfig(space=_TABLE.space, dataset=_TABLE.meta["dataset"]), _INFO)


def simulate(options: dict[str, Any], seed: int, queries: int, seconds: float = 0.0) -> dict[str, Any]:
    """One search over the table: per query, (val_acc, test_acc, params, train_seconds) in order, until
    `queries` architectures are trained and their training time adds up to `seconds`."""
    from nas.config import SearchConfig
    from nas.driver.resume import new_controller

    options = dict(options)
    own = options.pop("options", None)  # a controller's own options, which SearchConfig does not carry
    cfg = SearchConfig(**options, seed=seed, trials=queries)
    if own:
        from nas.controllers import make_controller

        ctrl = make_controller(cfg.controller, _SPACE, cfg.seed, cfg.objective_senses(), **own)
    else:
        ctrl = new_controller(cfg, _SPACE, _INFO)
    if hasattr(ctrl, "costs"):  # the predictor's costs before training: the table's, as `--engine table:` gives
        ctrl.costs = lambda genotypes, names: [_TABLE.lookup(g).costs() for g in genotypes]
    if cfg.warmup or cfg.proxy_filter:  # the proxy's scores, as `nas.trial.proxies.Scorer` computes them (seed 0)
        ctrl.scorer = lambda genotypes: [_PROXIES[_TABLE.lookup(g).fingerprint][cfg.proxy] for g in genotypes]
    seen: dict[str, dict[str, Any]] = {}
    out: dict[str, list[float]] = {"val": [], "test": [], "params": [], "seconds": [], "mean": [], "latency": []}
    asks, t0 = 0, time.perf_counter()
    while (len(out["val"]) < queries or sum(out["seconds"]) < seconds) and asks < 20 * queries:
        p = ctrl.ask()
        asks += 1
        fp = p.genotype.fingerprint()
        if fp in seen:  # already trained in this search: its result replayed, not a query
            ctrl.tell(p.trial_id, "duplicate", seen[fp])
            continue
        entry = _TABLE.lookup(p.genotype)
        if entry is None:
            raise SystemExit(f"{options}: proposal {p.trial_id} is not in the table")
        i = random.Random(seed * 1_000_003 + int(p.trial_id)).randrange(len(entry.seeds))
        if entry.statuses[i] != "ok":  # a run that failed when the table was made: a failed trial, not a query
            ctrl.tell(p.trial_id, entry.statuses[i], {"error": "failed in the table"})
            continue
        if _MODE == "mean":  # `table:PATH:mean`: the mean over the table's runs
            val, test, secs = entry.mean("val_acc"), entry.mean("test_acc"), float(np.mean(entry.train_seconds))
        else:
            val, test, secs = entry.val_acc[i][-1], entry.test_acc[i][-1], entry.train_seconds[i]
        metrics = {"val_acc": val, "test_acc": test, "params": entry.params, "flops": entry.flops}
        if entry.latency_ms is not None:
            metrics["latency_ms"] = entry.latency_ms
        seen[fp] = metrics
        ctrl.tell(p.trial_id, "ok", metrics)
        out["val"].append(metrics["val_acc"])
        out["test"].append(metrics["test_acc"])
        out["params"].append(entry.params)
        out["seconds"].append(secs)
        out["mean"].append(entry.mean("val_acc"))  # the architecture's mean over the table's seeds
        out["latency"].append(entry.latency_ms if entry.latency_ms is not None else math.nan)
    return out | {"asks": asks, "wall": time.perf_counter() - t0}


def _task(args: tuple[str, dict[str, Any], int, int, float]) -> tuple[str, int, dict[str, Any]]:
    label, options, seed, queries, seconds = args
    return label, seed, simulate(options, seed, queries, seconds)


# ----------------------------------------------------------------------------- statistics


def best_at(run: dict[str, Any], n: int) -> tuple[float, float]:
    """(best val_acc, test_acc of that architecture) among the first n queries (ties: the earlier)."""
    vals = run["val"][:n]
    i = int(np.argmax(vals))
    return vals[i], run["test"][i]


def queries_within(run: dict[str, Any], seconds: float) -> int:
    """How many queries fit in a simulated training time (at least one)."""
    return max(1, int(np.searchsorted(np.cumsum(run["seconds"]), seconds, side="right")))


def hypervolume(run: dict[str, Any], n: int, ref_params: float) -> float:
    from nas import pareto

    pts = np.array([[v, p] for v, p in zip(run["val"][:n], run["params"][:n], strict=True)], dtype=float)
    return pareto.hypervolume(pts, [0.0, ref_params], [True, False]) / ref_params


def median_ci(values: list[float], seed: int = 0) -> tuple[float, float, float]:
    from scipy.stats import bootstrap

    x = np.asarray(values, dtype=float)
    if len(x) < 3 or np.ptp(x) == 0:
        return float(np.median(x)), float(np.median(x)), float(np.median(x))
    r = bootstrap((x,), np.median, confidence_level=0.95, n_resamples=2000, method="percentile", random_state=seed)
    return float(np.median(x)), float(r.confidence_interval.low), float(r.confidence_interval.high)


def mwu(a: list[float], b: list[float]) -> float:
    from scipy.stats import mannwhitneyu

    if np.ptp(np.concatenate([a, b])) == 0:
        return 1.0
    return float(mannwhitneyu(a, b, alternative="two-sided").pvalue)


def summarize(runs: dict[str, list[dict[str, Any]]], ref_params: float, unit_seconds: float) -> dict[str, Any]:
    """Per controller and budget (queries and simulated seconds): medians, intervals, p-values vs random."""
    out: dict[str, Any] = {}
    base = runs.get(BASELINE, [])
    for label, mine in runs.items():
        per: dict[str, Any] = {}
        for n in BUDGETS:
            for kind, pick in (
                ("queries", lambda r, n=n: n),
                ("seconds", lambda r, n=n: queries_within(r, n * unit_seconds)),
            ):
                vals = [best_at(r, pick(r))[0] for r in mine]
                tests = [best_at(r, pick(r))[1] for r in mine]
                hvs = [hypervolume(r, pick(r), ref_params) for r in mine]
                b_vals = [best_at(r, pick(r))[0] for r in base]
                b_hvs = [hypervolume(r, pick(r), ref_params) for r in base]
                per[f"{kind}:{n}"] = {
                    "best_val": median_ci(vals),
                    "test_of_best": median_ci(tests),
                    "hypervolume": median_ci(hvs),
                    "mean_best_val": float(np.mean(vals)),
                    "mean_test_of_best": float(np.mean(tests)),
                    "p_val_vs_random": mwu(vals, b_vals) if label != BASELINE and base else None,
                    "p_hv_vs_random": mwu(hvs, b_hvs) if label != BASELINE and base else None,
                    "queries": float(np.median([pick(r) for r in mine])),
                    "short_runs": sum(
                        len(r["val"]) < pick(r) or (kind == "seconds" and sum(r["seconds"]) < n * unit_seconds)
                        for r in mine
                    ),
                }
        per["seeds"] = len(mine)
        per["queries_made"] = float(np.median([len(r["val"]) for r in mine]))
        out[label] = per
    if base:
        longest = max(len(r["val"]) for r in base)
        curve = [float(np.median([best_at(r, n)[0] for r in base])) for n in range(1, longest + 1)]
        mean_curve = [float(np.mean([best_at(r, n)[0] for r in base])) for n in range(1, longest + 1)]
        for label, per in out.items():
            target = per["queries:150"]["best_val"][0]
            need = next((n for n, v in enumerate(curve, 1) if v >= target), None)
            per["random_queries_to_match_150"] = need
            # the other way round: the queries this controller needs to reach random's median (mean) at 150
            mine, shortest = runs[label], min(len(r["val"]) for r in runs[label])
            mine_curve = [float(np.median([best_at(r, n)[0] for r in mine])) for n in range(1, shortest + 1)]
            mine_mean = [float(np.mean([best_at(r, n)[0] for r in mine])) for n in range(1, shortest + 1)]
            if len(curve) >= 150:
                per["queries_to_random_150"] = next((n for n, v in enumerate(mine_curve, 1) if v >= curve[149]), None)
                per["queries_to_random_150_mean"] = next(
                    (n for n, v in enumerate(mine_mean, 1) if v >= mean_curve[149]), None
                )
    return out


def report(summary: dict[str, Any]) -> str:
    lines = []
    for kind, unit in (("queries", "queries"), ("seconds", "x mean training time")):
        rows = []
        for label, per in summary.items():
            for n in BUDGETS:
                s = per[f"{kind}:{n}"]
                rows.append(
                    [
                        label,
                        per["seeds"],
                        n if not s["short_runs"] else f"{n} ({s['short_runs']} runs short)",
                        _ci(s["best_val"]),
                        f"{s['mean_best_val']:.4f}",
                        _p(s["p_val_vs_random"]),
                        _ci(s["test_of_best"]),
                        f"{s['mean_test_of_best']:.4f}",
                        _ci(s["hypervolume"]),
                        _p(s["p_hv_vs_random"]),
                    ]
                )
        lines.append(f"budget in {unit} (median [95% CI] over seeds; p: Mann-Whitney U vs random):")
        lines.append(
            table(
                ["controller", "seeds", unit, "best val_acc", "mean", "p", "test of best", "mean", "hypervolume", "p"],
                rows,
            )
        )
    rows = [
        [label, per["queries:150"]["best_val"][0], per.get("random_queries_to_match_150") or "> longest random run"]
        for label, per in summary.items()
    ]
    lines.append("random-search queries needed to reach each controller's median best val_acc at 150 queries:")
    lines.append(table(["controller", "median best at 150", "random needs"], rows))
    rows = [
        [label, per.get("queries_to_random_150") or "> 300", per.get("queries_to_random_150_mean") or "> 300"]
        for label, per in summary.items()
    ]
    lines.append("queries each controller needs to reach random search's best val_acc at 150 queries (median; mean):")
    lines.append(table(["controller", "to random's median", "to random's mean"], rows))
    return "\n\n".join(lines)


def _ci(t: tuple[float, float, float]) -> str:
    return f"{t[0]:.4f} [{t[1]:.4f}, {t[2]:.4f}]"


def _p(p: float | None) -> str:
    return "-" if p is None else f"{p:.1e}" if p < 1e-3 else f"{p:.3f}"


def plot(runs: dict[str, list[dict[str, Any]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for label, mine in runs.items():
        n = min(300, min(len(r["val"]) for r in mine))
        curves = np.array([np.maximum.accumulate(r["val"][:n]) for r in mine])
        x = np.arange(1, n + 1)
        ax.plot(x, np.median(curves, 0), label=label)
        ax.fill_between(x, np.percentile(curves, 25, 0), np.percentile(curves, 75, 0), alpha=0.15)
    ax.set_xscale("log")
    ax.set_xlabel("queries (architectures trained)")
    ax.set_ylabel("best validation accuracy so far")
    ax.set_title("digits-cell table: median and interquartile range over seeds")
    lo = min(np.median([r["val"][0] for r in mine]) for mine in runs.values())
    ax.set_ylim(max(lo, 0.9), None)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run_all(
    jobs: list[tuple[str, dict[str, Any], int, int, float]], path: str, workers: int, mode: str = "draw"
) -> dict[str, list[dict]]:
    runs: dict[str, list[dict[str, Any]]] = {}
    with ProcessPoolExecutor(workers, initializer=_load, initargs=(path, mode)) as pool:
        for label, seed, run in pool.map(_task, jobs, chunksize=4):
            runs.setdefault(label, []).append(run | {"seed": seed})
    for mine in runs.values():
        mine.sort(key=lambda r: r["seed"])
    return runs


def tune(path: str, seeds: int, workers: int, mode: str = "draw") -> list[list[Any]]:
    """Evolution's population / sample size and objectives, local search's init / patience, at 150 queries."""
    grid: dict[str, dict[str, Any]] = {}
    for objectives in ((), ("val_acc",)):
        for p, s in ((8, 3), (10, 5), (20, 5), (20, 10), (50, 10), (50, 25), (100, 25)):
            name = f"evolution P={p} S={s}" + (" val_acc only" if objectives else "")
            grid[name] = {"controller": "evolution", "population": p, "sample": s, "objectives": objectives}
    for init in (5, 10, 20):
        for patience in (5, 10, 20, 50):
            grid[f"local_search init={init} patience={patience}"] = {
                "controller": "local_search",
                "population": init,
                "patience": patience,
            }
    jobs = [(label, opts, seed, 150, 0.0) for label, opts in grid.items() for seed in range(seeds)]
    runs = run_all(jobs, path, workers, mode)
    rows = []
    for label, mine in runs.items():
        vals = [best_at(r, 150)[0] for r in mine]
        rows.append([label, *(f"{v:.4f}" for v in median_ci(vals)), f"{np.mean(vals):.4f}"])
    return rows


# ----------------------------------------------------------------------------- NAS-Bench-201

NB201_DATASETS = ("cifar10", "cifar100", "imagenet16")
REA = "evolution-val_acc"  # regularized evolution on accuracy alone: what BANANAS and NAS-Bench-201 compare with
# Published anchors, validation accuracy (%) after 200 epochs, mean +- std over their runs: NAS-Bench-201
# (Dong & Yang, ICLR 2020), Table 5 -- searched under a simulated time budget with the 12-epoch accuracy as
# the signal, so not the same measure as ours (the 200-epoch accuracy, at a budget in queries); and local
# search reaching CIFAR-100's optimum after ~127 queries (White et al., UAI 2021, Figure 1).
ANCHORS = {
    "cifar10": {"random": (90.93, 0.36), "evolution": (91.19, 0.31)},
    "cifar100": {"random": (70.93, 1.09), "evolution": (71.81, 1.12)},
    "imagenet16": {"random": (44.45, 1.10), "evolution": (45.15, 0.89)},
}


def picked(run: dict[str, Any], n: int) -> int:
    """The query a search would report after n queries: the best validation accuracy it saw (ties: earlier)."""
    return int(np.argmax(run["val"][:n]))


def hv2(run: dict[str, Any], n: int, cost: str, ref: float) -> float:
    """Hypervolume of (mean val_acc max, cost min) over the first n queries, divided by the reference box."""
    from nas import pareto

    pts = np.array([[v, c] for v, c in zip(run["mean"][:n], run[cost][:n], strict=True)], dtype=float)
    return pareto.hypervolume(pts, [0.0, ref], [True, False]) / ref


def summarize_nb201(runs: dict[str, list[dict[str, Any]]], best: float, refs: dict[str, float], unit: float):
    """Per controller and budget: the picked architecture's accuracies and regret, both hypervolumes, tests."""
    out: dict[str, Any] = {}
    base = runs.get(BASELINE, [])
    for label, mine in runs.items():
        per: dict[str, Any] = {"seeds": len(mine)}
        for n in BUDGETS:
            for kind in ("queries", "seconds"):

                def at(r: dict[str, Any], n: int = n, kind: str = kind) -> int:
                    return n if kind == "queries" else queries_within(r, n * unit)

                def measures(rs: list[dict[str, Any]]) -> dict[str, list[float]]:
                    return {
                        "best_val": [r["val"][picked(r, at(r))] for r in rs],
                        "picked_mean_val": [r["mean"][picked(r, at(r))] for r in rs],
                        "hv_params": [hv2(r, at(r), "params", refs["params"]) for r in rs],
                        "hv_latency": [hv2(r, at(r), "latency", refs["latency"]) for r in rs],
                    }

                m, b = measures(mine), measures(base)
                rea = measures(runs[REA]) if REA in runs else None
                cell = {key: median_ci(v) for key, v in m.items()}
                if rea is not None and label != REA:  # BANANAS' comparison: regularized evolution on accuracy
                    cell["p_picked_mean_val_vs_rea"] = mwu(m["picked_mean_val"], rea["picked_mean_val"])
                    cell["rea_picked_mean_val"] = median_ci(rea["picked_mean_val"])
                cell["mean_picked_mean_val"] = float(np.mean(m["picked_mean_val"]))
                cell["sd_picked_mean_val"] = float(np.std(m["picked_mean_val"]))
                cell["regret"] = median_ci([best - v for v in m["picked_mean_val"]])
                for key in m:
                    cell[f"p_{key}"] = mwu(m[key], b[key]) if label != BASELINE and base else None
                cell["queries"] = float(np.median([at(r) for r in mine]))
                per[f"{kind}:{n}"] = cell
        out[label] = per
    curves = {
        label: [
            float(np.median([r["mean"][picked(r, n)] for r in mine]))
            for n in range(1, min(len(r["val"]) for r in mine) + 1)
        ]
        for label, mine in runs.items()
    }
    for label, per in out.items():
        target = per["queries:150"]["picked_mean_val"][0]
        per["random_queries_to_match_150"] = next(
            (n for n, v in enumerate(curves.get(BASELINE, []), 1) if v >= target), None
        )
        if "local_search" in out:
            goal = out["local_search"]["queries:150"]["picked_mean_val"][0]
            per["queries_to_local_search_150"] = next((n for n, v in enumerate(curves[label], 1) if v >= goal), None)
    return out


def report_nb201(dataset: str, summary: dict[str, Any], best: float) -> str:
    rows = []
    for label, per in summary.items():
        for n in BUDGETS:
            s = per[f"queries:{n}"]
            rows.append([label, per["seeds"], n, _ci(s["picked_mean_val"]), f"{s['mean_picked_mean_val']:.4f}",
                         _p(s["p_picked_mean_val"]), _ci(s["best_val"]), _ci(s["regret"]),
                         _ci(s["hv_params"]), _p(s["p_hv_params"]), _ci(s["hv_latency"]), _p(s["p_hv_latency"])])  # fmt: skip
    lines = [
        f"NAS-Bench-201 {dataset} (best cell's mean validation accuracy {best:.4f}); budget in queries; "
        "median [95% CI] over seeds; p: two-sided Mann-Whitney U against random search:",
        table(
            [
                "controller",
                "seeds",
                "queries",
                "picked: mean val",
                "mean",
                "p",
                "best val seen (drawn)",
                "regret",
                "HV acc-params",
                "p",
                "HV acc-latency",
                "p",
            ],
            rows,
        ),  # fmt: skip
    ]
    rows = []
    for label, per in summary.items():
        for n in BUDGETS:
            s = per[f"seconds:{n}"]
            rows.append(
                [label, n, s["queries"], _ci(s["picked_mean_val"]), _p(s["p_picked_mean_val"]), _ci(s["regret"])]
            )
    lines.append("at equal simulated training time (budget: n x the table's mean training time per cell):")
    lines.append(table(["controller", "n x mean time", "median queries", "picked: mean val", "p", "regret"], rows))
    rows = [[label, f"{per['queries:150']['picked_mean_val'][0]:.4f}", per.get("random_queries_to_match_150") or "> 1000",
             per.get("queries_to_local_search_150") or "> 300"] for label, per in summary.items()]  # fmt: skip
    lines.append("queries saved: random search's queries to reach each median at 150; queries to reach local search's:")
    lines.append(table(["controller", "median at 150", "random needs", "to local search's 150"], rows))
    anchor = ANCHORS.get(dataset, {})
    anchored = [[label, f"{mu:.2f} +- {sd:.2f}", f"{100 * summary[label]['queries:150']['mean_picked_mean_val']:.2f} +- "
             f"{100 * summary[label]['queries:150']['sd_picked_mean_val']:.2f}"] for label, (mu, sd) in anchor.items()
            if label in summary]  # fmt: skip
    rows = [[label, n, _ci(per[f"queries:{n}"]["picked_mean_val"]), _ci(per[f"queries:{n}"]["rea_picked_mean_val"]),
             _p(per[f"queries:{n}"]["p_picked_mean_val_vs_rea"])]
            for label, per in summary.items() for n in (50, 100, 150) if "rea_picked_mean_val" in per[f"queries:{n}"]]  # fmt: skip
    if rows:
        lines.append(f"against regularized evolution on accuracy ({REA}), picked cell's mean validation accuracy:")
        lines.append(table(["controller", "queries", "picked: mean val", REA, "p"], rows))
    if not anchored:
        return "\n\n".join(lines)
    lines.append("published anchors (NAS-Bench-201 Table 5, %, mean +- sd; another measure: see ANCHORS) beside ours "
                 "(mean +- sd of the picked cell's mean validation accuracy at 150 queries):")  # fmt: skip
    lines.append(table(["controller", "published", "ours"], anchored))
    return "\n\n".join(lines)


LABELS = {  # README names
    "random": "random search",
    "evolution": "evolution (default: val_acc, params front)",
    "evolution-val_acc": "evolution, `--objectives val_acc`",
    "evolution-tournament": "evolution, tournament (the seeds' variant)",
    "local_search": "local search",
    "tpe": "TPE",
    "nsga2": "NSGA-II",
    "predictor": "predictor",
}


def readme_table(payload: dict[str, Any], n: int = 150) -> str:
    """README's table: per controller and dataset, the picked cell's mean validation accuracy at n queries
    (median over seeds, %) with the p-value against random search."""
    datasets = list(payload["datasets"])
    labels = [label for label in LABELS if all(label in payload["datasets"][d]["summary"] for d in datasets)]
    rows = []
    for label in labels:
        row = [LABELS[label]]
        for d in datasets:
            s = payload["datasets"][d]["summary"][label][f"queries:{n}"]
            p = s["p_picked_mean_val"]
            row.append(f"{100 * s['picked_mean_val'][0]:.2f}" + ("" if p is None else f" (p {_p(p)})"))
        rows.append(row)
    best = [f"{100 * payload['datasets'][d]['best_mean_val']:.2f}" for d in datasets]
    rows.append(["the best cell", *best])
    return table(["controller", *(nb201_name(d) for d in datasets)], rows)


def nb201_name(dataset: str) -> str:
    from nas.benchmarks.nb201 import DATASETS

    return DATASETS[dataset][3]


def nb201_main(args: argparse.Namespace) -> None:
    payload: dict[str, Any] = {"machine": machine(), "seeds": args.seeds, "queries": args.queries, "datasets": {}}
    texts = []
    for dataset in args.nb201.split(","):
        spec = f"nb201:{dataset}"
        _load(spec)
        tab = _TABLE
        best = max(e.mean("val_acc") for e in tab.entries)
        refs = {"params": 1.1 * max(e.params for e in tab.entries),
                "latency": 1.1 * max(e.latency_ms for e in tab.entries)}  # fmt: skip
        unit = float(np.mean([s for e in tab.entries for s in e.train_seconds]))
        labels = args.controllers.split(",")
        variants = dict(CONTROLLERS)
        for extra in args.variant:  # LABEL=JSON: a controller's config (and "options": its own) to compare
            label, _, text = extra.partition("=")
            variants[label] = json.loads(text)
            labels.append(label)
        jobs = [
            (
                label,
                variants[label],
                seed,
                args.random_queries if label == BASELINE else args.queries,
                min(max(BUDGETS), args.queries) * unit,  # (seconds budgets up to the queries one)
            )  # fmt: skip
            for label in labels
            for seed in range(min(args.tpe_seeds, args.seeds) if label == "tpe" else args.seeds)
        ]
        jobs.sort(key=lambda j: j[0] not in ("tpe", "nsga2", "predictor"))
        t0 = time.perf_counter()
        runs = run_all(jobs, spec, args.workers)
        wall = time.perf_counter() - t0
        summary = summarize_nb201(runs, best, refs, unit)
        text = report_nb201(dataset, summary, best)
        print(text + f"\n\n{len(jobs)} searches in {wall:.0f} s\n", flush=True)
        texts.append(text)
        payload["datasets"][dataset] = {
            "best_mean_val": best, "refs": refs, "unit_seconds": unit, "summary": summary, "wall_seconds": wall,
            "ms_per_query": {label: 1000 * float(np.sum([r["wall"] for r in mine]) / np.sum([len(r["val"]) for r in mine]))
                             for label, mine in runs.items()},
        }  # fmt: skip
        write_results((args.out or "quality_nb201") + ("_quick" if args.quick else ""), payload)
    print(f"README table (median over seeds at 150 queries, %; p: against random search):\n{readme_table(payload)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--table", default=str(TABLE))
    ap.add_argument("--seeds", type=int, default=100)
    ap.add_argument("--tpe-seeds", type=int, default=20, help="TPE is slow here (~70 s a run): fewer seeds")
    ap.add_argument("--tune-seeds", type=int, default=50)
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--random-queries", type=int, default=1000, help="random search's longer runs (queries saved)")
    ap.add_argument("--controllers", default=",".join(CONTROLLERS))
    ap.add_argument("--filter", action="store_true", help="with --proxies: also evolution with the proxy filter")
    ap.add_argument(
        "--proxies",
        default="",
        help="compare warm-up and the proxy filter with these proxies (e.g. synflow,params) against random "
        "search and the plain controllers (bench/table_proxies.py computes the scores first)",
    )
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--tune", action="store_true", help="also tune evolution and local search on the table")
    ap.add_argument("--mode", choices=("draw", "mean"), default="draw", help="one run drawn per trial, or the mean")
    ap.add_argument("--quick", action="store_true", help="smoke test: 5 seeds x 40 queries")
    ap.add_argument(
        "--variant",
        action="append",
        default=[],
        help='with --nb201: LABEL=JSON, e.g. p0=\'{"controller": "predictor", "options": {"explore": 0}}\'',
    )
    ap.add_argument("--out", default="", help="bench/results/OUT.json (default: quality..., quality_nb201)")
    ap.add_argument("--nb201", default="", help="NAS-Bench-201 instead: datasets, e.g. cifar10,cifar100,imagenet16")
    args = ap.parse_args()
    if args.quick:
        args.seeds, args.queries, args.random_queries = 5, 40, 60
    if args.nb201:
        nb201_main(args)
        return
    note = quiet_machine_note()
    if note:
        print(note, file=sys.stderr)
    _load(args.table, args.mode)
    table_ = _TABLE
    ref_params = 1.1 * max(e.params for e in table_.entries)
    unit = float(np.mean([s for e in table_.entries for s in e.train_seconds]))
    labels = args.controllers.split(",")
    variants = dict(CONTROLLERS)
    if args.proxies:
        if _PROXIES is None:
            raise SystemExit(f"no {PROXY_TABLE}: run python bench/table_proxies.py first")
        extra = proxy_variants(args.proxies.split(","), args.filter)
        variants |= extra
        labels = [label for label in labels if label not in ("tpe", "nsga2", "evolution-tournament")] + list(extra)
    jobs = [
        (
            label,
            variants[label],
            seed,
            args.random_queries if label == BASELINE else args.queries,
            max(BUDGETS) * unit,
        )
        for label in labels
        for seed in range(min(args.tpe_seeds, args.seeds) if label == "tpe" else args.seeds)
    ]
    jobs.sort(key=lambda j: j[0] not in ("tpe", "nsga2"))  # the slow ones first, so the pool ends evenly
    t0 = time.perf_counter()
    runs = run_all(jobs, args.table, args.workers, args.mode)
    wall = time.perf_counter() - t0
    summary = summarize(runs, ref_params, unit)
    text = report(summary)
    print(text)
    print(f"\n{len(jobs)} searches in {wall:.0f} s ({args.workers} workers)")
    payload: dict[str, Any] = {
        "machine": machine(),
        "table": {"path": args.table, "architectures": len(table_), "ref_params": ref_params, "unit_seconds": unit},
        "seeds": args.seeds,
        "mode": args.mode,
        "queries": args.queries,
        "summary": summary,
        "wall_seconds": wall,
        "ms_per_query": {
            label: 1000 * float(np.sum([r["wall"] for r in mine]) / np.sum([len(r["val"]) for r in mine]))
            for label, mine in runs.items()
        },
    }
    if args.tune:
        rows = tune(args.table, min(args.tune_seeds, args.seeds), args.workers, args.mode)
        print(
            f"\ntuning at 150 queries, {min(args.tune_seeds, args.seeds)} seeds (median [95% CI], mean of best val_acc):"
        )
        print(table(["controller", "median", "low", "high", "mean"], rows))
        payload["tuning"] = rows
    name = "quality" + ("_mean" if args.mode == "mean" else "") + ("_proxies" if args.proxies else "")
    name = args.out or name
    name += "_quick" if args.quick else ""
    write_results(name, payload)
    if not args.quick:
        plot(runs, RESULTS / f"{name}.png")


if __name__ == "__main__":
    main()
