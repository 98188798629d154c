"""The serving artifacts (TorchScript, torch.export, ONNX), registered formats, and their checks before they are kept.

A format is an `ExportFormat` subclass registered by name (`register_export_format`; a plugin's too):
its file name, the packages it needs, how it saves a network and how its runtime loads it back. Torch
is imported when a format is used, not when the formats are listed. Each is traced at `EXAMPLE_BATCH` with a dynamic batch dimension, loaded back by the runtime that
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
from typing import TYPE_CHECKING, Any

from nas.errors import first_line
from nas.exporter.literals import ExportError
from nas.registry import EXPORT_FORMATS, RegistryError

if TYPE_CHECKING:
    import torch

    from searchspace.genotype import Genotype
    from searchspace.shapes import NetPlan

Runner = Callable[["torch.Tensor"], "torch.Tensor"]
EXAMPLE_BATCH = 2  # traced at batch 2: a batch of 1 would be specialised by torch.export's 0/1 rule
CHECK_BATCHES = (1, 5)  # every artifact is run at these batch sizes before it is kept
TOLERANCE = 1e-4  # max |artifact - eager| over the logits, relative to max(1, max |eager logit|)


class ExportFormat:
    """A serving artifact: `save` writes a network traced at an example batch (with a dynamic batch
    dimension), `load` reads it back as the runtime serving it does; checked against the eager model."""

    file = ""  # its file name in the export folder, e.g. "model.onnx"
    requires: tuple[str, ...] = ()  # the packages it needs (import names)
    extra = ""  # the pip extra that brings them ("onnx": pip install 'nasgraph[onnx]')

    @classmethod
    def save(cls, net: torch.nn.Module, example: torch.Tensor, path: Path) -> None:
        raise NotImplementedError

    @classmethod
    def load(cls, path: Path) -> Runner:
        raise NotImplementedError


def register_export_format(name: str, *, summary: str = "") -> Callable[[type], type]:
    """Decorator: make ``--format name`` (``export(..., formats=(name,))``) this `ExportFormat` subclass; its
    docstring's first paragraph is its line in --help and in the exported README."""

    def decorate(cls: type) -> type:
        if not (isinstance(cls, type) and issubclass(cls, ExportFormat)) or not cls.file:
            raise RegistryError(f"register_export_format({name!r}): expected an ExportFormat subclass with a file")
        EXPORT_FORMATS.register(name, summary=summary)(cls)
        FILES[name], SAVERS[name] = cls.file, cls.save
        return cls

    return decorate


def format_class(name: str) -> type[ExportFormat]:
    return EXPORT_FORMATS.get(name).load()


def missing_packages(name: str) -> None:
    """ExportError naming what a format needs and the extra that brings it, when it is not installed."""
    import importlib.util

    fmt = format_class(name)
    missing = [m for m in fmt.requires if importlib.util.find_spec(m) is None]
    if missing:
        how = f": pip install 'nasgraph[{fmt.extra}]' ({', '.join(fmt.requires)})" if fmt.extra else ""
        raise ExportError(f"format {name!r} needs {', '.join(missing)}{how}")


FILES: dict[str, str] = {}  # format -> its file name, as registered
SAVERS: dict[str, Callable[..., None]] = {}  # format -> how it saves (its `ExportFormat.save`), as registered


def __getattr__(name: str) -> Any:
    """FORMATS: the registered formats' names (a tuple before they were registered; plugins' included)."""
    if name == "FORMATS":
        return EXPORT_FORMATS.names()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _example(in_channels: int, size: tuple[int, int] | None, batch: int = EXAMPLE_BATCH) -> torch.Tensor | None:
    import torch

    if size is None:
        return None
    return torch.randn(batch, in_channels, *size, generator=torch.Generator().manual_seed(batch))


def _batch() -> dict[int, Any]:
    """The dynamic batch dimension of the input (dimension 0, any size from 1)."""
    import torch

    return {0: torch.export.Dim("batch", min=1)}


@register_export_format("torchscript")
class TorchScript(ExportFormat):
    """TorchScript (traced; `torch.jit.load(path)`, deprecated in recent PyTorch)"""

    file = "model.torchscript.pt"

    @classmethod
    def save(cls, net: torch.nn.Module, example: torch.Tensor, path: Path) -> None:
        import torch

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch.jit is deprecated, still widely loaded
            warnings.simplefilter("ignore", torch.jit.TracerWarning)  # shape-dependent Python values are constants
            torch.jit.trace(net, example).save(str(path))

    @classmethod
    def load(cls, path: Path) -> Runner:
        import torch

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            return torch.jit.load(str(path))


@register_export_format("export")
class TorchExport(ExportFormat):
    """`torch.export` program (`torch.export.load(path).module()`)"""

    file = "model.pt2"

    @classmethod
    def save(cls, net: torch.nn.Module, example: torch.Tensor, path: Path) -> None:
        import torch

        torch.export.save(torch.export.export(net, (example,), dynamic_shapes=(_batch(),)), str(path))

    @classmethod
    def load(cls, path: Path) -> Runner:
        import torch

        return torch.export.load(str(path)).module()


@register_export_format("onnx")
class Onnx(ExportFormat):
    """ONNX model (input `input`, output `logits`; e.g. `onnxruntime.InferenceSession(path)`)"""

    file = "model.onnx"
    requires = ("onnx", "onnxscript", "onnxruntime")
    extra = "onnx"

    @classmethod
    def save(cls, net: torch.nn.Module, example: torch.Tensor, path: Path) -> None:
        import torch

        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():  # the exporter's progress lines
            warnings.simplefilter("ignore")
            torch.onnx.export(
                net, (example,), str(path), input_names=["input"], output_names=["logits"],
                dynamic_shapes=(_batch(),), dynamo=True, external_data=False,
            )  # fmt: skip

    @classmethod
    def load(cls, path: Path) -> Runner:
        import onnxruntime
        import torch

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return lambda x: torch.from_numpy(session.run(None, {"input": x.numpy()})[0])


def save_formats(
    net: torch.nn.Module, formats: tuple[str, ...], g: Genotype, plan: NetPlan, folder: Path
) -> dict[str, float]:
    """Save each format, then run it at `CHECK_BATCHES` against the eager model; returns each one's max diff."""
    import torch

    diffs: dict[str, float] = {}
    x = _example(plan.in_channels, plan.input_size)
    for fmt in formats:
        kind = format_class(fmt)
        path = folder / kind.file
        try:
            with torch.no_grad():
                SAVERS[fmt](net, x, path)
        except Exception as e:
            where = _culprit(net, g, fmt, x, folder)
            raise ExportError(f"format {fmt!r} cannot {where}: {type(e).__name__}: {first_line(e)}") from e
        try:
            run = kind.load(path)
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
    import torch

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
    import torch

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
    kind = format_class(fmt)
    probe = folder / f".probe-{kind.file}"  # (torch.export's archive wants its own suffix)
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
