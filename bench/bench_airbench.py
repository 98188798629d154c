"""airbench94's network, trained by airbench itself and by nasgraph's trainer, on one GPU.

    python bench/bench_airbench.py --out DIR     # needs CUDA and the `airbench` package (pip install airbench)
    python bench/bench_airbench.py --genotype    # print our genotype of the network (any machine)

airbench (Keller Jordan, github.com/KellerJordan/cifar10-airbench) reaches 94% on CIFAR-10 in
3.09 s on an A100 (about 37% MFU, by its authors' count). CIFAR-10 cannot be downloaded on the
machines this project is measured on, so both trainers run on CIFAR-shaped synthetic data of
CIFAR-10's size (50,000 training images): the comparison is speed, not accuracy. airbench trains
for its 9.9 epochs at batch 1024 in fp16, channels_last, with its own GPU data pipeline; ours
trains `airbench_genotype()` -- the same convolutions, widths, pooling, BatchNorm and GELU in our
genotype (a conv stem stands in for the frozen 2x2 whitening layer, a global average pool for the
3x3 max-pool before the classifier) -- for the same epochs and batch size, in bf16 autocast and
channels_last. Both are timed around the training loop alone, after a warm-up run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, machine

import searchspace as ss
from searchspace import wirings
from searchspace.genotype import Genotype, Head, Stage

WIDTHS = (64, 256, 256)
TRAIN_IMAGES, TEST_IMAGES, EPOCHS, BATCH = 50_000, 10_000, 9.9, 1024


def airbench_genotype() -> Genotype:
    """airbench94's ConvGroups (conv -> maxpool 2 -> BN -> GELU -> conv -> BN -> GELU) as stages of our genotype."""
    stem = Stage(24, (ss.node("conv", kernel=3, norm="none", act="gelu", bias=True),))
    stages = []
    for width in WIDTHS:
        stages.append(wirings.make_stage("chain", [ss.node("conv", norm="none", act="none")], width, 1))
        pool_norm_conv = [
            ss.node("maxpool", kernel=2, padding=0),
            ss.node("norm", act="gelu"),
            ss.node("conv", act="gelu"),
        ]
        stages.append(wirings.make_stage("chain", pool_norm_conv, width, 2))
    return Genotype(stem, tuple(stages), Head())


def synthetic_cifar(folder: Path) -> None:
    """train.pt / test.pt in airbench's cache format (uint8 NHWC images, labels, class names)."""
    import torch

    g = torch.Generator().manual_seed(0)
    for name, n in (("train.pt", TRAIN_IMAGES), ("test.pt", TEST_IMAGES)):
        images = torch.randint(0, 256, (n, 32, 32, 3), dtype=torch.uint8, generator=g)
        labels = torch.randint(0, 10, (n,), generator=g)
        torch.save({"images": images, "labels": labels, "classes": [str(i) for i in range(10)]}, folder / name)


def forward_flops(model, x) -> int:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x)
    return counter.get_total_flops() // len(x)


def time_airbench(folder: Path) -> dict:
    import airbench
    import torch

    cwd = os.getcwd()
    os.chdir(folder)  # airbench reads ./cifar10/{train,test}.pt
    try:
        loader = airbench.CifarLoader(
            "cifar10", train=True, batch_size=BATCH, aug={"flip": True, "translate": 2}, altflip=True
        )
        airbench.train94(loader, verbose=False)  # warm-up: cudnn autotuning, allocations
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        model = airbench.train94(loader, verbose=False)
        torch.cuda.synchronize()
        seconds = time.perf_counter() - t0
    finally:
        os.chdir(cwd)
    flops = forward_flops(
        model, torch.zeros(64, 3, 32, 32, device="cuda", dtype=torch.half).to(memory_format=torch.channels_last)
    )
    images = TRAIN_IMAGES // BATCH * BATCH * EPOCHS
    return {"seconds": seconds, "images_per_second": images / seconds, "flops_forward": flops}


def time_ours() -> dict:
    import torch

    from nas.data import load_dataset
    from nas.trial.train import TrainConfig, train_trial

    data = load_dataset(f"synthetic:3x32x32:10:{TRAIN_IMAGES + TRAIN_IMAGES // 9}", val_fraction=0.1)
    g = airbench_genotype()
    cfg = TrainConfig(epochs=10, batch_size=BATCH, device="cuda", keep_weights=False)
    train_trial(g, data, TrainConfig(epochs=1, batch_size=BATCH, device="cuda", keep_weights=False))  # warm-up
    result = train_trial(g, data, cfg, seed=0)
    if result.status != "ok":
        raise RuntimeError(f"our trainer: {result.status}: {result.metrics.get('error')}")
    m = result.metrics
    params, flops = ss.complexity(g, 3, 10, (32, 32))
    # train_seconds covers the epoch loops (10 epochs); scale to airbench's 9.9 for the same work
    return {
        "seconds_for_9.9_epochs": m["train_seconds"] * EPOCHS / 10,
        "images_per_second": m["images_per_second"],
        "train_images": len(data.train_x),
        "wall_seconds": m["wall_seconds"],
        "flops_forward": flops,
        "params": params,
        "torch": torch.__version__,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(ROOT / "bench" / "results"))
    ap.add_argument("--genotype", action="store_true", help="print our genotype of airbench94's network and exit")
    ap.add_argument("--peak-tflops", type=float, default=989.0, help="dense bf16/fp16 peak for MFU (H100/H200: 989)")
    args = ap.parse_args()
    if args.genotype:
        g = airbench_genotype()
        print(g.to_json())
        print("params, FLOPs/image:", ss.complexity(g, 3, 10, (32, 32)))
        return 0
    result: dict = {"machine": machine()}
    with tempfile.TemporaryDirectory(prefix="nasgraph-airbench-") as tmp:
        (Path(tmp) / "cifar10").mkdir()
        synthetic_cifar(Path(tmp) / "cifar10")
        for name, fn in (("airbench94", lambda: time_airbench(Path(tmp))), ("ours", time_ours)):
            try:
                result[name] = fn()
            except Exception as e:  # noqa: BLE001 -- report what failed, keep the other side's numbers
                result[name] = {"error": f"{type(e).__name__}: {e}"}
            r = result[name]
            if "images_per_second" in r:
                r["mfu_percent"] = 100 * 3 * r["flops_forward"] * r["images_per_second"] / (args.peak_tflops * 1e12)
            print(name, json.dumps(r), flush=True)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "bench_airbench.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
