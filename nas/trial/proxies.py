"""Zero-cost proxies: scores of an untrained network that predict how well it will train.

One or a few batches of the real training data, the network at its initialisation, milliseconds to a
second per architecture on a CPU (Abdelfattah et al., "Zero-Cost Proxies for Lightweight NAS", ICLR
2021; Krishnakumar et al., NAS-Bench-Suite-Zero, 2022). Larger is better for every score here.

- ``synflow``: sum over weights of |w * dR/dw|, R the output sum of the network with |weights| on an
  all-ones input, in float64 and with BatchNorm in eval mode (its fresh running statistics are the
  identity), so the score needs no data and BatchNorm does not divide the signal away (Tanaka 2020).
- ``grad_norm``: sum over weights of the L2 norm of the cross-entropy gradient on one batch.
- ``snip``: sum over weights of |w * dL/dw| (connection sensitivity, Lee 2019).
- ``naswot``: log-determinant of the Hamming-similarity kernel of the batch's binary ReLU codes
  (Mellor et al., "Neural Architecture Search without Training", ICML 2021): networks that tell the
  images apart by their activation patterns score higher.
- ``jacob_cov``: -sum(log(v + k) + 1 / (v + k)) over the eigenvalues v of the correlation matrix of
  the input Jacobians (the first version of Mellor et al.), k = 1e-5.
- ``params``, ``flops``: the baselines every proxy has to beat.

"Weights" are the weights of convolutions and linear layers (what the paper scores). A score that
cannot be computed (the network outputs NaN at initialisation, a loss on targets that are not class
labels, no ReLU for naswot) is NaN, which a search ranks below every number. Every score is
computed on its own freshly built copy of the network from the same seed, in its own RNG scope: the
caller's random state is untouched.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

import searchspace as ss
from nas.data import normalizer
from searchspace.genotype import Genotype
from searchspace.shapes import validate

PROXIES = ("synflow", "grad_norm", "snip", "naswot", "jacob_cov", "params", "flops")
DEFAULT_BATCH = 64  # images per proxy batch (Mellor et al. use 128; NAS-Bench-Suite-Zero 64)
JACOB_K = 1e-5


@dataclass(frozen=True)
class ProxyBatch:
    """A batch of training images, normalised as the trainer normalises them, with their labels."""

    x: torch.Tensor  # float32 (N, C, H, W)
    y: torch.Tensor  # the targets (class labels for grad_norm and snip)
    num_classes: int

    @property
    def labels(self) -> bool:
        return self.y.dtype == torch.int64 and self.y.ndim == 1

    @classmethod
    def of(cls, data, size: int = DEFAULT_BATCH, seed: int = 0) -> ProxyBatch:
        """`size` training images drawn with `seed` from a `nas.data.DataSplits` (all of them if fewer)."""
        gen = torch.Generator().manual_seed(seed)
        idx = torch.randperm(len(data.train_x), generator=gen)[:size]
        scale, shift = normalizer(data, torch.device("cpu"))
        x = data.train_x.index_select(0, idx).float() * scale + shift
        return cls(x.contiguous(), data.train_y.index_select(0, idx), data.num_classes)


def parse(names: str | Sequence[str]) -> tuple[str, ...]:
    """Proxy names from ``"synflow,snip"`` / ``"all"`` / a list; ValueError naming what is allowed."""
    items = [n.strip() for n in (names.split(",") if isinstance(names, str) else names) if n.strip()]
    if items == ["all"]:
        return PROXIES
    for n in items:
        if n not in PROXIES:
            raise ValueError(f"unknown proxy {n!r}; proxies: {', '.join(PROXIES)} (or all)")
    return tuple(dict.fromkeys(items))


def score(
    genotype: Genotype,
    batch: ProxyBatch,
    names: Sequence[str] = PROXIES,
    seed: int = 0,
    complexity: tuple[int, int] | None = None,
) -> dict[str, float]:
    """The named proxies of one genotype at its initialisation from `seed` (NaN where one cannot be computed).

    `complexity`: its (params, FLOPs) where the caller has them already. Raises GenotypeError for a genotype
    that does not build at the batch's input size.
    """
    in_ch, size = batch.x.shape[1], tuple(batch.x.shape[2:])
    out: dict[str, float] = {}
    if "params" in names or "flops" in names:
        params, flops = complexity or ss.complexity(genotype, in_ch, batch.num_classes, size)
        out |= {"params": float(params), "flops": float(flops)}
    else:
        validate(genotype, in_ch, batch.num_classes, size)  # (the build error, before any proxy runs)
    for name in names:
        if name in ("params", "flops"):
            continue
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = ss.build(genotype, in_ch, batch.num_classes)
            try:
                value = _FUNCTIONS[name](model, batch)
            except (RuntimeError, ValueError, FloatingPointError):  # (a singular kernel, a NaN in linalg)
                value = math.nan
        out[name] = value if math.isfinite(value) else math.nan
    return {n: out[n] for n in names}


# ------------------------------------------------------------------ the proxies


def _weights(model: nn.Module) -> list[torch.Tensor]:
    return [m.weight for m in model.modules() if isinstance(m, nn.Conv2d | nn.ConvTranspose2d | nn.Linear)]


def _synflow(model: nn.Module, batch: ProxyBatch) -> float:
    model = model.double().eval()  # eval: fresh BatchNorm statistics are the identity; no dropout
    with torch.no_grad():
        for p in model.state_dict().values():
            if p.is_floating_point():
                p.abs_()
    x = torch.ones((1, *batch.x.shape[1:]), dtype=torch.float64)
    model.zero_grad()
    model(x).sum().backward()
    with torch.no_grad():
        return float(sum((w * w.grad).abs().sum() for w in _weights(model) if w.grad is not None))


def _loss_grads(model: nn.Module, batch: ProxyBatch) -> list[tuple[torch.Tensor, torch.Tensor]]:
    if not batch.labels:
        raise ValueError("needs class labels")
    model.train()
    model.zero_grad()
    out = model(batch.x)
    if not torch.isfinite(out).all():
        raise ValueError("non-finite output at initialisation")
    F.cross_entropy(out, batch.y).backward()
    return [(w, w.grad) for w in _weights(model) if w.grad is not None]


def _grad_norm(model: nn.Module, batch: ProxyBatch) -> float:
    grads = _loss_grads(model, batch)
    with torch.no_grad():
        return float(sum(g.norm() for _, g in grads))


def _snip(model: nn.Module, batch: ProxyBatch) -> float:
    grads = _loss_grads(model, batch)
    with torch.no_grad():
        return float(sum((w * g).abs().sum() for w, g in grads))


def _naswot(model: nn.Module, batch: ProxyBatch) -> float:
    n = len(batch.x)
    kernel = torch.zeros(n, n, dtype=torch.float64)

    def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        codes = (output.detach().reshape(n, -1) > 0).double()
        kernel.add_(codes @ codes.T + (1 - codes) @ (1 - codes).T)  # units where two images agree

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.ReLU)]
    if not handles:
        raise ValueError("no ReLU")
    model.train()
    with torch.no_grad():
        model(batch.x)
    for h in handles:
        h.remove()
    sign, logdet = torch.linalg.slogdet(kernel)
    return float(logdet) if sign > 0 else math.nan


def _jacob_cov(model: nn.Module, batch: ProxyBatch) -> float:
    model.train()
    x = batch.x.clone().requires_grad_(True)
    model(x).sum().backward()
    jacobs = x.grad.reshape(len(x), -1).double()
    corr = torch.corrcoef(jacobs)
    if not torch.isfinite(corr).all():
        raise ValueError("constant Jacobian")
    v = torch.linalg.eigvalsh(corr).clamp_min(0.0)  # (rounding makes a few eigenvalues slightly negative)
    return float(-torch.sum(torch.log(v + JACOB_K) + 1.0 / (v + JACOB_K)))


_FUNCTIONS: dict[str, Callable[[nn.Module, ProxyBatch], float]] = {
    "synflow": _synflow,
    "grad_norm": _grad_norm,
    "snip": _snip,
    "naswot": _naswot,
    "jacob_cov": _jacob_cov,
}


def trial_scores(
    genotype: Genotype, data, names: Sequence[str], seed: int, complexity: tuple[int, int] | None = None
) -> dict[str, float | None]:
    """A trial's proxies (`TrainConfig.proxies`): its network as initialised from the trial's seed, on a batch
    drawn with it; None where one cannot be computed (a proxy never fails a trial; training says what is wrong)."""
    try:
        scores = score(genotype, ProxyBatch.of(data, seed=seed), names, seed, complexity)
    except Exception:  # noqa: BLE001
        scores = dict.fromkeys(names, math.nan)
    return {k: v if math.isfinite(v) else None for k, v in scores.items()}


class Scorer:
    """One proxy's scores for a controller's warm-up and filter (`nas.controllers.base.Scorer`): on a fixed
    batch drawn with `seed`, each network initialised from `seed`; scores are cached by fingerprint."""

    def __init__(self, name: str, data, seed: int = 0, batch_size: int = DEFAULT_BATCH):
        parse([name])
        self.name, self.seed = name, seed
        self.batch = ProxyBatch.of(data, batch_size, seed)
        self.cache: dict[str, float] = {}
        self.seconds = 0.0  # spent scoring, in all

    def __call__(self, genotypes: Sequence[Genotype]) -> list[float]:
        import time

        from searchspace.genotype import GenotypeError

        out = []
        for g in genotypes:
            fp = g.fingerprint()
            if fp not in self.cache:
                t0 = time.perf_counter()
                try:
                    self.cache[fp] = score(g, self.batch, (self.name,), self.seed)[self.name]
                except GenotypeError:  # does not build at this input size: the driver rejects it if proposed
                    self.cache[fp] = math.nan
                self.seconds += time.perf_counter() - t0
            out.append(self.cache[fp])
        return out
