"""Dispatch through Ray Tune -- the one module that imports Ray.

- `NasSearcher` is a Tune ``Searcher`` around a `SearchState`: each
  ``suggest`` is a controller proposal that already passed dedupe and the
  constraints; it returns ``FINISHED`` when the budget is spent.
- `RecordCallback` turns each finished Tune trial into one record row (and
  keeps its weights), or abandons it when the run was interrupted mid-trial.
- The trainable is a thin adapter around `nas.train.train_trial`: it reports
  every epoch (so ASHA can stop poor trials) and once more at the end with
  ``final=True`` and the weights as a checkpoint.

Tune's own experiment state is never used to resume: each run is a fresh Tune
experiment fed from our record and controller state (Tune silently starts an
empty experiment from a corrupted state file, and does not handle SIGTERM).
Trials get ``max_failures=1``: a dead worker is retried once, then recorded as
``error``; failures inside training are results and are never retried.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")  # our record replaces Tune's CSV/JSON/TB logs
os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
os.environ.setdefault("RAY_DEDUP_LOGS", "0")
os.environ.setdefault("TUNE_DISABLE_SIGINT_HANDLER", "1")  # the CLI's handlers set state.stopping; _StopWhenAsked acts

import ray  # noqa: E402
from ray import tune  # noqa: E402
from ray.tune.search import Searcher  # noqa: E402

from nas.search import SearchState, trial_train_config  # noqa: E402
from searchspace.genotype import Genotype  # noqa: E402

WEIGHTS_FILE = "weights.safetensors"


def init_ray(address: str | None = None, num_cpus: int | None = None, num_gpus: int | None = None) -> None:
    """Join a cluster (``ray start --head`` / ``--address``) or start a local Ray runtime."""
    if ray.is_initialized():
        return
    common = {"log_to_driver": False, "logging_level": "WARNING", "configure_logging": True}
    if address:
        ray.init(address=address, **common)
    else:
        ray.init(num_cpus=num_cpus, num_gpus=num_gpus, include_dashboard=False, **common)


class NasSearcher(Searcher):
    """Tune Searcher whose suggestions come from a SearchState (controller + dedupe + constraints)."""

    def __init__(self, state: SearchState):
        super().__init__(metric="val_acc", mode="max")
        self.state = state

    def suggest(self, trial_id: str) -> dict[str, Any] | str | None:
        if self.state.stopping:
            return Searcher.FINISHED
        pending = self.state.propose()
        if pending is None:
            return Searcher.FINISHED
        return {
            "trial_id": pending.trial_id,
            "genotype": pending.proposal.genotype.to_json(),
            "seed": pending.seed,
        }

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        """Results are recorded by RecordCallback, which also sees checkpoints and errors."""


class _StopWhenAsked(tune.Stopper):
    """Ends the whole Tune run once the driver is asked to stop (Ctrl-C, SIGTERM)."""

    def __init__(self, state: SearchState):
        self.state = state

    def __call__(self, trial_id: str, result: dict) -> bool:
        return False

    def stop_all(self) -> bool:
        return self.state.stopping


class RecordCallback(tune.Callback):
    """Records every finished Tune trial through the SearchState."""

    def __init__(self, state: SearchState):
        self.state = state

    def on_trial_complete(self, iteration: int, trials: list, trial, **info: Any) -> None:
        our_id = trial.config["trial_id"]
        if our_id not in self.state.in_flight:
            return
        result = dict(trial.last_result or {})
        if result.get("final"):
            status = result.get("status", "error")
        elif self.state.stopping or not result.get("epochs"):
            self.state.abandon(our_id)  # interrupted mid-trial: not a result
            return
        else:
            status = "stopped"  # stopped early by the scheduler (ASHA); its last epoch's metrics stand
        if status == "ok" and trial.checkpoint is not None:
            self._adopt_weights(our_id, trial.checkpoint)
        self.state.complete(our_id, status, result)

    def on_trial_error(self, iteration: int, trials: list, trial, **info: Any) -> None:
        our_id = trial.config["trial_id"]
        if our_id not in self.state.in_flight:
            return
        if self.state.stopping:
            self.state.abandon(our_id)
            return
        message = _first_line(getattr(trial, "error_msg", None) or "") or "the Ray worker failed"
        self.state.complete(our_id, "error", {"error": f"Ray trial failed twice: {message}"})

    def _adopt_weights(self, trial_id: str, checkpoint: tune.Checkpoint) -> None:
        if self.state.cfg.keep_weights == "none":
            return
        from nas.search import atomic_write

        with checkpoint.as_directory() as folder:
            src = Path(folder) / WEIGHTS_FILE
            if src.exists():
                atomic_write(self.state.weights_path(trial_id), src.read_bytes())
        if checkpoint.filesystem.type_name == "local" and Path(checkpoint.path).is_dir():
            shutil.rmtree(checkpoint.path, ignore_errors=True)  # our copy is the one that is kept


def _trainable(config: dict[str, Any], data=None, train_cfg=None) -> None:
    """Ray Tune function trainable: train one genotype, report per epoch, then once with final=True."""
    from nas.train import train_trial

    genotype = Genotype.from_json(config["genotype"])
    where = {"node": ray.get_runtime_context().get_node_id()[:12]}

    def report(metrics: dict[str, Any]) -> None:
        tune.report(metrics | where | {"final": False})

    result = train_trial(genotype, data, train_cfg, seed=config["seed"], report=report)
    final = result.metrics | where | {"status": result.status, "final": True}
    if result.state_dict is None:
        tune.report(final)
        return
    from safetensors.torch import save_file

    with tempfile.TemporaryDirectory(prefix="nasgraph-") as folder:
        save_file(result.state_dict, os.path.join(folder, WEIGHTS_FILE))
        tune.report(final, checkpoint=tune.Checkpoint.from_directory(folder))


def run_ray(state: SearchState, data, after_init: Callable[[], Any] | None = None) -> None:
    """Run the search's remaining trials through Ray Tune; returns when the budget is spent or on interrupt.

    `after_init` runs once Ray is up: the place to install signal handlers, since ``ray.init``
    installs its own (which abort the process on SIGTERM).
    """
    cfg = state.cfg
    init_ray(cfg.address, num_cpus=None, num_gpus=None)
    if after_init is not None:
        after_init()
    trainable = tune.with_parameters(_trainable, data=data, train_cfg=trial_train_config(cfg))
    trainable = tune.with_resources(trainable, {"cpu": cfg.cpus_per_trial, "gpu": cfg.gpus_per_trial})
    scheduler = None
    if cfg.asha:
        from ray.tune.schedulers import ASHAScheduler

        scheduler = ASHAScheduler(time_attr="training_iteration", max_t=cfg.train.epochs, grace_period=cfg.grace_epochs)
    storage = Path(cfg.storage or state.root / "ray").absolute()
    tuner = tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(
            metric="val_acc",
            mode="max",
            search_alg=NasSearcher(state),
            scheduler=scheduler,
            num_samples=-1,
            max_concurrent_trials=cfg.concurrency,
            reuse_actors=cfg.reuse_actors,
            trial_name_creator=_trial_name,
            trial_dirname_creator=_trial_name,
        ),
        run_config=tune.RunConfig(
            name=f"run-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}",
            storage_path=str(storage) if "://" not in str(cfg.storage or "") else cfg.storage,
            verbose=0,
            stop=_StopWhenAsked(state),
            failure_config=tune.FailureConfig(max_failures=1),
            checkpoint_config=tune.CheckpointConfig(num_to_keep=None),  # one per trial, moved out on completion
            callbacks=[RecordCallback(state)],
        ),
    )
    quiet = [logging.getLogger(n) for n in ("ray.tune", "ray.train", "ray.air")]
    levels = [q.level for q in quiet]
    for q in quiet:
        q.setLevel(logging.ERROR)  # our progress lines replace Tune's; its end-of-run analysis has no logs to read
    try:
        tuner.fit()
    finally:
        for q, level in zip(quiet, levels, strict=True):
            q.setLevel(level)
        for trial_id in list(state.in_flight):
            state.abandon(trial_id)


def _trial_name(trial) -> str:
    return f"trial_{trial.config['trial_id']}"


def _first_line(text: str) -> str:
    lines = [ln.strip() for ln in str(text).strip().splitlines() if ln.strip()]
    return lines[-1][:300] if lines else ""
