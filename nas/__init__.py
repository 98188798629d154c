"""nasgraph's search engine: controllers, training, data, dispatch, results, export.

from nas import results, export
df = results.load("results/digits-evolution")
export(genotype, state_dict, "exported/", in_channels=1, num_classes=10)
"""

from __future__ import annotations

from typing import Any


def export(*args: Any, **kwargs: Any) -> Any:
    """Export a genotype and its weights as standalone PyTorch code; see `nas.exporter.export`."""
    from nas.exporter import export as _export

    return _export(*args, **kwargs)
