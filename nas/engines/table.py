"""The table engine (``--engine table:PATH``, ``--engine nb201:DATASET``): trials answered from a tabular
benchmark (`nas.benchmarks.table`; NAS-Bench-201's, converted on first use: `nas.benchmarks.nb201`).

Each proposal is looked up in the table instead of trained, through the same driver, record,
dedupe, resume and reports as a real search, so controllers can be compared over hundreds of seeds
in seconds. What a trial gets:

- ``table:PATH`` (default): the runs of one training seed, drawn per trial from the trial's seed
  (what NAS-Bench-101's API does); ``table:PATH:mean``: the mean over the table's seeds.
- The accuracies after the table's last epoch, or after epoch ``train.epochs`` when that is fewer
  (the curve of the table's schedule at that epoch, not a shorter schedule). A table of final
  accuracies only (NAS-Bench-201's: no curves, no test accuracy) answers its last epoch alone, with
  its latency as ``latency_ms``.
- ``train_seconds`` as recorded (the share up to that epoch): the simulated compute of a search is
  the sum over its trained rows (duplicates cost nothing), so searches compare at equal compute.
  ``table_seed`` names the training seed answered (-1: the mean).

A proposal outside the table stops the search with a one-line error; a search over a table uses
the table's space, dataset, validation share and epochs (`settle`) unless the user sets them, and
then they must equal the table's (epochs may be fewer). The predictor learns the candidates'
params, FLOPs and latency from the table before they are "trained" (`TableEngine.costs`).
"""

from __future__ import annotations

import dataclasses
import math
import random
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from nas.engines.base import Engine, register_engine
from nas.errors import SearchError
from nas.status import Status

if TYPE_CHECKING:
    from nas.benchmarks.table import Entry, Table
    from nas.config import SearchConfig
    from nas.driver.coordinator import SearchState

MODES = ("draw", "mean")


def parse(engine: str) -> tuple[str, str]:
    """(path, mode) of an engine spec ``table:PATH[:mean|:draw]`` or ``nb201:DATASET[:mean|:draw]`` (its table
    converted on first use: `nas.benchmarks.nb201`); ValueError naming what is wrong."""
    from nas.registry import BENCHMARKS, engine_entry

    entry, arg = engine_entry(engine)
    if entry.kind == BENCHMARKS.kind:  # a published benchmark's table (converted on first use)
        dataset, _, mode = (arg or "").partition(":")
        return str(entry.load().table_path(dataset)), mode or "draw"
    spec = engine.removeprefix("table:")
    path, mode = spec, "draw"
    head, _, tail = spec.rpartition(":")
    if head and tail in MODES:
        path, mode = head, tail
    if not path:
        raise ValueError("table engine needs a table file: table:PATH (or table:PATH:mean)")
    return path, mode


def settle(cfg: SearchConfig, given: Mapping[str, Any] | None = None) -> SearchConfig:
    """The config of a search over a table: the table's space, dataset, validation share, data limit and
    epochs, unless `given` (the options the user set: a config file's and the flags) sets them; one given
    differently from the table is an error."""
    from nas.registry import engine_entry

    if engine_entry(cfg.engine)[0].trait("trains", True):
        return cfg
    from nas.benchmarks.table import load
    from nas.config import ConfigError
    from nas.errors import NasgraphError

    try:
        path, _ = parse(cfg.engine)
        table = load(path)
    except NasgraphError as e:
        raise ConfigError(f"engine: {e}") from None
    given = dict(given or {})
    changes: dict[str, Any] = {}
    for key in ("space", "dataset", "val_fraction", "limit"):
        want, have = table.meta.get(key), getattr(cfg, key)
        if key == "val_fraction" and want is None:  # a published benchmark's own splits: no share to match
            continue
        if given.get(key) in (None, {}):  # not set by the user: the table's
            changes[key] = want
        elif _tuples_as_lists(have) != _tuples_as_lists(want):
            raise ConfigError(
                f"{key} is {_tuples_as_lists(have)!r} but the table {path} was made with {_tuples_as_lists(want)!r}; "
                f"leave {key} unset to search the table's"
            )
    epochs = (given.get("train") or {}).get("epochs")
    if not epochs:
        changes["train"] = dataclasses.replace(cfg.train, epochs=table.epochs)
    elif cfg.train.epochs > table.epochs:
        raise ConfigError(f"epochs is {cfg.train.epochs} but the table {path} has {table.epochs}; give at most that")
    elif table.final_only and cfg.train.epochs != table.epochs:
        raise ConfigError(
            f"epochs is {cfg.train.epochs} but the table {path} holds only the accuracy after its last epoch "
            f"({table.epochs}); leave epochs unset"
        )
    if changes.get("dataset", cfg.dataset) != cfg.dataset and not given.get("name"):
        changes["name"] = f"{str(changes['dataset']).replace(':', '-')}-{cfg.controller}"
    return dataclasses.replace(cfg, **changes)


def _tuples_as_lists(v: Any) -> Any:
    """A config value as the table's JSON metadata holds it (tuples as lists, recursively), to compare them."""
    if isinstance(v, dict):
        return {k: _tuples_as_lists(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_tuples_as_lists(x) for x in v]
    return v


@register_engine("table", takes_arg=True, usage="table:PATH[:mean]", arg="PATH", trains=False, latency=False)
class TableEngine(Engine):
    """Answers each proposal from a tabular benchmark (python -m nas.benchmarks.table), one training seed
    drawn per trial or the seeds' mean; a published benchmark's too (nb201:DATASET)."""

    @classmethod
    def create(cls, data: Any, train_fn: Any, spec: str, options: Any) -> TableEngine:
        return cls(data, train_fn, spec)

    def __init__(self, data: Any, train_fn: Any = None, spec: str = "") -> None:
        super().__init__(data, train_fn)
        self.spec = spec
        self.path, self.mode = "", "draw"
        self.table: Table | None = None

    def start(self, state: SearchState) -> None:
        from nas.benchmarks.table import load
        from nas.errors import NasgraphError

        if self.train_fn is not None:
            raise SearchError("a table engine answers from its table; it cannot run a train_fn")
        try:
            self.path, self.mode = parse(self.spec)
            self.table = load(self.path)
        except NasgraphError as e:
            raise SearchError(str(e)) from None
        if hasattr(state.controller, "costs"):  # the predictor's costs before training: the table's
            state.controller.costs = self.costs
        epochs = min(state.cfg.train.epochs, self.table.epochs)
        self.point = (lambda epoch: 0) if self.table.final_only else (lambda epoch: epoch)  # where in a curve
        how = "one training seed drawn per trial" if self.mode == "draw" else "the mean over its seeds"
        state.log(
            f"table engine: {len(self.table)} architectures from {self.path}, "
            f"accuracy after epoch {epochs} of {self.table.epochs}, {how}"
        )

    def run(self, state: SearchState) -> None:
        table = self.table
        assert table is not None, "start() loads the table"
        epoch = min(state.cfg.train.epochs, table.epochs) - 1
        while not self.stopping:
            pending = state.propose()
            if pending is None:
                break
            started = time.perf_counter()
            entry = table.lookup(pending.proposal.genotype)
            if entry is None:
                state.abandon(pending.trial_id)
                raise SearchError(
                    f"trial {pending.trial_id}: its architecture (fingerprint {pending.fingerprint}) is not in "
                    f"the table {self.path}; a table answers only proposals from its own space"
                )
            status, metrics = self._answer(entry, epoch, random.Random(pending.seed))
            if state.cfg.train.proxies:  # scored here, as a trial would at its start (they need no training)
                from nas.trial.proxies import trial_scores

                genotype, names = pending.proposal.genotype, state.cfg.train.proxies
                metrics["proxies"] = trial_scores(genotype, self.data, names, pending.seed, (entry.params, entry.flops))
            metrics["wall_seconds"] = time.perf_counter() - started
            state.complete(pending.trial_id, status, metrics)

    def costs(self, genotypes: list[Any], names: Sequence[str] = ()) -> list[dict[str, float]]:
        """What the table says of each genotype before it is trained: params, FLOPs and latency where it has it
        (all it has, whichever `names` asks for: a lookup)."""
        assert self.table is not None, "start() loads the table"
        return [{} if (e := self.table.lookup(g)) is None else e.costs() for g in genotypes]

    def _answer(self, entry: Entry, epoch: int, rng: random.Random) -> tuple[str, dict[str, Any]]:
        ok = [i for i, status in enumerate(entry.statuses) if status == Status.OK]
        at = self.point(epoch)
        if self.mode == "draw":
            i = rng.randrange(len(entry.seeds))
            if entry.statuses[i] != Status.OK:  # this run failed when the table was made: so does the trial
                error = f"{entry.statuses[i]} in the table's run with seed {entry.seeds[i]}"
                return entry.statuses[i], {"params": entry.params, "flops": entry.flops, "error": error,
                                           "train_seconds": entry.train_seconds[i],
                                           "custom": {"table_seed": entry.seeds[i]}}  # fmt: skip
            val, test, seconds, seed = (
                entry.val_acc[i][at],
                entry.test_acc[i][at],
                entry.train_seconds[i],
                entry.seeds[i],
            )
        else:
            if not ok:
                return entry.statuses[0], {"params": entry.params, "flops": entry.flops,
                                           "error": f"{entry.statuses[0]} in every run of the table"}  # fmt: skip
            val = sum(entry.val_acc[i][at] for i in ok) / len(ok)
            test = sum(entry.test_acc[i][at] for i in ok) / len(ok)
            seconds, seed = sum(entry.train_seconds) / len(entry.seeds), -1
        seconds *= (at + 1) / len(entry.val_acc[0])  # the share of the run spent up to this epoch
        metrics = {
            "val_acc": float(val),
            "test_acc": float(test),
            "params": entry.params,
            "flops": entry.flops,
            "epochs": epoch + 1,
            "train_seconds": seconds,
            "custom": {"table_seed": seed},
        }
        if math.isnan(metrics["test_acc"]):  # a benchmark without test accuracy (NAS-Bench-201's here)
            del metrics["test_acc"]
        if entry.latency_ms is not None:
            metrics["latency_ms"] = float(entry.latency_ms)
        return Status.OK, metrics

    def stop(self) -> bool:
        self.stopping = True
        return True  # the current lookup ends by itself, at once
