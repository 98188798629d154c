"""bf16 autocast + channels_last on this CPU: same architectures, fp32 vs bf16 -- accuracy and speed.

    python bench/bench_bf16.py                 # 12 sampled digits networks x 3 seeds x 2 precisions
    python bench/bench_bf16.py --nets 3 --seeds 1 --epochs 2     # smoke test

Each sampled network of the default digits search space (`make_space(...).sample(random.Random(i))`)
trains with `nas.trial.train.train_trial` (6 epochs, the search's defaults, one thread) once in fp32 (NCHW)
and once in bf16 autocast with channels_last, per seed. Reported per network: forward MFLOPs per
image, training images/s in each precision and their ratio, and validation accuracy in each (mean
over seeds); over all runs, the paired difference of validation accuracy (bf16 - fp32) with a 95 %
bootstrap interval and a Wilcoxon signed-rank test. The speed ratio against MFLOPs is what
`TrainConfig.cpu_bf16_mflops` (the size from which a CPU trial uses bf16) is set from.
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import sys
import time
from typing import Any

import numpy as np
import torch
from _common import machine, quiet_machine_note, table, write_results
from scipy.stats import wilcoxon

import searchspace as ss
from nas.config import SearchConfig, make_space
from nas.data import load_dataset
from nas.driver.coordinator import DataInfo
from nas.trial.train import TrainConfig, cpu_has_bf16, train_trial


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nets", type=int, default=12)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=6)
    args = ap.parse_args()
    note = quiet_machine_note()
    if note:
        print(note, file=sys.stderr)
    if not cpu_has_bf16():
        raise SystemExit("this CPU has no native bf16 (AVX512-BF16 or AMX): nothing to compare")
    torch.set_num_threads(1)
    data = load_dataset("digits", val_fraction=0.3)
    info = DataInfo.of(data)
    space = make_space(SearchConfig(), info)
    base = TrainConfig(epochs=args.epochs, device="cpu", threads=1, keep_weights=False)
    arms = {
        "fp32": dataclasses.replace(base, bf16=False),
        "bf16": dataclasses.replace(base, bf16=True, cpu_bf16_mflops=0.0),
    }
    rows, runs = [], []
    t0 = time.perf_counter()
    for i in range(args.nets):
        g = space.sample(random.Random(i))
        _, flops = ss.complexity(g, info.in_channels, info.num_classes, info.input_size)
        per: dict[str, Any] = {"net": f"sampled:{i}", "mflops": flops / 1e6, "fp32": [], "bf16": []}
        for seed in range(args.seeds):
            for arm in ("fp32", "bf16") if seed % 2 == 0 else ("bf16", "fp32"):  # interleaved: drift hits both
                r = train_trial(g, data, arms[arm], seed=seed)
                per[arm].append(
                    {"status": r.status, "val_acc": r.metrics.get("val_acc"), "ips": r.metrics.get("images_per_second")}
                )
        runs.append(per)
        ips = {a: float(np.median([x["ips"] or np.nan for x in per[a]])) for a in ("fp32", "bf16")}
        acc = {a: float(np.mean([x["val_acc"] or 0.0 for x in per[a]])) for a in ("fp32", "bf16")}
        rows.append(
            [
                per["net"],
                f"{per['mflops']:.2f}",
                f"{ips['fp32']:.0f}",
                f"{ips['bf16']:.0f}",
                f"{ips['bf16'] / ips['fp32']:.2f}x",
                f"{acc['fp32']:.4f}",
                f"{acc['bf16']:.4f}",
            ]
        )
        print(" | ".join(rows[-1]), flush=True)
    fp32 = np.array([x["val_acc"] or 0.0 for r in runs for x in r["fp32"]])
    bf16 = np.array([x["val_acc"] or 0.0 for r in runs for x in r["bf16"]])
    diff = bf16 - fp32
    rng = np.random.default_rng(0)
    boots = [rng.choice(diff, len(diff)).mean() for _ in range(2000)]
    low, high = np.percentile(boots, [2.5, 97.5])
    p = float(wilcoxon(bf16, fp32).pvalue) if np.any(diff != 0) else 1.0
    rows.sort(key=lambda r: float(r[1]))
    print()
    print(table(["net", "MFLOP/img", "fp32 img/s", "bf16+CL img/s", "speed-up", "fp32 val_acc", "bf16 val_acc"], rows))
    print(
        f"\nval_acc bf16 - fp32 over {len(diff)} paired runs: mean {diff.mean():+.4f} "
        f"[95% CI {low:+.4f}, {high:+.4f}], Wilcoxon p = {p:.3f}; {time.perf_counter() - t0:.0f} s"
    )
    write_results(
        "bf16",
        {
            "machine": machine(),
            "args": vars(args),
            "runs": runs,
            "diff_mean": float(diff.mean()),
            "diff_ci95": [float(low), float(high)],
            "wilcoxon_p": p,
        },
    )


if __name__ == "__main__":
    main()
