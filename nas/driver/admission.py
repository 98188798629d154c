"""Admission filters: which proposals are trained, and what is recorded instead for the others.

In the manner of NNI's strategy middleware (``Filter``, ``Deduplication``, ``FailureHandler``):

- `Deduplication`: a proposal whose architecture was already trained (isomorphic stage graphs, see
  `searchspace.fingerprint`) is recorded as a duplicate with its twin's metrics (`duplicate_metrics`);
  one whose twin is in flight waits for it. An architecture whose training failed with ``error`` is
  tried once more (maybe a lost worker), then its failure stands: later proposals of it are duplicates.
- `SizeConstraints`: ``--max-params`` / ``--max-flops``, and whether the genotype builds at this input
  size; a proposal that fails is recorded as rejected (`SizeConstraints.check`).
- `SkipLimit`: too many proposals in a row that were not trained end the search.

No file access and no torch at import (the constraints count parameters through `searchspace`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import searchspace as ss
from nas.errors import SearchError
from nas.record.folder import DataInfo
from nas.record.row import METRICS, custom_metrics, proxy_scores
from nas.status import DISPATCHED, EVALUATED, Status
from searchspace.genotype import Genotype, GenotypeError

if TYPE_CHECKING:
    from nas.config import SearchConfig
    from nas.controllers import Proposal

UNTRAINED = ("params", "flops", "latency_ms", "latency_batch_ms", "latency_batch")  # measured before training


class Deduplication:
    """Trained architectures by fingerprint, and proposals waiting for a twin that is in flight."""

    def __init__(self) -> None:
        self.known: dict[str, list[dict[str, Any]]] = {}  # fingerprint -> recorded rows with results to replay
        self.errored: dict[str, list[dict[str, Any]]] = {}  # fingerprint -> rows that failed once with "error"
        self.waiting: dict[str, list[Proposal]] = {}  # fingerprint -> proposals waiting for an in-flight twin

    def add(self, row: dict[str, Any]) -> None:
        """Learn from a recorded row."""
        status = row.get("status")
        if status == Status.ERROR:  # maybe bad luck (a lost worker): one more try, then it is the result
            failed = self.errored.setdefault(row["fingerprint"], [])
            if twin_of(failed, Genotype.from_dict(row["genotype"])) is None:
                failed.append(row)
                return
        if status in DISPATCHED or (status == Status.REJECTED and row.get("latency_ms") is not None):
            self.known.setdefault(row["fingerprint"], []).append(row)  # (a worker measured it over --max-latency)

    def trained_twin(self, fp: str, g: Genotype) -> dict[str, Any] | None:
        """The recorded row of the same architecture, if it was trained (or failed twice)."""
        return twin_of(self.known.get(fp, []), g)

    def wait_for_twin(self, p: Proposal, fp: str, in_flight: list[Proposal]) -> bool:
        """Whether the same architecture is in flight; if so p waits for its result (`resolved`)."""
        if not any(ss.same_architecture(q.genotype, p.genotype) for q in in_flight):
            return False
        self.waiting.setdefault(fp, []).append(p)
        return True

    def resolved(self, fp: str) -> list[Proposal]:
        """The proposals that waited for the trial of fingerprint fp, which has just been recorded (or dropped)."""
        return self.waiting.pop(fp, [])


def duplicate_metrics(twin: dict[str, Any]) -> dict[str, Any]:
    """What a duplicate's row copies from its twin's: the results of a twin that was evaluated; of a failed one
    its error and what is known without training."""
    if twin.get("status") in EVALUATED:
        copied: tuple[str, ...] = (*METRICS, "params", "flops")
        metrics = {k: twin.get(k) for k in copied} | {"custom": custom_metrics(twin)}
    else:  # a failed twin's accuracy, losses (a diverged net's chance level) and own metrics are no result: its
        metrics = {k: twin.get(k) for k in UNTRAINED}  # repeat copies what is known without training, no more
    metrics["error"] = twin.get("error", "")
    metrics["proxies"] = proxy_scores(twin)
    return metrics


class SizeConstraints:
    """Whether a genotype builds at the input size and fits --max-params / --max-flops."""

    def __init__(self, cfg: SearchConfig, info: DataInfo) -> None:
        self.max_params, self.max_flops = cfg.max_params, cfg.max_flops
        self.info = info

    def measure(self, g: Genotype) -> tuple[int | None, int | None]:
        """What the constraints need, and no more (the trial itself measures parameters and FLOPs).

        Raises GenotypeError when the genotype does not fit the input.
        """
        info = self.info
        if self.max_flops:
            return ss.complexity(g, info.in_channels, info.num_classes, info.input_size)
        if self.max_params:
            return ss.count_params(g, info.in_channels, info.num_classes), None
        ss.validate(g, info.in_channels, info.num_classes, info.input_size)  # still: does it fit the input?
        return None, None

    def costs(self, genotypes: list[Genotype], names: Sequence[str] = ("params", "flops")) -> list[dict[str, float]]:
        """Parameters and, when `names` asks for them, FLOPs of each genotype, counted on its built network (meta
        device; no latency): what a controller may know of a proposal before it is trained (the predictor's
        `costs`). Parameters alone are counted from cached modules (milliseconds); FLOPs need a forward pass on
        the meta device (a tenth of a second or more for a 15-cell network)."""
        info = self.info
        out = []
        for g in genotypes:
            if "flops" in names:
                params, flops = ss.complexity(g, info.in_channels, info.num_classes, info.input_size)
                out.append({"params": float(params), "flops": float(flops)})
            else:
                out.append({"params": float(ss.count_params(g, info.in_channels, info.num_classes))})
        return out

    def check(self, g: Genotype) -> tuple[int | None, int | None, dict[str, Any] | None]:
        """`measure`'s parameters and FLOPs, and the metrics a rejected genotype is recorded with (None: it passes):
        it does not build at the input size, or it is over a limit."""
        try:
            params, flops = self.measure(g)
        except GenotypeError as e:
            return None, None, {"error": f"does not build at this input size: {e}"}
        reason = self.violation(params, flops)
        return params, flops, ({"error": reason, "params": params, "flops": flops} if reason else None)

    def violation(self, params: int | None, flops: int | None) -> str | None:
        """Why a measured genotype is over a limit, or None."""
        if self.max_params and params > self.max_params:
            return f"{params:,} parameters > --max-params {self.max_params:,}"
        if self.max_flops and flops > self.max_flops:
            return f"{flops:,} FLOPs > --max-flops {self.max_flops:,}"
        return None


class SkipLimit:
    """Ends the search after `limit` proposals in a row that were not trained, or `slow_limit` trials in a row
    that a worker measured over --max-latency."""

    def __init__(self, limit: int, slow_limit: int = 100) -> None:
        self.limit, self.slow_limit = limit, slow_limit
        self.in_a_row = 0
        self.slow_in_a_row = 0

    def check(self) -> None:
        if self.in_a_row >= self.limit:
            raise SearchError(
                f"{self.limit} proposals in a row were rejected or duplicates; "
                "loosen --max-params/--max-flops or widen the search space"
            )
        if self.slow_in_a_row >= self.slow_limit:
            raise SearchError(
                f"{self.slow_limit} trials in a row were slower than --max-latency; loosen it (their latencies "
                "are in the record) or narrow the search space to smaller networks"
            )

    def finished(self, status: str) -> None:
        """A dispatched proposal came back: over --max-latency (rejected by its worker), or trained."""
        self.slow_in_a_row = self.slow_in_a_row + 1 if status == Status.REJECTED else 0

    def skipped(self) -> None:
        self.in_a_row += 1

    def admitted(self) -> None:
        self.in_a_row = 0


def twin_of(rows: list[dict[str, Any]], g: Genotype) -> dict[str, Any] | None:
    """The first row whose genotype is the same architecture as g."""
    for row in rows:
        if ss.same_architecture(Genotype.from_dict(row["genotype"]), g):
            return row
    return None
