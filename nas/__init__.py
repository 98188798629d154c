"""nasgraph's search: controllers propose, engines train, the driver records, results load into pandas.

import nas
df = nas.search({"trials": 20}, data=(x, y))           # your data; or the config's dataset by name
s = nas.Search(config, data=..., train_fn=...); s.run()  # the object form (resume, stop)
nas.export(genotype, state_dict, "exported/", in_channels=1, num_classes=10)

The shape, one job per module (README's "Repository" has the table):
- proposing: `controllers/` (ask/tell, no torch), `objectives`, `pareto`;
- driving a search: `driver` (the coordinator) with `admission` (what is trained), `ledger` (the rows
  in memory), `folder` (the results folder), `resume` (controller and config restored), `progress`,
  `live` (the report while it runs);
- training: `engines/` (`local`, `ray_tune`; start, run, stop), `train`, `latency`, `data`, `cluster`;
- the record and its readers: `record` (stdlib only), `results` (pandas), `report`, `html_report`,
  `plots`, `exporter`; shared: `status`, `errors`, `formats`, `config`; the command line: `cli`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nas.api import Search, search
    from nas.exporter import export
    from nas.owndata import dataset, register_dataset
    from searchspace.registry import register_op

# the public names, imported on first use (PEP 562): `import nas` stays light
_LAZY = {
    "search": "nas.api",
    "Search": "nas.api",
    "dataset": "nas.owndata",
    "register_dataset": "nas.owndata",
    "register_op": "searchspace.registry",
    "export": "nas.exporter",
}

__all__ = ["Search", "dataset", "export", "register_dataset", "register_op", "search"]  # = _LAZY


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value
