"""Pareto maths: non-dominated sorting, crowding distance, hypervolume, and the running front of a search.

Arrays are (points x objectives) with one ``maximize`` flag per column. Used by the search driver
(`Leaders`), evolution's ranking, `nas.record.results` (fronts of DataFrames) and the reports. Numpy only.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from nas.objectives import FRONT, counts
from nas.status import Status


def pareto_mask(values: np.ndarray, maximize: Sequence[bool]) -> np.ndarray:
    """Mask of non-dominated rows; rows with NaN or inf are never on the front, identical rows are both kept."""
    v = _minimized(values, maximize)
    mask = np.zeros(len(v), dtype=bool)
    rows = np.flatnonzero(np.isfinite(v).all(axis=1))
    if rows.size:
        unique, inverse = np.unique(v[rows], axis=0, return_inverse=True)
        mask[rows] = _front_of_unique(unique)[inverse.reshape(-1)]
    return mask


def pareto_rank(values: np.ndarray, maximize: Sequence[bool]) -> np.ndarray:
    """Non-dominated sorting rank of every row (0 = the front); rows with NaN or inf get the last rank."""
    v = _minimized(values, maximize)
    ranks = np.zeros(len(v), dtype=np.int64)
    valid = np.isfinite(v).all(axis=1)
    rows = np.flatnonzero(valid)
    if rows.size:
        unique, inverse = np.unique(v[rows], axis=0, return_inverse=True)
        ranks[rows] = _ranks_of_unique(unique)[inverse.reshape(-1)]
        ranks[~valid] = ranks[rows].max() + 1
    return ranks


def crowding_distance(values: np.ndarray, maximize: Sequence[bool]) -> np.ndarray:
    """NSGA-II crowding distance of each row within the set (inf at the extremes, 0 for rows with NaN or inf)."""
    v = _minimized(values, maximize)
    distance = np.zeros(len(v))
    valid = np.isfinite(v).all(axis=1)
    w = v[valid]
    if len(w) < 3:
        distance[valid] = np.inf
        return distance
    part = np.zeros(len(w))
    for j in range(w.shape[1]):
        order = np.argsort(w[:, j], kind="stable")
        column = w[order, j]
        span = column[-1] - column[0]
        if span > 0 and np.isfinite(span):
            part[order[1:-1]] += (column[2:] - column[:-2]) / span
        part[order[[0, -1]]] = np.inf
    distance[valid] = part
    return distance


def nsga_keys(values: np.ndarray, maximize: Sequence[bool]) -> list[tuple[int, float]]:
    """NSGA-II's order as one sort key per row, larger is better: (minus the non-dominated rank, the crowding
    distance within the row's own front). Evolution ranks its population and MO-ASHA its rungs by it."""
    values = np.asarray(values, dtype="float64")
    ranks = pareto_rank(values, maximize)
    keys: list[tuple[int, float]] = [(0, 0.0)] * len(values)
    for rank in np.unique(ranks):
        members = np.flatnonzero(ranks == rank)
        for i, c in zip(members, crowding_distance(values[members], maximize), strict=True):
            keys[int(i)] = (-int(rank), float(c))
    return keys


def hypervolume(values: Any, ref: Sequence[float], maximize: Sequence[bool] | None = None) -> float:
    """Exact hypervolume dominated by the points up to the reference point, in any number of objectives.

    `maximize` has one flag per column (default: minimise every column); `ref` is in the objectives'
    own units. Points that do not strictly dominate `ref`, and rows with NaN, add nothing.
    """
    values = np.asarray(values, dtype="float64")
    if values.ndim != 2:
        raise ValueError(f"points must be a 2-D array (points x objectives), got shape {values.shape}")
    flags = [False] * values.shape[1] if maximize is None else list(maximize)
    v = _minimized(values, flags)
    r = np.asarray(ref, dtype="float64").reshape(-1)
    if r.shape != (v.shape[1],) or np.isnan(r).any():
        raise ValueError(f"ref needs one number per objective ({v.shape[1]}), got {list(ref)!r}")
    r = np.where(flags, -r, r)
    v = v[~np.isnan(v).any(axis=1)]
    v = v[(v < r).all(axis=1)]
    if not len(v):
        return 0.0
    return float(_hv(_nondominated(v), r))


def hypervolume_gains(
    values: Any, candidates: Any, ref: Sequence[float], maximize: Sequence[bool] | None = None
) -> np.ndarray:
    """What each candidate alone adds to the hypervolume of the points: ``hypervolume(values + [c]) -
    hypervolume(values)`` for every row c of `candidates`. Rows with NaN or inf (points or candidates) add
    nothing; `ref` must be finite.

    Two objectives, the common case (accuracy and a cost), in one vectorised pass over the front's staircase;
    more, one hypervolume per candidate.
    """
    values, candidates = np.asarray(values, dtype="float64"), np.asarray(candidates, dtype="float64")
    flags = [False] * values.shape[1] if maximize is None else list(maximize)
    if values.shape[1] != 2:
        base = hypervolume(values, ref, flags)
        return np.array([hypervolume(np.vstack([values, c]), ref, flags) - base for c in candidates])
    v, c = _minimized(values, flags), _minimized(candidates, flags)
    r = np.asarray(ref, dtype="float64").reshape(-1)
    if r.shape != (2,) or not np.isfinite(r).all():
        raise ValueError(f"ref needs one finite number per objective (2), got {list(ref)!r}")
    r = np.where(flags, -r, r)
    v = v[np.isfinite(v).all(axis=1) & (v < r).all(axis=1)]
    front = _nondominated(v) if len(v) else np.empty((0, 2))  # x ascending, y strictly descending
    # the staircase the front dominates: from each point's x to the next, nothing below that point's y
    starts = np.concatenate([[-np.inf], front[:, 0]])
    ends = np.concatenate([front[:, 0], [r[0]]])
    heights = np.concatenate([[r[1]], front[:, 1]])
    widths = np.clip(np.minimum(ends, r[0])[None, :] - np.maximum(starts[None, :], c[:, [0]]), 0.0, None)
    gains = (widths * np.clip(heights[None, :] - c[:, [1]], 0.0, None)).sum(axis=1)
    return np.where(np.isfinite(c).all(axis=1), gains, 0.0)


def _minimized(values: Any, maximize: Sequence[bool]) -> np.ndarray:
    """Values as a float (trials x objectives) array to be minimised (maximised columns negated)."""
    v = np.asarray(values, dtype="float64")
    if v.ndim != 2:
        raise ValueError(f"values must be a 2-D array (trials x objectives), got shape {v.shape}")
    flags = list(maximize)
    if len(flags) != v.shape[1] or not all(isinstance(f, bool | np.bool_) for f in flags):
        raise ValueError(f"maximize needs one bool per objective ({v.shape[1]}), got {flags!r}")
    return np.where(flags, -v, v)


def _nondominated(v: np.ndarray) -> np.ndarray:
    """The distinct non-dominated rows of a NaN-free minimisation array, sorted lexicographically."""
    unique = np.unique(v, axis=0)
    return unique[_front_of_unique(unique)]


def _front_of_unique(u: np.ndarray) -> np.ndarray:
    """Front mask of distinct rows sorted lexicographically (minimisation)."""
    n, d = u.shape
    if d == 1:
        return np.arange(n) == 0
    if d == 2:
        # Every earlier row is no worse in the first objective and is a different point, so it
        # dominates this one exactly when it is no worse in the second.
        mask = np.ones(n, dtype=bool)
        mask[1:] = u[1:, 1] < np.minimum.accumulate(u[:-1, 1])
        return mask
    return _cull(u)


def _cull(u: np.ndarray) -> np.ndarray:
    """Front mask by repeatedly taking the first remaining row (non-dominated) and dropping what it dominates."""
    mask = np.zeros(len(u), dtype=bool)
    ids = np.arange(len(u))
    rest = u
    while len(ids):
        mask[ids[0]] = True
        keep = ~(rest[1:] >= rest[0]).all(axis=1)  # rows are distinct: >= everywhere means dominated
        ids, rest = ids[1:][keep], rest[1:][keep]
    return mask


def _ranks_of_unique(u: np.ndarray) -> np.ndarray:
    """Non-dominated sorting ranks of distinct rows sorted lexicographically."""
    n, d = u.shape
    if d == 1:
        return np.arange(n, dtype=np.int64)
    if d == 2:
        return _ranks_2d(u)
    ranks = np.empty(n, dtype=np.int64)
    left = np.arange(n)
    rank = 0
    while len(left):
        on_front = _front_of_unique(u[left])
        ranks[left[on_front]] = rank
        left = left[~on_front]
        rank += 1
    return ranks


def _ranks_2d(u: np.ndarray) -> np.ndarray:
    """2-D ranks in O(n log n): each front's lowest second objective so far, found by bisection."""
    lowest: list[float] = []  # non-decreasing in the rank
    ranks = []
    for y in u[:, 1].tolist():
        k = bisect.bisect_right(lowest, y)  # the first front none of whose rows dominates this one
        if k == len(lowest):
            lowest.append(y)
        else:
            lowest[k] = y
        ranks.append(k)
    return np.array(ranks, dtype=np.int64)


def _hv(v: np.ndarray, ref: np.ndarray) -> float:
    """Hypervolume of minimisation points that all strictly dominate ref, by slicing on the last objective."""
    d = v.shape[1]
    if d == 1:
        return float(ref[0] - v[:, 0].min())
    if d == 2:
        return _hv_2d(v, ref)
    v = v[np.argsort(v[:, -1], kind="stable")]
    tops = np.append(v[1:, -1], ref[-1])
    total = 0.0
    for i in range(len(v)):
        height = tops[i] - v[i, -1]
        if height > 0:
            below = v[: i + 1, :-1]
            total += height * _hv(below if d == 3 else _nondominated(below), ref[:-1])
    return total


def _hv_2d(v: np.ndarray, ref: np.ndarray) -> float:
    """2-D hypervolume by a sweep over the first objective."""
    order = np.lexsort((v[:, 1], v[:, 0]))
    x = v[order, 0]
    lowest = np.minimum.accumulate(v[order, 1])
    widths = np.diff(np.append(x, ref[0]))
    return float(np.sum(widths * (ref[1] - lowest)))


class Leaders:
    """The ok rows on a Pareto front (default `FRONT`: val_acc max, params min), and the best ok row.

    Updated one row at a time in O(front size), so the driver's per-trial bookkeeping does not grow
    with the record. Same answers as `pareto_mask` (identical rows are both kept; a row counts only with every
    objective present and finite, `nas.objectives.counts`); the best is by the first objective (ties: the next
    objectives, then the earlier row), as `nas.record.results.best` ranks by the same objectives.
    """

    def __init__(self, senses: Mapping[str, str] | None = None) -> None:
        self.senses = dict(senses or FRONT)
        self.first = next(iter(self.senses))  # the objective "best" ranks by first
        self.front: list[dict[str, Any]] = []  # in record order
        self.best: dict[str, Any] | None = None

    def add(self, row: dict[str, Any]) -> None:
        if row.get("status") != Status.OK or not counts(row, self.senses):  # not trained, or not a result
            return
        key = self._key(row)
        if self.best is None or key > self._key(self.best):
            self.best = row
        if any(dominates(self._key(f), key) for f in self.front):
            return
        self.front = [f for f in self.front if not dominates(key, self._key(f))] + [row]

    def _key(self, row: Mapping[str, Any]) -> tuple[float, ...]:
        """The row's objectives, each turned so that larger is better."""
        return tuple(float(row[name]) * (1 if sense == "max" else -1) for name, sense in self.senses.items())


def dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    """Whether a dominates b, both to be maximised in every coordinate."""
    return all(x >= y for x, y in zip(a, b, strict=True)) and tuple(a) != tuple(b)
