"""The search loop: one coordinator between a controller and an engine, and what it keeps while it runs.

- `coordinator`: `SearchState`, proposals in, recorded trials out, whatever engine trains them;
- `admission`: which proposals are trained (dedupe, failed twice, size limits, the skip limit) and what
  is recorded for the others;
- `recorder`: every row's way in: the record first (fsync'd), then the ledger, dedupe, controller and progress;
- `ledger`: the record's rows in memory, counted by status, with the running Pareto front;
- `weights`: the trained weights kept (--keep-weights), read by children that inherit them, pruned;
- `resume`: the controller and config restored from a results folder;
- `progress`: the line per finished trial; `live`: ``report.html`` rewritten while the search runs;
- `slots`: how busy the search's --concurrency places for trials were (each row's slot times), and the
  trials in flight on them.

The engines (`nas.engines`) call the coordinator; the record it writes is `nas.record`. The flat
layout's ``from nas.driver import SearchState`` still works (names of the old module come from
`coordinator`; see `nas._compat`).
"""

from nas import _compat

__getattr__ = _compat.forward(__name__, "nas.driver.coordinator")
