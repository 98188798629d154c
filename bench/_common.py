"""Shared helpers for the benchmark scripts: import path, machine facts, tables, JSON results."""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
if str(ROOT) not in sys.path:  # `python bench/<name>.py` from a checkout, without `pip install -e .`
    sys.path.insert(0, str(ROOT))


def machine() -> dict[str, Any]:
    """CPU model, cores, load, library versions and the date: what a result is only valid for."""
    import torch

    info: dict[str, Any] = {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "loadavg_at_start": LOAD_AT_START,
        "loadavg_at_end": _loadavg(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }
    for name in ("ray", "optuna", "torchvision"):
        info[name] = _version(name)
    return info


def _cpu_model() -> str:
    from nas.benchmarks.table import cpu_name

    return cpu_name()


def _loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


LOAD_AT_START = _loadavg()  # when the benchmark script started (this module is imported first)


def _version(module: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(module)
    except PackageNotFoundError:
        return None


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain-text table, right-aligned numbers, formatted so it also pastes into Markdown."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |"
    rule = "| " + " | ".join("-" * w for w in widths) + " |"
    body = ["| " + " | ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in cells]
    return "\n".join([line, rule, *body])


def _cell(v: Any) -> str:
    if isinstance(v, float):
        if v != v:
            return "-"
        return f"{v:.3g}" if abs(v) < 10 else f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.1f}"
    return str(v)


def write_results(name: str, payload: dict[str, Any]) -> Path:
    """bench/results/<name>.json with the machine facts added; returns the path."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2, default=_plain) + "\n")
    return path


def _plain(v: Any) -> Any:
    if hasattr(v, "item"):
        return v.item()
    if isinstance(v, Path):
        return str(v)
    raise TypeError(f"cannot write {type(v).__name__} to JSON")


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    values = list(values)
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def quiet_machine_note() -> str:
    """A one-line warning when the machine looks busy (other agents share it)."""
    load = _loadavg()
    try:
        one_minute = float(load.split()[0])
    except (ValueError, IndexError):
        return ""
    cores = os.cpu_count() or 1
    if one_minute > 0.7:
        return f"warning: load average {load} on {cores} cores; timings may be disturbed"
    return ""


class GpuSampler:
    """Samples nvidia-smi in a thread while a block runs: GPU utilization, memory used, and per-process memory.

    with GpuSampler() as gpu:
        ...
    gpu.summary()  # {"util_mean": %, "util_max": %, "memory_used_max_mb": MiB, "processes_max": n, ...}

    Without nvidia-smi (a CPU machine) it records nothing and the summary is empty.
    """

    def __init__(self, interval: float = 0.5):
        import shutil
        import threading

        self.interval = interval
        self.available = shutil.which("nvidia-smi") is not None
        self.samples: list[tuple[float, float, float]] = []  # (time, util %, memory used MiB)
        self.processes: dict[int, float] = {}  # pid -> most memory seen (MiB)
        self.concurrent_processes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> GpuSampler:
        if self.available:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self.available:
            self._thread.join(timeout=10)

    def _query(self, what: str) -> list[list[str]]:
        import subprocess

        args = ["nvidia-smi", f"--query-{what}", "--format=csv,noheader,nounits"]
        try:
            out = subprocess.run(args, capture_output=True, text=True, timeout=10).stdout
        except (OSError, subprocess.SubprocessError):
            return []
        return [[c.strip() for c in line.split(",")] for line in out.splitlines() if line.strip()]

    def _run(self) -> None:
        while not self._stop.is_set():
            for util, used in self._query("gpu=utilization.gpu,memory.used")[:1]:
                try:
                    self.samples.append((time.time(), float(util), float(used)))
                except ValueError:
                    pass
            apps = self._query("compute-apps=pid,used_memory")
            live = 0
            for pid, used in apps:
                try:
                    self.processes[int(pid)] = max(self.processes.get(int(pid), 0.0), float(used))
                    live += 1
                except ValueError:
                    pass
            self.concurrent_processes = max(self.concurrent_processes, live)
            self._stop.wait(self.interval)

    def summary(self) -> dict[str, Any]:
        if not self.samples:
            return {}
        utils = [u for _, u, _ in self.samples]
        return {
            "samples": len(self.samples),
            "util_mean": statistics.fmean(utils),
            "util_median": statistics.median(utils),
            "util_max": max(utils),
            "memory_used_max_mb": max(m for _, _, m in self.samples),
            "processes_seen": len(self.processes),
            "processes_at_once_max": self.concurrent_processes,
            "process_memory_max_mb": {str(k): v for k, v in sorted(self.processes.items())},
        }
