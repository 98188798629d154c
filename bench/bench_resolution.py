"""FLOPs per image of the default search space at 32, 64, 128 and 224 px: the stride-1 stem of before vs the stem
that follows the input size (`searchspace.space.stem_for`).

    python bench/bench_resolution.py                 # 200 sampled networks per size and stem (~2 min on 2 cores)
    python bench/bench_resolution.py --nets 20       # smoke test

For each input size the default space comes from `nas.config.make_space` as a search builds it (3 channels, 10
classes), twice: ``before`` with ``stem_stride: 1`` set in the config's space (the stem every size had: a 3x3 conv
at stride 1, so stage 1 runs at the full input resolution) and ``after`` with nothing set (the stem `stem_for`
picks). The same seeds 0..N-1 sample both (the stem has no decisions, so the stages are the same networks).
FLOPs are counted by `searchspace.complexity` (torch's FlopCounterMode on the meta device, a multiply-add = 2
FLOPs, stem included). Reported per size and stem: median, 90th percentile and maximum FLOPs per image, the
resolution stage 1 sees, and the median relative to the 32 px one; ResNet-50 at 224 px counted the same way for
scale. Results: bench/results/resolution.json.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from typing import Any

from _common import machine, table, write_results

import searchspace as ss
from nas.config import SearchConfig, make_space
from nas.record.folder import DataInfo

SIZES = (32, 64, 128, 224)
STEMS = {"before": {"stem_stride": 1}, "after": {}}  # the config's space options of each arm


def measure(size: int, options: dict[str, Any], nets: int) -> dict[str, Any]:
    """FLOPs per image of `nets` networks sampled (seeds 0..nets-1) from the default space at `size` px."""
    space = make_space(SearchConfig(space=options), DataInfo(3, 10, (size, size), "bench"))
    flops, params = [], []
    for seed in range(nets):
        g = space.sample(random.Random(seed))
        p, f = ss.complexity(g, 3, 10, size)
        flops.append(f)
        params.append(p)
    stage1 = ss.infer(space.sample(random.Random(0)), 3, 10, size).stages[0].size
    return {
        "stem": f"{space.stem_kernel}x{space.stem_kernel}/{space.stem_stride}",
        "stage1_px": list(stage1),
        "flops_median": statistics.median(flops),
        "flops_p90": statistics.quantiles(flops, n=10, method="inclusive")[-1],
        "flops_max": max(flops),
        "params_median": statistics.median(params),
        "flops": flops,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nets", type=int, default=200, help="sampled networks per size and stem")
    args = ap.parse_args()
    t0 = time.perf_counter()
    runs = {f"{arm}-{size}": measure(size, options, args.nets) for size in SIZES for arm, options in STEMS.items()}
    resnet50 = ss.complexity(ss.zoo.get("resnet50"), 3, 1000, 224)[1]
    rows = []
    for size in SIZES:
        for arm in STEMS:
            r = runs[f"{arm}-{size}"]
            rel = r["flops_median"] / runs[f"{arm}-32"]["flops_median"]
            h, w = r["stage1_px"]
            rows.append(
                [size, arm, r["stem"], f"{h}x{w}", *(r[k] / 1e6 for k in ("flops_median", "flops_p90", "flops_max"))]
                + [f"{rel:.2f}x"]
            )
    headers = ["px", "stem", "conv/stride", "stage 1", "median MFLOPs", "p90 MFLOPs", "max MFLOPs", "median vs 32 px"]
    print(table(headers, rows))
    print(f"\nResNet-50 at 224 px, counted the same way: {resnet50 / 1e6:,.0f} MFLOPs; {args.nets} networks per row")
    path = write_results(
        "resolution",
        {
            "nets": args.nets,
            "sizes": SIZES,
            "seconds": time.perf_counter() - t0,
            "resnet50_224_flops": resnet50,
            "runs": runs,
            "machine": machine(),
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
