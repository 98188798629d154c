"""The Ray engine: trials through Ray Tune -- the one module that imports Ray.

- `RayEngine` joins a cluster (or starts a local Ray runtime) in `start` and runs
  the search as Tune experiments in `run`; `stop` asks Tune to stop the running
  trials (they end by themselves; a second signal interrupts).
- `NasSearcher` is a Tune ``Searcher`` around a `SearchState`: each
  ``suggest`` is a controller proposal that already passed dedupe and the
  constraints; it returns ``FINISHED`` when the budget is spent.
- `RecordCallback` turns each finished Tune trial into one record row (and
  keeps its weights), or abandons it when the run was interrupted mid-trial.
- The trainable is a thin adapter around `nas.trial.train.train_trial`: it reports
  every epoch (so ASHA can stop poor trials) and once more at the end with
  ``final=True`` and the weights as a checkpoint.

Tune's own experiment state is never used to resume: each run is a fresh Tune
experiment fed from our record and controller state (Tune silently starts an
empty experiment from a corrupted state file, and does not handle SIGTERM).
Trials get ``max_failures=1``: a dead worker is retried once, then recorded as
``error``; failures inside training are results and are never retried. A
trial that Tune ends without telling a callback (it aborts a trial whose
reused worker would not reset) is recorded as ``error`` at the end of that
step, so no trial is ever silently lost.

Hung trials. ``--trial-timeout`` (``TrainConfig.max_seconds``) is cooperative:
the training loop checks it between steps, so a trial stuck inside a step --
a deadlock, a stalled collective, ``fault: hang`` -- never reaches the check.
The trainable therefore runs `train_trial` in a thread of the worker and
watches it (`nas.trial.watchdog`). Once the trial has run
``TrainConfig.hang_limit()`` seconds (2 x the time limit + 60 s, or
``train.hang_seconds``), the trainable reports a final result with status
``timeout``, the reason and ``retire=True``, and when the driver has taken
it, the worker process ends itself (the stuck thread cannot be stopped, and
a reused worker must not carry it). The driver records
the trial as ``timeout`` on that result (`RecordCallback.on_trial_result`);
Tune then sees a dead worker and requeues the trial, and the scheduler
(`_RetireHung`) stops that retry before it starts, so a doomed architecture
is recorded once and trained once. A worker so stuck that the watchdog thread
cannot run (C code holding the GIL) is ended by `faulthandler` 30 s later,
which writes every thread's stack to the worker's log; Tune sees a dead
worker (retried once, then ``error``). Without a time limit nothing is hung.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import logging
import math
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")  # our record replaces Tune's CSV/JSON/TB logs
os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
os.environ.setdefault("RAY_DEDUP_LOGS", "0")
os.environ.setdefault("TUNE_DISABLE_SIGINT_HANDLER", "1")  # the CLI's handlers call RayEngine.stop; _StopWhenAsked acts

import ray  # noqa: E402
from ray import tune  # noqa: E402
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, TrialScheduler  # noqa: E402
from ray.tune.search import Searcher  # noqa: E402
from ray.util.queue import Empty, Queue  # noqa: E402

from nas import objectives  # noqa: E402
from nas.config import SearchConfig  # noqa: E402
from nas.data.shipping import STORE_SHARE, over_object_store  # noqa: E402, F401 -- STORE_SHARE: re-exported
from nas.data.shipping import shippable as _shippable  # noqa: E402 -- (its name here before nas.data.shipping)
from nas.data.shipping import unshipped as _unshipped  # noqa: E402
from nas.driver.coordinator import SearchState  # noqa: E402
from nas.engines.base import Engine, trial_train_config  # noqa: E402
from nas.engines.cluster import check_reachable, choose_gpus, held_stderr  # noqa: E402
from nas.engines.halving import Rungs  # noqa: E402
from nas.errors import (
    SearchError,  # noqa: E402
    last_line,  # noqa: E402
)
from nas.plugins import Shipment  # noqa: E402
from nas.record.folder import atomic_write, storage_errors  # noqa: E402
from nas.status import Status
from nas.trial.train import MISUSE  # noqa: E402
from nas.trial.watchdog import HANG_BACKSTOP_S, HANG_POLL_S, watched  # noqa: E402, F401 -- HANG_*: re-exported
from searchspace.genotype import Genotype  # noqa: E402

WEIGHTS_FILE = "weights.safetensors"
EXIT_HUNG_WORKER = 75  # exit status of a worker process that ends itself because it holds a hung trial
SCORE = "score"  # Tune's metric (`tune_metric`), larger is better (`_packed`)
SEGMENT_TRIALS = 500  # trials per Tune experiment: Tune keeps each experiment's trials in memory (see RayEngine)


def init_ray(address: str | None = None, num_cpus: int | None = None, num_gpus: int | None = None) -> None:
    """Join a cluster (``ray start --head`` / ``--address``) or start a local Ray runtime."""
    if ray.is_initialized():
        return
    common = {"log_to_driver": False, "logging_level": "WARNING", "configure_logging": True}
    if address:
        check_reachable(address)
        join_cluster(address, common)
    else:
        from nas.engines.cluster import DEFAULT_TOKEN_FILE, private_token_file, quiet_local_token

        quiet_local_token()  # token authentication on, as Ray picks for a local runtime, without its warning
        had_token = DEFAULT_TOKEN_FILE.expanduser().exists()
        # "local" always starts a fresh runtime: with no address, ray.init would join whatever cluster
        # /tmp/ray/ray_current_cluster names, a stale one after a killed run (it then retries for minutes)
        ray.init(address="local", num_cpus=num_cpus, num_gpus=num_gpus, include_dashboard=False, **common)
        private_token_file(had_token)


def join_cluster(address: str, options: dict[str, Any]) -> None:
    """``ray.init(address)`` sending Ray's token where one is at hand (`nas.engines.cluster`), failing in one line.

    Ray's C++ client prints a warning a second while a connection is refused; that output is held back
    and, on failure, read for the reason instead of shown.
    """
    from nas.engines.cluster import TOKEN_HELP, auth_token_source, missing_token_message, prefer_token_auth

    if prefer_token_auth(address) == "missing":  # (the CLI asks first, before Ray is imported)
        raise SearchError(missing_token_message(address))
    with held_stderr() as held:
        try:
            ray.init(address=address, **options)
            error = None
        except (ConnectionError, RuntimeError) as e:  # ray raises ConnectionError, or RuntimeError for auth setup
            error = e
    if error is None:
        sys.stderr.write(held.text())
        return
    text = held.text() + str(error)
    if "InvalidAuthToken" in text or "Unauthenticated" in text:
        source = auth_token_source()
        if source and os.environ.get("RAY_AUTH_MODE") == "token":
            raise SearchError(
                f"--address {address}: the cluster refused this machine's Ray token (from {source}); {TOKEN_HELP}"
            ) from None
        if source:  # a token is here, but the user's RAY_AUTH_MODE says not to send it
            raise SearchError(
                f"--address {address}: the cluster requires Ray's token authentication, and this machine has a "
                f"token (from {source}) but RAY_AUTH_MODE={os.environ.get('RAY_AUTH_MODE')}; set RAY_AUTH_MODE=token "
                f"(or unset it) and run again"
            ) from None
        raise SearchError(missing_token_message(address)) from None
    raise SearchError(f"--address {address}: could not join the Ray cluster ({last_line(str(error))})") from None


class NasSearcher(Searcher):
    """Tune Searcher whose suggestions come from a SearchState (controller + dedupe + constraints)."""

    def __init__(self, state: SearchState, engine: Engine, limit: int | None = None, parents=None):
        super().__init__(metric=SCORE, mode="max")
        self.state, self.engine = state, engine
        self.left = limit  # suggestions this experiment may still make (None: no limit)
        self.parents = parents  # the `ParentWeights` actor (--inherit)

    def suggest(self, trial_id: str) -> dict[str, Any] | str | None:
        if self.engine.stopping or self.left == 0:
            return Searcher.FINISHED
        try:
            pending = self.state.propose()
        except SearchError as e:  # raised out of Tune it would come back wrapped; RayEngine.run re-raises it
            self.engine.fail(e)
            return Searcher.FINISHED
        if pending is None:
            return Searcher.FINISHED
        if self.left is not None:
            self.left -= 1
        blob = self.state.parent_weights(pending)
        if blob is not None:  # waited for: the worker reads it from the actor once the trial starts
            ray.get(self.parents.put.remote(pending.trial_id, blob, list(self.state.in_flight)))
        return {
            "trial_id": pending.trial_id,
            "genotype": pending.proposal.genotype.to_json(),
            "seed": pending.seed,
            "epochs": pending.epochs,
            "inherit": blob is not None,
            "complexity": pending.complexity,
        }

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        """Results are recorded by RecordCallback, which also sees checkpoints and errors."""


@ray.remote(num_cpus=0)
class ParentWeights:
    """The parents' weights that running children inherit (--inherit), for workers on any node: the driver
    puts a child's parent weights (safetensors bytes) under the child's trial id before the trial starts;
    each put drops the entries of trials no longer running, so it holds at most `concurrency` of them."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}

    def put(self, trial_id: str, blob: bytes, running: list[str]) -> None:
        live = set(running)
        self.blobs = {k: v for k, v in self.blobs.items() if k in live}
        self.blobs[trial_id] = blob

    def get(self, trial_id: str) -> bytes | None:
        return self.blobs.get(trial_id)


class _StopWhenAsked(tune.Stopper):
    """Ends the whole Tune run once the driver is asked to stop (Ctrl-C, SIGTERM)."""

    def __init__(self, engine: Engine):
        self.engine = engine

    def __call__(self, trial_id: str, result: dict) -> bool:
        return False

    def stop_all(self) -> bool:
        return self.engine.stopping


class _RetireHung:
    """Scheduler mixin: lets a hung trial's worker end itself, and cancels Tune's retry of that trial."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._cancelled: list = []

    def cancel(self, trial) -> None:
        """Stop this (requeued) trial before it starts again."""
        self._cancelled.append(trial)

    def on_trial_result(self, tune_controller, trial, result: dict) -> str:
        if result.get("retire"):
            return TrialScheduler.CONTINUE  # Tune asks the worker for more, and the worker ends itself
        return super().on_trial_result(tune_controller, trial, result)

    def choose_trial_to_run(self, tune_controller):
        while self._cancelled:
            tune_controller.stop_trial(self._cancelled.pop())  # the scheduler API Hyperband uses
        return super().choose_trial_to_run(tune_controller)


class _FIFO(_RetireHung, FIFOScheduler):
    """Trials in order of suggestion."""


class _ASHA(_RetireHung, ASHAScheduler):
    """Asynchronous successive halving (stops poor trials early) by one number: Tune's metric (`SCORE`)."""


class _Halving(FIFOScheduler):
    """Asynchronous successive halving by several objectives (MO-ASHA; the rungs: `nas.engines.halving`)."""

    def __init__(self, rungs: Rungs, senses: dict[str, str]):
        super().__init__()
        self.rungs, self.senses, self.max_t = rungs, senses, rungs.max_t
        self.stopped = 0  # trials stopped at a rung

    def on_trial_result(self, tune_controller, trial, result: dict) -> str:
        iteration = result.get("training_iteration", 0)
        if iteration >= self.max_t:
            return TrialScheduler.STOP  # (as Ray's ASHA: a trial ends at max_t)
        if self.rungs.decide(trial.trial_id, iteration, objectives.larger_better(_unpacked(result), self.senses)):
            return TrialScheduler.CONTINUE
        self.stopped += 1
        return TrialScheduler.STOP

    def on_trial_complete(self, tune_controller, trial, result: dict) -> None:
        if result:  # a finished trial's last result stands at its rung, as in Ray's ASHA
            vector = objectives.larger_better(_unpacked(result), self.senses)
            self.rungs.decide(trial.trial_id, result.get("training_iteration", 0), vector)

    def debug_string(self) -> str:
        return f"MO-ASHA over {', '.join(self.senses)}: {self.stopped} stopped; rungs at {self.rungs.milestones}"


class _MOASHA(_RetireHung, _Halving):
    """MO-ASHA, letting a hung trial's worker end itself (`_RetireHung`)."""


class RecordCallback(tune.Callback):
    """Records every finished Tune trial through the SearchState."""

    def __init__(self, state: SearchState, engine: Engine, scheduler: _RetireHung):
        self.state, self.engine = state, engine
        self.scheduler = scheduler
        self.retired: set[str] = set()  # Tune ids of trials whose worker ended itself after a hang

    def on_trial_result(self, iteration: int, trials: list, trial, result: dict, **info: Any) -> None:
        """A hung trial is recorded on its last result: its worker ends itself right after."""
        our_id = trial.config["trial_id"]
        if not result.get("retire") and not result.get("final") and our_id in self.state.in_flight:
            self.state.epoch_done(our_id, _unpacked(result))  # a long trial's progress line
        if not result.get("retire") or our_id not in self.state.in_flight:
            return
        self.retired.add(trial.trial_id)
        with self._failures_stop_the_run():
            self.state.complete(our_id, result.get("status", Status.TIMEOUT), _unpacked(result))

    def on_trial_recover(self, iteration: int, trials: list, trial, **info: Any) -> None:
        if trial.trial_id in self.retired:  # the worker that ended itself: no retry of the hung architecture
            self.scheduler.cancel(trial)

    def on_trial_complete(self, iteration: int, trials: list, trial, **info: Any) -> None:
        our_id = trial.config["trial_id"]
        if our_id not in self.state.in_flight:
            return
        result = dict(trial.last_result or {})
        if result.get("final") and result.get("status") == MISUSE:
            self.engine.misused(self.state, our_id, _unpacked(result).get("error", ""))
            return
        if result.get("final"):
            status = result.get("status", Status.ERROR)
        elif self.engine.stopping or not result.get("epochs"):
            self.state.abandon(our_id)  # interrupted mid-trial: not a result
            return
        else:
            status = Status.STOPPED  # stopped early by the scheduler (ASHA); its last epoch's metrics stand
        with self._failures_stop_the_run():
            if status == Status.OK and trial.checkpoint is not None:
                self._adopt_weights(our_id, trial.checkpoint)
            self.state.complete(our_id, status, _unpacked(result))

    def on_trial_error(self, iteration: int, trials: list, trial, **info: Any) -> None:
        if trial.config["trial_id"] in self.state.in_flight:
            # Tune retries a trial whose worker dies while it runs (max_failures=1), not one whose (reused)
            # worker dies while being handed the trial: that one fails once and is not retried
            what = "Ray trial failed twice" if trial.num_failures > 1 else "its Ray worker died before it started"
            self._record_failure(trial, what, "the Ray worker failed")

    def on_step_end(self, iteration: int, trials: list, **info: Any) -> None:
        """Record trials that Tune ended without a callback (an aborted reuse of a worker) as errors."""
        for trial in trials:
            if trial.status in ("ERROR", "TERMINATED") and trial.config.get("trial_id") in self.state.in_flight:
                self._record_failure(trial, "Ray ended the trial without a result", "no result")

    def _record_failure(self, trial, what: str, fallback: str) -> None:
        """Record an in-flight trial that ended without a result as ``error`` (dropped if the run is stopping)."""
        our_id = trial.config["trial_id"]
        if self.engine.stopping:
            self.state.abandon(our_id)
            return
        message = last_line(getattr(trial, "error_msg", None) or "") or fallback
        with self._failures_stop_the_run():
            self.state.complete(our_id, Status.ERROR, {"error": f"{what}: {message}"})

    @contextmanager
    def _failures_stop_the_run(self) -> Iterator[None]:
        """A record that cannot be written ends the run (raised after Tune stops), not the Tune loop."""
        try:
            with storage_errors(self.state.root):
                yield
        except SearchError as e:
            self.engine.fail(e)

    def _adopt_weights(self, trial_id: str, checkpoint: tune.Checkpoint) -> None:
        if not self.state.keeps_weights:
            return
        with checkpoint.as_directory() as folder:
            src = Path(folder) / WEIGHTS_FILE
            if src.exists():
                atomic_write(self.state.weights_path(trial_id), src.read_bytes())
        if checkpoint.filesystem.type_name == "local" and Path(checkpoint.path).is_dir():
            shutil.rmtree(checkpoint.path, ignore_errors=True)  # our copy is the one that is kept


NOTES_QUEUE = 1000  # progress notes held for the driver; more are dropped (they are only progress lines)


def _relay_notes(notes: Queue, state: SearchState, done: threading.Event) -> None:
    """The driver's side of the trials' progress notes: a line each (`SearchState.trial_note`), until `done`."""
    while not done.is_set():
        try:
            trial_id, note = notes.get(timeout=1.0)
        except Empty:
            continue
        except Exception:  # noqa: BLE001 -- the queue's actor is gone (Ray shutting down): no more lines
            return
        with contextlib.suppress(Exception):  # a line that cannot be printed stops neither the relay nor the search
            state.trial_note(trial_id, note)


def _trainable(config: dict[str, Any], data=None, train_cfg=None, shipment=None, parents=None, notes=None) -> None:
    """Ray Tune function trainable: train one genotype, report per epoch, then once with final=True."""
    from nas.engines.base import inherited_weights
    from nas.trial.clock import PhaseClock

    clock = PhaseClock("setup")  # the trial's time, from here (`nas.record.row.PHASES`)
    data = _unshipped(data)
    shipment.install()  # the user's ops, where this worker does not know them yet
    genotype = Genotype.from_json(config["genotype"])
    init = inherited_weights(ray.get(parents.get.remote(config["trial_id"]))) if config.get("inherit") else None
    if config.get("epochs") and config["epochs"] != train_cfg.epochs:  # a child that inherited trains less
        train_cfg = dataclasses.replace(train_cfg, epochs=config["epochs"])
    where = {"node": ray.get_runtime_context().get_node_id()[:12], "worker": os.getpid()}
    reporting = threading.Event()

    def report(metrics: dict[str, Any]) -> None:
        if metrics.get("epochs") == train_cfg.epochs:
            return  # the final report carries the last epoch (reported twice, ASHA would stop it at max_t first)
        reporting.set()  # waiting for the driver is not hanging
        try:
            tune.report(_packed(metrics | where, shipment.objective, final=False))
        finally:
            reporting.clear()

    def progress(note: dict[str, Any]) -> None:
        if notes is not None:  # a progress line only: a full queue, or one whose actor is gone, loses it
            with contextlib.suppress(Exception):
                notes.put_nowait((config["trial_id"], note))

    counted = tuple(config["complexity"]) if config.get("complexity") else None  # (params, FLOPs) by the driver
    result, hung = watched(
        reporting, genotype, data, train_cfg, seed=config["seed"], report=report, train_fn=shipment.train_fn,
        init=init, progress=progress, clock=clock, complexity=counted,
    )  # fmt: skip
    if hung:
        _retire(_packed(result.metrics | where, shipment.objective, status=result.status, final=True))
    with tempfile.TemporaryDirectory(prefix="nasgraph-") as folder:
        checkpoint = None
        if result.state_dict is not None:
            from safetensors.torch import save_file

            clock.begin("weights")
            save_file(result.state_dict, os.path.join(folder, WEIGHTS_FILE))
            checkpoint = tune.Checkpoint.from_directory(folder)
            result.metrics |= clock.result()
        final = _packed(result.metrics | where, shipment.objective, status=result.status, final=True)
        tune.report(final, checkpoint=checkpoint)


def _packed(metrics: dict[str, Any], objective: tuple[str, str] = ("val_acc", "max"), **flags: Any) -> dict[str, Any]:
    """A trial's report to Tune: what ASHA and the callbacks read, and the metrics as one JSON string.

    Tune's metric (`SCORE`, what single-objective ASHA compares) is `tune_metric`'s, turned so that larger is
    better: val_acc, or a train_fn's own metric. Tune's driver keeps running statistics (min,
    max, mean, last-5 and last-10 averages) of every numeric key of every result of every trial of an
    experiment; one string instead of a dozen numbers keeps that memory, and the time to update it, per
    trial small.
    """
    name, sense = objective
    value = metrics.get(name)
    if not isinstance(value, int | float) or isinstance(value, bool):
        value = math.nan  # every result must have Tune's metric
    return {
        SCORE: value if sense == "max" else -value,
        "epochs": metrics.get("epochs") or 0,
        "metrics": json.dumps(metrics, default=str),
    } | flags


def _unpacked(result: dict[str, Any]) -> dict[str, Any]:
    """The metrics of a `_packed` report."""
    return json.loads(result["metrics"]) if "metrics" in result else {}


def _retire(final: dict[str, Any]) -> None:
    """Report a hung trial's result, then end this worker process once the driver has taken it."""
    try:
        tune.report(final | {"retire": True})  # returns when the driver asks for more (or stops the trial)
    finally:
        print("nasgraph: a trial hung in this worker; ending the worker process", file=sys.stderr, flush=True)
        os._exit(EXIT_HUNG_WORKER)


class RayEngine(Engine):
    """Trials through Ray Tune, in experiments of at most `SEGMENT_TRIALS` trials, one after another.

    Tune keeps every trial of an experiment in the driver's memory, so a long search in one experiment
    would grow without bound. Signal handlers go in after `start`: ``ray.init`` installs its own (which
    abort the process on SIGTERM).
    """

    name = "ray"
    stop_message = "stopping: Ray is stopping the running trials (press Ctrl-C again to force)"
    checked_store = False  # whether the dataset was checked against the object store (`over_object_store`)

    def start(self, state: SearchState) -> None:
        init_ray(state.cfg.address, num_cpus=None, num_gpus=None)
        if not self.checked_store:
            stores = [n["Resources"].get("object_store_memory", 0) for n in ray.nodes() if n.get("Alive")]
            problem = over_object_store(self.data, min(stores, default=0))
            if problem:
                raise SearchError(problem)
            self.checked_store = True

    def stop(self) -> bool:
        self.stopping = True  # a Tune Stopper watches this and ends the running trials
        return True

    def run(self, state: SearchState) -> None:
        cfg = state.cfg
        self.start(state)  # (a no-op once Ray is up)
        gpus, said = choose_gpus(cfg, float(ray.cluster_resources().get("GPU", 0.0)))
        if said:
            state.log(said)
        train_cfg = trial_train_config(dataclasses.replace(cfg, gpus_per_trial=gpus))
        if gpus > 0 and train_cfg.device == "auto":  # a trial given a GPU that finds no CUDA fails, not trains on CPU
            train_cfg = dataclasses.replace(train_cfg, device="cuda")
        parents = ParentWeights.remote() if cfg.inherit else None
        notes = Queue(maxsize=NOTES_QUEUE)  # long trials' progress inside their epochs, read by `_relay_notes`
        trainable = tune.with_parameters(
            _trainable,
            data=_shippable(self.data),
            train_cfg=train_cfg,
            shipment=Shipment.gather(ray.cloudpickle, self.train_fn, tune_metric(cfg)),
            parents=parents,
            notes=notes,
        )
        trainable = tune.with_resources(trainable, {"cpu": cfg.cpus_per_trial, "gpu": gpus})
        quiet = [logging.getLogger(n) for n in ("ray.tune", "ray.train", "ray.air")]
        levels = [q.level for q in quiet]
        for q in quiet:
            q.setLevel(logging.ERROR)  # our progress lines replace Tune's; its end-of-run analysis has no logs
        relaying = threading.Event()
        relay = threading.Thread(target=_relay_notes, args=(notes, state, relaying), name="nasgraph-notes", daemon=True)
        relay.start()
        try:
            for segment in itertools.count():
                before = state.recorded
                _tuner(state, self, trainable, segment, parents).fit()
                if state.done or self.stopping or state.recorded == before:
                    break  # finished, stopped, or nothing came of a whole experiment (do not spin)
        finally:
            relaying.set()
            relay.join(timeout=5)
            with contextlib.suppress(Exception):
                notes.shutdown()  # its actor, which would outlive a search run from a notebook
            for q, level in zip(quiet, levels, strict=True):
                q.setLevel(level)
            for trial_id in list(state.in_flight):
                state.abandon(trial_id)
        if self.failure is not None:
            raise self.failure


def _tuner(state: SearchState, engine: Engine, trainable, segment: int, parents=None) -> tune.Tuner:
    """One Tune experiment over the next `SEGMENT_TRIALS` proposals of the search."""
    cfg = state.cfg
    scheduler = _scheduler(cfg)
    storage = Path(cfg.storage or state.folder.ray).absolute()
    return tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(
            metric=SCORE,
            mode="max",
            search_alg=NasSearcher(state, engine, limit=SEGMENT_TRIALS, parents=parents),
            scheduler=scheduler,
            num_samples=-1,
            max_concurrent_trials=cfg.concurrency,
            reuse_actors=cfg.reuse_actors,
            trial_name_creator=_trial_name,
            trial_dirname_creator=_trial_name,
        ),
        run_config=tune.RunConfig(
            name=f"run-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{segment}",
            storage_path=str(storage) if "://" not in str(cfg.storage or "") else cfg.storage,
            verbose=0,
            stop=_StopWhenAsked(engine),
            failure_config=tune.FailureConfig(max_failures=1),
            checkpoint_config=tune.CheckpointConfig(num_to_keep=None),  # one per trial, moved out on completion
            callbacks=[RecordCallback(state, engine, scheduler)],
        ),
    )


def tune_metric(cfg: SearchConfig) -> tuple[str, str]:
    """What a trial reports as Tune's metric (`SCORE`), the one number single-objective ASHA ranks by: the search's
    objective when it has one (val_acc, a train_fn's metric, even a cost), else its score (`nas.objectives.score`:
    val_acc, or the first of its own metrics; what ``--asha-by score`` ranks by)."""
    senses = cfg.objective_senses()
    return next(iter(senses.items())) if len(senses) == 1 else objectives.score(cfg.objectives)


def _scheduler(cfg: SearchConfig) -> _RetireHung:
    """Trials in order; with --asha, ASHA by the search's objectives (several: MO-ASHA) or by its score alone."""
    senses = cfg.objective_senses()
    if cfg.asha and cfg.asha_by == "objectives" and len(senses) > 1:
        return _MOASHA(Rungs(cfg.grace_epochs, cfg.train.epochs), senses)
    if cfg.asha:  # one objective, or --asha-by score: Tune's metric, the search's score (`_packed`)
        return _ASHA(time_attr="training_iteration", max_t=cfg.train.epochs, grace_period=cfg.grace_epochs)
    return _FIFO()


def _trial_name(trial) -> str:
    return f"trial_{trial.config['trial_id']}"
