"""The seeds' architectures as genotypes.

``get(name)`` returns a `Genotype`; ``names()`` lists them; ``info(name)``
says where the architecture comes from and what it should count. Names follow
torchvision where torchvision has the network (``resnet50``, ``vgg16``, ...);
the seeds' VGG table is ``vgg_a`` ... ``vgg_e`` and ``vgg_a_lrn``. Each
ImageNet-sized entry with a 7x7/11x11 stem has a ``<name>_cifar`` variant: a
3x3 stride-1 stem, no stem pooling, and a global-average-pool head, for 32x32
inputs.

Where torchvision has the same network, the built genotype (3 channels, 1000
classes) has exactly torchvision's parameter count (tested against
torchvision). Known, deliberate deviations:

- ``googlenet`` follows torchvision, whose "5x5" Inception branch is a 3x3
  conv (``k5=3``); ``googlenet_paper`` has the paper's 5x5.
- ``lenet5``: C3 is fully connected to S2 (the paper uses a sparse connection
  table) and subsampling is plain average pooling: 61,706 parameters against
  the paper's "about 60,000".

Where torchvision has none, the counts are checked against the papers' tables to
their rounding: the CIFAR ResNets ``resnet20`` ... ``resnet110`` (option A
shortcuts, He et al. 2016 Table 6), ``diracnet18``/``diracnet34`` (11.52M/21.64M)
and ``diracnet28_10`` (36.5M). The DiracNets follow the authors' final (v2) code:
ReLU rather than the first version's NCReLU, per-channel a and b.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from searchspace.genotype import Genotype, Head, Node, Stage
from searchspace.registry import node
from searchspace.wirings import make_stage


@dataclass(frozen=True)
class ZooEntry:
    """Where a zoo architecture comes from and what it should count."""

    name: str
    make: Callable[[], Genotype]
    source: str  # paper or library it follows
    torchvision: str | None = None  # torchvision builder with the same architecture, if any
    params: int | None = None  # parameter count to match (3 channels, 1000 classes, unless noted)
    in_channels: int = 3
    num_classes: int = 1000
    input_size: int = 224


ZOO: dict[str, ZooEntry] = {}


def register(name: str, source: str, **kw) -> Callable[[Callable[[], Genotype]], Callable[[], Genotype]]:
    """Decorator: add a genotype factory to the zoo."""

    def deco(fn: Callable[[], Genotype]) -> Callable[[], Genotype]:
        ZOO[name] = ZooEntry(name, fn, source, **kw)
        return fn

    return deco


def get(name: str) -> Genotype:
    """The genotype of a zoo architecture."""
    return info(name).make()


def info(name: str) -> ZooEntry:
    try:
        return ZOO[name]
    except KeyError:
        raise KeyError(f"unknown zoo architecture {name!r}; known: {', '.join(names())}") from None


def names() -> list[str]:
    return sorted(ZOO)


# ------------------------------------------------------------------ helpers


def chain(width: int, nodes: list[Node], stride: int = 1) -> Stage:
    return make_stage("chain", nodes, width, stride)


def plain_conv(kernel: int = 3, width: int = 0, **kw) -> Node:
    """Conv + bias + ReLU, no normalization (VGG, AlexNet, All-CNN)."""
    return node("conv", width=width, kernel=kernel, norm=kw.pop("norm", "none"), bias=kw.pop("bias", True), **kw)


def imagenet_stem(width: int = 64) -> Stage:
    """7x7 stride-2 conv + BN + ReLU."""
    return chain(width, [node("conv", kernel=7)], stride=2)


def cifar(g: Genotype) -> Genotype:
    """CIFAR variant: a strided stem becomes 3x3 stride 1 and loses the pooling after it; GAP + FC head."""
    stem, stages = g.stem, list(g.stages)
    if stem.stride > 1:
        stem = chain(stem.width, [node("conv")], stride=1)
        first = stages[0]
        if first.nodes[0].op in ("maxpool", "avgpool") and len(first.nodes) > 1:
            stages[0] = chain(first.width, list(first.nodes[1:]), stride=1)
    return Genotype(stem, tuple(stages), Head())


def with_cifar(name: str, source: str, **kw) -> Callable[[Callable[[], Genotype]], Callable[[], Genotype]]:
    """Register an ImageNet architecture and its CIFAR variant."""

    def deco(fn: Callable[[], Genotype]) -> Callable[[], Genotype]:
        register(name, source, **kw)(fn)
        register(f"{name}_cifar", source + " (CIFAR variant)", input_size=32, num_classes=10)(lambda: cifar(fn()))
        return fn

    return deco


# ------------------------------------------------------------------ ResNet family


def resnet(
    block: str, depths: tuple[int, ...], widths: tuple[int, ...], final_norm: bool = False, **params
) -> Genotype:
    """torchvision-style ResNet: 7x7 stem, maxpool, four stages whose first block strides."""
    stages = []
    for i, (depth, width) in enumerate(zip(depths, widths, strict=True)):
        blocks = [node(block, **params) for _ in range(depth)]
        nodes = ([node("maxpool")] if i == 0 else []) + blocks
        if final_norm and i == len(depths) - 1:
            nodes.append(node("norm"))
        stages.append(chain(width, nodes, stride=2))
    return Genotype(imagenet_stem(), tuple(stages), Head())


BASIC_WIDTHS = (64, 128, 256, 512)
BOTTLENECK_WIDTHS = (256, 512, 1024, 2048)
TV = "torchvision.models"

for _name, _block, _depths, _widths, _kw, _params in [
    ("resnet18", "res_basic", (2, 2, 2, 2), BASIC_WIDTHS, {}, 11_689_512),
    ("resnet34", "res_basic", (3, 4, 6, 3), BASIC_WIDTHS, {}, 21_797_672),
    ("resnet50", "res_bottleneck", (3, 4, 6, 3), BOTTLENECK_WIDTHS, {}, 25_557_032),
    ("resnet101", "res_bottleneck", (3, 4, 23, 3), BOTTLENECK_WIDTHS, {}, 44_549_160),
    ("resnet152", "res_bottleneck", (3, 8, 36, 3), BOTTLENECK_WIDTHS, {}, 60_192_808),
    ("resnext50_32x4d", "resnext", (3, 4, 6, 3), BOTTLENECK_WIDTHS, {"cardinality": 32}, 25_028_904),
    ("resnext101_32x8d", "resnext", (3, 4, 23, 3), BOTTLENECK_WIDTHS, {"cardinality": 32, "ratio": 1.0}, 88_791_336),
    ("wide_resnet50_2", "res_bottleneck", (3, 4, 6, 3), BOTTLENECK_WIDTHS, {"ratio": 0.5}, 68_883_240),
]:
    with_cifar(_name, f"He et al. 2016 / Xie et al. 2017 ({TV}.{_name})", torchvision=_name, params=_params)(
        lambda b=_block, d=_depths, w=_widths, kw=_kw: resnet(b, d, w, **kw)
    )

with_cifar("preact_resnet18", "He et al. 2016, Identity Mappings in Deep Residual Networks (pre-activation)")(
    lambda: resnet("preact_basic", (2, 2, 2, 2), BASIC_WIDTHS, final_norm=True)
)


def cifar_resnet(depth: int) -> Genotype:
    """He et al.'s CIFAR ResNet (section 4.2): 3x3 conv 16, three stages of (depth - 2) / 6 basic blocks at
    widths 16, 32, 64, downsampling by stride 2, identity shortcuts zero-padded where the width doubles
    (option A: no parameters), global average pooling, FC 10."""
    n = (depth - 2) // 6
    stem = chain(16, [node("conv")])
    blocks = [node("res_basic", shortcut="zeropad")] * n
    stages = [chain(w, blocks, stride=1 if i == 0 else 2) for i, w in enumerate((16, 32, 64))]
    return Genotype(stem, tuple(stages), Head())


# the paper's Table 6 counts, in millions; they are rounded there, and checked to that rounding
CIFAR_RESNETS = {20: 0.27, 32: 0.46, 44: 0.66, 56: 0.85, 110: 1.7}
for _depth in CIFAR_RESNETS:
    register(
        f"resnet{_depth}",
        f"He et al. 2016, CIFAR-10 ResNet-{_depth} with option A shortcuts (paper: {CIFAR_RESNETS[_depth]}M)",
        num_classes=10,
        input_size=32,
    )(lambda d=_depth: cifar_resnet(d))

# ------------------------------------------------------------------ VGG (seeds' Table 2, configurations A-E)

VGG_CFGS: dict[str, list] = {
    "a": [[64], [128], [256, 256], [512, 512], [512, 512]],
    "b": [[64, 64], [128, 128], [256, 256], [512, 512], [512, 512]],
    "c": [[64, 64], [128, 128], [256, 256, "1x1"], [512, 512, "1x1"], [512, 512, "1x1"]],
    "d": [[64, 64], [128, 128], [256, 256, 256], [512, 512, 512], [512, 512, 512]],
    "e": [[64, 64], [128, 128], [256] * 4, [512] * 4, [512] * 4],
}


def vgg(cfg: str, norm: str = "none", lrn: bool = False) -> Genotype:
    """VGG: five blocks of 3x3 convs, each ended by 2x2 max pooling; two FC-4096 layers."""
    blocks = VGG_CFGS[cfg]
    stem = chain(64, [plain_conv(norm="lrn" if lrn else norm)])
    stages = []
    for i, block in enumerate(blocks):
        width = block[0]
        convs = [plain_conv(1 if c == "1x1" else 3, norm=norm) for c in (block[1:] if i == 0 else block)]
        nodes = ([] if i == 0 else [node("maxpool", kernel=2)]) + convs
        if nodes:
            stages.append(chain(width, nodes, stride=1 if i == 0 else 2))
    stages.append(chain(512, [node("maxpool", kernel=2)], stride=2))
    return Genotype(stem, tuple(stages), Head(7, (4096, 4096), 0.5))


_VGG_TV = {
    "a": ("vgg11", 132_863_336),
    "b": ("vgg13", 133_047_848),
    "d": ("vgg16", 138_357_544),
    "e": ("vgg19", 143_667_240),
}
_VGG_SRC = "Simonyan & Zisserman 2015, Table 1/2 (seeds 003)"
for _cfg in "abcde":
    _tv, _n = _VGG_TV.get(_cfg, (None, 133_638_952))
    with_cifar(f"vgg_{_cfg}", _VGG_SRC + (f"; {TV}.{_tv}" if _tv else "; paper: 134M"), torchvision=_tv, params=_n)(
        lambda c=_cfg: vgg(c)
    )
    if _tv:
        register(_tv, _VGG_SRC, torchvision=_tv, params=_n)(lambda c=_cfg: vgg(c))
        register(f"{_tv}_bn", _VGG_SRC + " with BatchNorm", torchvision=f"{_tv}_bn")(lambda c=_cfg: vgg(c, "bn"))
register("vgg_a_lrn", _VGG_SRC + " (A-LRN: LRN after the first conv)", params=132_863_336)(lambda: vgg("a", lrn=True))

# ------------------------------------------------------------------ AlexNet, LeNet, All-CNN


@with_cifar(
    "alexnet", f"Krizhevsky et al. 2012, single-GPU form of {TV}.alexnet", torchvision="alexnet", params=61_100_840
)
def alexnet() -> Genotype:
    """conv11/4 -> pool -> conv5 -> pool -> conv3 x3 -> pool -> FC-4096 x2."""
    pool = node("maxpool", kernel=3, padding=0)
    stem = chain(64, [plain_conv(11, padding=2)], stride=4)
    s1 = chain(192, [pool, plain_conv(5)], stride=2)
    s2 = chain(384, [pool, plain_conv(3), plain_conv(3, width=256), plain_conv(3, width=256)], stride=2)
    s3 = chain(256, [pool], stride=2)
    return Genotype(stem, (s1, s2, s3), Head(6, (4096, 4096), 0.5))


@register(
    "lenet5", "LeCun et al. 1998 (C3 fully connected)", params=61_706, in_channels=1, num_classes=10, input_size=32
)
def lenet5() -> Genotype:
    """conv5 (6) -> avgpool -> conv5 (16) -> avgpool -> FC 120 -> FC 84 -> FC, tanh throughout."""
    conv = plain_conv(5, padding=0, act="tanh")
    pool = node("avgpool", kernel=2, padding=0)
    stem = chain(6, [conv])
    return Genotype(stem, (chain(16, [pool, conv], 2), chain(16, [pool], 2)), Head(5, (120, 84), 0.0, "tanh"))


@register(
    "allcnn_c",
    "Springenberg et al. 2015, All-CNN-C (seeds 000: ~1.4M)",
    params=1_369_738,
    num_classes=10,
    input_size=32,
)
def allcnn_c() -> Genotype:
    """3x3 convs only; strided convs in place of pooling; global average pooling."""
    stem = chain(96, [plain_conv()])
    s1 = chain(96, [plain_conv()])
    s2 = chain(192, [plain_conv(width=96), plain_conv(), plain_conv()], stride=2)
    s3 = chain(192, [plain_conv(), plain_conv(padding=0), plain_conv(1)], stride=2)
    return Genotype(stem, (s1, s2, s3), Head())


# ------------------------------------------------------------------ GoogLeNet (seeds 003, Table 1)

GOOGLENET_INCEPTIONS = [
    [(64, 96, 128, 16, 32, 32), (128, 128, 192, 32, 96, 64)],
    [
        (192, 96, 208, 16, 48, 64),
        (160, 112, 224, 24, 64, 64),
        (128, 128, 256, 24, 64, 64),
        (112, 144, 288, 32, 64, 64),
        (256, 160, 320, 32, 128, 128),
    ],
    [(256, 160, 320, 32, 128, 128), (384, 192, 384, 48, 128, 128)],
]


def googlenet(k5: int) -> Genotype:
    """GoogLeNet without auxiliary heads: stem, 9 Inception modules, GAP, dropout 0.4/0.2, FC."""
    keys = ("b1", "b3r", "b3", "b5r", "b5", "pool_proj")
    pool = node("maxpool", kernel=3, padding=0, ceil=True)
    stem = imagenet_stem()
    s1 = chain(192, [pool, node("conv1x1", width=64), node("conv")], stride=2)
    stages = [s1]
    for i, group in enumerate(GOOGLENET_INCEPTIONS):
        first = node("maxpool", kernel=2, padding=0, ceil=True) if i == 2 else pool
        incs = [node("inception", k5=k5, **dict(zip(keys, widths, strict=True))) for widths in group]
        width = sum(group[-1][j] for j in (0, 2, 4, 5))
        stages.append(chain(width, [first, *incs], stride=2))
    return Genotype(stem, tuple(stages), Head(1, (), 0.2))


with_cifar(
    "googlenet", f"Szegedy et al. 2015, as {TV}.googlenet(aux_logits=False)", torchvision="googlenet", params=6_624_904
)(lambda: googlenet(3))
register("googlenet_paper", "Szegedy et al. 2015, Table 1 (5x5 branches; no auxiliary heads)")(lambda: googlenet(5))

# ------------------------------------------------------------------ DenseNet


def densenet(blocks: tuple[int, ...], growth: int = 32, init: int = 64) -> Genotype:
    """DenseNet-BC: stem, dense blocks joined by transitions (theta = 0.5), final BN-ReLU."""
    stages = []
    for i, layers in enumerate(blocks):
        dense = node("dense_block", layers=layers, growth=growth)
        nodes = [node("maxpool") if i == 0 else node("transition"), dense]
        if i == len(blocks) - 1:
            nodes.append(node("norm"))
        stages.append(chain(init, nodes, stride=2))
    return Genotype(imagenet_stem(init), tuple(stages), Head())


for _name, _blocks, _params in [
    ("densenet121", (6, 12, 24, 16), 7_978_856),
    ("densenet169", (6, 12, 32, 32), 14_149_480),
    ("densenet201", (6, 12, 48, 32), 20_013_928),
]:
    with_cifar(_name, f"Huang et al. 2017 ({TV}.{_name})", torchvision=_name, params=_params)(
        lambda b=_blocks: densenet(b)
    )

# ------------------------------------------------------------------ Highway CNN


@register(
    "highway_cnn", "Srivastava et al. 2015, convolutional highway network for CIFAR", num_classes=10, input_size=32
)
def highway_cnn() -> Genotype:
    """3x3 stem, then three stages of a width-setting conv followed by three highway blocks."""
    stem = chain(32, [node("conv")])
    stages = [chain(32, [node("highway")] * 3)]
    for width in (64, 128):
        stages.append(chain(width, [node("maxpool"), node("conv"), *[node("highway")] * 3], stride=2))
    return Genotype(stem, tuple(stages), Head())


# ------------------------------------------------------------------ DiracNet


def diracnet(groups: tuple[int, ...], widths: tuple[int, ...], imagenet: bool) -> Genotype:
    """DiracNet (Zagoruyko & Komodakis 2017, the authors' v2 code): a plain chain of Dirac layers, ReLU ->
    Dirac-parameterised 3x3 conv -> BN, in groups joined by 2x2 max pooling; no skip connections. ImageNet:
    7x7/2 conv stem and 3x3/2 max pooling; CIFAR: 3x3 conv stem. A final ReLU, global average pooling, FC."""
    layer = node("dirac")
    stem = imagenet_stem(widths[0]) if imagenet else chain(widths[0], [node("conv")])
    stages = []
    for i, (count, width) in enumerate(zip(groups, widths, strict=True)):
        pool = node("maxpool", kernel=3) if imagenet and i == 0 else node("maxpool", kernel=2, padding=0)
        first = [pool] if imagenet or i > 0 else []
        last = [node("norm", norm="none")] if i == len(groups) - 1 else []  # the ReLU before pooling
        stages.append(chain(width, [*first, *[layer] * count, *last], stride=2 if first else 1))
    return Genotype(stem, tuple(stages), Head())


register(
    "diracnet18",
    "Zagoruyko & Komodakis 2017, DiracNet-18 for ImageNet: ResNet-18's convolutions without its shortcuts",
)(lambda: diracnet((4, 4, 4, 4), BASIC_WIDTHS, imagenet=True))
register(
    "diracnet34",
    "Zagoruyko & Komodakis 2017, DiracNet-34 for ImageNet: ResNet-34's convolutions without its shortcuts",
)(lambda: diracnet((6, 8, 12, 6), BASIC_WIDTHS, imagenet=True))
register(
    "diracnet28_10",
    "Zagoruyko & Komodakis 2017, DiracNet-28-10 for CIFAR: 3 groups of 8 Dirac layers, widths 160/320/640",
    num_classes=10,
    input_size=32,
)(lambda: diracnet((8, 8, 8), (160, 320, 640), imagenet=False))

# ------------------------------------------------------------------ RandWire


def randwire(c: int = 78, n: int = 32, k: int = 4, p: float = 0.75, seeds: tuple[int, ...] = (1, 2, 3)) -> Genotype:
    """RandWire-WS, small regime (Xie et al. 2019, Table 1): conv1, conv2, three random stages, 1x1 conv 1280."""
    stem = chain(c // 2, [node("conv")], stride=2)
    conv2 = chain(c, [node("conv")], stride=2)
    rw_node = node("sepconv", order="act_first")
    stages = [conv2]
    for width, seed in zip((c, 2 * c, 4 * c), seeds, strict=True):
        stages.append(make_stage("ws", [rw_node] * n, width, 2, k=k, p=p, seed=seed))
    stages.append(chain(1280, [node("conv1x1")]))
    return Genotype(stem, tuple(stages), Head())


with_cifar("randwire_ws_small", "Xie et al. 2019, RandWire-WS(4, 0.75) small regime, C=78, N=32 (paper: 5.6M)")(
    randwire
)
