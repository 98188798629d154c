"""A trial's images on its device: whole (resident) or streamed a batch at a time, augmented there, and the
batch sizes of training and evaluation."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

from nas.data import DataSplits
from nas.data.shards import batches

if TYPE_CHECKING:
    from nas.trial.train import TrainConfig

DEVICE_SHARE = 0.25  # a training set over this share of a GPU's memory (of a trial's share) streams from the host
ORDER_SEED = 7919  # the streamed order's generator: the trial's seed + this (augmentation draws from the seed itself)
EVAL_BATCH = 1024  # evaluation's batch where no new shape costs anything (`eval_batches`)


def resident(data: DataSplits, device: torch.device, memory_fraction: float = 0.0) -> bool:
    """Whether the training images go to the device whole (the fast path of small sets), or stream a batch at a
    time. On a GPU a set streams when it is over `DEVICE_SHARE` of the memory the trial may use (the device's,
    times ``memory_fraction`` when packed trials cap their share), whether it is in memory or mapped; on a CPU
    a mapped set (`nas.data.shards`) always streams (read from the page cache that every trial of the node
    shares: no private copy per trial)."""
    if device.type != "cuda":
        return not data.mapped
    total = torch.cuda.get_device_properties(device).total_memory * (memory_fraction or 1.0)
    return data.train_x.numel() * data.train_x.element_size() <= DEVICE_SHARE * total


def on_device(x: Any, device: torch.device) -> torch.Tensor:
    """A split's images on the device; a mapped one copied there a batch at a time (never whole in host memory)."""
    if not mapped(x):
        return x.to(device)
    out = torch.empty(tuple(x.shape), dtype=torch.uint8, device=device)
    lo = 0
    for batch in batches(x, torch.arange(len(x)), 4096, pin=device.type == "cuda"):
        out[lo : lo + len(batch)].copy_(batch, non_blocking=True)
        lo += len(batch)
    return out


def mapped(x: object) -> bool:
    """Whether a split's images are memory-mapped shards (`nas.data.shards`) rather than a tensor."""
    return not isinstance(x, torch.Tensor)


def augment(images: torch.Tensor, data: DataSplits, gen: torch.Generator) -> torch.Tensor:
    """Random crop with zero padding (and a horizontal flip if the dataset allows), for a whole uint8 set."""
    out = random_crop(images, data.crop_padding, gen) if data.crop_padding else images
    if data.flip:
        mask = torch.rand(len(out), device=out.device, generator=gen) < 0.5
        out = torch.where(mask.view(-1, 1, 1, 1), out.flip(3), out)
    return out


def random_crop(images: torch.Tensor, pad: int, gen: torch.Generator) -> torch.Tensor:
    """Each image shifted by up to `pad` pixels each way, zeros filling in: two passes of 2*pad+1 masked copies."""
    n, _, h, w = images.shape
    padded = F.pad(images, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (n, 1, 1, 1), device=images.device, generator=gen)
    dx = torch.randint(0, 2 * pad + 1, (n, 1, 1, 1), device=images.device, generator=gen)
    rows = padded[:, :, 0:h, :]
    for s in range(1, 2 * pad + 1):
        rows = torch.where(dy == s, padded[:, :, s : s + h, :], rows)
    out = rows[:, :, :, 0:w]
    for s in range(1, 2 * pad + 1):
        out = torch.where(dx == s, rows[:, :, :, s : s + w], out)
    return out.contiguous()


def eval_batches(cfg: TrainConfig, device: torch.device, train_batch: int) -> tuple[int, bool]:
    """Evaluation's batch size, and whether a short last batch is padded to it. Where a new input shape costs time
    -- cuDNN's autotuning of every convolution on CUDA (``cudnn_benchmark``), a recompile under ``compile`` -- every
    batch has one shape: the training batch, whose algorithms are already chosen (or ``eval_batch_size``). On a CPU
    nothing is tuned per shape: large batches (``eval_batch_size`` or `EVAL_BATCH`), the last one as it is."""
    fixed = device.type == "cuda" or cfg.compile
    if fixed:
        return cfg.eval_batch_size or train_batch, True
    return cfg.eval_batch_size or EVAL_BATCH, False


def auto_batch_size(n: int) -> int:
    """About 20 steps per epoch: the largest power of two <= n / 20, within [32, 512]."""
    size = 32
    while size * 2 <= min(512, n // 20):
        size *= 2
    return size
