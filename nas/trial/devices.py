"""The device a trial runs on: its name checked and resolved, its memory measured and given back, and
telling an out-of-memory failure from the others."""

from __future__ import annotations

import gc
import resource

import torch


def device_ok(name: str) -> bool:
    """Whether a device name is well formed (availability is checked where the trial runs)."""
    if name == "auto":
        return True
    try:
        return torch.device(name).type in ("cpu", "cuda", "mps")
    except (RuntimeError, TypeError):
        return False


def resolve_device(name: str) -> torch.device:
    """'auto' means CUDA when available, else CPU; a CUDA index this machine lacks is refused.

    A CUDA device always comes back with its index (``cuda`` -> ``cuda:0``, or whichever is current):
    ``torch.cuda.set_per_process_memory_fraction`` refuses an index-less device.
    """
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {name!r} requested but CUDA is not available")
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            gpus = "cuda:0" if count == 1 else f"cuda:0 .. cuda:{count - 1}"
            raise ValueError(f"device {name!r} requested but this machine has {count} CUDA device(s) ({gpus})")
        if device.index is None:
            device = torch.device("cuda", torch.cuda.current_device())
    return device


def is_oom(e: BaseException) -> bool:
    """CUDA OOM, or a CPU allocation failure."""
    text = str(e)
    return isinstance(e, torch.OutOfMemoryError) or "out of memory" in text or "can't allocate memory" in text


def peak_memory_mb(device: torch.device) -> float:
    """The trial's peak memory: allocated on a CUDA device, else the process's peak resident set."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # process peak RSS (KiB on Linux)


def free_memory(device: torch.device) -> None:
    """Release what a finished trial held. Its tensors go with their last reference; collecting the young
    generations catches the cycles it may leave (a hook, a traceback) for well under a millisecond, where a
    full collection of a process with torch, pandas and matplotlib loaded took 115-240 ms here, a third of
    a small trial. On CUDA the full collection stays: the caching allocator can give back only blocks no
    tensor holds, and ``resident_memory_mb`` is read right after."""
    if device.type == "cuda":
        gc.collect()
        torch.cuda.empty_cache()
    else:
        gc.collect(1)
