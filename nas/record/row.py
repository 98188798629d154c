"""The shape of a record row: what a trial measures, what the driver writes around it, and the row itself.

One place for the columns: the trainer checks a train_fn's metrics against them (`ROW_FIELDS`), the
driver writes rows with `trial_row`, readers split a row into its own metrics and proxy scores.
`nas.record.results.COLUMNS` types them for pandas. Standard library only.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from nas.status import Status

if TYPE_CHECKING:
    from nas.controllers import Proposal


METRICS = (  # what a trial measures, copied into its row (a duplicate copies its twin's)
    "val_acc",
    "val_loss",
    "test_acc",
    "test_loss",
    "train_loss",
    "epochs",
    "train_seconds",
    "images_per_second",
    "peak_memory_mb",
    "resident_memory_mb",
    "wall_seconds",
    "latency_ms",  # inference at batch 1 on the trial's device, median (`nas.trial.latency`)
    "latency_batch_ms",  # the same at the serving batch
    "latency_batch",
)
PHASES = {  # where a trial's wall time went (a row's "phases", seconds; `nas.trial.clock`): they add up to it
    "setup": "the worker's preparation: the dataset from Ray's object store, the user's plugins, a parent's weights",
    "proxies": "zero-cost proxies scored on the untrained network (train.proxies)",
    "build": "parameters and FLOPs counted, the network built, a parent's weights inherited, traced",
    "to_device": "the network and the training images to the device (a mapped set's files opened), its optimizer",
    "latency": "inference timed at batch 1 and the serving batch (latency_ms; measured when asked or needed)",
    "first_step": "the first training step: lazy initialisation, kernel choice (cuDNN autotuning on CUDA)",
    "train": "the other training steps (augmentation included)",
    "evaluate": "the validation split after each epoch, the test split at the end",
    "report": "each epoch's result handed to the driver (Ray: until the driver has taken it)",
    "train_fn": "a user's training function, whole (its own training and evaluation)",
    "weights": "the trained weights off the device, and written for the driver (Ray)",
    "cleanup": "the trial's memory freed and its peak read",
}
TRIAL_TIMES = (  # what the driver measures of a dispatched trial's slot (`nas.driver.slots`)
    "slot",  # which of the search's --concurrency slots ran it (0-based)
    "slot_idle_seconds",  # how long that slot had no trial before this one was dispatched to it
    "slot_seconds",  # from dispatch to the recorded row: the trial's wall time, plus starting it and taking its result
)
ROW_FIELDS = frozenset(  # what trial_row (and the record) write besides a train_fn's own metrics
    {"trial_id", "controller", "parents", "generation", "status", "error", "fingerprint", "genotype", "params",
     "flops", *METRICS, "seed", "finished", "node", "worker", "duplicate_of", "meta", "crc", "curves",
     "inherited", "inherited_from", "phases", "cudnn_benchmark", *TRIAL_TIMES}
)  # fmt: skip
PROXY_PREFIX = "proxy_"  # a zero-cost proxy's column: proxy_synflow, proxy_snip, ... (`nas.trial.proxies`)


def custom_metrics(row: dict[str, Any]) -> dict[str, Any]:
    """A recorded row's own metrics from a train_fn: the keys `trial_row` does not write itself."""
    return {k: v for k, v in row.items() if k not in ROW_FIELDS and not k.startswith(PROXY_PREFIX)}


def proxy_scores(row: dict[str, Any]) -> dict[str, Any]:
    """A recorded row's zero-cost proxy scores, by proxy name."""
    return {k.removeprefix(PROXY_PREFIX): v for k, v in row.items() if k.startswith(PROXY_PREFIX)}


def trial_row(
    proposal: Proposal,
    controller: str,
    fingerprint: str,
    status: str,
    metrics: dict[str, Any],
    *,
    seed: int | None = None,
    started: float | None = None,
    duplicate_of: str | None = None,
    inherited_from: str | None = None,
    times: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The record row of a finished (or refused) proposal, in `nas.record.results.COLUMNS`' terms; `times`: the
    driver's measures of its slot (`TRIAL_TIMES`)."""
    now = time.time()
    row = {
        "trial_id": proposal.trial_id,
        "controller": controller,
        "parents": list(proposal.parents),
        "generation": proposal.generation,
        "status": str(status),
        "error": metrics.get("error", ""),
        "fingerprint": fingerprint,
        "genotype": proposal.genotype.to_dict(),
        "params": metrics.get("params"),
        "flops": metrics.get("flops"),
        **{k: metrics.get(k) for k in METRICS},
        **(metrics.get("custom") or {}),  # a train_fn's own metrics, under their names (`nas.trial.train.own_metrics`)
        **{PROXY_PREFIX + k: v for k, v in (metrics.get("proxies") or {}).items()},  # (None: not computed)
        "seed": seed,
        "finished": now,
    }
    if started is not None and row["wall_seconds"] is None:
        row["wall_seconds"] = now - started
    if status != Status.DUPLICATE:  # (a duplicate took none of its twin's time)
        for key in ("node", "worker", "phases"):  # the Ray node, the worker process that trained it, its time
            if metrics.get(key):
                row[key] = metrics[key]
        if metrics.get("cudnn_benchmark") is not None:  # (CUDA trials) whether cuDNN autotuned its convolutions
            row["cudnn_benchmark"] = metrics["cudnn_benchmark"]
        row |= times or {}
    if metrics.get("curves"):  # per-epoch accuracies (`TrainConfig.curves`)
        row["curves"] = metrics["curves"]
    if inherited_from and metrics.get("inherited") is not None:  # started from a parent's trained weights
        row["inherited_from"], row["inherited"] = inherited_from, metrics["inherited"]
    if duplicate_of:
        row["duplicate_of"] = duplicate_of
    if proposal.meta:
        row["meta"] = dict(proposal.meta)
    return row
