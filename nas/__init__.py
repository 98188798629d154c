"""nasgraph's search: controllers propose, engines train, the driver records, results load into pandas.

import nas
df = nas.search({"trials": 20}, data=(x, y))           # your data; or the config's dataset by name
s = nas.Search(config, data=..., train_fn=...); s.run()  # the object form (resume, stop)
nas.export(genotype, state_dict, "exported/", in_channels=1, num_classes=10)

The tree, one job per package (README's "Repository" has the table):
- `controllers/` propose (ask/tell, no torch), by the `objectives` and the `pareto` maths;
- `driver/` runs a search: the coordinator, admission, the ledger, resume, progress, the live report;
- `engines/` train its trials (`local`, `ray_tune`, `table`; start, run, stop), and join clusters;
- `data/` holds the datasets: one module per source (and `owndata`, yours), prepared shards, `prepare`;
- `trial/` is one trial: `train`, `proxies`, `inherit`, `latency`;
- `record/` is what a search leaves: `jsonl` (stdlib only), `row`, `folder`, `results` (pandas);
- `report/` reads it for people (`text`, `plots`, `html`); `exporter/` turns a trial into standalone code;
- `benchmarks/` are searches answered from tables (`table`, NAS-Bench-201's `nb201`);
- `api` (Python) and `cli/` (``launch.py``) start searches; shared: `config`, `status`, `errors`,
  `human` (number formats), `plugins`, `registry` (every extension point). The flat layout's module
  paths (`nas.train`, `nas.table`, ...) still import, deprecated (`_compat`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from nas import _compat

_compat.install()  # before anything can ask for an old path

if TYPE_CHECKING:
    from nas.api import Search, search
    from nas.benchmarks.table import Benchmark, register_benchmark
    from nas.controllers.base import Controller, Proposal, Setting, register_controller
    from nas.data.owndata import dataset
    from nas.data.registry import register_dataset
    from nas.engines.base import Engine, register_engine
    from nas.exporter import export
    from nas.exporter.formats import ExportFormat, register_export_format
    from nas.registry import option
    from searchspace.registry import register_op

# the public names, imported on first use (PEP 562): `import nas` stays light
_LAZY = {
    "search": "nas.api",
    "Search": "nas.api",
    "dataset": "nas.data.owndata",
    "register_dataset": "nas.data.registry",
    "register_op": "searchspace.registry",
    "export": "nas.exporter",
    # extension points (README: Extending nasgraph): each a base class and its register_* decorator
    "Controller": "nas.controllers.base",
    "Proposal": "nas.controllers.base",
    "Setting": "nas.controllers.base",
    "register_controller": "nas.controllers.base",
    "Engine": "nas.engines.base",
    "register_engine": "nas.engines.base",
    "Benchmark": "nas.benchmarks.table",
    "register_benchmark": "nas.benchmarks.table",
    "ExportFormat": "nas.exporter.formats",
    "register_export_format": "nas.exporter.formats",
    "option": "nas.registry",
}

_MODULES = {"results": "nas.record.results"}  # public modules: `nas.results.load(folder)` after `import nas`

__all__ = [  # _LAZY, _MODULES
    "Benchmark",
    "Controller",
    "Engine",
    "ExportFormat",
    "Proposal",
    "Search",
    "Setting",
    "dataset",
    "export",
    "option",
    "register_benchmark",
    "register_controller",
    "register_dataset",
    "register_engine",
    "register_export_format",
    "register_op",
    "results",
    "search",
]


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        value = importlib.import_module(_MODULES[name])
    elif name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value
