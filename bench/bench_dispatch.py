"""Dispatch overhead: the same short trials through Ray Tune (`nas.engines.ray_tune.RayEngine`) and the plain loop.

    python bench/bench_dispatch.py           # full: 12 short trials per engine setting, then 4 x 30 s trials
    python bench/bench_dispatch.py --quick   # smoke test, under a minute (Ray start-up included)

Every run is a random search with the same seed over a tiny space, so each engine trains the
same architectures in the same order: short trials on digits (6 epochs, well under a second
each), then a few trials ended by ``--trial-timeout`` after 30 s of training on CIFAR-shaped
synthetic data, whose epochs take seconds as real ones do (one Tune report per epoch).
Work = the sum of the trials' own ``wall_seconds`` (what `train_trial` took: build, train,
evaluate); ``train_seconds`` (the epoch loops alone) is shown too. For an engine running c trials at once the ideal wall time is
work / c; overhead = wall - work / c, per trial = c x overhead / N (slot-seconds per trial not
spent in `train_trial`), and the implied share for 30-second trials is o / (30 + o).
The baseline in the same run is `nas.engines.LocalEngine` (c = 1, no Ray). Ray's own start-up
(``ray.init``) is timed once, separately: it is paid once per search, not per trial.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

from _common import machine, quiet_machine_note, table, write_results

from nas.config import SearchConfig
from nas.data import DataSplits, load_dataset
from nas.driver.coordinator import DataInfo, SearchState
from nas.engines import LocalEngine
from nas.status import DISPATCHED
from nas.trial.train import TrainConfig

TINY_SPACE = {
    "ops": ["conv", "sepconv", "maxpool"],
    "wirings": ["chain", "residual"],
    "stages": [1, 2],
    "nodes": [1, 2],
    "widths": [8, 16],
    "head_hidden": [0],
    "head_dropout": [0.0],
}


LONG_DATASET = "synthetic:3x32x32:10:25000"  # epochs of 5-50 s for the tiny space: a 30 s trial reports 1-6 times


@dataclass(frozen=True)
class Setting:
    """One engine configuration."""

    engine: str  # local or ray
    concurrency: int = 1
    reuse_actors: bool = True

    @property
    def label(self) -> str:
        if self.engine == "local":
            return "local (plain loop)"
        return f"ray c={self.concurrency} reuse={'on' if self.reuse_actors else 'off'}"


SETTINGS = [
    Setting("local"),
    Setting("ray", 1, True),
    Setting("ray", 1, False),
    Setting("ray", 2, True),
    Setting("ray", 2, False),
]


def search_config(s: Setting, trials: int, epochs: int, timeout: float) -> SearchConfig:
    """The same search for every engine: random, seed 0, tiny space, one thread per trial."""
    return SearchConfig(
        name="bench-dispatch",
        controller="random",
        engine=s.engine,
        trials=trials,
        concurrency=s.concurrency,
        reuse_actors=s.reuse_actors,
        trial_timeout=timeout,
        keep_weights="none",
        space=TINY_SPACE,
        train=TrainConfig(epochs=epochs, threads=1),
    )


def run_setting(s: Setting, data: DataSplits, trials: int, epochs: int, timeout: float = 0.0) -> dict:
    """Run one search in a fresh temp folder; wall time of the engine call and the trials' own times."""
    cfg = search_config(s, trials, epochs, timeout)
    with tempfile.TemporaryDirectory(prefix="nasgraph-bench-") as tmp:
        with SearchState(cfg, Path(tmp) / "s", DataInfo.of(data), log=lambda line: None) as state:
            t0 = time.perf_counter()
            if s.engine == "local":
                LocalEngine(data).run(state)
            else:
                from nas.engines.ray_tune import RayEngine

                with _quiet():
                    RayEngine(data).run(state)
            wall = time.perf_counter() - t0
            rows = [r for r in state.record.rows() if r["status"] in DISPATCHED]
    return {
        "setting": s.label,
        "engine": s.engine,
        "concurrency": s.concurrency,
        "reuse_actors": s.reuse_actors,
        "dataset": data.name,
        "trials": len(rows),
        "statuses": sorted({r["status"] for r in rows}),
        "epochs": sum(r["epochs"] or 0 for r in rows),  # one Tune report per epoch under Ray
        "wall_s": wall,
        "work_s": sum(r["wall_seconds"] or 0.0 for r in rows),
        "train_s": sum(r["train_seconds"] or 0.0 for r in rows),
    }


@contextlib.contextmanager
def _quiet():
    """Ray Tune's end-of-run chatter on stdout/stderr stays out of the table."""
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


def start_ray() -> float:
    """Start the local Ray runtime the way `RayEngine.start` does; seconds it took."""
    from nas.engines.ray_tune import init_ray

    t0 = time.perf_counter()
    with _quiet():
        init_ray()
    logging.getLogger("ray").setLevel(logging.ERROR)
    return time.perf_counter() - t0


def overhead(r: dict, local: dict | None) -> dict:
    """Overhead against the ideal wall = work / c: seconds, share, per trial, and for 30 s trials.

    Also against the plain loop of the same run: c x wall - local wall, per trial. This one also
    counts what Ray adds inside `train_trial` (a Tune report per epoch, first-call set-up in each
    new worker process), which the trials' own times include.
    """
    c = r["concurrency"]
    ideal = r["work_s"] / c
    per_trial = (r["wall_s"] - ideal) * c / max(1, r["trials"])
    vs_local = None
    if local is not None and local["trials"] == r["trials"]:
        vs_local = (c * r["wall_s"] - local["wall_s"]) / max(1, r["trials"])
    return {
        "ideal_wall_s": ideal,
        "overhead_share": 1 - ideal / r["wall_s"],
        "per_trial_s": per_trial,
        "share_at_30s": per_trial / (30 + per_trial),
        "train_share": r["train_s"] / c / r["wall_s"],
        "per_trial_vs_local_s": vs_local,
    }


def report(runs: list[dict]) -> str:
    """One line per engine setting; the last column compares wall time with the plain loop's."""
    base = next((r for r in runs if r["engine"] == "local"), None)
    rows = []
    for r in runs:
        o = r["overhead"]
        vs = f"{r['wall_s'] / base['wall_s']:.2f}" if base and base["trials"] == r["trials"] else "-"
        vs_local = o["per_trial_vs_local_s"]
        rows.append(
            [
                r["setting"],
                r["trials"],
                r["epochs"],
                r["wall_s"],
                r["work_s"],
                r["train_s"],
                o["ideal_wall_s"],
                f"{100 * o['overhead_share']:.1f}%",
                f"{o['per_trial_s']:.2f}",
                f"{100 * o['share_at_30s']:.1f}%",
                "-" if vs_local is None else f"{vs_local:.2f}",
                vs,
            ]
        )
    headers = ["engine", "N", "epochs", "wall s", "work s", "train s", "ideal s", "not in trial", "s/trial", "@30s"]
    return table([*headers, "s/trial vs local", "wall/local"], rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="3 trials, local and Ray c=1 only (< 1 minute)")
    ap.add_argument("--trials", type=int, default=0, help="short trials per setting (default 3 quick, 12 full)")
    ap.add_argument("--epochs", type=int, default=0, help="epochs per short trial (default 2 quick, 6 full)")
    ap.add_argument("--long-trials", type=int, default=-1, help="30-second trials per engine (default 0 quick, 4 full)")
    ap.add_argument("--long-seconds", type=float, default=30.0, help="training seconds of a long trial")
    ap.add_argument(
        "--long-dataset", default=LONG_DATASET, help="data of the long trials (epochs of several seconds each)"
    )
    args = ap.parse_args()
    trials = args.trials or (3 if args.quick else 12)
    epochs = args.epochs or (2 if args.quick else 6)
    long_trials = args.long_trials if args.long_trials >= 0 else (0 if args.quick else 4)
    settings = SETTINGS[:2] if args.quick else SETTINGS
    note = quiet_machine_note()
    if note:
        print(note)
    data = load_dataset("digits")
    ray_start = start_ray()
    print(f"  ray.init: {ray_start:.1f}s", flush=True)
    runs = []
    for s in settings:
        runs.append(run_setting(s, data, trials, epochs) | {"kind": "short"})
        print(f"  {s.label}: {runs[-1]['wall_s']:.1f}s wall", flush=True)
    long_data = load_dataset(args.long_dataset) if long_trials else None
    for s in (SETTINGS[0], SETTINGS[1]) if long_trials else ():
        epochs_long = 10**4  # the trial timeout ends training after --long-seconds (a few epochs)
        runs.append(run_setting(s, long_data, long_trials, epochs_long, args.long_seconds) | {"kind": "long"})
        print(f"  {s.label} ({args.long_seconds:g}s trials): {runs[-1]['wall_s']:.1f}s wall", flush=True)
    for r in runs:
        local = next((x for x in runs if x["kind"] == r["kind"] and x["engine"] == "local"), None)
        r["overhead"] = overhead(r, local)
    short = report([r for r in runs if r["kind"] == "short"])
    print(f"\nshort trials ({epochs} epochs of digits, tiny space), ray.init {ray_start:.1f}s not included\n{short}")
    long_text = ""
    if long_trials:
        long_text = report([r for r in runs if r["kind"] == "long"])
        print(f"\n{args.long_seconds:g}-second trials ({args.long_dataset}, trial timeout)\n{long_text}")
    payload = {"machine": machine(), "ray_init_s": ray_start, "runs": runs, "table": short, "table_long": long_text}
    print(f"results: {write_results('bench_dispatch' + ('_quick' if args.quick else ''), payload)}")


if __name__ == "__main__":
    main()
