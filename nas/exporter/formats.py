"""The serving artifacts (TorchScript, torch.export, ONNX) and their checks before they are kept.

Each is traced at `EXAMPLE_BATCH` with a dynamic batch dimension, loaded back by the runtime that
serves it (``torch.jit.load``, ``torch.export.load``, onnxruntime) and run at `CHECK_BATCHES` against the
eager model (`TOLERANCE`). A network a format cannot save is searched for the op that fails alone.
"""

from __future__ import annotations

import contextlib
import io
import math
import re
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from nas.errors import first_line
from nas.exporter.literals import ExportError
from searchspace.genotype import Genotype
from searchspace.shapes import NetPlan

FORMATS = ("torchscript", "export", "onnx")
FILES = {"torchscript": "model.torchscript.pt", "export": "model.pt2", "onnx": "model.onnx"}
ONNX_PACKAGES = ("onnx", "onnxscript", "onnxruntime")  # the [onnx] extra
EXAMPLE_BATCH = 2  # traced at batch 2: a batch of 1 would be specialised by torch.export's 0/1 rule
CHECK_BATCHES = (1, 5)  # every artifact is run at these batch sizes before it is kept
TOLERANCE = 1e-4  # max |artifact - eager| over the logits, relative to max(1, max |eager logit|)


def _example(in_channels: int, size: tuple[int, int] | None, batch: int = EXAMPLE_BATCH) -> torch.Tensor | None:
    if size is None:
        return None
    return torch.randn(batch, in_channels, *size, generator=torch.Generator().manual_seed(batch))


def _batch() -> dict[int, Any]:
    """The dynamic batch dimension of the input (dimension 0, any size from 1)."""
    return {0: torch.export.Dim("batch", min=1)}


def _torchscript(net: torch.nn.Module, x: torch.Tensor, path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit is deprecated, still widely loaded
        warnings.simplefilter("ignore", torch.jit.TracerWarning)  # shape-dependent Python values are constants
        torch.jit.trace(net, x).save(str(path))


def _torch_export(net: torch.nn.Module, x: torch.Tensor, path: Path) -> None:
    torch.export.save(torch.export.export(net, (x,), dynamic_shapes=(_batch(),)), str(path))


def _onnx(net: torch.nn.Module, x: torch.Tensor, path: Path) -> None:
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():  # the exporter's progress lines
        warnings.simplefilter("ignore")
        torch.onnx.export(
            net, (x,), str(path), input_names=["input"], output_names=["logits"], dynamic_shapes=(_batch(),),
            dynamo=True, external_data=False,
        )  # fmt: skip


SAVERS: dict[str, Callable[[torch.nn.Module, torch.Tensor, Path], None]] = {
    "torchscript": _torchscript,
    "export": _torch_export,
    "onnx": _onnx,
}


def _runner(fmt: str, path: Path) -> Callable[[torch.Tensor], torch.Tensor]:
    """The saved artifact loaded by the runtime that serves it."""
    if fmt == "torchscript":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            return torch.jit.load(str(path))
    if fmt == "export":
        return torch.export.load(str(path)).module()
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return lambda x: torch.from_numpy(session.run(None, {"input": x.numpy()})[0])


def save_formats(
    net: torch.nn.Module, formats: tuple[str, ...], g: Genotype, plan: NetPlan, folder: Path
) -> dict[str, float]:
    """Save each format, then run it at `CHECK_BATCHES` against the eager model; returns each one's max diff."""
    diffs: dict[str, float] = {}
    x = _example(plan.in_channels, plan.input_size)
    for fmt in formats:
        path = folder / FILES[fmt]
        try:
            with torch.no_grad():
                SAVERS[fmt](net, x, path)
        except Exception as e:
            where = _culprit(net, g, fmt, x, folder)
            raise ExportError(f"format {fmt!r} cannot {where}: {type(e).__name__}: {first_line(e)}") from e
        try:
            run = _runner(fmt, path)
            diffs[fmt] = max(
                _difference(net, run, _example(plan.in_channels, plan.input_size, b)) for b in CHECK_BATCHES
            )
        except Exception as e:
            raise ExportError(
                f"format {fmt!r}: the saved model does not run: {type(e).__name__}: {first_line(e)}"
            ) from e
        if not diffs[fmt] <= TOLERANCE:
            raise ExportError(
                f"format {fmt!r}: the saved model's logits differ from the eager model's by {diffs[fmt]:.2g} "
                f"(relative; at most {TOLERANCE:g} allowed)"
            )
    return diffs


def _difference(net: torch.nn.Module, run: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> float:
    """max |run(x) - net(x)| relative to max(1, max |net(x)|); inf when the shapes differ."""
    with torch.no_grad():
        ref, got = net(x), run(x)
    if got.shape != ref.shape:
        return math.inf
    return float((got.float() - ref).abs().max()) / max(1.0, float(ref.abs().max()))


NODE_ATTR = re.compile(r"(stem|s([0-9]+))_n([0-9]+)")  # a node's module in the generated Net: s1_n3, stem_n0


def _culprit(net: torch.nn.Module, g: Genotype, fmt: str, x: torch.Tensor, folder: Path) -> str:
    """'export op NAME (stage i node j)': the first node in forward order that the format cannot save on its
    own, found by saving each distinct op alone on the input it gets in the network; 'export this network'
    when every op saves alone."""
    stages = g.all_stages()
    seen: list[tuple[str, str, torch.nn.Module, torch.Tensor]] = []

    def hook(name: str, op: str) -> Callable[..., None]:
        def record(module: torch.nn.Module, args: tuple) -> None:
            if not any(op == o for o, *_ in seen):
                seen.append((op, name, module, args[0]))

        return record

    handles = []
    for name, module in net.named_children():
        m = NODE_ATTR.fullmatch(name)
        if m:
            i = 0 if m.group(1) == "stem" else int(m.group(2))
            handles.append(module.register_forward_pre_hook(hook(name, stages[i].nodes[int(m.group(3))].op)))
    try:
        with torch.no_grad():
            net(x)
    except Exception:  # noqa: BLE001 -- the eager model itself fails: say so without an op
        return "export this network (it does not run eagerly on the example input)"
    finally:
        for h in handles:
            h.remove()
    probe = folder / f".probe-{FILES[fmt]}"  # (torch.export's archive wants its own suffix)
    for op, name, module, arg in seen:
        try:
            with torch.no_grad():
                SAVERS[fmt](module, arg, probe)
        except Exception:  # noqa: BLE001 -- this op is the one the format cannot carry
            m = NODE_ATTR.fullmatch(name)
            where = "stem" if m.group(1) == "stem" else f"stage {m.group(2)}"
            return f"export op {op!r} ({where} node {m.group(3)}, `{name}`)"
        finally:
            probe.unlink(missing_ok=True)
    return "export this network"
