"""Export a trained architecture as a standalone PyTorch module.

    from nas.exporter import export        # also nas.export
    export(genotype, model.state_dict(), "exports/best", in_channels=3, num_classes=10,
           input_size=32, metrics={"val_acc": 0.93}, formats=("export",))

writes a folder that needs nothing of nasgraph:

- ``model.py``: the layer and block classes the network uses, copied verbatim (`source`), and a
  generated ``Net`` with named layers (``s1_n0``, ``s1_proj_in_to32_s2``, ``s1_m2``, ``head``) and one
  method per stage whose lines read like the graph (`codegen`);
- ``weights.safetensors``: the library model's weights under ``Net``'s names (`weights`);
- ``genotype.json`` and ``README.md`` (`readme`);
- on request ``model.torchscript.pt``, ``model.pt2`` (torch.export), ``model.onnx``, each with a dynamic
  batch dimension (the spatial size stays the one exported at), and each checked before it is kept:
  loaded by its own runtime (``torch.jit.load``, ``torch.export.load``, onnxruntime) and run at batch
  sizes 1 and 5 against the eager model (`formats`).

``model.py`` is generated only from validated values (`literals`): the genotype is checked by
`searchspace.validate` first; numbers are rendered from their int/float value, strings are taken from
the registry's own option lists (never from the genotype), and identifiers are built from indices.
Everything is written to a temporary folder beside ``out_dir`` and renamed into place at the end
(`bundle`), so a failed export leaves nothing half-written. A serving format is one registered
`formats.ExportFormat` (`register_export_format`; README: Extending nasgraph). The names here load on
first use: ``import nas.exporter`` (and listing the formats for ``--help``) imports no torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from nas.exporter.literals import ExportError

if TYPE_CHECKING:
    from nas.exporter.bundle import export
    from nas.exporter.formats import (
        CHECK_BATCHES,
        FILES,
        FORMATS,
        SAVERS,
        TOLERANCE,
        ExportFormat,
        register_export_format,
    )

_LAZY = {
    "export": "nas.exporter.bundle",
    "CHECK_BATCHES": "nas.exporter.formats",
    "FILES": "nas.exporter.formats",
    "FORMATS": "nas.exporter.formats",
    "SAVERS": "nas.exporter.formats",
    "TOLERANCE": "nas.exporter.formats",
    "ExportFormat": "nas.exporter.formats",
    "register_export_format": "nas.exporter.formats",
}

__all__ = [
    "CHECK_BATCHES",
    "FILES",
    "FORMATS",
    "SAVERS",
    "TOLERANCE",
    "ExportError",
    "ExportFormat",
    "export",
    "register_export_format",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
