"""Where a trial's time goes, before and after the cuts of issue 34, and how fast Tune starts trials.

    python bench/bench_overhead.py overhead --baseline b017c54 --rounds 2
    python bench/bench_overhead.py starts --concurrency 8,16 --sleep 2

``overhead``: README command 1 as written (``launch.py search``: regularized evolution, 20 trials of 6 epochs on
digits, 2 at a time on a local Ray runtime), run from a git worktree of ``--baseline`` and from this checkout,
alternating, ``--rounds`` times each with the same seed. Per trial it reads the record: overhead = wall_seconds -
train_seconds (what a trial spent outside its training epochs: building, evaluating, timing latency, reporting,
saving), median and p90 over all rounds' ok trials; the searches' wall time from the process; this checkout's
phases and slot times summed (`nas.record.results.time_spent`).

``starts``: ``ray start --head --num-cpus 32`` in its own process (more logical CPUs than this machine's cores), then
searches through ``--address`` whose ``--train-fn`` sleeps ``--sleep`` seconds and returns, at each concurrency c,
4c trials each, with Tune's pending-trial limit (``TUNE_MAX_PENDING_TRIALS_PG``) left as Tune sets it and set to c.
Trials per second, from the first dispatch to the last record (the driver's clock), against the ideal c / sleep;
and in the steady state, once every slot's first trial (the start of its worker) has ended.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import ROOT, machine, table, write_results

SLEEPER = """
import time

def train_fn(model, data, context, report):
    time.sleep({sleep})
    return {{"val_acc": 0.5}}
"""


def _rows(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (folder / "trials.jsonl").read_text().splitlines() if line.strip()]


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _search(checkout: Path, out: Path, name: str, extra: list[str], env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "launch.py", "search", "--results-dir", str(out), "--name", name, *extra],
        cwd=checkout, capture_output=True, text=True, env=env,
    )  # fmt: skip
    if proc.returncode:
        raise RuntimeError(f"{name}: {proc.stderr[-2000:]}")
    return time.perf_counter() - started


def overhead(baseline: str, rounds: int) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="bench_overhead_"))
    old = tmp / "baseline"
    subprocess.run(
        ["git", "worktree", "add", "--detach", str(old), baseline], cwd=ROOT, check=True, capture_output=True
    )
    versions = {"before": old, "after": ROOT}
    runs: dict[str, list[dict[str, Any]]] = {v: [] for v in versions}
    try:
        for r in range(rounds):
            for version, checkout in versions.items():
                name = f"{version}{r}"
                seconds = _search(checkout, tmp / "results", name, [])
                rows = [x for x in _rows(tmp / "results" / name) if x["status"] == "ok"]
                runs[version].append({"search_seconds": seconds, "rows": rows})
                print(f"{name}: {seconds:.1f} s, {len(rows)} ok trials", flush=True)
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(old)], cwd=ROOT, capture_output=True)
    out: dict[str, Any] = {"machine": machine(), "baseline": baseline, "rounds": rounds, "versions": {}}
    table_rows = []
    for version, done in runs.items():
        rows = [x for run in done for x in run["rows"]]
        over = [x["wall_seconds"] - x["train_seconds"] for x in rows]
        walls = [x["wall_seconds"] for x in rows]
        summary = {
            "trials": len(rows),
            "overhead_median_s": statistics.median(over),
            "overhead_p90_s": _quantile(over, 0.9),
            "overhead_share": sum(over) / sum(walls),
            "wall_median_s": statistics.median(walls),
            "search_seconds": [run["search_seconds"] for run in done],
        }
        if version == "after":
            import pandas as pd

            from nas.record import results

            frame = pd.DataFrame(rows).assign(phases=[json.dumps(x.get("phases")) for x in rows])
            summary["time_spent"] = results.time_spent(frame).to_dict("records")
            covered = [sum(x["phases"].values()) / x["wall_seconds"] for x in rows if x.get("phases")]
            summary["phases_cover_min"] = min(covered) if covered else None
        out["versions"][version] = summary
        table_rows.append([version, summary["trials"], summary["overhead_median_s"], summary["overhead_p90_s"],
                           f"{summary['overhead_share']:.1%}", summary["wall_median_s"],
                           " / ".join(f"{s:.0f}" for s in summary["search_seconds"])])  # fmt: skip
    print(table(["version", "ok trials", "overhead median s", "p90 s", "share of wall", "wall median s",
                 "search s"], table_rows))  # fmt: skip
    return out


def starts(concurrencies: list[int], sleep: float) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="bench_starts_"))
    plugin = tmp / "sleeper.py"
    plugin.write_text(SLEEPER.format(sleep=sleep))
    port = 6391
    env = os.environ | {"RAY_AUTH_MODE": os.environ.get("RAY_AUTH_MODE", "")}
    head = subprocess.Popen(
        ["ray", "start", "--head", "--block", f"--port={port}", "--num-cpus=32", "--include-dashboard=false",
         f"--temp-dir={tmp / 'ray'}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, env=env,
    )  # fmt: skip
    out: dict[str, Any] = {"machine": machine(), "sleep_s": sleep, "logical_cpus": 32, "runs": []}
    rows = []
    try:
        time.sleep(12)
        for c in concurrencies:
            for limit in ("tune", str(c)):
                env = {k: v for k, v in os.environ.items() if k != "TUNE_MAX_PENDING_TRIALS_PG"}
                if limit != "tune":
                    env["TUNE_MAX_PENDING_TRIALS_PG"] = limit
                name = f"c{c}-{limit}"
                extra = ["--address", f"127.0.0.1:{port}", "--train-fn", f"{plugin}:train_fn", "--concurrency",
                         str(c), "--trials", str(4 * c), "--controller", "random", "--limit", "200"]  # fmt: skip
                seconds = _search(ROOT, tmp / "results", name, extra, env)
                done = [x for x in _rows(tmp / "results" / name) if x.get("slot") is not None]
                first = min(x["finished"] - x["slot_seconds"] for x in done)
                span = max(x["finished"] for x in done) - first
                rate, ideal = len(done) / span, c / sleep
                gaps = [x["slot_seconds"] - x["wall_seconds"] for x in done]
                # steady state: once every slot's first trial (its worker's start) is behind it
                warm = max(min(x["finished"] for x in done if x["slot"] == k) for k in {x["slot"] for x in done})
                later = [x for x in done if x["finished"] > warm]
                steady = len(later) / (max(x["finished"] for x in done) - warm) if later else math.nan
                run = {"concurrency": c, "pending_limit": limit, "trials": len(done), "span_s": span,
                       "trials_per_s": rate, "ideal_per_s": ideal, "share_of_ideal": rate / ideal,
                       "steady_per_s": steady, "steady_share_of_ideal": steady / ideal,
                       "first_trial_build_median_s": statistics.median(
                           [x["phases"].get("build", 0.0) for x in done if x["finished"] <= warm]),
                       "start_and_return_median_s": statistics.median(gaps),
                       "idle_s": sum(x["slot_idle_seconds"] for x in done), "search_seconds": seconds}  # fmt: skip
                out["runs"].append(run)
                rows.append([c, limit, len(done), rate, ideal, f"{rate / ideal:.0%}", steady, f"{steady / ideal:.0%}",
                             run["start_and_return_median_s"], run["first_trial_build_median_s"]])  # fmt: skip
                print(json.dumps(run), flush=True)
    finally:
        os.killpg(head.pid, signal.SIGTERM)  # the head we started, and only it
        head.wait(timeout=60)
    head = ["concurrency", "pending limit", "trials", "trials/s", "ideal/s", "of ideal", "steady trials/s", "of ideal",
            "start+return median s", "first wave build median s"]  # fmt: skip
    print(table(head, rows))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    o = sub.add_parser("overhead")
    o.add_argument("--baseline", default="b017c54")
    o.add_argument("--rounds", type=int, default=2)
    s = sub.add_parser("starts")
    s.add_argument("--concurrency", default="8,16")
    s.add_argument("--sleep", type=float, default=2.0)
    args = parser.parse_args()
    if args.what == "overhead":
        result = overhead(args.baseline, args.rounds)
    else:
        result = starts([int(c) for c in args.concurrency.split(",")], args.sleep)
    print(write_results(f"overhead-{args.what}", result))


if __name__ == "__main__":
    main()
