"""Inference latency of a network on the device it trains on: what a trial records as ``latency_ms``.

    from nas.trial.latency import measure
    ms = measure(model, (1, 8, 8), torch.device("cpu"), batches=(1, 64))   # {1: 0.41, 64: 2.9}

The model runs in eval mode under ``torch.inference_mode``, the way it is served: a few untimed runs
first (allocation, cuDNN's algorithm choice, caches), then timed runs, each synchronised on CUDA; the
result is the median per batch size. Timed runs stop at `repeats` or after `budget` seconds per batch
size (with at least `MIN_RUNS`), so a large network on a CPU is not timed for minutes.

Latency does not depend on the values of the weights, only on the graph and the device, so a trial
measures it before it trains (and ``--max-latency`` ends an over-budget trial before it spends its
training). Times from a machine that runs other work are noisy: pin trials to cores
(``--cpus-per-trial``, ``train.threads``), raise ``train.latency_repeats``, and compare latencies only
within one search on one kind of machine.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterable

import torch
from torch import nn

WARMUP_RUNS = 3
MIN_RUNS = 3


def measure(
    model: nn.Module,
    sample_shape: tuple[int, ...],
    device: torch.device,
    batches: Iterable[int] = (1,),
    *,
    repeats: int = 10,
    budget: float = 1.0,
    amp: bool = False,
    memory_format: torch.memory_format = torch.contiguous_format,
) -> dict[int, float]:
    """Median milliseconds of one forward pass per batch size (inputs of shape (batch, *sample_shape)).

    `amp`: under bf16 autocast, as the trial evaluates; `memory_format`: the input's layout (channels_last
    where the trial uses it). The model is left in the mode (train or eval) it was in.
    """
    was_training = model.training
    model.eval()
    out: dict[int, float] = {}
    try:
        with torch.inference_mode(), torch.autocast(device.type, torch.bfloat16, enabled=amp):
            for batch in batches:
                x = torch.randn(batch, *sample_shape, device=device).contiguous(memory_format=memory_format)
                for _ in range(WARMUP_RUNS):
                    model(x)
                _sync(device)
                times: list[float] = []
                stop = time.perf_counter() + budget
                while len(times) < max(repeats, 1) and (len(times) < MIN_RUNS or time.perf_counter() < stop):
                    start = time.perf_counter()
                    model(x)
                    _sync(device)
                    times.append(time.perf_counter() - start)
                out[batch] = statistics.median(times) * 1e3
    finally:
        model.train(was_training)
    return out


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()
