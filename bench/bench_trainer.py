"""Trial training throughput: nas.trial.train.train_trial against the plain PyTorch loop most users write.

    python bench/bench_trainer.py            # full: digits and CIFAR-shaped synthetic data, 6 networks
    python bench/bench_trainer.py --quick    # smoke test, under a minute
    python bench/bench_trainer.py --device cuda --set gpu --workers 0,8 --peak-tflops 989   # on a GPU (adds MFU)

The baseline is what a torchvision tutorial writes: a `Dataset` that turns each uint8
image into a PIL image and runs `RandomCrop(size, padding)`, `RandomHorizontalFlip` (where
the dataset allows flips), `ToTensor` and `Normalize` per sample; a shuffling `DataLoader`;
fp32; the same network (`searchspace.build`), SGD with Nesterov momentum and a one-cycle
schedule, label smoothing 0.1, the same batch size, epochs, threads and images per epoch
(drop_last, as ours). A third column is the compute-only ceiling: the same model and
optimizer stepping on one pre-made, pre-normalised batch, no data pipeline at all; no
trainer can beat it, so ours/ceiling says how much is left to gain.

Throughput is training images per second of the epoch loops (evaluation excluded on both
sides); GFLOP/s = 3 x forward FLOPs per image (forward + backward) x images/s.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from _common import machine, quiet_machine_note, table, write_results
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset

import searchspace as ss
from nas.config import SearchConfig, make_space
from nas.data import DataSplits, load_dataset
from nas.driver.coordinator import DataInfo
from nas.trial.train import TrainConfig, auto_batch_size, resolve_device, train_trial


@dataclass(frozen=True)
class Workload:
    """One row of the benchmark: a dataset and a network."""

    dataset: str
    net: str  # "sampled:<seed>" (from the search space for this dataset), "small" or a zoo name
    limit: int | None = None  # training images kept (train + val), for the larger networks
    repeats: int | None = None  # override the repeat count (long, low-noise runs need one)


QUICK = [Workload("digits", "small"), Workload("synthetic:3x32x32:10:1000", "small")]
FULL = [
    Workload("digits", "small"),
    Workload("digits", "sampled:1"),
    Workload("digits", "sampled:0"),
    Workload("synthetic:3x32x32:10:5000", "small"),
    Workload("synthetic:3x32x32:10:2000", "sampled:1"),
    Workload("synthetic:3x32x32:10:500", "allcnn_c", repeats=1),
    Workload("synthetic:3x32x32:10:400", "resnet18_cifar", repeats=1),
]
GPU = [  # CIFAR-sized work for a GPU: a small sampled network, All-CNN-C and ResNet-18 (CIFAR)
    Workload("synthetic:3x32x32:10:20000", "small"),
    Workload("synthetic:3x32x32:10:20000", "sampled:1"),
    Workload("synthetic:3x32x32:10:20000", "allcnn_c"),
    Workload("synthetic:3x32x32:10:20000", "resnet18_cifar"),
]
SETS = {"quick": QUICK, "full": FULL, "gpu": GPU}


def small_net(width: int = 16) -> ss.Genotype:
    """A small residual CNN (the one the trainer's tests use): conv stem, one strided stage of two nodes."""
    from searchspace import wirings
    from searchspace.genotype import Genotype, Head, Stage

    stem = Stage(width, (ss.node("conv"),))
    s1 = wirings.make_stage("residual", [ss.node("conv"), ss.node("sepconv")], 2 * width, 2)
    return Genotype(stem, (s1,), Head())


def genotype_for(net: str, data: DataSplits) -> ss.Genotype:
    """The genotype a workload names."""
    if net == "small":
        return small_net()
    if net.startswith("sampled:"):
        space = make_space(SearchConfig(dataset=data.name), DataInfo.of(data))
        return space.sample(random.Random(int(net.split(":")[1])))
    return ss.zoo.get(net)


# ------------------------------------------------------------------ the plain loop


class PlainImages(Dataset):
    """torchvision-style dataset: HWC uint8 arrays, a PIL image per sample, per-sample transforms."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, transform):
        self.images = x.permute(0, 2, 3, 1).numpy()  # NHWC, as torchvision's CIFAR10 keeps it
        self.labels = y.tolist()
        self.transform = transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        img = self.images[i]
        img = Image.fromarray(img[:, :, 0] if img.shape[2] == 1 else img)
        return self.transform(img), self.labels[i]


def plain_transforms(data: DataSplits, train: bool):
    """RandomCrop(size, padding) + RandomHorizontalFlip (if allowed) + ToTensor + Normalize."""
    from torchvision import transforms as T

    steps = []
    if train and data.crop_padding:
        steps.append(T.RandomCrop(data.input_size, padding=data.crop_padding))
    if train and data.flip:
        steps.append(T.RandomHorizontalFlip())
    steps += [T.ToTensor(), T.Normalize(data.mean, data.std)]
    return T.Compose(steps)


def plain_loop(g: ss.Genotype, data: DataSplits, cfg: TrainConfig, workers: int, device: torch.device) -> dict:
    """Train like a tutorial does; returns images/s of the epoch loops and the time waiting for data."""
    torch.manual_seed(0)
    torch.set_num_threads(cfg.threads)
    model = ss.build(g, data.in_channels, data.num_classes).to(device)
    bs = cfg.batch_size or auto_batch_size(len(data.train_x))
    loader = DataLoader(
        PlainImages(data.train_x, data.train_y, plain_transforms(data, train=True)),
        batch_size=bs,
        shuffle=True,
        drop_last=True,
        num_workers=workers,
        pin_memory=device.type == "cuda",
        persistent_workers=workers > 0,
    )
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=0.9, nesterov=True, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.epochs * len(loader))
    loss_fn = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    train_time = data_time = 0.0
    images = 0
    for _ in range(cfg.epochs):
        model.train()
        t0 = time.perf_counter()
        running = 0.0
        t_data = time.perf_counter()
        for x, y in loader:
            data_time += time.perf_counter() - t_data
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            loss = loss_fn(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            running += loss.item()  # what tutorials log every step
            images += len(x)
            t_data = time.perf_counter()
        train_time += time.perf_counter() - t0
        plain_evaluate(model, data, bs, device)
    return {"images_per_second": images / train_time, "train_seconds": train_time, "data_seconds": data_time}


@torch.no_grad()
def plain_evaluate(model: nn.Module, data: DataSplits, bs: int, device: torch.device) -> float:
    """Validation accuracy through the same per-sample pipeline (untimed, as ours)."""
    model.eval()
    loader = DataLoader(PlainImages(data.val_x, data.val_y, plain_transforms(data, train=False)), batch_size=bs)
    correct = sum((model(x.to(device)).argmax(1).cpu() == y).sum().item() for x, y in loader)
    return correct / max(1, len(data.val_y))


def compute_ceiling(
    g: ss.Genotype, data: DataSplits, cfg: TrainConfig, steps: int, device: torch.device, fast: bool = False
) -> float:
    """Images/s of forward + backward + SGD step on one fixed, pre-normalised batch: no data pipeline.

    fast: bf16 autocast and channels_last, as our trainer does on CUDA (on CPU it trains fp32, NCHW).
    """
    torch.manual_seed(0)
    torch.set_num_threads(cfg.threads)
    fmt = torch.channels_last if fast else torch.contiguous_format
    model = ss.trace(ss.build(g, data.in_channels, data.num_classes).to(device, memory_format=fmt))
    bs = cfg.batch_size or auto_batch_size(len(data.train_x))
    x = torch.randn(bs, data.in_channels, *data.input_size, device=device).contiguous(memory_format=fmt)
    y = torch.randint(0, data.num_classes, (bs,), device=device)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    model.train()

    def step() -> None:
        with torch.autocast(device.type, torch.bfloat16, enabled=fast):
            loss = loss_fn(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    step()  # warm-up: first-call allocations
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    _sync(device)
    return steps * bs / (time.perf_counter() - t0)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# ------------------------------------------------------------------ one workload


def measure(w: Workload, epochs: int, threads: int, workers: list[int], repeats: int, device: torch.device) -> dict:
    """Ours, the plain loop (for each worker count) and the ceiling on one workload; medians over repeats."""
    data = load_dataset(w.dataset, limit=w.limit)
    g = genotype_for(w.net, data)
    params, flops = ss.complexity(g, data.in_channels, data.num_classes, data.input_size)
    cfg = TrainConfig(epochs=epochs, threads=threads, device=str(device), keep_weights=False)
    ours, plain = [], {n: [] for n in workers}
    for _ in range(w.repeats or repeats):  # interleaved, so a noisy neighbour hits both sides alike
        result = train_trial(g, data, cfg, seed=0)
        if result.status != "ok":
            raise RuntimeError(f"{w}: our trainer ended with {result.status}: {result.metrics.get('error')}")
        ours.append(result.metrics["images_per_second"])
        for n in workers:
            plain[n].append(plain_loop(g, data, cfg, n, device))
    steps = max(3, min(30, epochs * (len(data.train_x) // (cfg.batch_size or auto_batch_size(len(data.train_x))))))
    ceiling = compute_ceiling(g, data, cfg, steps, device)
    ceiling_fast = compute_ceiling(g, data, cfg, steps, device, fast=True)
    return {
        "dataset": data.name,
        "net": w.net,
        "train_images": len(data.train_x),
        "batch_size": auto_batch_size(len(data.train_x)),
        "params": params,
        "flops_forward": flops,
        "ours_images_per_second": statistics.median(ours),
        "ours_runs": ours,
        "plain": {
            str(n): {
                "images_per_second": statistics.median(r["images_per_second"] for r in runs),
                "data_share": statistics.median(r["data_seconds"] / r["train_seconds"] for r in runs),
                "runs": runs,
            }
            for n, runs in plain.items()
        },
        "ceiling_images_per_second": ceiling,
        "ceiling_bf16_cl_images_per_second": ceiling_fast,
    }


def profile(w: Workload, epochs: int, threads: int, device: torch.device) -> str:
    """torch.profiler tables (top ops by self CPU time) of ours and of the plain loop on one workload."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    data = load_dataset(w.dataset, limit=w.limit)
    g = genotype_for(w.net, data)
    cfg = TrainConfig(epochs=epochs, threads=threads, device=str(device), keep_weights=False)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    out = []
    for label, fn in (
        ("ours (train_trial, whole trial)", lambda: train_trial(g, data, cfg, seed=0)),
        ("plain loop (workers=0)", lambda: plain_loop(g, data, cfg, 0, device)),
    ):
        fn()  # warm-up
        with torch_profile(activities=activities) as prof:
            fn()
        table_text = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15, max_name_column_width=48)
        out.append(f"== {label}: {w.dataset} {w.net}, {epochs} epochs, {threads} threads\n{table_text}")
    return "\n\n".join(out)


def gflops(flops_forward: int, images_per_second: float) -> float:
    """Achieved GFLOP/s counting forward + backward as 3x the forward FLOPs."""
    return 3 * flops_forward * images_per_second / 1e9


def report(rows: list[dict], peak_tflops: float | None) -> str:
    """The table: ours vs plain (workers=0 and others), GFLOP/s, ceiling."""
    headers = ["dataset", "net", "params", "MFLOP/img", "ours img/s", "ours GFLOP/s"]
    worker_keys = list(rows[0]["plain"]) if rows else []
    for n in worker_keys:
        headers += [f"plain w{n} img/s", f"ratio vs w{n}", f"plain w{n} data %"]
    headers += ["ceiling img/s", "ours/ceiling", "bf16+CL ceiling img/s"]
    if peak_tflops:
        headers.append("ours MFU %")
    body = []
    for r in rows:
        ours = r["ours_images_per_second"]
        line = [r["dataset"].split(":")[0] + _size(r), r["net"], f"{r['params']:,}", r["flops_forward"] / 1e6, ours]
        line.append(gflops(r["flops_forward"], ours))
        for n in worker_keys:
            p = r["plain"][n]
            line += [p["images_per_second"], f"{ours / p['images_per_second']:.2f}x", 100 * p["data_share"]]
        line += [r["ceiling_images_per_second"], f"{ours / r['ceiling_images_per_second']:.2f}"]
        line.append(r["ceiling_bf16_cl_images_per_second"])
        if peak_tflops:
            line.append(100 * gflops(r["flops_forward"], ours) / (peak_tflops * 1e3))
        body.append(line)
    return table(headers, body)


def _size(r: dict) -> str:
    return f" ({r['train_images']} train)" if r["dataset"].startswith("synthetic") else ""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="two small workloads, one epoch (< 1 minute)")
    ap.add_argument("--set", choices=sorted(SETS), default=None, help="workloads (default: full, or quick)")
    ap.add_argument("--no-profile", action="store_true", help="skip the torch.profiler tables")
    ap.add_argument("--out", default=None, help="also write the JSON results here")
    ap.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    ap.add_argument("--epochs", type=int, default=0, help="epochs per run (default: 1 quick, 3 full)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads for both trainers (default 1, as a trial)")
    ap.add_argument("--workers", default="0,2", help="DataLoader num_workers values for the plain loop")
    ap.add_argument("--repeats", type=int, default=0, help="interleaved repeats per workload (default 1 quick, 2 full)")
    ap.add_argument("--peak-tflops", type=float, default=None, help="device peak (dense bf16/fp32) to report MFU")
    args = ap.parse_args()
    device = resolve_device(args.device)
    threads = args.threads
    epochs = args.epochs or (1 if args.quick else 3)
    repeats = args.repeats or (1 if args.quick else 2)
    workers = [0] if args.quick else [int(n) for n in args.workers.split(",")]
    note = quiet_machine_note()
    if note:
        print(note)
    rows = []
    workloads = SETS[args.set or ("quick" if args.quick else "full")]
    for w in workloads:
        t0 = time.perf_counter()
        rows.append(measure(w, epochs, threads, workers, repeats, device))
        print(f"  measured {w.dataset} {w.net} in {time.perf_counter() - t0:.0f}s", flush=True)
        if args.out:  # what is measured survives a run cut short
            Path(args.out).write_text(json.dumps({"partial": True, "rows": rows}, indent=2, default=str) + "\n")
    text = report(rows, args.peak_tflops)
    prof_text = "" if args.quick or args.no_profile else profile(workloads[0], epochs, threads, device)
    print(f"\ntrainer throughput, {device}, {threads} threads, {epochs} epochs, median of {repeats}\n{text}")
    small = [r for r in rows if r["net"] == "small"]
    ratios = [r["ours_images_per_second"] / r["plain"]["0"]["images_per_second"] for r in small if "0" in r["plain"]]
    if ratios:
        print(f"\nsmall networks, ours vs plain (workers=0): {min(ratios):.2f}x .. {max(ratios):.2f}x (target >= 3x)")
    payload = {
        "machine": machine(),
        "device": str(device),
        "threads": threads,
        "epochs": epochs,
        "repeats": repeats,
        "workers": workers,
        "rows": rows,
        "table": text,
        "peak_tflops": args.peak_tflops,
    }
    path = write_results(
        "bench_trainer" + ("_quick" if args.quick else "") + ("" if device.type == "cpu" else f"_{device.type}"),
        payload,
    )
    if args.out:
        Path(args.out).write_text(json.dumps(payload, indent=2, default=str) + "\n")
    if prof_text:
        prof_path = path.with_name(path.stem + "_profile.txt")
        prof_path.write_text(prof_text + "\n")
        print(f"profile: {prof_path}")
    print(f"results: {path}")


if __name__ == "__main__":
    main()
