"""Seeded random images and labels, for speed tests: ``synthetic[:CxHxW:K[:N]]`` (N train, N // 5 test)."""

from __future__ import annotations

import re

import torch

from nas.data.registry import Request, source
from nas.data.splits import DataError, Pool

SYNTHETIC_DEFAULT = (3, 32, 32, 10, 5000)  # C, H, W, classes, train images (test: N // 5)
SYNTHETIC_MAX_BYTES = 2**31  # refuse synthetic specs whose training set exceeds 2 GiB (prepare shards more)
_SPEC = re.compile(r"(\d+)x(\d+)x(\d+):(\d+)(?::(\d+))?")
_SEED = 1234  # fixed: the same images for every search and seed


def parse_synthetic(arg: str | None, max_bytes: int = SYNTHETIC_MAX_BYTES) -> tuple[int, int, int, int, int]:
    """(C, H, W, classes, train images) from a synthetic spec such as ``3x32x32:10:5000``."""
    if arg is None:
        return SYNTHETIC_DEFAULT
    m = _SPEC.fullmatch(arg.strip())
    if m is None:
        raise DataError(f"bad synthetic spec {arg!r}; expected CxHxW:K[:N], e.g. 3x32x32:10:5000")
    c, h, w, k = (int(g) for g in m.groups()[:4])
    n = int(m.group(5)) if m.group(5) else SYNTHETIC_DEFAULT[4]
    if min(c, h, w) < 1 or k < 2 or n < 2:
        raise DataError(f"bad synthetic spec {arg!r}: need C, H, W >= 1, K >= 2 and N >= 2")
    if n * c * h * w > max_bytes:
        raise DataError(
            f"synthetic spec {arg!r} needs {n * c * h * w} bytes, over the {max_bytes / 2**30:g} GiB cap of a "
            "dataset held in memory; launch.py prepare synthetic:SPEC --out DIR writes it as shards"
        )
    return c, h, w, k, n


def images(c: int, h: int, w: int, k: int, start: int, stop: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Images start..stop-1 of the synthetic stream of (C, H, W) images with K classes: each chunk of about
    16 MB is drawn from its own seed, so any range is the same wherever it is drawn (prepare draws shards
    in parallel)."""
    xs, ys = [], []
    size = max(1, _CHUNK_BYTES // (c * h * w))
    for chunk in range(start // size, (stop - 1) // size + 1):
        gen = torch.Generator().manual_seed(_SEED + chunk)
        x = torch.randint(0, 256, (size, c, h, w), dtype=torch.uint8, generator=gen)
        y = torch.randint(0, k, (size,), generator=gen)
        lo, hi = max(start - chunk * size, 0), min(stop - chunk * size, size)
        xs.append(x[lo:hi])
        ys.append(y[lo:hi])
    return torch.cat(xs), torch.cat(ys)


_CHUNK_BYTES = 2**24


@source("synthetic", "synthetic[:CxHxW:K[:N]]", takes_arg=True)
def load(req: Request) -> Pool:
    """Seeded random uint8 images and labels, for speed tests (N train, N // 5 test)."""
    c, h, w, k, n = parse_synthetic(req.arg)
    x, y = images(c, h, w, k, 0, n + max(1, n // 5))
    name = f"synthetic:{c}x{h}x{w}:{k}:{n}"
    source_ = f"a synthetic image: uint8 ({c}, {h}, {w}), seeded uniform noise"
    x_np, y_np = x.numpy(), y.numpy()
    return Pool(name, x_np[:n], y_np[:n], x_np[n:], y_np[n:], k, True, max(1, min(h, w) // 8), (), source_)
