"""The driver at 100,000 trials: a search on the table engine, its memory, ms per trial, and resume time.

    python bench/bench_scale.py                 # full: 100,000 trials of random search and of evolution
    python bench/bench_scale.py --quick         # smoke test: 3,000 trials

Each search is `launch.py search --engine table:bench/table/digits-cell.parquet --no-dedupe` run
in this process through `nas.api.drive` (the CLI's path: record, controller state, ledger, front,
progress, report), with dedupe off so that table lookups repeat (a table holds ~1,300
architectures). No training: what is measured is the driver. Reported per controller:

- ms per trial over each window of trials (propose + look up + record + tell + save state);
- the driver's resident memory (RSS) after every window of trials (1/20 of the trials, at least 500);
- resume time: a fresh process running ``launch.py search --resume DIR --trials N+1`` for one more
  trial, of the full search and of a separate 10,000-trial one: wall clock from start to its first
  new trial, and to its exit (after rewriting ``trials.parquet`` and ``report.html`` for the record).

The baseline in the same run is the first window (ms per trial at the start; memory at 1,000 trials).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import ROOT, machine, quiet_machine_note, table, write_results

TABLE = ROOT / "bench" / "table" / "digits-cell.parquet"


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def run_search(controller: str, trials: int, window: int, root: Path, table_path: str) -> dict[str, Any]:
    """One table-engine search through `nas.api.drive`, sampled every `window` trials."""
    from nas import api
    from nas.config import SearchConfig
    from nas.data.owndata import from_config
    from nas.engines.table import settle

    options = {
        "controller": controller,
        "engine": f"table:{table_path}",
        "trials": trials,
        "dedupe": False,
        "keep_weights": "none",
        "name": f"scale-{controller}",
    }
    cfg = settle(SearchConfig(**options), options)
    data = from_config(cfg)
    samples: list[dict[str, float]] = []
    start = time.perf_counter()
    last = [start, 0]

    def log(line: str) -> None:  # the progress lines: one per trial
        if not line.startswith("["):
            return
        done = int(line[1:].split("/")[0])
        if done and done % window == 0 and done != last[1]:
            now = time.perf_counter()
            samples.append(
                {"trials": done, "ms_per_trial": 1000 * (now - last[0]) / (done - last[1]), "rss_mb": rss_mb()}
            )
            last[0], last[1] = now, done
            print(
                f"  {controller}: {done} trials, {samples[-1]['ms_per_trial']:.2f} ms/trial, {samples[-1]['rss_mb']:.0f} MB",
                flush=True,
            )

    outcome = api.drive(cfg, root / cfg.name, data, log=log)
    return {
        "samples": samples,
        "wall": time.perf_counter() - start,
        "folder": str(root / cfg.name),
        "finished": outcome.finished,
    }


def resume_seconds(folder: str, trials: int) -> dict[str, float]:
    """A fresh `launch.py search --resume DIR --trials N+1`: seconds to its first new trial, and to its exit
    (which includes rewriting the parquet copy and the HTML report of the whole record)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "launch.py"), "search", "--resume", folder, "--trials", str(trials + 1)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    first = None
    assert proc.stderr is not None
    for line in proc.stderr:
        if first is None and line.startswith("["):
            first = time.perf_counter() - t0
    if proc.wait() != 0:
        raise SystemExit(f"resume of {folder} failed")
    return {"first_trial": first or float("nan"), "exit": time.perf_counter() - t0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--table", default=str(TABLE))
    ap.add_argument("--trials", type=int, default=100_000)
    ap.add_argument("--controllers", default="random,evolution")
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    if args.quick:
        args.trials = 3000
    window = max(args.trials // 20, 500)
    note = quiet_machine_note()
    if note:
        print(note, file=sys.stderr)
    out: dict[str, Any] = {"machine": machine(), "trials": args.trials, "controllers": {}}
    rows = []
    with tempfile.TemporaryDirectory(prefix="nasgraph-scale-") as tmp:
        for controller in args.controllers.split(","):
            r = run_search(controller, args.trials, window, Path(tmp), args.table)
            checkpoints = {args.trials: resume_seconds(r["folder"], args.trials)}
            if args.trials > 10_000:  # a search of 10,000 trials of its own, resumed the same way
                small = run_search(controller, 10_000, 10_000, Path(tmp) / "10k", args.table)
                checkpoints[10_000] = resume_seconds(small["folder"], 10_000)
            s = r["samples"]
            at = {x["trials"]: x for x in s}
            first = s[0]
            mem_10k = next((x["rss_mb"] for x in s if x["trials"] >= 10_000), s[-1]["rss_mb"])
            rows.append(
                [
                    controller,
                    f"{first['ms_per_trial']:.2f}",
                    f"{s[-1]['ms_per_trial']:.2f}",
                    f"{max(x['ms_per_trial'] for x in s):.2f}",
                    f"{first['rss_mb']:.0f}",
                    f"{mem_10k:.0f}",
                    f"{s[-1]['rss_mb']:.0f}",
                    f"{s[-1]['rss_mb'] - mem_10k:+.0f}",
                    ", ".join(
                        f"{n}: {t['first_trial']:.1f} s ({t['exit']:.1f} s to exit)" for n, t in checkpoints.items()
                    ),
                ]
            )
            out["controllers"][controller] = {"samples": s, "wall": r["wall"], "resume_seconds": checkpoints, "at": at}
    print(
        table(
            [
                "controller",
                "ms/trial first window",
                "last window",
                "worst window",
                f"RSS MB at {window}",
                "at 10k",
                "at end",
                "growth after 10k",
                "resume (fresh process)",
            ],
            rows,
        )
    )
    write_results("scale_quick" if args.quick else "scale", out)


if __name__ == "__main__":
    main()
