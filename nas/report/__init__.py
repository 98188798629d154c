"""Reading searches for people: the text summary, the figures, the self-contained HTML report.

- `text`: what ``launch.py show`` prints (summary, Pareto front, progress line);
- `plots`: figures of one or more searches (accuracy against parameters and FLOPs, best so far, an
  architecture drawn), PNG and SVG;
- `html`: one HTML page with all of it, to open in a browser or attach (`nas.driver.live` rewrites it
  while a search runs).

They read results folders (`nas.record`) and never write the record. The flat layout's
``from nas.report import summary`` still works (names of the old module come from `text`).
"""

from nas import _compat

__getattr__ = _compat.forward(__name__, "nas.report.text")
