"""nasgraph's search: controllers propose, engines train, the driver records, results load into pandas.

from nas import results, export
df = results.load("results/digits-evolution")
export(genotype, state_dict, "exported/", in_channels=1, num_classes=10)

The shape, one job per module (README's "Repository" has the table):
- proposing: `controllers/` (ask/tell, no torch), `objectives`, `pareto`;
- driving a search: `search` (the coordinator) with `admission` (what is trained), `ledger` (the rows
  in memory), `folder` (the results folder), `resume` (controller and config restored), `progress`;
- training: `engines/` (`local`, `ray_tune`; start, run, stop), `train`, `data`, `cluster`;
- the record and its readers: `record` (stdlib only), `results` (pandas), `report`, `html_report`,
  `plots`, `exporter`; shared: `status`, `errors`, `formats`, `config`; the command line: `cli`.
"""

from __future__ import annotations

from typing import Any


def export(*args: Any, **kwargs: Any) -> Any:
    """Export a genotype and its weights as standalone PyTorch code; see `nas.exporter.export`."""
    from nas.exporter import export as _export

    return _export(*args, **kwargs)
