"""Start-up: time from `python launch.py search ...` to the first trial running, and the driver's memory.

    python bench/bench_startup.py           # full: fresh search, and resumes of 10 / 1,000 / 10,000 trials
    python bench/bench_startup.py --quick   # smoke test, under a minute

A resumed search is timed on a synthesized results folder: real sampled genotypes of the
digits space with plausible metrics, written with `nas.record.jsonl.Record.append` (fsync'd lines,
as a search writes them), a matching ``config.json`` (evolution, 1 epoch per trial) and no
controller state, so the resume replays the whole record into the controller. The command is
``python launch.py search --resume DIR --trials N+1 --engine local``: one new trial.

The first trial's start is read back from its record row (``finished - wall_seconds``: when
`train_trial` began) and compared with the wall clock just before the process was spawned,
so interpreter start, imports, data loading, opening and replaying the record and the first
proposal are all in it. The driver's memory is sampled from /proc/<pid>/status every 10 ms:
peak RSS (VmHWM) up to the first trial's start (the driver's own memory; the local engine
then trains in the same process), and at exit. Timestamps of the CLI's stderr lines split
the time into phases. The baseline in the same run is the 10-trial resume (and a fresh search).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from _common import ROOT, machine, quiet_machine_note, table, write_results
from _synthetic import history, write_record

from nas.config import SearchConfig, make_space
from nas.driver.coordinator import DataInfo, SearchState
from nas.record.jsonl import JSONL, read_rows
from nas.trial.train import TrainConfig

INFO = DataInfo(1, 10, (8, 8), "digits")
HISTORY_SEED = 12345  # not the search's seed, so the resumed search proposes nothing already recorded


def search_config(name: str) -> SearchConfig:
    """The config of the synthesized searches: the CLI's defaults, 1 epoch per trial, local engine."""
    return SearchConfig(name=name, controller="evolution", engine="local", train=TrainConfig(epochs=1))


def make_folder(parent: Path, n: int) -> Path:
    """A results folder with an n-trial record, config.json and no controller state."""
    cfg = search_config(f"resume-{n}")
    root = parent / cfg.name
    SearchState(cfg, root, INFO, log=lambda line: None).close(final=False)
    space = make_space(cfg, INFO)
    write_record(root, history(space, n, seed=HISTORY_SEED), cfg.controller)
    return root


class Watch:
    """A spawned command with its stderr lines timestamped and its memory sampled until it exits."""

    def __init__(self, argv: list[str]):
        self.launched = time.time()
        self.proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: list[tuple[float, str]] = []
        self.memory: list[tuple[float, int, int]] = []  # (time, VmRSS kB, VmHWM kB)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.lines.append((time.time(), line.rstrip()))

    def wait(self, timeout: float = 300.0) -> int:
        deadline = time.time() + timeout
        while self.proc.poll() is None and time.time() < deadline:
            sample = _status(self.proc.pid)
            if sample:
                self.memory.append((time.time(), *sample))
            time.sleep(0.01)
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.proc.stdout.read()
        self._reader.join(timeout=5)
        return self.proc.returncode

    def peak_before(self, t: float) -> int:
        """Peak RSS (kB) the process had reached by time t."""
        return max((hwm for at, _, hwm in self.memory if at <= t), default=0)

    def first_line(self, prefix: str) -> float | None:
        return next((at - self.launched for at, line in self.lines if line.startswith(prefix)), None)


def _status(pid: int) -> tuple[int, int] | None:
    """(VmRSS, VmHWM) in kB from /proc/<pid>/status, or None once the process is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    try:
        return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])
    except (KeyError, ValueError, IndexError):
        return None


def time_start(argv: list[str], root: Path) -> dict:
    """Spawn one search; seconds to the first new trial's start, phases, and driver memory."""
    before = len(read_rows(root)[0]) if (root / JSONL).exists() else 0
    watch = Watch(argv)
    code = watch.wait()
    rows = read_rows(root)[0]
    if code != 0 or len(rows) <= before:
        tail = "\n".join(line for _, line in watch.lines[-5:])
        raise RuntimeError(f"{' '.join(argv)} exited {code} with {len(rows) - before} new rows:\n{tail}")
    first = rows[before]
    started = first["finished"] - first["wall_seconds"]
    return {
        "to_first_trial_s": started - watch.launched,
        "to_state_open_s": watch.first_line("nasgraph: "),  # printed once the record is replayed
        "to_searching_s": watch.first_line("searching with"),
        "driver_peak_rss_mb": watch.peak_before(started) / 1024,
        "exit_peak_rss_mb": max((hwm for _, _, hwm in watch.memory), default=0) / 1024,
        "total_s": time.time() - watch.launched,
    }


def fresh_argv(parent: Path, i: int) -> tuple[list[str], Path]:
    name = f"fresh-{i}"
    argv = [sys.executable, "launch.py", "search", "--engine", "local", "--trials", "1", "--epochs", "1"]
    return argv + ["--results-dir", str(parent), "--name", name], parent / name


def resume_argv(root: Path, n: int) -> list[str]:
    return [sys.executable, "launch.py", "search", "--resume", str(root), "--trials", str(n + 1), "--engine", "local"]


def run(sizes: list[int], repeats: int) -> dict:
    """Median over repeats of a fresh search and of resumes at each record size (a new folder per repeat)."""
    out: dict[str, list[dict]] = {"fresh": []}
    with tempfile.TemporaryDirectory(prefix="nasgraph-bench-") as tmp:
        parent = Path(tmp)
        for i in range(repeats):  # interleaved, so slow phases of a shared machine hit every size alike
            argv, root = fresh_argv(parent, i)
            out["fresh"].append(time_start(argv, root))
            for n in sizes:
                root = make_folder(parent / f"r{i}", n)
                out.setdefault(str(n), []).append(time_start(resume_argv(root, n), root))
            print(f"  repeat {i + 1}: " + ", ".join(f"{k} {v[-1]['to_first_trial_s']:.2f}s" for k, v in out.items()))
    return out


def profile_resume(n: int) -> str:
    """cProfile of opening (resuming) an n-trial results folder in-process: record parse and replay."""
    import cProfile
    import io
    import pstats

    with tempfile.TemporaryDirectory(prefix="nasgraph-bench-") as tmp:
        root = make_folder(Path(tmp), n)
        cfg = SearchConfig.from_dict(json.loads((root / "config.json").read_text()))
        prof = cProfile.Profile()
        prof.enable()
        SearchState(cfg, root, INFO, resume=True, log=lambda line: None).close(final=False)
        prof.disable()
    out = io.StringIO()
    out.write(f"SearchState(resume=True) on a {n:,}-trial record (evolution, no controller state)\n")
    stats = pstats.Stats(prof, stream=out).strip_dirs()
    stats.sort_stats("cumulative").print_stats(16)
    stats.sort_stats("tottime").print_stats(10)
    return out.getvalue()


def report(runs: dict[str, list[dict]], baseline: str) -> str:
    """Median seconds and MB per record size, with ratios against the baseline size."""
    med = {k: {m: statistics.median(r[m] for r in v) for m in v[0]} for k, v in runs.items()}
    base = med[baseline]
    rows = []
    for k, m in med.items():
        rows.append(
            [
                "fresh search" if k == "fresh" else f"resume, {int(k):,} trials",
                m["to_state_open_s"],
                m["to_first_trial_s"],
                f"{m['to_first_trial_s'] / base['to_first_trial_s']:.2f}",
                m["driver_peak_rss_mb"],
                f"{m['driver_peak_rss_mb'] / base['driver_peak_rss_mb']:.2f}",
                m["exit_peak_rss_mb"],
            ]
        )
    headers = ["start", "to state open s", "to first trial s", f"x {baseline}", "driver peak MB", f"x {baseline}"]
    return table([*headers, "peak at exit MB"], rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="10 and 1,000 trials, one run each (< 1 minute)")
    ap.add_argument("--sizes", default="", help="record sizes (default 10,1000 quick; 10,1000,10000 full)")
    ap.add_argument("--repeats", type=int, default=0, help="runs per size (default 1 quick, 3 full)")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else [10, 1000] + ([] if args.quick else [10000])
    repeats = args.repeats or (1 if args.quick else 3)
    note = quiet_machine_note()
    if note:
        print(note)
    runs = run(sizes, repeats)
    text = report(runs, str(sizes[0]))
    print(f"\nstart-up to the first trial (median of {repeats}), launch.py search --engine local\n{text}")
    payload = {"machine": machine(), "sizes": sizes, "repeats": repeats, "runs": runs, "table": text}
    path = write_results("bench_startup" + ("_quick" if args.quick else ""), payload)
    print(f"results: {path}")
    if not args.quick:
        prof_path = path.with_name(path.stem + "_profile.txt")
        prof_path.write_text(profile_resume(max(sizes)))
        print(f"profile: {prof_path}")


if __name__ == "__main__":
    main()
