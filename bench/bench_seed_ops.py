"""The seed-fidelity changes of issue 13, measured: naive Inception's branch widths over sampled nodes (the old
rule against the new one, on the same nodes), the mutation kinds evolution applies (all against the seeds'
three), and the cost of the new ops against a plain convolution timed in the same run.

    python bench/bench_seed_ops.py [--nodes 200] [--out bench/results/seed_ops.json]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from collections import Counter
from pathlib import Path

import torch

import searchspace as ss
from searchspace import registry
from searchspace.widths import inception_naive_widths

SPACES = {"default": (16, 24, 32, 48, 64), "digits": (8, 16, 24, 32)}


def old_rule(in_ch: int, width: int) -> tuple[int, int, int]:
    """The branch widths before issue 13: max(3, width - in) split three ways."""
    extra = max(3, width - in_ch)
    return extra // 3, extra // 3, extra - 2 * (extra // 3)


def naive_nodes(widths: tuple[int, ...], count: int) -> dict:
    space, rng, rows = ss.SearchSpace(input_size=16, widths=widths), random.Random(0), []
    while len(rows) < count:
        g = space.sample(rng)
        plan = ss.infer(g, 3, 10, 16)
        for gstage, splan in zip(g.stages, plan.stages[1:], strict=True):
            for n in splan.nodes:
                if n.op == "inception_naive":
                    node = gstage.nodes[n.index]
                    width = node.width or gstage.width
                    new = inception_naive_widths(width, 0, 0, 0, n.params["split"])
                    rows.append((n.in_ch, width, old_rule(n.in_ch, width), new))
    rows = rows[:count]

    def summary(i: int) -> dict:
        smallest = [min(r[i]) for r in rows]
        return {
            "share_with_a_branch_under_4": sum(s < 4 for s in smallest) / len(rows),
            "median_smallest_branch": statistics.median(smallest),
            "median_conv_channels": statistics.median(sum(r[i]) for r in rows),
            "median_growth_over_input": statistics.median((sum(r[i])) / r[0] for r in rows),
        }

    return {"nodes": len(rows), "input_as_wide_as_node": sum(r[0] >= r[1] for r in rows) / len(rows)} | {
        "old": summary(2),
        "new": summary(3),
    }


def mutation_kinds(kinds: tuple[str, ...], children: int = 300) -> dict:
    space = ss.SearchSpace(in_channels=1, input_size=8, widths=(8, 16), mutation_kinds=kinds)
    rng, counts = random.Random(1), Counter()
    g = space.sample(rng)
    for i in range(children):
        child, kind = space.mutate_with_info(g, rng)
        counts[kind] += 1
        g = child if i % 5 else space.sample(rng)
    seeds = counts["op_change"] + counts["kernel_change"] + counts["add_node"]
    return {"children": children, "seeds_share": seeds / children, "kinds": dict(counts.most_common())}


def timed(module: torch.nn.Module, x: torch.Tensor, backward: bool, repeats: int = 20) -> float:
    """Median milliseconds of one forward (and backward) pass."""
    times = []
    for i in range(repeats + 3):
        start = time.perf_counter()
        out = module(x)
        if backward:
            out.sum().backward()
        if i >= 3:
            times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def op_costs(batch: int = 64, size: int = 16, ch: int = 32) -> dict:
    torch.manual_seed(0)
    torch.set_num_threads(1)
    x = torch.randn(batch, ch, size, size)
    ops = {
        "conv": ("conv", {}),
        "unshared grid 2": ("unshared", {"grid": 2}),
        "unshared grid 3": ("unshared", {"grid": 3}),
        "dirac": ("dirac", {}),
        "inception": ("inception", {}),
        "inception factorized": ("inception", {"factorized": True}),
    }
    out = {}
    for name, (op, params) in ops.items():
        spec = registry.get(op)
        module = spec.fn(ch, ch, 1, **spec.resolve(params)).train()
        out[name] = {
            "params": sum(p.numel() for p in module.parameters()),
            "train_ms": timed(module, x, backward=True),
            "eval_ms": timed(module.eval(), x, backward=False),
        }
    base = out["conv"]
    for row in out.values():
        row["train_vs_conv"] = round(row["train_ms"] / base["train_ms"], 2)
        row["eval_vs_conv"] = round(row["eval_ms"] / base["eval_ms"], 2)
    return {"batch": batch, "size": size, "channels": ch, "threads": 1, "ops": out}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=200)
    ap.add_argument("--out", default="bench/results/seed_ops.json")
    args = ap.parse_args()
    result = {
        "naive_inception": {name: naive_nodes(w, args.nodes) for name, w in SPACES.items()},
        "mutations": {"all": mutation_kinds(()), "seeds": mutation_kinds(("seeds",))},
        "op_costs": op_costs(),
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
