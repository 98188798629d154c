"""Synthetic search histories: real sampled genotypes with plausible made-up metrics.

Used to put a controller (or a results folder) at 100 / 1,000 / 10,000 observed trials
without training anything: `history` samples genotypes from the search space through a
chooser that also notes each decision as Optuna would see it (so the same history can be
added to an Optuna study), and `write_record` writes it as a valid ``trials.jsonl`` with
`nas.record.jsonl.Record.append` (one fsync'd line per row, as a search does).
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.distributions import CategoricalDistribution, IntDistribution

import searchspace as ss
from nas.record.jsonl import JSONL, Record
from nas.record.row import METRICS


class RecordingChooser:
    """Answers sampling decisions at random and notes them as Optuna parameters and distributions."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.params: dict[str, Any] = {}
        self.distributions: dict[str, Any] = {}

    def choose(self, name: str, options: Sequence[Any]) -> Any:
        value = options[self.rng.randrange(len(options))]
        self.params[name] = value
        self.distributions[name] = CategoricalDistribution(list(options))
        return value

    def integer(self, name: str, lo: int, hi: int) -> int:
        value = self.rng.randint(lo, hi)
        self.params[name] = value
        self.distributions[name] = IntDistribution(lo, hi)
        return value


@dataclass
class Trial:
    """One synthetic finished trial."""

    genotype: ss.Genotype
    params: dict[str, Any] = field(default_factory=dict)  # Optuna's view of the decisions
    distributions: dict[str, Any] = field(default_factory=dict)
    val_acc: float = 0.0
    n_params: int = 0


def history(space: ss.SearchSpace, n: int, seed: int = 0) -> list[Trial]:
    """n valid sampled genotypes with a made-up accuracy and parameter count (no model is built)."""
    rng = random.Random(seed)
    out: list[Trial] = []
    while len(out) < n:
        chooser = RecordingChooser(rng)
        g = space.sample_once(chooser)
        if not space.is_valid(g):
            continue  # Optuna's chooser would fail this trial too; keep only valid ones
        width = sum(s.width for s in g.stages)
        n_params = int(width * len(g.stages) * rng.uniform(200, 2000))
        val_acc = min(0.995, 0.7 + 0.25 * rng.random() + 0.02 * len(g.stages))
        out.append(Trial(g, chooser.params, chooser.distributions, val_acc, n_params))
    return out


def optuna_trials(trials: Sequence[Trial], objectives: Sequence[str], generation_key: str | None, population: int):
    """Finished Optuna trials for `study.add_trials` (NSGA-II: with the sampler's generation attribute)."""
    frozen = []
    for i, t in enumerate(trials):
        values = [t.val_acc if k == "val_acc" else float(t.n_params) for k in objectives]
        attrs = {generation_key: i // population} if generation_key else {}
        frozen.append(
            optuna.trial.create_trial(params=t.params, distributions=t.distributions, values=values, system_attrs=attrs)
        )
    return frozen


def record_row(i: int, t: Trial, controller: str, rng: random.Random, finished: float) -> dict[str, Any]:
    """A record row as `SearchState` writes one for an ok trial."""
    train = rng.uniform(5, 60)
    metrics = {k: None for k in METRICS} | {
        "val_acc": t.val_acc,
        "val_loss": 1.0 - t.val_acc,
        "test_acc": t.val_acc - 0.01,
        "test_loss": 1.05 - t.val_acc,
        "train_loss": 0.9 - t.val_acc / 2,
        "epochs": 6,
        "train_seconds": train,
        "images_per_second": 1300 * 6 / train,
        "peak_memory_mb": 600.0,
        "wall_seconds": train + 1.0,
    }
    return {
        "trial_id": f"{i + 1:05d}",
        "controller": controller,
        "parents": [],
        "generation": 0,
        "status": "ok",
        "error": "",
        "fingerprint": t.genotype.fingerprint(),
        "genotype": t.genotype.to_dict(),
        "params": t.n_params,
        "flops": t.n_params * 64,
        "seed": i + 1,
        "finished": finished,
    } | metrics


def write_record(folder: Path, trials: Sequence[Trial], controller: str, seed: int = 0) -> Path:
    """trials.jsonl in `folder`, one `Record.append` (fsync'd line) per trial; returns its path."""
    rng = random.Random(seed)
    start = time.time() - 30.0 * len(trials)  # as if one trial finished every 30 s until now
    with Record.open(folder / JSONL) as record:
        for i, t in enumerate(trials):
            record.append(record_row(i, t, controller, rng, start + 30.0 * i))
        return record.path
