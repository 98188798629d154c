"""The standalone model folder: `export` writes model.py, weights.safetensors, genotype.json, README.md and
the registered serving formats asked for, all or nothing.

Everything is written to a temporary folder beside ``out_dir`` and renamed into place at the end, so a
failed export leaves nothing half-written.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

import searchspace as ss
from nas.exporter.codegen import generate
from nas.exporter.formats import missing_packages, save_formats
from nas.exporter.literals import ExportError
from nas.exporter.readme import readme_text
from nas.exporter.weights import checked_state_dict, imported, load_net, rename
from nas.registry import EXPORT_FORMATS
from searchspace.genotype import Genotype
from searchspace.shapes import NetPlan


def export(
    genotype: Genotype,
    state_dict: Mapping[str, torch.Tensor] | None,
    out_dir: str | os.PathLike,
    *,
    in_channels: int,
    num_classes: int,
    input_size: tuple[int, int] | int | None = None,
    metrics: Mapping[str, Any] | None = None,
    formats: Sequence[str] = (),
    class_name: str = "Net",
    overwrite: bool = False,
    preprocessing: Mapping[str, Any] | None = None,
) -> Path:
    """Write the standalone model folder and return its path.

    Args:
        genotype: the architecture; validated first (GenotypeError if it does not build).
        state_dict: the `searchspace.build` model's state dict, or None for freshly initialised weights.
        out_dir: folder to create; an existing non-empty one is replaced only with `overwrite`.
        in_channels: input channels the weights were trained with.
        num_classes: classifier outputs the weights were trained with.
        input_size: (height, width) or a side; checks spatial sizes, and is needed by `formats`.
        metrics: shown as a table in README.md (val_acc, test_acc, params, flops, ...).
        formats: extra artifacts, registered export formats (`nas.registry.EXPORT_FORMATS`): torchscript,
            export (torch.export), onnx, or one a plugin registers.
        class_name: name of the generated module class.
        overwrite: replace a non-empty out_dir.
        preprocessing: how training normalised the inputs, ``{"mean": [...], "std": [...], "scale": 1/255}``
            (x = (pixels * scale - mean) / std per channel); written to preprocessing.json and the README.
    """
    out = Path(out_dir)
    formats = _check_formats(formats, input_size)
    _check_out_dir(out, overwrite)
    plan = ss.validate(genotype, in_channels, num_classes, input_size)
    _check_wiring_params(genotype)
    source, prefixes = generate(genotype, plan, class_name)
    weights = rename(checked_state_dict(genotype, state_dict, in_channels, num_classes), prefixes)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{uuid.uuid4().hex[:12]}"
    tmp.mkdir()  # with the umask's permissions, unlike mkdtemp
    try:
        _write(tmp, genotype, plan, source, weights, class_name, metrics, formats, _preprocessing(preprocessing, plan))
        _publish(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _write(
    folder: Path,
    g: Genotype,
    plan: NetPlan,
    source: str,
    weights: dict[str, torch.Tensor],
    class_name: str,
    metrics: Mapping[str, Any] | None,
    formats: tuple[str, ...],
    preprocessing: dict[str, Any] | None = None,
) -> None:
    """model.py first; importing it and loading the weights strictly checks both; then everything else."""
    (folder / "model.py").write_text(source)
    with imported(folder / "model.py") as module:
        net = load_net(getattr(module, class_name), plan.num_classes, weights)
        diffs = save_formats(net, formats, g, plan, folder)
    save_file(weights, str(folder / "weights.safetensors"), metadata={"genotype": g.fingerprint()})
    os.chmod(folder / "weights.safetensors", (folder / "model.py").stat().st_mode & 0o777)
    (folder / "genotype.json").write_text(g.to_json(indent=2) + "\n")
    params = sum(p.numel() for p in net.parameters())
    if preprocessing is not None:
        (folder / "preprocessing.json").write_text(json.dumps(preprocessing, indent=2) + "\n")
    (folder / "README.md").write_text(readme_text(g, plan, class_name, params, metrics, diffs, preprocessing))


# ---------------------------------------------------------------- checks


def _check_formats(formats: Sequence[str], input_size: tuple[int, int] | int | None) -> tuple[str, ...]:
    if isinstance(formats, str):
        formats = (formats,)
    for fmt in formats:
        if fmt not in EXPORT_FORMATS:
            raise ExportError(f"unknown format {fmt!r}; known formats: {', '.join(EXPORT_FORMATS.names())}")
    if formats and input_size is None:
        raise ExportError(f"formats {', '.join(formats)} trace the model on an example input: pass input_size")
    for fmt in formats:
        missing_packages(fmt)  # ExportError naming the packages and the extra that brings them
    return tuple(dict.fromkeys(formats))


def _preprocessing(p: Mapping[str, Any] | None, plan: NetPlan) -> dict[str, Any] | None:
    """The input's preprocessing, checked: one finite mean and positive std per channel, a positive scale;
    the whole path (``source``, ``steps``, ``input``; `nas.data.DataSplits.preprocessing`) and ``classes``
    (one name per output) kept where given."""
    if p is None:
        return None
    try:
        mean, std = [float(v) for v in p["mean"]], [float(v) for v in p["std"]]
        scale = float(p.get("scale", 1.0))
    except (KeyError, TypeError, ValueError):
        raise ExportError("preprocessing must give mean and std (one number per channel) and scale") from None
    c = plan.in_channels
    if len(mean) != c or len(std) != c or not all(math.isfinite(v) for v in (*mean, *std, scale)):
        raise ExportError(f"preprocessing needs {c} finite mean and std values (one per input channel)")
    if not all(v > 0 for v in std) or not scale > 0:
        raise ExportError("preprocessing: std and scale must be positive")
    out: dict[str, Any] = {}
    if p.get("steps") is not None:
        steps = p["steps"]
        if not isinstance(steps, list | tuple) or not all(isinstance(s, Mapping) and "op" in s for s in steps):
            raise ExportError("preprocessing: steps must be a list of {'op': name, ...} mappings")
        out = {"source": str(p.get("source", "")), "steps": [dict(s) for s in steps]}
        for key in ("ops", "input"):
            if isinstance(p.get(key), Mapping):
                out[key] = dict(p[key])
    classes = [str(v) for v in p.get("classes") or ()]
    if classes and len(classes) != plan.num_classes:
        raise ExportError(f"preprocessing: {len(classes)} class names for a network of {plan.num_classes} outputs")
    return out | {"classes": classes, "mean": mean, "std": std, "scale": scale}


def _check_out_dir(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise ExportError(f"{out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise ExportError(f"{out} is not empty; pass overwrite=True to replace it")


def _check_wiring_params(g: Genotype) -> None:
    """Generated wirings' genes are validated; a custom wiring has none, and free-form ones are refused."""
    for i, stage in enumerate(g.all_stages()):
        if stage.wiring.kind == "custom" and stage.wiring.params:
            where = "stem" if i == 0 else f"stage {i}"
            raise ExportError(f"{where}: a custom wiring takes no parameters, got {len(stage.wiring.params)}")


def _publish(tmp: Path, out: Path) -> None:
    """Rename the finished folder into place; an existing out_dir is swapped out, then removed."""
    if not out.exists():
        os.replace(tmp, out)
        return
    old = out.parent / f".{out.name}.old-{uuid.uuid4().hex[:12]}"
    os.replace(out, old)
    try:
        os.replace(tmp, out)
    except BaseException:
        os.replace(old, out)
        raise
    shutil.rmtree(old, ignore_errors=True)
