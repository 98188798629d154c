"""The hang watchdog: `train_trial` in a thread, ended as ``timeout`` once it runs past the trial's hang limit.

``TrainConfig.max_seconds`` is cooperative: the training loop checks it between steps, so a trial stuck
inside a step (a deadlock, a stalled collective, ``fault: hang``) never reaches the check. `watched` runs the
trial in a thread and gives up on it after ``TrainConfig.hang_limit()`` seconds, with `TrialResult.hung`; the
caller then ends the process that holds the stuck thread (the Ray engine's worker retires itself:
`nas.engines.ray_tune`). A process so stuck that the watching thread cannot run (C code holding the GIL) is
ended by `faulthandler` `HANG_BACKSTOP_S` later, which writes every thread's stack to its log.
"""

from __future__ import annotations

import faulthandler
import threading
import time
from typing import Any

from nas.data import DataSplits
from nas.trial.train import TrainConfig, TrialResult, train_trial
from searchspace.genotype import Genotype

HANG_BACKSTOP_S = 30.0  # faulthandler ends a worker this long after the hang limit if the watchdog could not
HANG_POLL_S = 0.2  # how often the watchdog looks at its training thread


def watched(
    reporting: threading.Event, genotype: Genotype, data: DataSplits, train_cfg: TrainConfig, **args: Any
) -> tuple[TrialResult, bool]:
    """`train_trial(genotype, data, train_cfg, **args)` in a thread, ended as ``timeout`` if it runs past the hang
    limit (see the module docstring), and whether it hung; `reporting` is set while it waits for the driver (not
    hanging)."""
    limit = train_cfg.hang_limit()
    if not limit:
        return train_trial(genotype, data, train_cfg, **args), False
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["result"] = train_trial(genotype, data, train_cfg, **args)
        except BaseException as e:  # noqa: BLE001 -- handed to the trainable's thread (Tune's stop is SystemExit)
            box["error"] = e

    thread = threading.Thread(target=work, name="nasgraph-trial", daemon=True)
    faulthandler.dump_traceback_later(limit + HANG_BACKSTOP_S, exit=True)  # if even this thread cannot run
    started = time.monotonic()
    thread.start()
    while thread.is_alive() and (time.monotonic() - started < limit or reporting.is_set()):
        thread.join(HANG_POLL_S)
    faulthandler.cancel_dump_traceback_later()
    if "error" in box:
        raise box["error"]
    if "result" in box:
        return box["result"], False
    return TrialResult.hung(time.monotonic() - started, limit, "its worker was retired"), True
