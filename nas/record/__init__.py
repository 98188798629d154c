"""What a search leaves behind, and reading it back: the record, the results folder, the DataFrame.

- `jsonl`: the durable record ``trials.jsonl``, one fsync'd, checksummed line per finished trial
  (standard library only: a controller process can read it without pandas or torch);
- `row`: the shape of a row (the columns a trial writes, `trial_row`);
- `folder`: a results folder's layout, its lock, its config, data info and weights, atomic writes;
- `results`: the record in pandas (`nas.results` is this module): typed columns, fronts, the best trial.

The flat layout's ``from nas.record import Record`` still works (names of the old module come from
`jsonl`; see `nas._compat`).
"""

from nas import _compat

__getattr__ = _compat.forward(__name__, "nas.record.jsonl")
