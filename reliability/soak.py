"""Soak: many tiny trials through Ray with actor reuse; does anything grow that should not?

    python reliability/soak.py                      # 1,000 trials, about 10-20 minutes on 2 cores
    python reliability/soak.py --trials 100 --address HOST:PORT --json soak.json

Runs ``launch.py search`` (random search over a small space, 1 epoch on 100 digits, two trials at a
time, Tune reusing its workers) and samples it from outside every second: the driver's RSS, open file
descriptors, threads and descendant processes; each trainable worker process (``ray::ImplicitFunc``)
with its RSS; every Ray process on the machine. The first sample counted is taken once 5% of the
trials are done (imports, Ray's start and the first workers are warm-up), the last while 5% are still
to go (before the driver shuts Ray down). Prints a Markdown table of start / end / peak and the driver's RSS slope per 100
trials over the second half, and writes every sample as JSON. Reads /proc; needs no psutil.
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nas.record.jsonl import Record, read_rows  # noqa: E402

SPACE = (
    "controller: random\nkeep_weights: front\n"
    "space: {ops: [conv, sepconv, maxpool, avgpool, conv1x1], wirings: [chain, residual], stages: [1, 2],"
    " nodes: [1, 3], widths: [8, 16], head_hidden: [0], head_dropout: [0.0]}\n"
)
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


# ------------------------------------------------------------------ /proc


def _stat(pid: int) -> tuple[int, int] | None:
    """(ppid, rss in KiB) of a process, or None if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[1]), int(fields[21]) * PAGE_KB


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def processes() -> dict[int, tuple[int, int, str]]:
    """pid -> (ppid, rss KiB, command line) for every process."""
    table = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (st := _stat(int(entry))) is not None:
            table[int(entry)] = (*st, _cmdline(int(entry)))
    return table


def descendants(pid: int, table: dict[int, tuple[int, int, str]]) -> list[int]:
    children: dict[int, list[int]] = {}
    for p, (ppid, _, _) in table.items():
        children.setdefault(ppid, []).append(p)
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def count(path: str) -> int:
    try:
        return len(os.listdir(path))
    except OSError:
        return -1


def sample(driver: int, root: Path) -> dict:
    """One look at the driver, its workers and Ray."""
    table = processes()
    workers = {p: rss for p, (_, rss, cmd) in table.items() if cmd.startswith("ray::ImplicitFunc")}
    ray = [p for p, (_, _, cmd) in table.items() if cmd.startswith("ray::") or "/ray/" in cmd.split(" ")[0]]
    try:
        rows = read_rows(root)[0]
    except FileNotFoundError:
        rows = []
    return {
        "t": time.time(),
        "trials": sum(r.get("status") not in ("rejected", "duplicate") for r in rows),
        "rows": len(rows),
        "driver_rss_mb": table.get(driver, (0, 0, ""))[1] / 1024,
        "driver_fds": count(f"/proc/{driver}/fd"),
        "driver_threads": count(f"/proc/{driver}/task"),
        "driver_descendants": len(descendants(driver, table)),
        "workers": len(workers),
        "worker_pids": sorted(workers),
        "worker_rss_mb": [round(workers[p] / 1024, 1) for p in sorted(workers)],
        "ray_processes": len(ray),
    }


# ------------------------------------------------------------------ the run


def run_soak(
    trials: int,
    workdir: Path,
    address: str | None = None,
    concurrency: int = 2,
    timeout: float = 3600,
    engine: str = "ray",
) -> dict:
    """Run the soak; returns {"samples", "start", "end", "exit_code", "rows", "wall_seconds"}."""
    (workdir / "soak.yaml").write_text(SPACE)
    args = [sys.executable, str(ROOT / "launch.py"), "search", "--config", str(workdir / "soak.yaml")]
    args += ["--trials", str(trials), "--epochs", "1", "--limit", "100", "--concurrency", str(concurrency)]
    args += ["--results-dir", str(workdir), "--name", "soak", "--engine", engine]
    args += ["--address", address] if address else []
    root, samples = workdir / "soak", []
    started = time.time()
    with open(workdir / "driver.err", "w") as err:
        proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
        try:
            while proc.poll() is None and time.time() - started < timeout:
                s = sample(proc.pid, root)
                if s["driver_rss_mb"]:
                    samples.append(s)
                time.sleep(1.0)
            code = proc.wait(timeout=max(1.0, timeout - (time.time() - started)))
        finally:
            try:
                os.killpg(proc.pid, 9)
            except ProcessLookupError:
                pass
    margin = max(1, trials // 20)
    counted = [s for s in samples if margin <= s["trials"] <= trials - margin]  # warm, and not yet shutting down
    if not counted:
        raise RuntimeError(f"the soak never got going; see {workdir / 'driver.err'}")
    return {
        "samples": samples,
        "start": counted[0],
        "end": counted[-1],
        "exit_code": code,
        "rows": len(Record.open(root).rows()),
        "wall_seconds": time.time() - started,
        "trials": trials,
    }


def slope_per_100(samples: list[dict], key: str) -> float:
    """Least-squares slope of samples[key] against trials done, per 100 trials (second half of the run)."""
    last = max(s["trials"] for s in samples)
    pts = [(s["trials"], s[key]) for s in samples if last / 2 <= s["trials"] <= 0.95 * last]
    n = len(pts)
    if n < 2:
        return float("nan")
    mx, my = sum(x for x, _ in pts) / n, sum(y for _, y in pts) / n
    var = sum((x - mx) ** 2 for x, _ in pts)
    return 100 * sum((x - mx) * (y - my) for x, y in pts) / var if var else float("nan")


def summary(soak: dict) -> str:
    """A Markdown table of the soak's start, end and peak."""
    s, e, all_ = soak["start"], soak["end"], soak["samples"]
    worker_pids = sorted({p for x in all_ for p in x["worker_pids"]})

    def peak(key):
        return max(x[key] for x in all_)

    def wmax(x):
        return max(x["worker_rss_mb"], default=0)

    lines = [
        f"{soak['trials']} trials, {soak['rows']} rows, exit code {soak['exit_code']}, {soak['wall_seconds']:.0f} s",
        "",
        "| measure | start | end | peak |",
        "| --- | ---: | ---: | ---: |",
        f"| trials done | {s['trials']} | {e['trials']} | |",
        f"| driver RSS (MB) | {s['driver_rss_mb']:.0f} | {e['driver_rss_mb']:.0f} | {peak('driver_rss_mb'):.0f} |",
        f"| worker RSS, largest (MB) | {wmax(s):.0f} | {wmax(e):.0f} | {max(wmax(x) for x in all_):.0f} |",
        f"| driver open fds | {s['driver_fds']} | {e['driver_fds']} | {peak('driver_fds')} |",
        f"| driver threads | {s['driver_threads']} | {e['driver_threads']} | {peak('driver_threads')} |",
        f"| driver descendant processes | {s['driver_descendants']} | {e['driver_descendants']} | {peak('driver_descendants')} |",
        f"| trainable workers alive | {s['workers']} | {e['workers']} | {peak('workers')} |",
        f"| Ray processes on the machine | {s['ray_processes']} | {e['ray_processes']} | {peak('ray_processes')} |",
        "",
        f"driver RSS slope over the second half: {slope_per_100(all_, 'driver_rss_mb'):+.2f} MB per 100 trials; "
        f"distinct worker processes over the run: {len(worker_pids)}",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--address", help="join this Ray cluster instead of starting one")
    parser.add_argument("--engine", default="ray", choices=["ray", "local"], help="local: no Ray, for comparison")
    parser.add_argument("--workdir", help="where the results go (default: a temporary folder)")
    parser.add_argument("--json", help="write every sample here")
    args = parser.parse_args()
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="nasgraph-soak-"))
    workdir.mkdir(parents=True, exist_ok=True)
    soak = run_soak(args.trials, workdir, args.address, args.concurrency, engine=args.engine)
    print(summary(soak))
    if args.json:
        Path(args.json).write_text(json.dumps(soak, indent=1))
    return 0 if soak["exit_code"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
