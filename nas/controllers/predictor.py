"""Predictor-guided search: BANANAS (White, Neiswanger & Savani, AAAI 2021) with scikit-learn.

After ``init`` random architectures, each round fits an ensemble of ``members`` small MLPs (scikit-learn,
each from its own seed) on the search's own results -- features from the genotype
(`nas.controllers.encoding`: NAS-Bench-201's adjacency and path encoding, or hashed op and edge
counts) -- makes ``candidates`` new architectures by mutating the ten best so far (one or two mutations
each, none of them trained or outstanding), and proposes the ``batch`` best by the acquisition:

- one objective (validation accuracy, the default): the ensemble's mean plus ``explore`` times its
  standard deviation (an upper confidence bound);
- several (``--objectives val_acc,params`` or with latency): the expected improvement of the front's
  hypervolume, averaged over the ensemble's members; costs the search knows before training
  (`costs`: parameters, FLOPs and latency, from the built network or a table) are used as they are, the
  others are predicted like accuracy. Each proposal of a round joins the front as predicted before the
  next is picked, so a round spreads along it.

A round is fitted when the previous one's proposals are used up; rounds grow with the record
(``batch`` or a fiftieth of the trials, whichever is more), so a proposal costs a few milliseconds at
1,000 trials (`bench/bench_controller.py`). Resuming refits from the record: the saved state keeps
the generator, the round not yet proposed and nothing of the results, which the search replays.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from nas.controllers.base import Controller, Proposal, finite_or_none, register_controller
from nas.controllers.encoding import encode
from nas.objectives import COSTS
from searchspace.genotype import Genotype, GenotypeError

if TYPE_CHECKING:
    from searchspace.space import SearchSpace

# params/flops/latency_ms before training, of the genotypes; the names say which are needed (others may come too)
Costs = Callable[[Sequence[Genotype], Sequence[str]], list[Mapping[str, float]]]
PARENTS = 10  # the best architectures whose mutations are the candidates (BANANAS: 10)


@register_controller("predictor")
class Predictor(Controller):
    """After 10 random architectures, an ensemble of 5 small MLPs fitted on the search's own results ranks 100
    mutations of the best ten by predicted accuracy plus uncertainty, or by expected hypervolume gain with
    several objectives (BANANAS, White et al. 2021)."""

    def __init__(
        self,
        space: SearchSpace,
        seed: int = 0,
        objectives: Mapping[str, str] | None = None,
        init: int = 10,
        candidates: int = 100,
        batch: int = 10,
        members: int = 5,
        explore: float = 0.5,
    ):
        super().__init__(space, seed, objectives)
        if init < 2 or candidates < 1 or batch < 1 or members < 2 or not explore >= 0:
            raise ValueError(
                "predictor needs init >= 2, candidates >= 1, batch >= 1, members >= 2 and explore >= 0; got "
                f"{init}, {candidates}, {batch}, {members}, {explore}"
            )
        self.n_init, self.n_candidates, self.batch, self.members, self.explore = (
            init,
            candidates,
            batch,
            members,
            explore,
        )
        self.costs: Costs | None = None  # set by the search: what is known of a genotype before it trains
        self.history: list[tuple[Genotype, list[float]]] = []  # evaluated results, objectives larger-better
        self.trained: set[str] = set()  # fingerprints of everything told (evaluated or not)
        self.queue: list[dict[str, Any]] = []  # the round's proposals not yet made (genotype, predicted)
        self.rounds = 0

    # ------------------------------------------------------------ ask / tell

    def propose(self, trial_id: str) -> Proposal:
        if len(self.history) < self.n_init or len(self.trained) < 2:
            genotype, meta = self.fresh()
            return Proposal(trial_id, genotype, (), 0, meta)
        if not self.queue:
            self.queue = self._round()
            self.rounds += 1
        if not self.queue:  # nothing new one or two mutations away from the best: a random one
            genotype, meta = self.fresh()
            return Proposal(trial_id, genotype, (), self.rounds, meta)
        pick = self.queue.pop(0)
        meta = {"origin": "predictor", "predicted": pick["predicted"], "round": self.rounds}
        return Proposal(trial_id, Genotype.from_dict(pick["genotype"]), (), self.rounds, meta)

    def observe(self, trial_id: str, status: str, metrics: dict[str, Any], proposal: Proposal | None) -> None:
        if proposal is None or proposal.genotype is None:
            return
        self.trained.add(proposal.genotype.fingerprint())
        if self.counts(status, metrics):
            self.history.append((proposal.genotype, self.objective_vector(metrics)))

    def known(self) -> set[str]:
        return super().known() | self.trained

    # ------------------------------------------------------------ a round

    def _round(self) -> list[dict[str, Any]]:
        pool = self._candidates()
        if not pool:
            return []
        X = np.stack([encode(g) for g, _ in self.history])
        Y = np.array([y for _, y in self.history], dtype=np.float64)
        C = np.stack([encode(g) for g in pool])
        known = self._known_costs(pool)
        preds = np.empty((self.members, len(pool), Y.shape[1]))
        for k in range(Y.shape[1]):
            if known[k] is not None:
                preds[:, :, k] = known[k]
            else:
                preds[:, :, k] = self._fit_predict(X, Y[:, k], C, k)
        size = max(self.batch, len(self.history) // 50)
        order = self._rank(preds, Y, size)
        return [{"genotype": pool[i].to_dict(), "predicted": finite_or_none(preds[:, i, 0].mean())} for i in order]

    def _candidates(self) -> list[Genotype]:
        """Up to `candidates` new architectures, each one or two mutations from one of the best so far."""
        order = self._best_first()
        parents, seen_parents = [], set()
        for i in order:
            fp = self.history[i][0].fingerprint()
            if fp not in seen_parents:
                seen_parents.add(fp)
                parents.append(self.history[i][0])
            if len(parents) == PARENTS:
                break
        avoid, out = self.known(), {}
        for attempt in range(self.n_candidates * 4):
            if len(out) >= self.n_candidates:
                break
            child = parents[attempt % len(parents)]
            try:
                for _ in range(1 + (self.rng.random() < 0.5)):
                    child = self.space.mutate(child, self.rng)
            except GenotypeError:
                continue
            fp = child.fingerprint()
            if fp not in avoid and fp not in out:
                out[fp] = child
        return list(out.values())

    def _best_first(self) -> np.ndarray:
        """Indices of the history, best first: by the objective, or with several by non-dominated rank, then the
        first objective (so mutations of the whole front are candidates, not of the most accurate alone)."""
        Y = np.array([y for _, y in self.history], dtype=np.float64)
        if Y.shape[1] == 1:
            return np.argsort(-Y[:, 0], kind="stable")
        from nas import pareto

        return np.lexsort((-Y[:, 0], pareto.pareto_rank(Y, [True] * Y.shape[1])))

    def _known_costs(self, pool: list[Genotype]) -> list[np.ndarray | None]:
        """Per objective, its values for the pool where they are known before training (larger-better), or None."""
        names = list(self.objectives)
        out: list[np.ndarray | None] = [None] * len(names)
        if self.costs is None or not any(n in COSTS for n in names):
            return out
        rows = self.costs(pool, [n for n in names if n in COSTS])
        for k, name in enumerate(names):
            values = [row.get(name) for row in rows]
            if name in COSTS and all(v is not None and math.isfinite(v) for v in values):
                sign = 1.0 if self.objectives[name] == "max" else -1.0
                out[k] = sign * np.asarray(values, dtype=np.float64)
        return out

    def _fit_predict(self, X: np.ndarray, y: np.ndarray, C: np.ndarray, k: int) -> np.ndarray:
        """(members, candidates) predictions of one objective by an ensemble of MLPs, each from its own seed."""
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPRegressor

        mu, sd = float(y.mean()), float(y.std()) or 1.0
        if self.objectives[list(self.objectives)[k]] == "min" and (y < 0).all():  # a cost: fitted on its log
            yt, back = np.log(-y), lambda p: -np.exp(p)
            mu, sd = float(yt.mean()), float(yt.std()) or 1.0
        else:
            yt, back = y, lambda p: p
        out = np.empty((self.members, len(C)))
        base = self.rng.randrange(2**31)
        epochs = max(10, min(60, 30_000 // len(X)))  # passes over the data, fewer as it grows: a fit stays cheap
        for m in range(self.members):
            model = MLPRegressor(hidden_layer_sizes=(20, 20), learning_rate_init=0.01, max_iter=epochs,
                                 random_state=base + m)  # fmt: skip
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                model.fit(X, (yt - mu) / sd)
            out[m] = back(model.predict(C) * sd + mu)
        return out

    def _rank(self, preds: np.ndarray, Y: np.ndarray, size: int) -> list[int]:
        """The `size` best candidates by the acquisition (module docstring), best first."""
        if preds.shape[2] == 1:
            score = preds[:, :, 0].mean(0) + self.explore * preds[:, :, 0].std(0)
            return [int(i) for i in np.argsort(-score, kind="stable")[:size]]
        from nas import pareto

        points = Y.copy()
        ref = points.min(0) - 0.1 * (np.ptp(points, 0) + 1e-12)
        chosen: list[int] = []
        flags = [True] * points.shape[1]
        for _ in range(min(size, preds.shape[1])):
            gains = np.mean([pareto.hypervolume_gains(points, preds[m], ref, flags) for m in range(len(preds))], 0)
            gains[chosen] = -np.inf
            best = int(np.argmax(gains))
            chosen.append(best)
            points = np.vstack([points, preds[:, best].mean(0)])  # believed, so the next one goes elsewhere
        return chosen

    # ------------------------------------------------------------ state

    def state_dict(self) -> dict[str, Any]:
        # the results are not kept: a resumed search replays its whole record into the controller ("told": 0)
        return super().state_dict() | {
            "told": 0,
            "last_told": "",
            "init": self.n_init,
            "candidates": self.n_candidates,
            "batch": self.batch,
            "members": self.members,
            "explore": self.explore,
            "queue": self.queue,
            "rounds": self.rounds,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self.n_init, self.n_candidates = state["init"], state["candidates"]
        self.batch, self.members, self.explore = state["batch"], state["members"], state["explore"]
        self.queue, self.rounds = list(state["queue"]), state["rounds"]
        self.history, self.trained = [], set()
