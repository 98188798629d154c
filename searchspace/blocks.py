"""Block modules from the seeds: Inception, residual, pre-activation, ResNeXt, dense, highway.

Each block is an op like any other, built as ``Block(in_ch, out_ch, stride,
**params)``, and its forward reads like the paper's equation. As in timm's
blocks, norm and activation are factories, ``norm_layer(ch)`` and
``act_layer(inplace=...)``, defaulting to the seeds' BatchNorm2d and ReLU, so a
space could vary them. (Two arguments rather than one config object: an
exported model then carries no extra definitions.) Like
`searchspace.layers`, this file imports nothing but torch and the layers, so
an exported model can carry these classes verbatim.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

import torch
from torch import nn

from searchspace.layers import Conv, Projection, ZeroPadShortcut, make_norm, norm_act, same_padding
from searchspace.widths import inception_naive_widths, inception_v3_widths, inception_widths, transition_width


class InceptionNaive(nn.Module):
    """Inception, naive: concat(1x1(x), 3x3(x), 5x5(x), maxpool3x3(x)); out = in + the three branches' widths.

    The max-pool keeps the input's channels, so the module grows the width by its conv branches at every use
    ("a tendency to blow up in number of channels", seeds 000). The conv branches share out_ch - in_ch (in a
    genotype: the node's width, which the module adds) by `split` (1x1:3x3:5x5), each at least 4 wide, unless
    b1/b3/b5 give them.
    """

    def __init__(
        self, in_ch, out_ch, stride=1, b1=0, b3=0, b5=0, split="2:4:1", norm="bn", norm_layer=None, act_layer=nn.ReLU
    ):
        super().__init__()
        b1, b3, b5 = inception_naive_widths(out_ch - in_ch, b1, b3, b5, split)
        norm = norm_layer or norm  # a norm factory, when given, replaces the named norm
        self.branch1 = Conv(in_ch, b1, stride, kernel=1, norm=norm, act=act_layer)
        self.branch3 = Conv(in_ch, b3, stride, kernel=3, norm=norm, act=act_layer)
        self.branch5 = Conv(in_ch, b5, stride, kernel=5, norm=norm, act=act_layer)
        self.pool = nn.MaxPool2d(3, stride, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch1(x), self.branch3(x), self.branch5(x), self.pool(x)], dim=1)


class Inception(nn.Module):
    """Inception with 1x1 reductions: concat(1x1, 1x1->3x3, 1x1->5x5, maxpool->1x1) (GoogLeNet).

    `factorized` is Inception-v2's "factorize 5x5 in two 3x3 filters" (seeds 003): the k5 x k5 branch becomes
    (k5 - 1) / 2 stacked 3x3 convs of the same receptive field.
    """

    def __init__(
        self,
        in_ch,
        out_ch,
        stride=1,
        b1=0,
        b3r=0,
        b3=0,
        b5r=0,
        b5=0,
        pool_proj=0,
        k5=5,
        factorized=False,
        norm="bn",
        norm_layer=None,
        act_layer=nn.ReLU,
    ):
        super().__init__()
        b1, b3r, b3, b5r, b5, pool_proj = inception_widths(out_ch, b1, b3r, b3, b5r, b5, pool_proj)
        norm = norm_layer or norm  # a norm factory, when given, replaces the named norm

        def conv(ci, co, s, kernel):
            return Conv(ci, co, s, kernel=kernel, norm=norm, act=act_layer)

        self.branch1 = conv(in_ch, b1, stride, 1)
        self.branch2 = nn.Sequential(conv(in_ch, b3r, 1, 1), conv(b3r, b3, stride, 3))
        if factorized and k5 > 1:  # 1x1 -> 3x3 -> ... -> 3x3, the last one strided
            n = (k5 - 1) // 2
            wide = [conv(b5r if i == 0 else b5, b5, stride if i == n - 1 else 1, 3) for i in range(n)]
            self.branch3 = nn.Sequential(conv(in_ch, b5r, 1, 1), *wide)
        else:
            self.branch3 = nn.Sequential(conv(in_ch, b5r, 1, 1), conv(b5r, b5, stride, k5))
        self.branch4 = nn.Sequential(nn.MaxPool2d(3, stride, 1, ceil_mode=stride == 1), conv(in_ch, pool_proj, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], dim=1)


class InceptionV3(nn.Module):
    """Factorized Inception (v3): concat(1x1, 1x1->1xn->nx1, 1x1->(nx1->1xn)x2, avgpool->1x1)."""

    def __init__(
        self, in_ch, out_ch, stride=1, b1=0, r=0, b=0, pool_proj=0, n=7, norm="bn", norm_layer=None, act_layer=nn.ReLU
    ):
        super().__init__()
        b1, r, b, pool_proj = inception_v3_widths(out_ch, b1, r, b, pool_proj)
        p = same_padding(n)

        def conv(ci, co, kernel, s=1, pad=(0, 0)):
            return Conv2dBN(ci, co, kernel, s, pad, norm, norm_layer, act_layer)

        self.branch1 = conv(in_ch, b1, 1, stride)
        self.branch2 = nn.Sequential(
            conv(in_ch, r, 1), conv(r, r, (1, n), (1, stride), (0, p)), conv(r, b, (n, 1), (stride, 1), (p, 0))
        )
        self.branch3 = nn.Sequential(
            conv(in_ch, r, 1),
            conv(r, r, (n, 1), 1, (p, 0)),
            conv(r, r, (1, n), 1, (0, p)),
            conv(r, r, (n, 1), (stride, 1), (p, 0)),
            conv(r, b, (1, n), (1, stride), (0, p)),
        )
        self.branch4 = nn.Sequential(nn.AvgPool2d(3, stride, 1, count_include_pad=False), conv(in_ch, pool_proj, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], dim=1)


class Conv2dBN(nn.Sequential):
    """Conv (any kernel shape) -> norm -> ReLU, as Inception's BasicConv2d."""

    def __init__(self, in_ch, out_ch, kernel, stride, padding, norm="bn", norm_layer=None, act_layer=nn.ReLU):
        norm_module = make_norm(norm_layer or norm, out_ch)  # None: no norm, so the conv keeps its bias
        conv = nn.Conv2d(in_ch, out_ch, kernel, stride, padding, bias=norm_module is None)
        parts = [("conv", conv), *norm_act(norm_module, act_layer(inplace=True))]
        super().__init__(OrderedDict((k, m) for k, m in parts if m is not None))


def make_shortcut(
    kind: str, in_ch: int, out_ch: int, stride: int, norm_layer: Callable[[int], nn.Module], bn: bool = True
) -> nn.Module | None:
    """A residual block's shortcut: None (identity) when shapes agree, else the seeds' "zero padding or a
    projection layer to match dimensions" (003): option A (`zeropad`) or B (`projection`, 1x1 conv + BN)."""
    if stride == 1 and in_ch == out_ch:
        return None
    if kind == "zeropad":
        return ZeroPadShortcut(in_ch, out_ch, stride)
    return Projection(in_ch, out_ch, stride, norm_layer) if bn else nn.Conv2d(in_ch, out_ch, 1, stride, bias=False)


class ResBasic(nn.Module):
    """Residual basic block: relu(x + BN(conv(relu(BN(conv(x))))))."""

    def __init__(
        self, in_ch, out_ch, stride=1, kernel=3, shortcut="projection", norm_layer=nn.BatchNorm2d, act_layer=nn.ReLU
    ):
        super().__init__()
        pad = same_padding(kernel)
        self.conv1 = nn.Conv2d(in_ch, out_ch, kernel, stride, pad, bias=False)
        self.bn1 = norm_layer(out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, kernel, 1, pad, bias=False)
        self.bn2 = norm_layer(out_ch)
        self.relu = act_layer(inplace=True)
        self.shortcut = make_shortcut(shortcut, in_ch, out_ch, stride, norm_layer) or nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class ResReduce(nn.Module):
    """NAS-Bench-201's residual reduction: BN(conv(relu(BN(conv_s(relu(x)))))) + conv1x1(avgpool2x2(x))."""

    def __init__(self, in_ch, out_ch, stride=2, norm_layer=nn.BatchNorm2d, act_layer=nn.ReLU):
        super().__init__()
        self.conv_a = nn.Sequential(act_layer(), nn.Conv2d(in_ch, out_ch, 3, stride, 1, bias=False), norm_layer(out_ch))
        self.conv_b = nn.Sequential(act_layer(), nn.Conv2d(out_ch, out_ch, 3, 1, 1, bias=False), norm_layer(out_ch))
        if stride > 1:  # (ceil_mode: the conv's ceil(size / 2) on odd sizes too; the same on even ones)
            pool = nn.AvgPool2d(stride, stride, ceil_mode=True)
            self.shortcut = nn.Sequential(pool, nn.Conv2d(in_ch, out_ch, 1, bias=False))
        elif in_ch != out_ch:
            self.shortcut = nn.Sequential(act_layer(), nn.Conv2d(in_ch, out_ch, 1, bias=False), norm_layer(out_ch))
        else:
            self.shortcut = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_b(self.conv_a(x)) + self.shortcut(x)


class ResBottleneck(nn.Module):
    """Residual bottleneck: relu(x + BN(1x1(relu(BN(3x3(relu(BN(1x1(x))))))))), 3x3 grouped for ResNeXt."""

    def __init__(
        self,
        in_ch,
        out_ch,
        stride=1,
        ratio=0.25,
        groups=1,
        shortcut="projection",
        norm_layer=nn.BatchNorm2d,
        act_layer=nn.ReLU,
    ):
        super().__init__()
        mid = self.mid(out_ch, ratio, groups)
        self.conv1 = nn.Conv2d(in_ch, mid, 1, bias=False)
        self.bn1 = norm_layer(mid)
        self.conv2 = nn.Conv2d(mid, mid, 3, stride, 1, groups=groups, bias=False)
        self.bn2 = norm_layer(mid)
        self.conv3 = nn.Conv2d(mid, out_ch, 1, bias=False)
        self.bn3 = norm_layer(out_ch)
        self.relu = act_layer(inplace=True)
        self.shortcut = make_shortcut(shortcut, in_ch, out_ch, stride, norm_layer) or nn.Identity()

    @staticmethod
    def mid(out_ch: int, ratio: float, groups: int) -> int:
        """Bottleneck width: out_ch * ratio, rounded down to a multiple of groups (at least one group)."""
        return max(groups, int(out_ch * ratio) // groups * groups)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + self.shortcut(x))


class ResNeXt(ResBottleneck):
    """ResNeXt block: relu(x + sum of `cardinality` paths 1x1 -> 3x3 -> 1x1), the paths as one grouped 3x3 conv."""

    def __init__(
        self,
        in_ch,
        out_ch,
        stride=1,
        cardinality=32,
        ratio=0.5,
        shortcut="projection",
        norm_layer=nn.BatchNorm2d,
        act_layer=nn.ReLU,
    ):
        super().__init__(in_ch, out_ch, stride, ratio, cardinality, shortcut, norm_layer, act_layer)


def pre_act_skip(shortcut: nn.Module | None, x: torch.Tensor, pre: torch.Tensor) -> torch.Tensor:
    """A pre-activation block's skip path: x itself, x zero-padded (option A), or a projection of relu(BN(x))."""
    if shortcut is None:
        return x
    return shortcut(x) if isinstance(shortcut, ZeroPadShortcut) else shortcut(pre)


class PreActBasic(nn.Module):
    """Pre-activation residual block: x + conv(relu(BN(conv(relu(BN(x))))))."""

    def __init__(
        self, in_ch, out_ch, stride=1, kernel=3, shortcut="projection", norm_layer=nn.BatchNorm2d, act_layer=nn.ReLU
    ):
        super().__init__()
        pad = same_padding(kernel)
        self.bn1 = norm_layer(in_ch)
        self.conv1 = nn.Conv2d(in_ch, out_ch, kernel, stride, pad, bias=False)
        self.bn2 = norm_layer(out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, kernel, 1, pad, bias=False)
        self.relu = act_layer(inplace=False)  # not in place: the shortcut reads relu(bn1(x))
        self.shortcut = make_shortcut(shortcut, in_ch, out_ch, stride, norm_layer, bn=False)  # projection: no BN

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(x))
        skip = pre_act_skip(self.shortcut, x, out)
        out = self.conv1(out)
        out = self.conv2(self.relu(self.bn2(out)))
        return out + skip


class PreActBottleneck(nn.Module):
    """Pre-activation bottleneck: x + 1x1(relu(BN(3x3(relu(BN(1x1(relu(BN(x)))))))))."""

    def __init__(
        self, in_ch, out_ch, stride=1, ratio=0.25, shortcut="projection", norm_layer=nn.BatchNorm2d, act_layer=nn.ReLU
    ):
        super().__init__()
        mid = max(1, int(out_ch * ratio))
        self.bn1 = norm_layer(in_ch)
        self.conv1 = nn.Conv2d(in_ch, mid, 1, bias=False)
        self.bn2 = norm_layer(mid)
        self.conv2 = nn.Conv2d(mid, mid, 3, stride, 1, bias=False)
        self.bn3 = norm_layer(mid)
        self.conv3 = nn.Conv2d(mid, out_ch, 1, bias=False)
        self.relu = act_layer(inplace=False)  # not in place: the shortcut reads relu(bn1(x))
        self.shortcut = make_shortcut(shortcut, in_ch, out_ch, stride, norm_layer, bn=False)  # projection: no BN

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(x))
        skip = pre_act_skip(self.shortcut, x, out)
        out = self.conv1(out)
        out = self.conv2(self.relu(self.bn2(out)))
        out = self.conv3(self.relu(self.bn3(out)))
        return out + skip


class DenseLayer(nn.Sequential):
    """DenseNet-B layer: BN-ReLU-1x1 (bn_size * growth) -> BN-ReLU-3x3 (growth)."""

    def __init__(
        self,
        in_ch: int,
        growth: int,
        bn_size: int,
        norm_layer: Callable[[int], nn.Module] = nn.BatchNorm2d,
        act_layer: Callable[..., nn.Module] = nn.ReLU,
    ):
        super().__init__(
            OrderedDict(
                norm1=norm_layer(in_ch),
                relu1=act_layer(inplace=True),
                conv1=nn.Conv2d(in_ch, bn_size * growth, 1, bias=False),
                norm2=norm_layer(bn_size * growth),
                relu2=act_layer(inplace=True),
                conv2=nn.Conv2d(bn_size * growth, growth, 3, 1, 1, bias=False),
            )
        )


class DenseBlock(nn.Module):
    """Dense block: x_l = H_l(concat(x_0, ..., x_{l-1})); output concat of all."""

    def __init__(
        self, in_ch, out_ch, stride=1, layers=4, growth=12, bn_size=4, norm_layer=nn.BatchNorm2d, act_layer=nn.ReLU
    ):
        super().__init__()
        self.layers = nn.ModuleList(
            DenseLayer(in_ch + i * growth, growth, bn_size, norm_layer, act_layer) for i in range(layers)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for layer in self.layers:
            features.append(layer(torch.cat(features, dim=1)))
        return torch.cat(features, dim=1)


class Transition(nn.Sequential):
    """DenseNet transition: BN-ReLU-1x1 conv compressing to floor(theta * in_ch), avgpool when strided."""

    def __init__(self, in_ch, out_ch, stride=1, compression=0.5, norm_layer=nn.BatchNorm2d, act_layer=nn.ReLU):
        parts = [
            ("norm", norm_layer(in_ch)),
            ("relu", act_layer(inplace=True)),
            ("conv", nn.Conv2d(in_ch, transition_width(in_ch, compression), 1, bias=False)),
        ]
        if stride > 1:
            parts.append(("pool", nn.AvgPool2d(stride, stride, ceil_mode=True)))
        super().__init__(OrderedDict(parts))


class Highway(nn.Module):
    """Highway block: y = H(x) * T(x) + x * (1 - T(x)), T = sigmoid(conv(x)) the transform gate (Srivastava 2015).

    The paper requires x, y, H(x) and T(x) of one dimensionality; where a node changes the width or
    downsamples, this block carries a 1x1 projection of x (conv + BN) instead of x: an extension of ours, so
    that a highway node can sit anywhere in a searched stage. With equal shapes the carry is x itself.
    """

    def __init__(self, in_ch, out_ch, stride=1, kernel=3, gate_bias=-1.0, norm_layer=nn.BatchNorm2d, act_layer=nn.ReLU):
        super().__init__()
        pad = same_padding(kernel)
        self.transform = Conv(in_ch, out_ch, stride, kernel, norm=norm_layer, act=act_layer)
        self.gate = nn.Conv2d(in_ch, out_ch, kernel, stride, pad)
        nn.init.constant_(self.gate.bias, gate_bias)  # negative: carry behaviour at the start
        self.carry = Projection(in_ch, out_ch, stride, norm_layer) if stride != 1 or in_ch != out_ch else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = torch.sigmoid(self.gate(x))
        return self.transform(x) * t + self.carry(x) * (1 - t)
