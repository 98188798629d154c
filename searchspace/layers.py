"""Layer modules for the primitive ops, the merge helper and the classifier head.

Every op module is built from the same arguments, ``(in_ch, out_ch, stride,
**params)``, with primitives only, and depends on nothing but torch (and
torchvision for the deformable convolution), so an exported model can carry
these classes verbatim.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable

import torch
from torch import nn


def make_norm(kind: str | Callable[[int], nn.Module | None], ch: int) -> nn.Module | None:
    """BatchNorm, GroupNorm (up to 32 groups), local response normalization, nothing, or a factory's norm(ch)."""
    if callable(kind):
        return kind(ch)
    if kind == "bn":
        return nn.BatchNorm2d(ch)
    if kind == "gn":
        return nn.GroupNorm(math.gcd(ch, 32), ch)
    if kind == "lrn":  # Krizhevsky et al.'s n = 5, alpha = 1e-4, beta = 0.75, k = 2; torch divides alpha by n
        return nn.LocalResponseNorm(size=LRN_SIZE, alpha=LRN_ALPHA * LRN_SIZE, beta=0.75, k=2.0)
    return None


# Local response normalization (seeds 000): b = a / (k + alpha * sum of a^2 over n adjacent channels)^beta
LRN_SIZE = 5
LRN_ALPHA = 1e-4


def norm_act(norm: nn.Module | None, act: nn.Module | None) -> list[tuple[str, nn.Module | None]]:
    """Normalization then activation, except LRN, which normalizes "after applying the ReLU" (seeds 000)."""
    pair = [("norm", norm), ("act", act)]
    return pair[::-1] if isinstance(norm, nn.LocalResponseNorm) else pair


def make_act(kind: str | Callable[..., nn.Module | None], ch: int, inplace: bool = False) -> nn.Module | None:
    """ReLU, Leaky ReLU, channel-wise PReLU, GELU, tanh, nothing, or a factory's act(inplace=inplace)."""
    if callable(kind):
        return kind(inplace=inplace)
    if kind == "relu":
        return nn.ReLU(inplace=inplace)
    if kind == "leaky_relu":
        return nn.LeakyReLU(0.1, inplace=inplace)
    if kind == "prelu":
        return nn.PReLU(ch)
    if kind == "gelu":
        return nn.GELU()
    if kind == "tanh":
        return nn.Tanh()
    return None


def same_padding(kernel: int, dilation: int = 1) -> int:
    return dilation * (kernel - 1) // 2


class ConvNormAct(nn.Sequential):
    """conv -> norm -> act ('post'), norm -> act -> conv ('pre') or act -> conv -> norm ('act_first')."""

    def __init__(self, conv: nn.Module, in_ch: int, out_ch: int, norm: str | Callable, act: str | Callable, order: str):
        if order == "pre":
            parts = [*norm_act(make_norm(norm, in_ch), make_act(act, in_ch)), ("conv", conv)]
        elif order == "act_first":
            parts = [("act", make_act(act, in_ch)), ("conv", conv), ("norm", make_norm(norm, out_ch))]
        else:
            parts = [("conv", conv), *norm_act(make_norm(norm, out_ch), make_act(act, out_ch, inplace=True))]
        super().__init__(OrderedDict((name, m) for name, m in parts if m is not None))


class Conv(ConvNormAct):
    """Standard k x k convolution."""

    def __init__(self, in_ch, out_ch, stride=1, kernel=3, padding=-1, norm="bn", act="relu", order="post", bias=False):
        pad = same_padding(kernel) if padding < 0 else padding
        conv = nn.Conv2d(in_ch, out_ch, kernel, stride, pad, bias=bias)
        super().__init__(conv, in_ch, out_ch, norm, act, order)


class Conv1x1(ConvNormAct):
    """Pointwise 1x1 convolution: mixes channels, keeps the receptive field."""

    def __init__(self, in_ch, out_ch, stride=1, norm="bn", act="relu", order="post", bias=False):
        super().__init__(nn.Conv2d(in_ch, out_ch, 1, stride, 0, bias=bias), in_ch, out_ch, norm, act, order)


class DilatedConv(ConvNormAct):
    """Dilated (atrous) convolution: a k x k kernel spread over a (d(k-1)+1)^2 window."""

    def __init__(self, in_ch, out_ch, stride=1, kernel=3, dilation=2, norm="bn", act="relu", order="post", bias=False):
        conv = nn.Conv2d(in_ch, out_ch, kernel, stride, same_padding(kernel, dilation), dilation, bias=bias)
        super().__init__(conv, in_ch, out_ch, norm, act, order)


class GroupedConv(ConvNormAct):
    """Grouped convolution: channels split into groups convolved separately."""

    def __init__(self, in_ch, out_ch, stride=1, kernel=3, groups=4, norm="bn", act="relu", order="post", bias=False):
        conv = nn.Conv2d(in_ch, out_ch, kernel, stride, same_padding(kernel), groups=groups, bias=bias)
        super().__init__(conv, in_ch, out_ch, norm, act, order)


class SepConv(ConvNormAct):
    """Depthwise-separable convolution: depthwise k x k, then pointwise 1x1."""

    def __init__(self, in_ch, out_ch, stride=1, kernel=3, norm="bn", act="relu", order="post", bias=False):
        conv = nn.Sequential(
            OrderedDict(
                depthwise=nn.Conv2d(in_ch, in_ch, kernel, stride, same_padding(kernel), groups=in_ch, bias=False),
                pointwise=nn.Conv2d(in_ch, out_ch, 1, bias=bias),
            )
        )
        super().__init__(conv, in_ch, out_ch, norm, act, order)


class SpatialSepConv(ConvNormAct):
    """Spatially separable convolution (Inception v3): n x 1, then 1 x n."""

    def __init__(self, in_ch, out_ch, stride=1, kernel=3, norm="bn", act="relu", order="post", bias=False):
        pad = same_padding(kernel)
        conv = nn.Sequential(
            OrderedDict(
                vertical=nn.Conv2d(in_ch, out_ch, (kernel, 1), (stride, 1), (pad, 0), bias=False),
                horizontal=nn.Conv2d(out_ch, out_ch, (1, kernel), (1, stride), (0, pad), bias=bias),
            )
        )
        super().__init__(conv, in_ch, out_ch, norm, act, order)


class TransposedConv(ConvNormAct):
    """Transposed convolution: learned upsampling by `up` (1 keeps the resolution)."""

    def __init__(self, in_ch, out_ch, stride=1, kernel=3, up=2, norm="bn", act="relu", order="post", bias=False):
        pad = same_padding(kernel)
        conv = nn.ConvTranspose2d(in_ch, out_ch, kernel, up, pad, output_padding=up - 1, bias=bias)
        super().__init__(conv, in_ch, out_ch, norm, act, order)


class DeformConv(nn.Module):
    """Deformable convolution: a k x k kernel sampled at learned offsets (Dai et al. 2017)."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int, bias: bool):
        super().__init__()
        from torchvision.ops import DeformConv2d

        pad = same_padding(kernel)
        self.offset = nn.Conv2d(in_ch, 2 * kernel * kernel, kernel, stride, pad)
        nn.init.zeros_(self.offset.weight)  # start as a regular grid
        nn.init.zeros_(self.offset.bias)
        self.deform = DeformConv2d(in_ch, out_ch, kernel, stride, pad, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from torchvision.ops import deform_conv2d

        offset, d = self.offset(x), self.deform
        dtype = d.weight.dtype
        # torchvision's CPU kernel takes float32 only (not the bf16 of autocast), and a NaN offset (a run
        # diverging) makes it index outside the image: a segfault that kills the trial's process. Offsets past
        # the image sample zeros, so clamping them to its size changes nothing; NaN ones become 0 (the
        # network's activations are NaN anyway, and the trial ends as diverged).
        reach = float(x.shape[-1] + x.shape[-2])
        offset = torch.nan_to_num(offset.to(dtype), nan=0.0).clamp(-reach, reach)
        args = (x.to(dtype), offset, d.weight, d.bias)
        where = {"stride": d.stride, "padding": d.padding, "dilation": d.dilation}
        if x.dtype != dtype:  # under autocast
            with torch.autocast(x.device.type, enabled=False):
                return deform_conv2d(*args, **where)
        return deform_conv2d(*args, **where)


class DeformableConv(ConvNormAct):
    """Deformable convolution with a learned offset conv, plus norm and activation."""

    def __init__(self, in_ch, out_ch, stride=1, kernel=3, norm="bn", act="relu", order="post", bias=False):
        super().__init__(DeformConv(in_ch, out_ch, kernel, stride, bias), in_ch, out_ch, norm, act, order)


class AddCoords(nn.Module):
    """Appends two channels holding each pixel's x and y coordinate in [-1, 1] (CoordConv)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, h, w = x.size(0), x.size(2), x.size(3)
        ys = torch.linspace(-1.0, 1.0, h, device=x.device, dtype=x.dtype).view(1, 1, h, 1).expand(n, 1, h, w)
        xs = torch.linspace(-1.0, 1.0, w, device=x.device, dtype=x.dtype).view(1, 1, 1, w).expand(n, 1, h, w)
        return torch.cat([x, xs, ys], dim=1)


class CoordConv(ConvNormAct):
    """Position-sensitive convolution: coordinates appended as channels, then k x k conv (Liu et al. 2018)."""

    def __init__(self, in_ch, out_ch, stride=1, kernel=3, norm="bn", act="relu", order="post", bias=False):
        conv = nn.Sequential(
            OrderedDict(
                coords=AddCoords(),
                conv=nn.Conv2d(in_ch + 2, out_ch, kernel, stride, same_padding(kernel), bias=bias),
            )
        )
        super().__init__(conv, in_ch, out_ch, norm, act, order)


class LocalConv(nn.Module):
    """Locally connected k x k convolution: one kernel per cell of a grid x grid tiling of the output."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int, grid: int, bias: bool):
        super().__init__()
        self.kernel, self.stride, self.grid, self.out_ch = kernel, stride, grid, out_ch
        self.weight = nn.Parameter(torch.empty(grid * grid * out_ch, in_ch, kernel, kernel))  # cell-major
        self.bias = nn.Parameter(torch.zeros(grid * grid * out_ch)) if bias else None
        for w in self.weight.data.split(out_ch):  # each cell's kernel initialised as nn.Conv2d's
            nn.init.kaiming_uniform_(w, a=math.sqrt(5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k, s, g, pad = self.kernel, self.stride, self.grid, same_padding(self.kernel)
        x = nn.functional.pad(x, (pad, pad, pad, pad))
        rows = _cuts((x.shape[-2] - k) // s + 1, g)
        cols = _cuts((x.shape[-1] - k) // s + 1, g)
        band = []
        for i in range(g):
            if rows[i] == rows[i + 1]:
                continue  # an output smaller than the grid leaves some cells (and their kernels) unused
            cells = []
            for j in range(g):
                if cols[j] == cols[j + 1]:
                    continue
                patch = x[..., rows[i] * s : (rows[i + 1] - 1) * s + k, cols[j] * s : (cols[j + 1] - 1) * s + k]
                at = slice((i * g + j) * self.out_ch, (i * g + j + 1) * self.out_ch)
                bias = None if self.bias is None else self.bias[at]
                cells.append(nn.functional.conv2d(patch, self.weight[at], bias, s))
            band.append(torch.cat(cells, dim=-1))
        return torch.cat(band, dim=-2)


def _cuts(size: int, parts: int) -> list[int]:
    """Where `parts` near-equal cells of `size` pixels start (and the end)."""
    return [i * size // parts for i in range(parts + 1)]


class UnsharedConv(ConvNormAct):
    """Unshared (locally connected) convolution: its own k x k kernel in each cell of a grid x grid tiling.

    The seeds' case (000) is an input whose parts need different features (a face); `grid` sets how local
    the weights are, from 1 (a plain convolution) up to the output's size (no sharing at all).
    """

    def __init__(self, in_ch, out_ch, stride=1, kernel=3, grid=2, norm="bn", act="relu", order="post", bias=False):
        super().__init__(LocalConv(in_ch, out_ch, kernel, stride, grid, bias), in_ch, out_ch, norm, act, order)


def dirac_delta(in_ch: int, out_ch: int, kernel: int, like: torch.Tensor | None = None) -> torch.Tensor:
    """The kernel whose convolution is the identity: output channel o copies input o mod in_ch (or sums the
    inputs i with i mod out_ch = o when the layer narrows), as DiracNets' repeated delta."""
    device, dtype = (like.device, like.dtype) if like is not None else (None, torch.float32)
    o = torch.arange(out_ch, device=device).view(-1, 1)
    i = torch.arange(in_ch, device=device).view(1, -1)
    copies = (i % out_ch == o) if in_ch >= out_ch else (o % in_ch == i)
    mid = (torch.arange(kernel, device=device) == kernel // 2).to(dtype)
    return copies.to(dtype).view(out_ch, in_ch, 1, 1) * (mid.view(-1, 1) * mid.view(1, -1))  # 1 at the centre


class DiracConvolution(nn.Module):
    """Dirac-parameterised convolution: conv(x, diag(a) I + diag(b) W / ||W||) (Zagoruyko & Komodakis 2017)."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int, bias: bool):
        super().__init__()
        self.in_ch, self.out_ch, self.kernel = in_ch, out_ch, kernel  # plain ints: fx traces the forward
        self.stride, self.padding = stride, same_padding(kernel)
        self.weight = nn.Parameter(torch.empty(out_ch, in_ch, kernel, kernel))
        nn.init.kaiming_normal_(self.weight)
        self.a = nn.Parameter(torch.ones(out_ch))  # the identity's scale (DiracNet v2: per channel, from 1)
        self.b = nn.Parameter(torch.full((out_ch,), 0.1))  # the normalised filters' scale
        self.bias = nn.Parameter(torch.zeros(out_ch)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        delta = dirac_delta(self.in_ch, self.out_ch, self.kernel, like=self.weight)  # made here: none to save
        w = nn.functional.normalize(self.weight.flatten(1), dim=1).view_as(self.weight)
        w = self.a.view(-1, 1, 1, 1) * delta + self.b.view(-1, 1, 1, 1) * w
        return nn.functional.conv2d(x, w, self.bias, self.stride, self.padding)


class DiracConv(ConvNormAct):
    """DiracNet layer: BN(conv(ReLU(x), diag(a) I + diag(b) W_norm)), a plain conv that starts as the identity.

    The seeds (000) list DiracNets as deep plain networks without skip connections: the delta carries the
    input through, like a residual block's shortcut, and folds into one filter for inference.
    """

    def __init__(self, in_ch, out_ch, stride=1, kernel=3, norm="bn", act="relu", order="act_first", bias=False):
        super().__init__(DiracConvolution(in_ch, out_ch, kernel, stride, bias), in_ch, out_ch, norm, act, order)


class MaxPool(nn.MaxPool2d):
    """Max pooling; with the stage stride it downsamples."""

    def __init__(self, in_ch, out_ch, stride=1, kernel=3, padding=-1, ceil=False):
        super().__init__(kernel, stride, (kernel - 1) // 2 if padding < 0 else padding, ceil_mode=ceil)


class AvgPool(nn.AvgPool2d):
    """Average pooling (padding excluded from the average)."""

    def __init__(self, in_ch, out_ch, stride=1, kernel=3, padding=-1, ceil=False):
        pad = (kernel - 1) // 2 if padding < 0 else padding
        super().__init__(kernel, stride, pad, ceil_mode=ceil, count_include_pad=False)


class GlobalAvgPool(nn.AdaptiveAvgPool2d):
    """Global average pooling: one value per channel."""

    def __init__(self, in_ch, out_ch, stride=1):
        super().__init__(1)


class Identity(nn.Identity):
    """Identity: passes its (merged) input through; a node of it is a pure merge."""

    def __init__(self, in_ch, out_ch, stride=1):
        super().__init__()


class Zero(nn.Module):
    """Zero: the output of a cut edge (NAS-Bench-201's 'none'), zeros of the input's shape."""

    def __init__(self, in_ch, out_ch, stride=1):
        super().__init__()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mul(0.0)


class Dropout(nn.Dropout):
    """Dropout with probability p."""

    def __init__(self, in_ch, out_ch, stride=1, p=0.2):
        super().__init__(p)


class NormAct(nn.Sequential):
    """Normalization followed by activation (e.g. DenseNet's final BN-ReLU; LRN comes after the activation)."""

    def __init__(self, in_ch, out_ch, stride=1, norm="bn", act="relu"):
        parts = norm_act(make_norm(norm, in_ch), make_act(act, in_ch))
        super().__init__(OrderedDict((name, m) for name, m in parts if m is not None))


class Projection(nn.Sequential):
    """1x1 conv (strided where needed) + BatchNorm: brings an input to another width or resolution."""

    def __init__(
        self, in_ch: int, out_ch: int, stride: int = 1, norm_layer: Callable[[int], nn.Module] = nn.BatchNorm2d
    ):
        conv = nn.Conv2d(in_ch, out_ch, 1, stride, bias=False)
        super().__init__(OrderedDict(conv=conv, norm=norm_layer(out_ch)))


class ZeroPadShortcut(nn.Module):
    """ResNet option A: the input subsampled by the stride, with zero channels appended (no parameters)."""

    def __init__(self, in_ch: int, out_ch: int, stride: int):
        super().__init__()
        self.stride, self.extra = stride, out_ch - in_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride > 1:
            x = x[:, :, :: self.stride, :: self.stride]
        return nn.functional.pad(x, (0, 0, 0, 0, 0, self.extra))


class Combine(nn.Module):
    """Combines same-shaped inputs: sum, mean, sigmoid-weighted sum (RandWire) or concat."""

    def __init__(self, kind: str, n: int):
        super().__init__()
        self.kind = kind
        self.weight = nn.Parameter(torch.zeros(n)) if kind == "wsum" else None

    def forward(self, xs: list[torch.Tensor]) -> torch.Tensor:
        if self.kind == "concat":
            return torch.cat(xs, dim=1)
        if self.weight is not None:
            w = torch.sigmoid(self.weight)
            xs = [w[i] * x for i, x in enumerate(xs)]
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out / len(xs) if self.kind == "mean" else out


class Classifier(nn.Module):
    """Adaptive avg pool -> flatten -> [FC -> act -> dropout] * len(hidden) -> FC; no hidden layer: dropout -> FC.

    The head's one definition: its genes (`Head`), the README and the exported model's comments refer here.
    Dropout acts on the hidden fully-connected layers, "except for the output layer" (seeds 002): VGG and
    AlexNet have two, as in the papers; a global-pool head (GoogLeNet) has one, before its only FC. A dropout
    of 0 adds no Dropout module.
    """

    def __init__(self, in_ch: int, num_classes: int, pool_size=1, hidden=(), dropout=0.0, act="relu"):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(pool_size)
        layers: list[tuple[str, nn.Module]] = []
        width = in_ch * pool_size * pool_size
        for i, h in enumerate(hidden):
            layers.append((f"fc{i}", nn.Linear(width, h)))
            layers.append((f"act{i}", make_act(act, h, inplace=True) or nn.Identity()))
            if dropout > 0:
                layers.append((f"drop{i}", nn.Dropout(dropout)))
            width = h
        if dropout > 0 and not hidden:
            layers.append(("drop", nn.Dropout(dropout)))
        layers.append(("fc", nn.Linear(width, num_classes)))
        self.fc = nn.Sequential(OrderedDict(layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(x), 1))
