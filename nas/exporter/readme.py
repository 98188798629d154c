"""The exported folder's README.md: what the network is, how it scores, how to load and feed it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nas.exporter.formats import CHECK_BATCHES, format_class
from nas.registry import EXPORT_FORMATS
from searchspace.genotype import Genotype
from searchspace.shapes import NetPlan

# ---------------------------------------------------------------- README

METRIC_NAMES = {
    "val_acc": "validation accuracy",
    "test_acc": "test accuracy",
    "params": "parameters",
    "flops": "FLOPs per image",
}


def readme_text(
    g: Genotype,
    plan: NetPlan,
    class_name: str,
    params: int,
    metrics: Mapping[str, Any] | None,
    diffs: Mapping[str, float],
    preprocessing: Mapping[str, Any] | None = None,
) -> str:
    """What the folder is, its metrics, how to load it, its input, and its other formats as they were checked."""
    c, k = plan.in_channels, plan.num_classes
    h, w = plan.input_size or ("H", "W")
    lines = [
        f"# {class_name}: a network exported by nasgraph",
        "",
        f"A standalone PyTorch model of genotype `{g.fingerprint()}`: {len(g.stages)} stages after the stem, "
        f"{c} input channels, {k} classes, {params:,} parameters"
        + (f", exported at input size {h}x{w}." if plan.input_size else "."),
        "`model.py` needs only `torch` (and `torchvision` when the network has deformable convolutions); its layer "
        "classes are copied from nasgraph's `searchspace`, and `Net`'s named layers and per-stage methods follow "
        "the genotype's graph.",
        "",
    ]
    if metrics:
        lines += ["## Metrics", "", "| metric | value |", "| --- | --- |"]
        lines += [f"| {_cell(METRIC_NAMES.get(str(m), m))} | {_cell(v)} |" for m, v in metrics.items()]
        lines.append("")
    lines += [
        "## Usage",
        "",
        "```python",
        "import torch",
        "from safetensors.torch import load_file",
        f"from model import {class_name}",
        "",
        f'net = {class_name}(num_classes={k}); net.load_state_dict(load_file("weights.safetensors")); net.eval()',
        "with torch.no_grad():",
        f"    logits = net(torch.randn(1, {c}, {h}, {w}))"
        if plan.input_size
        else f"    logits = net(images)  # images: a float tensor of shape (N, {c}, H, W), normalised as in training",
        "```",
        "",
        "The weights are a safetensors file, not a pickle, so `torch.load(..., weights_only=True)` is NOT needed "
        "(and loading them runs no code).",
        "",
        *_input_section(preprocessing),
        "## Files",
        "",
        f"- `model.py`: the `{class_name}` module and the layer classes it uses.",
        "- `weights.safetensors`: its weights, by `state_dict` name.",
        "- `genotype.json`: the architecture as nasgraph data (`searchspace.Genotype.from_json`).",
    ]
    files = {f: format_class(f).file for f in diffs}
    lines += [f"- `{files[f]}`: {EXPORT_FORMATS.get(f).summary}." for f in diffs]
    if diffs:
        batches = " and ".join(str(b) for b in CHECK_BATCHES)
        lines += [
            "",
            "## Batches and input size",
            "",
            f"The batch dimension of `{'`, `'.join(files.values())}` is dynamic (any batch of at least 1); "
            f"the input size is fixed at {c}x{h}x{w} (channels x height x width), as exported: resize images to "
            "it. Each file was loaded by its runtime when it was written and run at batches "
            f"{batches} against the eager `{class_name}`; largest difference of the logits, relative to "
            "max(1, largest logit):",
            "",
            "| file | max difference |",
            "| --- | --- |",
        ]
        lines += [f"| `{files[f]}` | {d:.1e} |" for f, d in diffs.items()]
    return "\n".join(lines) + "\n"


def _input_section(p: Mapping[str, Any] | None) -> list[str]:
    """How to turn a sample into the network's input (each step of preprocessing.json), and the classes."""
    if p is None:
        return []
    mean = ", ".join(f"{v:.6g}" for v in p["mean"])
    std = ", ".join(f"{v:.6g}" for v in p["std"])
    lines = ["## Input", ""]
    if p.get("steps"):
        lines += [
            f"One sample as you hold it: {p['source']}. Apply, in order (the same steps are data in "
            "`preprocessing.json`; stack the samples along a new first axis for a batch):",
            "",
        ]
        lines += [f"{i}. {_step_text(step)}" for i, step in enumerate(p["steps"], 1)]
    else:
        scale = p["scale"]
        pixels = "x = pixels / 255 (8-bit images)" if abs(scale - 1 / 255) < 1e-12 else f"x = pixels * {scale:g}"
        lines.append(
            f"Normalise images as in training: {pixels}, then `(x - mean) / std` per channel, with mean = ({mean}) "
            f"and std = ({std}) (also in `preprocessing.json`)."
        )
    lines.append("")
    if p.get("classes"):
        lines += [
            "## Classes",
            "",
            "Output `i` of the logits is class `classes[i]` (also in `preprocessing.json`):",
            "",
        ]
        lines += ["| output | class |", "| --- | --- |"]
        lines += [f"| {i} | {_cell(name)} |" for i, name in enumerate(p["classes"])]
        lines.append("")
    return lines


def _step_text(step: Mapping[str, Any]) -> str:
    """One preprocessing step in words."""
    args = {k: v for k, v in step.items() if k != "op"}
    op = step["op"]
    try:
        if op == "normalize":
            mean = ", ".join(f"{float(v):.6g}" for v in args["mean"])
            std = ", ".join(f"{float(v):.6g}" for v in args["std"])
            axis = args.get("axis", 0)
            return f"`normalize`: `(x - mean) / std` per channel (axis {axis}), mean = ({mean}), std = ({std})"
        if op == "multiply":
            return f"`multiply` by {float(args['by']):.10g}"
    except (KeyError, TypeError, ValueError):  # a step not as nasgraph writes it (an edited data.json): as it is
        pass
    return f"`{op}`" + (": " + ", ".join(f"{k} {v}" for k, v in args.items()) if args else "")


def _cell(v: Any) -> str:
    """A metric value for a Markdown table cell."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        text = str(v)
    elif isinstance(v, int):
        text = f"{v:,}"
    else:
        text = f"{v:.4f}" if abs(v) < 1000 else f"{v:,.0f}"
    return " ".join(text.replace("|", "\\|").split())
