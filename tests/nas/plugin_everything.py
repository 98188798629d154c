"""A user's plugin file that extends nasgraph at every point, touching none of nasgraph's files.

`test_extending.py` hands it to ``launch.py --plugin`` in a fresh interpreter. It registers:

- a controller, ``walk``: a random walk through the space by single mutations from the best trial so far,
  restarting from a random sample after ``steps`` children that did not improve on it (its options:
  `WalkOptions`; its state is JSON, so ``--resume`` continues the walk);
- an engine, ``budget``: trains the trials in this process with nasgraph's trainer, each for at most
  ``max_epochs`` epochs (its options: `BudgetOptions`), recording how many it allowed;
- a dataset, ``stripes``: 8x8 images of horizontal or vertical stripes at random phase, with noise;
- an export format, ``frozen``: TorchScript traced and frozen for inference (``torch.jit.freeze``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

import nas
from nas.engines import trial_train_config
from nas.trial.train import train_trial
from searchspace.genotype import Genotype


@dataclass(frozen=True)
class WalkOptions:
    steps: int = nas.option(3, "children without improvement before the walk restarts (default 3)")

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ValueError(f"steps must be >= 1, got {self.steps}")


@nas.register_controller("walk", options=WalkOptions)
class Walk(nas.Controller):
    """A random walk by single mutations from the best trial so far, restarting after steps failures."""

    samples_at_random = True  # its restarts are random samples: --warmup and --proxy-filter apply

    def __init__(self, space, seed=0, objectives=None, steps=3, warmup=0, proxy_filter=0):
        super().__init__(space, seed, objectives, warmup=warmup, proxy_filter=proxy_filter)
        self.steps = steps
        self.best: dict[str, Any] | None = None  # {"trial_id", "genotype" (dict), "score"}
        self.misses = 0

    def propose(self, trial_id: str) -> nas.Proposal:
        if self.best is None or self.misses >= self.steps:
            self.misses = 0
            genotype, meta = self.fresh()
            return nas.Proposal(trial_id, genotype, meta={"origin": "restart", **meta})
        parent = Genotype.from_dict(self.best["genotype"])
        child, kind = self.space.mutate_with_info(parent, self.rng)
        return nas.Proposal(trial_id, child, (self.best["trial_id"],), 1, {"mutations": [kind]})

    def observe(self, trial_id, status, metrics, proposal) -> None:
        if proposal is None or not self.counts(status, metrics):
            return
        score = self.objective_vector(metrics)[0]
        if self.best is None or score > self.best["score"]:
            self.best = {"trial_id": trial_id, "genotype": proposal.genotype.to_dict(), "score": score}
            self.misses = 0
        else:
            self.misses += 1

    def state_dict(self) -> dict[str, Any]:
        return super().state_dict() | {"steps": self.steps, "best": self.best, "misses": self.misses}

    def load_state_dict(self, state) -> None:
        super().load_state_dict(state)
        self.steps, self.best, self.misses = state["steps"], state["best"], state["misses"]


@dataclass(frozen=True)
class BudgetOptions:
    max_epochs: int = nas.option(1, "epochs each trial may train at most (default 1)")


@nas.register_engine("budget", options=BudgetOptions)
class Budget(nas.Engine):
    """Trials in this process with nasgraph's trainer, at most max_epochs epochs each."""

    @classmethod
    def create(cls, data, train_fn, spec, options):
        engine = cls(data, train_fn)
        engine.max_epochs = options.max_epochs
        return engine

    def run(self, state) -> None:
        train = trial_train_config(state.cfg)  # the search's training options, resolved for a trial
        train = dataclasses.replace(train, epochs=min(train.epochs, self.max_epochs))
        while not self.stopping:
            pending = state.propose()
            if pending is None:
                break
            result = train_trial(pending.proposal.genotype, self.data, train, seed=pending.seed)
            metrics = result.metrics | {"custom": {"budget_epochs": train.epochs}}
            state.complete(pending.trial_id, result.status, metrics, result.state_dict)


def stripes(data_dir):
    """600 noisy 8x8 images: class 0 horizontal stripes, class 1 vertical, at a random phase."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 600)
    phase = rng.integers(0, 2, 600)
    line = (np.arange(8)[None, :] + phase[:, None]) % 2  # 0101... or 1010...
    rows = np.repeat(line[:, :, None], 8, axis=2)  # horizontal stripes: constant along each row
    x = np.where(y[:, None, None] == 0, rows, rows.transpose(0, 2, 1)).astype(np.float32)
    x += rng.normal(0, 0.3, x.shape).astype(np.float32)
    return {"train": (x[:500], y[:500]), "test": (x[500:], y[500:])}


nas.register_dataset("stripes", stripes)


@nas.register_export_format("frozen")
class Frozen(nas.ExportFormat):
    """TorchScript traced and frozen for inference (`torch.jit.load(path)`)"""

    file = "model.frozen.pt"

    @classmethod
    def save(cls, net, example, path) -> None:
        import torch

        torch.jit.freeze(torch.jit.trace(net.eval(), example)).save(str(path))

    @classmethod
    def load(cls, path):
        import torch

        return torch.jit.load(str(path))
