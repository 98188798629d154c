"""Search from Python (a script, a notebook): the same driver, engines, record and folder as the CLI.

    import nas
    df = nas.search({"trials": 20, "train": {"epochs": 3}}, data=(x, y))          # -> pandas DataFrame
    df = nas.search(data=nas.dataset((x, y), flip=True), train_fn=my_train,
                    objectives=["my_metric:max", "params"], engine="local")

    s = nas.Search(config, data=data, train_fn=my_train)   # the object form
    df = s.run()                                           # Ctrl-C / a notebook's interrupt stops it cleanly
    df = nas.Search.resume(s.root, data=data, train_fn=my_train).run()

`launch.py search` is a thin caller of `drive`. The config is a `SearchConfig`, a mapping of its
options, or a YAML/JSON file, with keyword options over it (``trials=50``, ``train={"epochs": 3}``,
``space={"ops": [...]}``); it is saved as ``config.json`` like the CLI's. Data is a dataset name in
the config, or your own (`nas.dataset`); `train_fn(model, data, config, report) -> metrics` replaces
the built-in trainer (`nas.trial.train.TrainFn`). The resolved config is saved; so is the name of your
train_fn, so that a resume without it is refused instead of silently training differently.
"""

from __future__ import annotations

import inspect
import signal
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nas.config import DEFAULT_VAL_FRACTION, ConfigError, SearchConfig, load_config_file
from nas.driver.progress import Log, stderr_log
from nas.errors import SearchError, one_line
from nas.registry import engine_entry
from nas.status import Status

if TYPE_CHECKING:
    import pandas as pd

    from nas.data import DataSplits
    from nas.driver.coordinator import SearchState
    from nas.engines import Engine


@dataclass
class Outcome:
    """How one run of a search ended."""

    root: Path
    finished: bool = False  # every trial is recorded
    recorded: bool = False  # the folder exists (at least one trial recorded, now or before)
    dispatched: int = 0
    trials: int = 0
    signum: int | None = None  # the stop signal received, if any
    notes: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """0 for a finished search that no signal touched; 143 after SIGTERM, 130 after Ctrl-C (or a stop)."""
        if self.signum == signal.SIGTERM:
            return 143
        return 0 if self.finished and self.signum is None else 130


def drive(
    cfg: SearchConfig,
    root: Path,
    data: DataSplits,
    *,
    resume: bool = False,
    train_fn: Any = None,
    notes: tuple[str, ...] = (),
    log: Log = stderr_log,
    engine: Engine | None = None,
) -> Outcome:
    """Run a search to its end or to a stop signal, recording every trial; what the CLI and `Search` share.

    Ctrl-C (or a notebook's interrupt) and SIGTERM stop it cleanly (`StopSignals`); a search that
    recorded no trial leaves no folder. Raises NasgraphError subclasses for bad input and failures.
    """
    from nas.data import small_validation
    from nas.driver.coordinator import SearchState
    from nas.engines import make_engine
    from nas.record.folder import DataInfo

    if cfg.asha and cfg.engine != "ray":  # (a saved config may hold both: it resumes, without early stopping)
        message = f"asha: ASHA stops trials through Ray Tune, not engine {cfg.engine}; use --engine ray or drop --asha"
        if not resume:
            raise ConfigError(message)
        log(f"warning: {message} (this resumed search runs without early stopping)")
    outcome = Outcome(root, trials=cfg.trials)
    state: SearchState | None = None
    stop = StopSignals(engine or make_engine(cfg, data, train_fn))
    try:
        with SearchState(cfg, root, DataInfo.of(data), resume=resume, log=log, scorer=_scorer(cfg, data)) as state:
            for note in notes:  # the resume is under way (its folder opened): say what it changed
                log(note)
            log(f"nasgraph: {data}")
            trains = engine_entry(cfg.engine)[0].trait(
                "trains", True
            )  # a table answers from its data, not this split's
            if trains and hasattr(data, "val_y") and (warning := small_validation(data, cfg.val_fraction)):
                log(warning)
            log(
                f"searching with {state.cfg.controller} for {state.cfg.trials} trials ({state.dispatched} done) -> {root}"
            )
            stop.install()
            try:
                if not state.done:  # (a finished search resumed: only the parquet copy and the report are rewritten)
                    stop.engine.start(state)
                    stop.install()  # again: Ray's start installs its own handlers
                    stop.engine.run(state)
            except KeyboardInterrupt:
                pass
            stop.trials_over = True  # from here on a signal interrupts the wrap-up at once
            outcome.finished = state.done
            outcome.dispatched, outcome.trials = state.dispatched, state.cfg.trials
        if root.exists():
            write_report(root, log)
    except KeyboardInterrupt:
        if state is None:
            raise
        if outcome.finished:  # the record is complete; only the parquet copy or the report may be missing
            outcome.notes.append(f"interrupted while writing the results; all {outcome.trials} trials are recorded")
    finally:
        stop.restore()
        outcome.signum = stop.signum
    outcome.recorded = root.exists()
    return outcome


def _scorer(cfg: SearchConfig, data: DataSplits):
    """The zero-cost proxy scorer of a search with warm-up or a proxy filter (None without)."""
    if not (cfg.warmup or cfg.proxy_filter):
        return None
    from nas.trial.proxies import Scorer

    return Scorer(cfg.proxy, data, seed=cfg.seed)


def preflight(cfg: SearchConfig) -> None:
    """What would only fail once the results folder exists: the device, the user's ops, the cluster's address.

    The device is checked here when trials run on this machine (the local engine, or a local Ray
    runtime); on a cluster (``--address``) the driver may have no GPU at all, and the workers check it.
    """
    if cfg.engine == "local" or not cfg.address:
        from nas.trial.train import resolve_device

        try:
            resolve_device(cfg.train.device)
        except ValueError as e:
            raise ConfigError(f"--device: {e}") from None
    if cfg.engine != "local" and cfg.address:  # join now: a cluster that cannot be joined leaves no folder
        from nas.engines.cluster import check_reachable, missing_token_message, prefer_token_auth

        check_reachable(cfg.address)
        if prefer_token_auth(cfg.address) == "missing":  # before Ray is imported: it reads the mode once
            raise SearchError(missing_token_message(cfg.address))
        from nas.engines.ray_tune import init_ray

        init_ray(cfg.address)


def check_user_ops(cfg: SearchConfig, data: DataSplits) -> None:
    """Each op of yours the search space may use gives the shapes it declares (`nas.plugins.check_ops`)."""
    from nas import plugins
    from searchspace.space import DEFAULT_OPS

    names = set(cfg.space.get("ops", DEFAULT_OPS)) | set(cfg.space.get("reduce_ops", ()) or ())
    plugins.check_ops(names, data.input_size)


def write_report(root: Path, log: Log) -> None:
    """The HTML report at the end of a search; a failure to draw it never fails the search."""
    try:
        from nas.report import html as html_report

        log(f"report: {html_report.write_report(root)}")
    except Exception as e:  # noqa: BLE001 -- the record is what matters; the report can be redrawn with `plot`
        log(f"warning: could not write the HTML report ({type(e).__name__}: {e}); try `launch.py plot {root}`")


class StopSignals:
    """Ctrl-C and SIGTERM stop the search cleanly: finished trials are on disk, unfinished ones are dropped.

    The first signal asks the engine to stop (`Engine.stop`): Ray stops the running trials by itself; the
    local engine, which trains in this process, is interrupted at once, as is everything after the
    trials (`trials_over`) and any second signal. Handlers go in only in the main thread (where Python
    delivers signals; a notebook kernel runs cells there); elsewhere `Search.stop` is the way to stop.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.signum: int | None = None  # the last signal received
        self.trials_over = False
        self._previous: dict[int, Any] = {}

    def install(self) -> None:
        """(Re)install the handlers; `restore` puts back those found the first time."""
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous = signal.signal(sig, self._handle)
            self._previous.setdefault(sig, previous)

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def _handle(self, signum: int, frame: object) -> None:
        first, self.signum = self.signum is None, signum
        if self.trials_over or not first or not self.engine.stop():
            self.engine.stopping = True
            raise KeyboardInterrupt
        print(self.engine.stop_message, file=sys.stderr, flush=True)


# ------------------------------------------------------------------ the Python entry points


class Search:
    """One search, started or resumed from Python; `run` returns the results as a DataFrame.

    Args:
        config: a `SearchConfig`, a mapping of its options, a YAML/JSON file, or None (the defaults).
        data: your data (anything `nas.dataset` takes); None: the config's ``dataset`` by name.
        train_fn: ``train_fn(model, data, config, report) -> {metric: number}`` instead of the built-in
            trainer; objectives may then name its metrics (``"my_metric:max"``).
        results_dir: where the results folder (``<results_dir>/<name>``) goes.
        progress: print a line per finished trial (True), stay quiet (False), or call this with each line.
        **options: config options over `config` (``trials=50``, ``train={"epochs": 3}``).
    """

    def __init__(
        self,
        config: SearchConfig | Mapping[str, Any] | str | Path | None = None,
        *,
        data: Any = None,
        train_fn: Any = None,
        results_dir: str | Path = "results",
        progress: bool | Log = True,
        **options: Any,
    ) -> None:
        check_train_fn(train_fn)
        given = _options(config, options)
        self.train_fn, self.log = train_fn, _log(progress)
        self.cfg, self.data = _config_and_data(given, data, train_fn)
        self.root = Path(results_dir) / self.cfg.name
        self._engine: Engine | None = None  # while run() runs: what stop() asks
        self.resuming = False
        self.notes: tuple[str, ...] = ()
        self.outcome: Outcome | None = None

    @classmethod
    def resume(
        cls,
        folder: str | Path,
        *,
        data: Any = None,
        train_fn: Any = None,
        progress: bool | Log = True,
        **options: Any,
    ) -> Search:
        """Continue the search in `folder` as it was started; options may change only what a CLI resume may
        (trials, concurrency, resources, address, storage, engine, trial_timeout, data_dir, download)."""
        from nas.driver.resume import RESUME_OVERRIDES, read_saved_config

        root = Path(folder)
        saved = read_saved_config(root, flag="resume")
        fixed = sorted(set(options) - set(RESUME_OVERRIDES))
        if fixed:
            raise ConfigError(
                f"resume {root}: {fixed[0]} cannot change on resume (the recorded trials were made with the saved "
                f"value); options that may: {', '.join(RESUME_OVERRIDES)}"
            )
        check_train_fn(train_fn)
        if saved.train_fn and train_fn is None:
            from nas.plugins import resolvable, train_fn_from

            if not resolvable(saved.train_fn):
                raise ConfigError(f"resume {root}: this search trains with train_fn {saved.train_fn}; pass it again")
            train_fn = train_fn_from(saved.train_fn)  # a CLI search's --train-fn FILE.py:NAME
        if train_fn is not None and not saved.train_fn:
            raise ConfigError(f"resume {root}: this search trained with the built-in trainer; leave train_fn out")
        self = cls.__new__(cls)
        self.train_fn, self.log = train_fn, _log(progress)
        base = saved.to_dict()
        if isinstance(base["engine"], dict) and options.get("engine") == base["engine"]["name"]:
            options.pop("engine")  # the same engine by name: its saved options stay
        self.cfg, self.data = _config_and_data(base | options, data, train_fn, resuming=True)
        self.root, self.resuming, self.outcome, self._engine = root, True, None, None
        changed = {k: v for k, v in options.items() if getattr(saved, k) != getattr(self.cfg, k)}
        self.notes = tuple(f"resume: {k} {getattr(saved, k)!r} -> {getattr(self.cfg, k)!r}" for k in changed)
        return self

    def run(self) -> pd.DataFrame:
        """Train until the budget is spent or a stop; the trials recorded so far, as `nas.record.results.load` gives."""
        from nas.engines import make_engine
        from nas.record import results

        preflight(self.cfg)
        check_user_ops(self.cfg, self.data)
        self._engine = make_engine(self.cfg, self.data, self.train_fn)
        try:
            self.outcome = drive(
                self.cfg,
                self.root,
                self.data,
                resume=self.resuming,
                train_fn=self.train_fn,
                notes=self.notes,
                log=self.log,
                engine=self._engine,
            )
        finally:
            self._engine = None
        if not self.outcome.recorded:
            self.log("stopped before any trial was recorded; nothing was written")
            import pandas as pd

            return pd.DataFrame(columns=list(results.COLUMNS))
        self.resuming = True  # run() again continues this folder
        for note in self.outcome.notes:
            self.log(note)
        if not self.outcome.finished:
            self.log(
                f"stopped after {self.outcome.dispatched}/{self.outcome.trials} trials; continue with "
                f"nas.Search.resume({str(self.root)!r}{', data=...' if self.cfg.dataset.startswith('user:') else ''}"
                f"{', train_fn=...' if self.cfg.train_fn else ''}).run()"
            )
        return self.results()

    def stop(self) -> None:
        """Ask a running search to stop (from another thread, a callback, a train_fn): no new trials start;
        Ray stops the running ones, the local engine lets its current trial finish. `run` then returns."""
        engine = getattr(self, "_engine", None)
        if engine is not None:
            engine.stop()

    def results(self) -> pd.DataFrame:
        """The recorded trials (`nas.record.results.load`)."""
        from nas.record import results

        return results.load(self.root)

    def best(self) -> pd.Series:
        """The best ok trial, as ``export --trial best`` picks it: by the search's score (val_acc, or the first
        of its own metrics its objectives name), among the trials with every front objective finite."""
        from nas import objectives
        from nas.record import results

        name, sense = objectives.score(self.cfg.objectives)
        try:
            return results.best(self.results(), metric=name, mode=sense, objectives=self.cfg.front_senses())
        except ValueError:
            raise SearchError(f"{self.root}: no trial trained successfully yet") from None

    def export(self, out: str | Path, trial: str = "best", *, formats=(), overwrite: bool = False) -> Path:
        """Export a trial ("best" or a trial id) as a standalone model folder (`export_trial`)."""
        from nas.record import results
        from nas.record.folder import Layout

        row = self.best() if trial == "best" else results.find_trial(self.results(), trial)
        return export_trial(Layout(self.root), row, out, formats=formats, overwrite=overwrite)

    @property
    def finished(self) -> bool:
        return self.outcome is not None and self.outcome.finished


def search(
    config: SearchConfig | Mapping[str, Any] | str | Path | None = None,
    *,
    data: Any = None,
    train_fn: Any = None,
    results_dir: str | Path = "results",
    resume: str | Path | None = None,
    progress: bool | Log = True,
    **options: Any,
) -> pd.DataFrame:
    """Run a search (or, with `resume`, continue the one in that folder) and return its trials; see `Search`."""
    if resume is not None:
        if config is not None:
            raise ConfigError("resume: the saved config is used; give options to change, not a config")
        return Search.resume(resume, data=data, train_fn=train_fn, progress=progress, **options).run()
    return Search(config, data=data, train_fn=train_fn, results_dir=results_dir, progress=progress, **options).run()


def export_trial(layout: Any, row: Mapping[str, Any], out: str | Path, *, formats=(), overwrite=False) -> Path:
    """Export one recorded trial of a results folder (`nas.record.folder.Layout`) with its kept weights: model.py,
    weights.safetensors, genotype.json, README.md (`nas.exporter.export`); ExportError in one line."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from nas.exporter import ExportError, export
    from nas.record.row import custom_metrics
    from searchspace.genotype import Genotype

    folder, info, trial_id = layout.root, layout.read_data_info(), row["trial_id"]
    if row["status"] != Status.OK:
        raise ExportError(f"trial {trial_id} did not train successfully (status {row['status']}); nothing to export")
    weights = layout.weights(trial_id)
    if not weights.exists():
        raise ExportError(
            f"trial {trial_id} has no saved weights (kept: the Pareto front and the best); "
            f"retrain it with `launch.py train {folder}:{trial_id}`"
        )
    try:
        state_dict = load_file(weights)  # safetensors: never unpickles
    except (SafetensorError, OSError) as e:
        raise ExportError(
            f"{weights} is not a readable safetensors file ({one_line(e)}); retrain it with `launch.py train {folder}:{trial_id}`"
        ) from None
    shown = ("val_acc", "test_acc", "params", "flops", *custom_metrics(dict(row)))
    metrics = {k: row[k] for k in shown if k in row and isinstance(row[k], int | float) and row[k] == row[k]}
    return export(
        Genotype.from_json(row["genotype"]),
        state_dict,
        out,
        in_channels=info.in_channels,
        num_classes=info.num_classes,
        input_size=info.input_size,
        metrics=metrics | {"trial": trial_id, "search": row.get("search", folder.name)},
        formats=formats,
        overwrite=overwrite,
        preprocessing=_preprocessing(info),
    )


# ------------------------------------------------------------------ pieces


def _preprocessing(info: Any) -> dict[str, Any] | None:
    """What an export says of its input: the whole path (searches since it was recorded), else the normalisation."""
    if info.preprocessing is not None:
        return dict(info.preprocessing)
    if info.mean is None:
        return None
    return {"mean": info.mean, "std": info.std, "scale": info.scale or 1.0, "classes": list(info.classes)}


def _options(config: Any, options: Mapping[str, Any]) -> dict[str, Any]:
    """The config as plain options, with `options` over it (``train`` and ``space`` merged key by key)."""
    if config is None:
        base: dict[str, Any] = {}
    elif isinstance(config, SearchConfig):
        base = config.to_dict()
    elif isinstance(config, Mapping):
        base = dict(config)
    elif isinstance(config, str | Path):
        base = load_config_file(config)
    else:
        raise ConfigError(f"config must be a SearchConfig, a mapping or a file path, got {type(config).__name__}")
    for key, value in options.items():
        if key in ("train", "space") and isinstance(value, Mapping) and isinstance(base.get(key), Mapping):
            base[key] = dict(base[key]) | dict(value)
        else:
            base[key] = value
    return base


def _config_and_data(
    given: dict[str, Any], data: Any, train_fn: Any, resuming: bool = False
) -> tuple[SearchConfig, DataSplits]:
    """The config (dataset named after `data` when given; train_fn's name recorded) and the loaded data."""
    from nas import plugins
    from nas.data import DataError, from_config
    from nas.data.owndata import dataset
    from nas.engines.table import settle as settle_table

    given = dict(given)
    if train_fn is not None and not resuming:
        given["train_fn"] = _qualified(train_fn)
    cfg = SearchConfig.from_dict(given)
    if not resuming:
        cfg = settle_table(cfg, given)
    plugins.load_all(cfg.plugins)
    if data is None:
        splits = from_config(cfg)
    else:
        if cfg.limit is not None or cfg.image_size is not None:
            raise ConfigError("limit and image_size apply to datasets loaded by name, not to data= you pass")
        splits = dataset(data, val_fraction=given.get("val_fraction") or DEFAULT_VAL_FRACTION, seed=cfg.seed)
        if resuming and splits.name != cfg.dataset:
            raise DataError(f"resume: this search was made with dataset {cfg.dataset!r}, not the data given")
        if not resuming:
            if "dataset" in given and given["dataset"] != splits.name:
                raise ConfigError(f"give data= or dataset={given['dataset']!r}, not both")
            name_given = "name" in given and given["name"]
            given = given | {"dataset": splits.name}
            if not name_given:
                given.pop("name", None)
            cfg = SearchConfig.from_dict(given)
    check_data(splits, train_fn)
    return cfg, splits


def check_data(data: DataSplits, train_fn: Any) -> None:
    """The built-in trainer needs class labels; a train_fn takes any targets."""
    from nas.data import DataError

    if train_fn is None and not data.labelled:
        raise DataError(
            "data: the built-in trainer needs integer class labels (N,); pass train_fn= to train on other targets"
        )


def check_train_fn(train_fn: Any) -> None:
    """A train_fn must be callable with (model, data, config, report); checked before anything is written."""
    if train_fn is None:
        return
    if not callable(train_fn):
        raise ConfigError(f"train_fn must be a function (model, data, config, report), got {type(train_fn).__name__}")
    try:
        inspect.signature(train_fn).bind(None, None, None, None)
    except TypeError:
        raise ConfigError(
            f"train_fn {_qualified(train_fn)} must take four arguments (model, data, config, report)"
        ) from None
    except ValueError:  # no signature to read (a builtin): let the call say
        pass


def _qualified(fn: Any) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', type(fn).__name__)}"


def _log(progress: bool | Log) -> Log:
    if callable(progress):
        return progress
    return stderr_log if progress else _quiet


def _quiet(line: str) -> None:
    pass


__all__ = ["Outcome", "Search", "StopSignals", "drive", "export_trial", "preflight", "search"]
