"""A search from Python with your own data, your own op and your own training function.

    python examples/from_python.py [--engine local|ray] [--trials 6] [--out DIR]

Notebook-shaped: each block below is a cell. It searches scikit-learn's digits given as plain float
arrays, with a MixConv op defined here, trained by a function here that optimizes macro-F1, then
exports the best network and loads the export in a fresh interpreter.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from sklearn.metrics import f1_score
from torch import nn

import nas
from searchspace.registry import Int


# -- cell 1: an op of your own. Built as Op(in_ch, out_ch, stride, **params); declare its parameters.
@nas.register_op("mixconv", category="conv", params={"kernel": Int(5, 3, 7, odd=True, search=(5, 7))})
class MixConv(nn.Module):
    """Half the output channels from a 3x3 kernel, half from a larger one (MixConv, Tan & Le 2019)."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1, kernel: int = 5):
        super().__init__()
        small = out_ch // 2
        self.small = nn.Conv2d(in_ch, small, 3, stride, 1, bias=False)
        self.large = nn.Conv2d(in_ch, out_ch - small, kernel, stride, kernel // 2, bias=False)
        self.norm = nn.BatchNorm2d(out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.norm(torch.cat([self.small(x), self.large(x)], 1)))


# -- cell 2: your training function: (model, data, config, report) -> {metric: number}
def train_fn(model, data, config, report):
    torch.manual_seed(config.seed)
    x, y = (data.train_x - data.mean[0]) / data.std[0], data.train_y
    vx, vy = (data.val_x - data.mean[0]) / data.std[0], data.val_y
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for epoch in range(1, config.epochs + 1):
        model.train()
        for idx in torch.randperm(len(x)).split(64):
            loss = F.cross_entropy(model(x[idx].to(config.device)), y[idx].to(config.device))
            opt.zero_grad()
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            pred = model(vx.to(config.device)).argmax(1).cpu()
        metrics = {"epochs": epoch, "val_acc": (pred == vy).float().mean().item()}
        metrics["val_macro_f1"] = f1_score(vy, pred, average="macro")
        report(metrics)  # per-epoch progress (ASHA can stop on it; the time limit is checked here)
    return metrics


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--engine", default="local", choices=["local", "ray"])
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--out", default="results")
    args = parser.parse_args()

    # -- cell 3: your data: plain arrays (images (N, H, W) or (N, C, H, W), integer labels)
    digits_x, digits_y = load_digits(return_X_y=True)
    x = digits_x.reshape(-1, 8, 8).astype(np.float32)
    data = nas.dataset((x[:1500], digits_y[:1500]), test=(x[1500:], digits_y[1500:]))

    # -- cell 4: search; the objectives name your metric. Ctrl-C stops it; Search.resume continues it.
    search = nas.Search(
        {"trials": args.trials, "engine": args.engine, "concurrency": 2, "train": {"epochs": 3}},
        objectives=["val_macro_f1:max", "params"],
        space={"ops": ["conv", "mixconv", "sepconv", "maxpool"], "wirings": ["chain", "residual"]},
        data=data,
        train_fn=train_fn,
        results_dir=args.out,
        name=f"from-python-{args.engine}",
    )
    df = search.run()
    print(df[["trial_id", "status", "val_macro_f1", "val_acc", "params"]].to_string(index=False))

    # -- cell 5: the best network as a standalone module, loaded where nasgraph is not imported
    exported = search.export(Path(args.out) / f"exported-{args.engine}", overwrite=True)
    check = (
        "import torch, model; from safetensors.torch import load_file; net = model.Net().eval(); "
        "net.load_state_dict(load_file('weights.safetensors')); "
        "print(tuple(net(torch.randn(256, 1, 8, 8)).shape))"
    )
    out = subprocess.run([sys.executable, "-c", check], cwd=exported, capture_output=True, text=True, check=True)
    print(f"exported to {exported}; the export, loaded alone, gives outputs of shape {out.stdout.strip()}")


if __name__ == "__main__":
    main()
