"""The search driver's bookkeeping, independent of the engine that trains trials.

`SearchState` owns a results folder: the lock, the resolved config, the
append-only record, the controller and its saved state, the dedupe index and
the constraint checks. An engine -- Ray Tune (`nas.dispatch`) or the plain
in-process loop here (`run_local`) -- only asks it for the next proposal and
hands back each result. Nothing here imports Ray.

Durability: every finished trial is one fsync'd line in ``trials.jsonl``
before the controller is told; the controller's state is saved atomically
after every tell. On resume the record is the truth: the saved state is loaded,
proposals that never finished are dropped, and any recorded trial the state
has not seen is replayed into the controller, so no completed trial is lost,
re-run, or counted twice. A saved state that has seen trials the record lacks
(a record cut short by hand or by a lost write) is rebuilt from the record.

Failures of the folder itself -- a full disk, a read-only or immutable
folder -- end the search with `StorageError` (one line, exit code 2): a line
is appended whole or rolled back, and state and config files are replaced
atomically, so the record stays the old one or the new one, never half of
each. Two searches never share a folder: the second is refused by the lock.

Hung trials: ``--trial-timeout`` is checked between training steps; a trial
stuck inside a step runs until ``TrainConfig.hang_limit()``, when `run_local`
interrupts it (SIGALRM in the main thread) and records it as ``timeout``.
(`nas.dispatch` does the same for Ray workers.) An architecture whose training
fails with ``error`` twice is not trained a third time: later proposals of it
are recorded as duplicates.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
import random
import shutil
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import searchspace as ss
from nas import results
from nas.config import SearchConfig
from nas.controllers import Controller, Proposal, make_controller
from searchspace.genotype import Genotype, GenotypeError

COUNTED = ("ok", "stopped", "diverged", "oom", "invalid", "error", "timeout")  # dispatched trials
NOT_COUNTED = ("rejected", "duplicate")  # logged, never sent to a worker
METRICS = (
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
)
MAX_CONSECUTIVE_SKIPS = 2000
CONFIG, STATE, DATA = "config.json", "state/controller.json", "data.json"
SMALL_INPUT_WIDTHS = (8, 16, 24, 32)


class SearchError(RuntimeError):
    """A search that cannot start or continue; the message is one line for the user."""


class StorageError(SearchError):
    """The results folder cannot be written (full disk, read-only, permissions); what was recorded is kept."""


@contextmanager
def storage_errors(root: Path) -> Iterator[None]:
    """Turn a failed write under `root` into a one-line StorageError that says how to continue."""
    try:
        yield
    except OSError as e:
        what = e.filename or f"to {root}"
        raise StorageError(
            f"cannot write {what}: {e.strerror or e}; the trials recorded so far are intact -- "
            f"free space or make the folder writable, then `launch.py search --resume {root}`"
        ) from e


@dataclass(frozen=True)
class DataInfo:
    """The dataset facts the driver needs (the data itself stays with the trainers)."""

    in_channels: int
    num_classes: int
    input_size: tuple[int, int]
    name: str = ""

    @classmethod
    def of(cls, data) -> DataInfo:
        return cls(data.in_channels, data.num_classes, tuple(data.input_size), data.name)


@dataclass
class Pending:
    """A proposal sent (or about to be sent) to a worker."""

    proposal: Proposal
    fingerprint: str
    params: int | None  # known before training only when a constraint needed it
    flops: int | None
    seed: int
    started: float = field(default_factory=time.time)

    @property
    def trial_id(self) -> str:
        return self.proposal.trial_id


Log = Callable[[str], None]


def stderr_log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class SearchState:
    """One search's results folder and controller; see the module docstring."""

    max_skips = MAX_CONSECUTIVE_SKIPS  # proposals in a row that may be rejected or duplicates before giving up

    def __init__(
        self,
        cfg: SearchConfig,
        root: str | Path,
        info: DataInfo,
        *,
        resume: bool = False,
        log: Log = stderr_log,
        controller: Controller | None = None,
    ):
        self.root = Path(root)
        self.info = info
        self.log = log
        self.started = time.time()
        self.fresh = fresh = not resume and not self.root.exists()
        self._lock_fd = _prepare_folder(self.root, resume)
        try:
            with storage_errors(self.root):
                self.cfg = _settle_config(self.root, cfg, resume)
                if not (self.root / DATA).exists():  # what export needs to rebuild a trial's network
                    atomic_write(self.root / DATA, json.dumps(dataclasses.asdict(info)).encode())
                self.space = make_space(self.cfg, info)
                self.record = results.Record.open(self.root / results.JSONL)
                self.controller = controller if controller is not None else self._restore_controller()
        except BaseException:
            self.close(final=False)
            if fresh:  # a search that never started leaves no folder behind to be --resume'd
                shutil.rmtree(self.root, ignore_errors=True)
            raise
        self.in_flight: dict[str, Pending] = {}
        self.waiting: dict[str, list[Proposal]] = {}  # fingerprint -> proposals waiting for an in-flight twin
        self.known: dict[str, list[dict[str, Any]]] = {}  # fingerprint -> recorded rows with results to replay
        self.errored: dict[str, list[dict[str, Any]]] = {}  # fingerprint -> rows that failed once with "error"
        self.rows: list[dict[str, Any]] = []  # the record's rows, in order (kept here: no re-reading)
        self.counts: Counter[str] = Counter()  # rows by status
        self.leaders = Leaders()  # the Pareto front and the best row, kept up to date row by row
        for row in self.record.rows():
            self._index(row)
        self.skips_in_a_row = 0
        self.resumed_dispatched = self.dispatched
        self.stopping = False  # set on interrupt: unfinished trials are abandoned, not recorded
        self.terminated = False  # the interrupt was SIGTERM (exit 143) rather than Ctrl-C (exit 130)
        self.failure: SearchError | None = None  # why an engine had to stop (raised once it has)

    def fail(self, error: SearchError) -> None:
        """Stop the search because of `error`; the engine raises it once its trials have stopped."""
        self.failure = self.failure or error
        self.stopping = True

    # ------------------------------------------------------------ counts

    @property
    def dispatched(self) -> int:
        """Trials trained (or attempted), from the record."""
        return sum(self.counts[s] for s in COUNTED)

    @property
    def done(self) -> bool:
        return self.dispatched >= self.cfg.trials

    def remaining(self) -> int:
        return max(0, self.cfg.trials - self.dispatched - len(self.in_flight))

    # ------------------------------------------------------------ propose

    def propose(self) -> Pending | None:
        """The next proposal to train, or None when the budget is spent (in flight included)."""
        with storage_errors(self.root):  # rejected and duplicate proposals are recorded too
            return self._propose()

    def _propose(self) -> Pending | None:
        while self.remaining() > 0:
            if self.skips_in_a_row >= self.max_skips:
                raise SearchError(
                    f"{self.max_skips} proposals in a row were rejected or duplicates; "
                    "loosen --max-params/--max-flops or widen the search space"
                )
            p = self.controller.ask()
            pending = self._screen(p)
            if pending is not None:
                self.in_flight[p.trial_id] = pending
                self.skips_in_a_row = 0
                return pending
            self.skips_in_a_row += 1
        return None

    def _screen(self, p: Proposal) -> Pending | None:
        """Dedupe and constraints before dispatch; a proposal that fails either is recorded, not trained."""
        fp = p.genotype.fingerprint()
        twin = self._known_twin(fp, p.genotype)
        if twin is not None:
            self._record_duplicate(p, fp, twin)
            return None
        if any(
            ss.same_architecture(q.proposal.genotype, p.genotype)
            for q in self.in_flight.values()
            if q.fingerprint == fp
        ):
            self.waiting.setdefault(fp, []).append(p)
            return None
        try:
            params, flops = self._complexity(p.genotype)
        except GenotypeError as e:
            self._finish(p, fp, "rejected", {"error": f"does not build at this input size: {e}"}, count_seed=False)
            return None
        reason = self._violates(params, flops)
        if reason:
            self._finish(p, fp, "rejected", {"error": reason, "params": params, "flops": flops}, count_seed=False)
            return None
        return Pending(p, fp, params, flops, self.trial_seed(p.trial_id))

    def _complexity(self, g: Genotype) -> tuple[int | None, int | None]:
        """What the constraints need, and no more: the trial itself measures parameters and FLOPs."""
        info = self.info
        if self.cfg.max_flops:
            return ss.complexity(g, info.in_channels, info.num_classes, info.input_size)
        if self.cfg.max_params:
            return ss.count_params(g, info.in_channels, info.num_classes), None
        ss.validate(g, info.in_channels, info.num_classes, info.input_size)  # still: does it fit the input?
        return None, None

    def _violates(self, params: int | None, flops: int | None) -> str | None:
        if self.cfg.max_params and params > self.cfg.max_params:
            return f"{params:,} parameters > --max-params {self.cfg.max_params:,}"
        if self.cfg.max_flops and flops > self.cfg.max_flops:
            return f"{flops:,} FLOPs > --max-flops {self.cfg.max_flops:,}"
        return None

    def trial_seed(self, trial_id: str) -> int:
        return self.cfg.seed * 1_000_003 + int(trial_id)

    # ------------------------------------------------------------ complete

    def complete(
        self, trial_id: str, status: str, metrics: dict[str, Any], weights: dict | None = None
    ) -> dict[str, Any]:
        """Record a finished trial (fsync'd), tell the controller, resolve waiting twins; returns the row."""
        with storage_errors(self.root):
            return self._complete(trial_id, status, metrics, weights)

    def _complete(self, trial_id: str, status: str, metrics: dict[str, Any], weights: dict | None) -> dict[str, Any]:
        pending = self.in_flight.pop(trial_id)
        if weights is not None and status == "ok" and self.cfg.keep_weights != "none":
            save_weights(weights, self.weights_path(trial_id))
        metrics = dict(metrics) | {
            "params": metrics.get("params", pending.params),
            "flops": metrics.get("flops", pending.flops),
        }
        row = self._finish(
            pending.proposal, pending.fingerprint, status, metrics, seed=pending.seed, started=pending.started
        )
        for twin in self.waiting.pop(pending.fingerprint, []):
            self._record_duplicate(twin, pending.fingerprint, row)
        self.prune_weights()
        return row

    def abandon(self, trial_id: str) -> None:
        """Forget an in-flight trial that will never report (its run was interrupted); it is not recorded."""
        pending = self.in_flight.pop(trial_id, None)
        if pending is not None:
            self.waiting.pop(pending.fingerprint, None)

    def _finish(
        self,
        p: Proposal,
        fp: str,
        status: str,
        metrics: dict[str, Any],
        *,
        seed: int | None = None,
        started: float | None = None,
        count_seed: bool = True,
        duplicate_of: str | None = None,
    ) -> dict[str, Any]:
        now = time.time()
        row = {
            "trial_id": p.trial_id,
            "controller": self.controller.name,
            "parents": list(p.parents),
            "generation": p.generation,
            "status": status,
            "error": metrics.get("error", ""),
            "fingerprint": fp,
            "genotype": p.genotype.to_dict(),
            "params": metrics.get("params"),
            "flops": metrics.get("flops"),
            **{k: metrics.get(k) for k in METRICS},
            "seed": seed if count_seed else None,
            "finished": now,
        }
        if started is not None and row["wall_seconds"] is None:
            row["wall_seconds"] = now - started
        if status != "duplicate":
            for key in ("node", "worker"):  # the Ray node, and the worker process, that trained it
                if metrics.get(key):
                    row[key] = metrics[key]
        if duplicate_of:
            row["duplicate_of"] = duplicate_of
        if p.meta:
            row["meta"] = dict(p.meta)
        stored = self.record.append(row)
        self._index(stored)
        self.controller.tell(p.trial_id, status, stored, p.genotype)
        self.save_state()
        self._progress(stored)
        return stored

    def _record_duplicate(self, p: Proposal, fp: str, twin: dict[str, Any]) -> None:
        metrics = {k: twin.get(k) for k in (*METRICS, "params", "flops")} | {"error": twin.get("error", "")}
        self._finish(p, fp, "duplicate", metrics, count_seed=False, duplicate_of=twin["trial_id"])

    def _index(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        status = row.get("status")
        self.counts[status or ""] += 1
        self.leaders.add(row)
        if status == "error":  # maybe bad luck (a lost worker): one more try, then it is the architecture's result
            failed = self.errored.setdefault(row["fingerprint"], [])
            if _twin(failed, Genotype.from_dict(row["genotype"])) is None:
                failed.append(row)
                return
        if status in COUNTED:
            self.known.setdefault(row["fingerprint"], []).append(row)

    def _known_twin(self, fp: str, g: Genotype) -> dict[str, Any] | None:
        return _twin(self.known.get(fp, []), g)

    # ------------------------------------------------------------ controller state

    def _restore_controller(self) -> Controller:
        if self.cfg.controller == "train":
            raise SearchError(f"{self.root} is a `launch.py train` run; it cannot be resumed, run it again")
        ctrl = self._new_controller()
        state_path = self.root / STATE
        rows = self.record.rows()
        if state_path.exists():
            try:
                ctrl.load_state_dict(json.loads(state_path.read_text()))
            except (ValueError, KeyError, TypeError, AttributeError, IndexError) as e:
                raise SearchError(
                    f"{state_path} is unreadable ({e!r:.200}); remove it to rebuild the state from the record"
                ) from None
            recorded = {r["trial_id"] for r in rows}
            ahead = [t for t in ctrl.observed if t not in recorded]
            if ahead:  # the record lost rows the state saw (cut short): the record is the truth
                self.log(f"{state_path} has seen trials the record lacks ({', '.join(ahead[:3])}); rebuilding it")
                asked, ctrl = ctrl.asked, self._new_controller()
                ctrl.asked = asked  # ids are never reused
        dropped = ctrl.drop_pending()
        replayed = 0
        for row in rows:
            if not ctrl.has_observed(row["trial_id"]):
                ctrl.tell(row["trial_id"], row["status"], row, Genotype.from_dict(row["genotype"]))
                replayed += 1
        ids = [int(r["trial_id"]) for r in rows if str(r.get("trial_id", "")).isdigit()]
        ctrl.asked = max([ctrl.asked, *ids])
        if len(self.record):
            self.log(
                f"resuming {self.root}: {len(self.record)} recorded trials"
                + (f", {replayed} replayed into the controller" if replayed else "")
                + (f", {len(dropped)} unfinished proposals dropped" if dropped else "")
            )
        return ctrl

    def _new_controller(self) -> Controller:
        cfg = self.cfg
        options: dict[str, Any] = {}
        if cfg.controller == "evolution":
            options = {
                "population": cfg.population,
                "sample": cfg.sample,
                "variant": cfg.variant,
                "mutations": cfg.mutations,
                "init": [self._init_genotype(name) for name in cfg.init],
                "init_names": list(cfg.init),
            }
        elif cfg.controller in ("tpe", "nsga2"):
            options = {"storage": self.root / "optuna.journal", "study_name": cfg.name}
            if cfg.controller == "nsga2":
                options["population"] = cfg.population
        return make_controller(cfg.controller, self.space, cfg.seed, cfg.objective_senses(), **options)

    def _init_genotype(self, name: str) -> Genotype:
        """A zoo architecture by name, or a genotype JSON file (``path/to/genotype.json``)."""
        if name.endswith(".json"):
            try:
                g = Genotype.from_json(Path(name).read_bytes())
            except OSError as e:
                raise SearchError(f"--init {name}: cannot read it ({e.strerror})") from None
            except GenotypeError as e:
                raise SearchError(f"--init {name}: not a genotype ({e})") from None
        else:
            try:
                g = ss.zoo.get(name)
            except KeyError as e:
                raise SearchError(str(e).strip("'\"") + " (or give a genotype .json file)") from None
        try:
            return self.space.validate(g)
        except GenotypeError as e:
            raise SearchError(f"--init {name} does not fit this search ({self.info.name} input): {e}") from None

    def save_state(self) -> None:
        atomic_write(self.root / STATE, json.dumps(self.controller.state_dict()).encode())

    # ------------------------------------------------------------ weights

    def weights_path(self, trial_id: str) -> Path:
        return self.root / "weights" / f"{trial_id}.safetensors"

    def front_ids(self) -> list[str]:
        """Trial ids on the Pareto front of validation accuracy (max) and parameters (min), in record order."""
        return [r["trial_id"] for r in self.leaders.front]

    def best_id(self) -> str | None:
        return self.leaders.best["trial_id"] if self.leaders.best is not None else None

    def keep_set(self) -> set[str]:
        """Trials whose weights are kept: the Pareto front (val_acc, params) and the most accurate."""
        best = self.best_id()
        return set(self.front_ids()) | ({best} if best else set())

    def prune_weights(self) -> None:
        if self.cfg.keep_weights != "front":
            return
        folder = self.root / "weights"
        if not folder.is_dir():
            return
        keep = self.keep_set() | set(self.in_flight)
        for f in folder.glob("*.safetensors"):
            if f.stem not in keep:
                with suppress(OSError):  # a read-only folder keeps a few weights too many
                    f.unlink(missing_ok=True)

    # ------------------------------------------------------------ progress and closing

    def _progress(self, row: dict[str, Any]) -> None:
        done = self.dispatched
        failed = done - self.counts["ok"] - self.counts["stopped"]
        best = self.leaders.best["val_acc"] if self.leaders.best is not None else None
        done_now = done - self.resumed_dispatched
        elapsed = time.time() - self.started
        eta = elapsed / done_now * max(0, self.cfg.trials - done) if done_now > 0 else float("nan")
        self.log(
            f"[{done:>{len(str(self.cfg.trials))}}/{self.cfg.trials}] {row['trial_id']} {row['status']:<9}"
            f" val {_fmt(row.get('val_acc'))}  params {_human(row.get('params'))}  flops {_human(row.get('flops'))}"
            f" | best {_fmt(best)} | front {len(self.leaders.front)}"
            f" | failed {failed} | rejected {self.counts['rejected']} | dup {self.counts['duplicate']}"
            f" | ETA {_duration(eta)}"
        )

    def close(self, final: bool = True) -> None:
        """Write the parquet copy, prune weights and release the lock."""
        record = getattr(self, "record", None)
        if record is not None:
            if final:
                try:
                    record.write_parquet()
                    self.prune_weights()
                except OSError as e:  # a copy and a clean-up: the record itself is complete
                    self.log(f"warning: could not write {e.filename or 'trials.parquet'} ({e.strerror or e})")
            record.close()
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> SearchState:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.fresh and not self.rows:  # a new search that never recorded a trial (Ray failed, Ctrl-C, ...)
            self.close(final=False)
            shutil.rmtree(self.root, ignore_errors=True)  # leaves nothing behind: the same command can run again
            return
        self.close(final=exc[0] is None)


# ------------------------------------------------------------------ engine: the plain loop


class Leaders:
    """The ok rows on the (val_acc max, params min) Pareto front, and the most accurate ok row.

    Updated one row at a time in O(front size), so the driver's per-trial bookkeeping does not grow
    with the record. Same answers as `results.pareto_mask` (identical rows are both kept; rows without
    an accuracy never count) and `results.best` (ties: fewer parameters, then the earlier row).
    """

    def __init__(self) -> None:
        self.front: list[dict[str, Any]] = []  # in record order
        self.best: dict[str, Any] | None = None

    def add(self, row: dict[str, Any]) -> None:
        acc = row.get("val_acc")
        if row.get("status") != "ok" or acc is None or acc != acc:  # not trained, or no (or a NaN) accuracy
            return
        key = _objectives(row)
        if self.best is None or key > _objectives(self.best):
            self.best = row
        if any(_dominates(_objectives(f), key) for f in self.front):
            return
        self.front = [f for f in self.front if not _dominates(key, _objectives(f))] + [row]


def _objectives(row: dict[str, Any]) -> tuple[float, float]:
    """(val_acc, -params): larger is better in both."""
    return row["val_acc"], -(row.get("params") or 0)


def _dominates(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return a[0] >= b[0] and a[1] >= b[1] and a != b


def run_local(state: SearchState, data, should_stop: Callable[[], bool] = lambda: False) -> None:
    """Train proposals one after another in this process (no Ray); the baseline engine."""
    from nas.train import resolve_device, train_trial

    train_cfg = trial_train_config(state.cfg)
    try:
        resolve_device(train_cfg.device)  # this process trains: a device it lacks is the user's to fix
    except ValueError as e:
        raise SearchError(f"--device: {e}") from None
    while not should_stop():
        pending = state.propose()
        if pending is None:
            break
        with _hang_alarm(train_cfg.hang_limit()) as trial:
            trial.result = train_trial(pending.proposal.genotype, data, train_cfg, seed=pending.seed)
        result = trial.result
        state.complete(pending.trial_id, result.status, result.metrics, result.state_dict)


class TrialHung(BaseException):
    """Raised into a trial that ran past its hang limit (a BaseException: training must not catch it)."""


@dataclass
class _Outcome:
    result: Any = None  # the TrialResult; a timeout when the alarm went off


@contextmanager
def _hang_alarm(limit: float) -> Iterator[_Outcome]:
    """Interrupt the body with TrialHung after `limit` seconds (SIGALRM; main thread only), a timeout result."""
    outcome = _Outcome()
    if not limit or threading.current_thread() is not threading.main_thread():
        yield outcome
        return

    def on_alarm(signum: int, frame: object) -> None:
        raise TrialHung

    previous = signal.signal(signal.SIGALRM, on_alarm)
    started = time.monotonic()
    signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        try:
            yield outcome
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    except TrialHung:  # also when the alarm beat the line above: training had just run out of time anyway
        signal.setitimer(signal.ITIMER_REAL, 0)
        from nas.train import TrialResult

        outcome.result = TrialResult.hung(time.monotonic() - started, limit, "interrupted")
    finally:
        signal.signal(signal.SIGALRM, previous)


def trial_train_config(cfg: SearchConfig):
    """The TrainConfig each trial uses: the search's, with its time limit and thread count."""
    import dataclasses

    changes: dict[str, Any] = {"max_seconds": cfg.trial_timeout or cfg.train.max_seconds}
    if not cfg.train.threads:
        changes["threads"] = max(1, int(cfg.cpus_per_trial))
    if cfg.gpus_per_trial and cfg.gpus_per_trial < 1 and not cfg.train.memory_fraction:
        changes["memory_fraction"] = cfg.gpus_per_trial
    return dataclasses.replace(cfg.train, **changes)


# ------------------------------------------------------------------ helpers


def make_space(cfg: SearchConfig, info: DataInfo) -> ss.SearchSpace:
    """The SearchSpace for this config and dataset (config lists become tuples)."""
    import dataclasses

    allowed = {f.name for f in dataclasses.fields(ss.SearchSpace)} - {"in_channels", "num_classes", "input_size"}
    unknown = sorted(set(cfg.space) - allowed)
    if unknown:
        raise SearchError(f"unknown search space option {unknown[0]!r}; options: {', '.join(sorted(allowed))}")
    opts = {k: _tuples(v) for k, v in cfg.space.items()}
    if "widths" not in opts and max(info.input_size) <= 16:
        opts["widths"] = SMALL_INPUT_WIDTHS  # tiny images (digits' 8x8) need no 64-wide first stages
    try:
        space = ss.SearchSpace(
            **opts, in_channels=info.in_channels, num_classes=info.num_classes, input_size=info.input_size[0]
        )
        space.sample(random.Random(cfg.seed))  # options that only fail when sampling fail here, before any trial
    except (GenotypeError, TypeError, ValueError) as e:
        raise SearchError(f"search space: {e}") from None
    return space


def _twin(rows: list[dict[str, Any]], g: Genotype) -> dict[str, Any] | None:
    """The first row whose genotype is the same architecture as g."""
    for row in rows:
        if ss.same_architecture(Genotype.from_dict(row["genotype"]), g):
            return row
    return None


def _tuples(v: Any) -> Any:
    return tuple(_tuples(x) for x in v) if isinstance(v, list | tuple) else v


def _prepare_folder(root: Path, resume: bool) -> int:
    """Create or reopen the results folder and take its lock."""
    if resume and not (root / CONFIG).exists():
        raise SearchError(f"--resume {root}: no search there (no {CONFIG})")
    if not resume and root.exists() and any(p.name != ".lock" for p in root.iterdir()):
        raise SearchError(
            f"results folder {root} already exists; pass --resume {root} to continue it, or choose another --name"
        )
    try:
        root.mkdir(parents=True, exist_ok=True)
        fd = os.open(root / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise SearchError(f"cannot write to results folder {root}: {e.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
        os.close(fd)
        raise SearchError(
            f"results folder {root} is in use by another search (pid {holder}); wait for it or stop it"
        ) from None
    if not resume and any(p.name != ".lock" for p in root.iterdir()):  # another search started here meanwhile
        os.close(fd)
        raise SearchError(f"results folder {root} was just created by another search; choose another --name")
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        for folder in (root, root / "state", root / "weights"):  # a killed search's half-written files
            for tmp in folder.glob(".*.tmp"):
                tmp.unlink()
    except OSError as e:
        os.close(fd)
        raise SearchError(f"cannot write to results folder {root}: {e.strerror}") from None
    return fd


# Options a resume may change (given explicitly; otherwise the saved value stands): where and how fast the
# remaining trials run, and how many there are. Everything else shapes the trials themselves and is fixed.
RESUME_OVERRIDES = (
    "trials",
    "concurrency",
    "cpus_per_trial",
    "gpus_per_trial",
    "address",
    "storage",
    "engine",
    "trial_timeout",
    "data_dir",
    "download",
)


def _settle_config(root: Path, cfg: SearchConfig, resume: bool) -> SearchConfig:
    """New search: save the config. Resume: the saved config, with only the run-time options taken from cfg."""
    if not resume:
        atomic_write(root / CONFIG, json.dumps(cfg.to_dict(), indent=2).encode())
        return cfg
    try:
        saved = SearchConfig.from_dict(json.loads((root / CONFIG).read_text()))
    except (ValueError, OSError) as e:
        raise SearchError(f"{root / CONFIG} is unreadable: {e}") from None
    import dataclasses

    merged = dataclasses.replace(saved, **{k: getattr(cfg, k) for k in RESUME_OVERRIDES})
    if merged != saved:
        atomic_write(root / CONFIG, json.dumps(merged.to_dict(), indent=2).encode())
    return merged


def atomic_write(path: Path, data: bytes) -> None:
    """Write a file so that readers see the old or the new content, never a mix (`results.atomic_file`)."""
    with results.atomic_file(path) as f:
        f.write(data)


def save_weights(state_dict: dict, path: Path) -> None:
    """Trained weights as safetensors, written atomically."""
    from safetensors.torch import save

    atomic_write(path, save({k: v.contiguous() for k, v in state_dict.items()}))


def _fmt(v: float | None) -> str:
    return "  -  " if v is None or v != v else f"{v:.3f}"


def _human(n: float | None) -> str:
    if n is None:
        return "-"
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f}{unit}"
    return str(int(n))


def _duration(seconds: float) -> str:
    if seconds != seconds:
        return "?"
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"
