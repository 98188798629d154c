"""What a running search shows outside its own terminal: ``report.html`` rewritten while it runs (whether a
folder's search is running is `nas.record.folder.held`, its lock).

`LiveReport` rewrites the HTML report (`nas.report.html`, atomically) every `every` finished trials with a
banner and a refresh tag, but spends at most about a tenth of the search's time on it: after a write that
took s seconds, the next waits at least 9 s. A failure to draw it is logged once and never fails the
search; the report written at the end is the full one. No torch here; pandas and matplotlib are imported
at the first write.
"""

from __future__ import annotations

import time
from pathlib import Path

from nas.driver.progress import Log

COST_SHARE = 0.1  # the most of the driver's time live reports may take


class LiveReport:
    """Rewrites ``<root>/report.html`` every `every` finished trials (0: never) while a search runs."""

    def __init__(self, root: Path, every: int, log: Log) -> None:
        self.root, self.every, self.log = root, every, log
        self.started = time.time()
        self.since = 0  # finished trials since the last write
        self.cost = 0.0  # seconds the last write took
        self.last = 0.0  # when it ended
        self.written = 0
        self.broken = False

    def finished(self, done: int, trials: int, running: int) -> bool:
        """A trial finished; write the report if it is time. Returns whether it was written."""
        if not self.every or self.broken:
            return False
        self.since += 1
        if self.since < self.every or time.time() - self.last < self.cost * (1 - COST_SHARE) / COST_SHARE:
            return False
        from nas.report import html as html_report

        start = time.perf_counter()
        try:
            html_report.write_report(self.root, live=html_report.Live(done, trials, running, self.started))
        except Exception as e:  # noqa: BLE001 -- the record is what matters; the final report is drawn again
            self.log(
                f"warning: the live report could not be written ({type(e).__name__}: {e}); it is written at the end"
            )
            self.broken = True
            return False
        self.cost, self.last, self.since = time.perf_counter() - start, time.time(), 0
        self.written += 1
        return True
