"""Search quality at equal budget: regularized evolution vs random search vs TPE vs NSGA-II on digits.

    python bench/bench_quality.py           # full: 4 controllers x 5 seeds x 20 trials x 3 epochs
    python bench/bench_quality.py --quick   # smoke test, under a minute

Each search is `launch.py search`'s defaults for its controller (objectives: evolution and
NSGA-II val_acc + params, TPE and random val_acc; population 8) on the embedded digits data,
with the local engine and one thread per trial; two searches run at once, one per core.
Reported per controller, over seeds: the best validation accuracy after n trials (mean and
standard deviation, and best-so-far curves in ``bench/results/quality.png``); the test
accuracy of that best trial (reported, never used to select); and the hypervolume of the
(val_acc max, params min) front, with one reference point for every run: val_acc 0 and
1.1 x the largest parameter count seen in any run (divided by that reference box, so in 0..1). The baseline is random search, run in
the same benchmark; differences from it are tested with a two-sided Mann-Whitney U test.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

from _common import RESULTS, machine, mean_std, quiet_machine_note, table, write_results

CONTROLLERS = ("random", "evolution", "tpe", "nsga2")
BASELINE = "random"


def run_search(controller: str, seed: int, trials: int, epochs: int, limit: int | None) -> dict:
    """One search in a temp folder (its own process); the counted trials' metrics in order."""
    import torch

    from nas.config import SearchConfig
    from nas.data import load_dataset
    from nas.driver import DataInfo, SearchState
    from nas.engines import LocalEngine
    from nas.status import DISPATCHED
    from nas.train import TrainConfig

    torch.set_num_threads(1)
    cfg = SearchConfig(
        name=f"{controller}-s{seed}",
        controller=controller,
        seed=seed,
        trials=trials,
        engine="local",
        keep_weights="none",
        limit=limit,
        train=TrainConfig(epochs=epochs, threads=1),
    )
    data = load_dataset("digits", seed=seed, limit=limit)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="nasgraph-bench-") as tmp:
        with SearchState(cfg, Path(tmp) / cfg.name, DataInfo.of(data), log=lambda line: None) as state:
            LocalEngine(data).run(state)
            rows = [r for r in state.rows if r["status"] in DISPATCHED]
    keys = ("status", "val_acc", "test_acc", "params")
    return {
        "controller": controller,
        "seed": seed,
        "seconds": time.perf_counter() - t0,
        "trials": [{k: r.get(k) for k in keys} for r in rows],
    }


# ------------------------------------------------------------------ analysis


def best_so_far(run: dict) -> list[float]:
    """Best validation accuracy after each counted trial (failed trials carry the previous best)."""
    out, best = [], 0.0
    for t in run["trials"]:
        if t["status"] == "ok" and t["val_acc"] is not None:
            best = max(best, t["val_acc"])
        out.append(best)
    return out


def best_trial(run: dict) -> dict:
    """The most accurate ok trial by validation accuracy (ties: fewer parameters), as results.best picks."""
    ok = [t for t in run["trials"] if t["status"] == "ok" and t["val_acc"] is not None]
    return max(ok, key=lambda t: (t["val_acc"], -(t["params"] or 0)))


def hypervolume(run: dict, max_params: float) -> float:
    """Hypervolume of the run's (val_acc max, params min) front, reference (0, 1.1 x max_params).

    Divided by the reference box (1.0 x 1.1 max_params), so 1.0 would be accuracy 1 at zero parameters.
    """
    import numpy as np

    from nas import results

    ok = [t for t in run["trials"] if t["status"] == "ok" and t["val_acc"] is not None]
    points = np.array([[t["val_acc"], t["params"]] for t in ok], dtype=float)
    ref = [0.0, 1.1 * max_params]
    return results.hypervolume(points, ref=ref, maximize=[True, False]) / ref[1]


def summarize(runs: list[dict]) -> dict:
    """Per controller: final best val, test of the best, hypervolume; Mann-Whitney U against random."""
    max_params = max(t["params"] or 0 for r in runs for t in r["trials"])
    per: dict[str, dict] = {}
    for name in dict.fromkeys(r["controller"] for r in runs):
        mine = [r for r in runs if r["controller"] == name]
        per[name] = {
            "final_best_val": [best_so_far(r)[-1] for r in mine],
            "half_best_val": [best_so_far(r)[len(r["trials"]) // 2 - 1] for r in mine],
            "test_of_best": [best_trial(r)["test_acc"] for r in mine],
            "params_of_best": [best_trial(r)["params"] for r in mine],
            "hypervolume": [hypervolume(r, max_params) for r in mine],
            "ok_share": [sum(t["status"] == "ok" for t in r["trials"]) / len(r["trials"]) for r in mine],
            "seconds": [r["seconds"] for r in mine],
        }
    for s in per.values():
        s["p_best_val_vs_random"] = _mwu(s["final_best_val"], per.get(BASELINE, {}).get("final_best_val"))
        s["p_hv_vs_random"] = _mwu(s["hypervolume"], per.get(BASELINE, {}).get("hypervolume"))
    return {"reference_point": [0.0, 1.1 * max_params], "controllers": per}


def _mwu(a: list[float], b: list[float] | None) -> float | None:
    """Two-sided Mann-Whitney U p-value, or None when it cannot be computed."""
    if not b or a is b or len(a) < 2:
        return None
    try:
        from scipy.stats import mannwhitneyu
    except ImportError:
        return None
    if len(set(a) | set(b)) == 1:
        return 1.0
    return float(mannwhitneyu(a, b, alternative="two-sided").pvalue)


def report(summary: dict, trials: int) -> str:
    """Mean ± std per controller, and the comparison with random search."""
    per = summary["controllers"]
    base = per.get(BASELINE)
    rows = []
    for name, s in per.items():
        val, hv = mean_std(s["final_best_val"]), mean_std(s["hypervolume"])
        half = mean_std(s["half_best_val"])
        test = mean_std(s["test_of_best"])
        rows.append(
            [
                name,
                len(s["final_best_val"]),
                _pm(half),
                _pm(val),
                _delta(val[0], base and mean_std(base["final_best_val"])[0]),
                _p(s["p_best_val_vs_random"]),
                _pm(test),
                f"{mean_std(s['params_of_best'])[0] / 1e3:.0f}k",
                _pm(hv),
                f"{hv[0] / mean_std(base['hypervolume'])[0]:.3f}" if base else "-",
                _p(s["p_hv_vs_random"]),
                f"{100 * mean_std(s['ok_share'])[0]:.0f}%",
            ]
        )
    headers = [
        "controller",
        "seeds",
        f"best val @{trials // 2}",
        f"best val @{trials}",
        "vs random",
        "p",
        "test of best",
        "params of best",
        "hypervolume",
        "HV / random",
        "p",
        "ok",
    ]
    return table(headers, rows)


def _pm(ms: tuple[float, float]) -> str:
    return f"{ms[0]:.4f} ± {ms[1]:.4f}"


def _delta(a: float, b: float | None) -> str:
    return "-" if b is None else f"{100 * (a - b):+.2f} pt"


def _p(p: float | None) -> str:
    return "-" if p is None else f"{p:.2f}"


def plot(runs: list[dict], path: Path) -> None:
    """Best-so-far validation accuracy, mean and ± 1 std band over seeds, one line per controller."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=120)
    styles = ["-", "--", "-.", ":"]  # evolution starts from random's samples, NSGA-II from TPE's: lines overlap
    for k, name in enumerate(dict.fromkeys(r["controller"] for r in runs)):
        curves = np.array([best_so_far(r) for r in runs if r["controller"] == name])
        x = np.arange(1, curves.shape[1] + 1)
        mean, std = curves.mean(0), curves.std(0, ddof=1) if len(curves) > 1 else np.zeros(curves.shape[1])
        ax.plot(x, mean, styles[k % len(styles)], linewidth=1.8, label=f"{name} (n={len(curves)})")
        ax.fill_between(x, mean - std, mean + std, alpha=0.15)
    ax.set_xlabel("trials")
    ax.set_ylabel("best validation accuracy so far")
    ax.set_title("digits: best-so-far validation accuracy (mean ± 1 std over seeds)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="1 seed, 4 trials, 1 epoch, 500 images (< 1 minute)")
    ap.add_argument("--seeds", type=int, default=0, help="seeds per controller (default 1 quick, 5 full)")
    ap.add_argument("--trials", type=int, default=0, help="trials per search (default 4 quick, 20 full)")
    ap.add_argument("--epochs", type=int, default=0, help="epochs per trial (default 1 quick, 3 full)")
    ap.add_argument("--jobs", type=int, default=2, help="searches at once (one core each)")
    ap.add_argument("--controllers", default=",".join(CONTROLLERS))
    args = ap.parse_args()
    seeds = args.seeds or (1 if args.quick else 5)
    trials = args.trials or (4 if args.quick else 20)
    epochs = args.epochs or (1 if args.quick else 3)
    limit = 500 if args.quick else None
    note = quiet_machine_note()
    if note:
        print(note)
    jobs = [(c, s) for s in range(seeds) for c in args.controllers.split(",")]
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.jobs, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(run_search, c, s, trials, epochs, limit) for c, s in jobs]
        runs = []
        for f in futures:
            runs.append(f.result())
            print(f"  {runs[-1]['controller']} seed {runs[-1]['seed']}: {runs[-1]['seconds']:.0f}s", flush=True)
    summary = summarize(runs)
    text = report(summary, trials)
    print(f"\ndigits, {trials} trials x {epochs} epochs, {seeds} seeds, {time.perf_counter() - t0:.0f}s\n{text}")
    name = "bench_quality" + ("_quick" if args.quick else "")
    png = RESULTS / ("quality_quick.png" if args.quick else "quality.png")
    RESULTS.mkdir(parents=True, exist_ok=True)
    plot(runs, png)
    payload = {"machine": machine(), "trials": trials, "epochs": epochs, "seeds": seeds, "limit": limit}
    payload |= {"summary": summary, "runs": runs, "table": text}
    print(f"results: {write_results(name, payload)}\nplot: {png}")


if __name__ == "__main__":
    main()
