"""Tests for nas.pareto: non-dominated masks and ranks, crowding distance, hypervolume, checked against
brute force, hand examples and Monte Carlo."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from nas.pareto import crowding_distance, hypervolume, hypervolume_gains, nsga_keys, pareto_mask, pareto_rank

# ----------------------------------------------------------------------------- references


def brute_mask(values: np.ndarray, maximize: list[bool]) -> np.ndarray:
    """O(n^2) front: a valid row is on it unless another valid row dominates it."""
    m = np.where(maximize, -values, values)
    valid = ~np.isnan(m).any(axis=1)
    le = (m[:, None, :] <= m[None, :, :]).all(axis=2)  # le[j, i]: row j no worse than row i
    lt = (m[:, None, :] < m[None, :, :]).any(axis=2)
    dominated = (le & lt & valid[:, None]).any(axis=0)
    return valid & ~dominated


def brute_rank(values: np.ndarray, maximize: list[bool]) -> np.ndarray:
    """Ranks by peeling brute-force fronts; rows with NaN get one past the last front."""
    ranks = np.full(len(values), -1)
    left = ~np.isnan(values).any(axis=1)
    rank = 0
    while left.any():
        idx = np.flatnonzero(left)
        on = brute_mask(values[idx], maximize)
        ranks[idx[on]] = rank
        left[idx[on]] = False
        rank += 1
    ranks[ranks < 0] = rank
    return ranks


def grid_hypervolume(points: np.ndarray, ref: np.ndarray) -> float:
    """Exact hypervolume of integer minimisation points by counting dominated unit cells."""
    axes = [np.arange(0, int(r)) for r in ref]
    cells = np.array(list(itertools.product(*axes)), dtype=float).reshape(-1, len(ref))
    if not len(points):
        return 0.0
    covered = (points[None, :, :] <= cells[:, None, :]).all(axis=2).any(axis=1)
    return float(covered.sum())


@st.composite
def objective_sets(draw: st.DrawFn, min_d: int = 1, max_d: int = 4) -> tuple[np.ndarray, list[bool]]:
    """Small integer objective values with many ties and some NaN, plus mixed max/min flags."""
    d = draw(st.integers(min_d, max_d))
    n = draw(st.integers(0, 40))
    cell = st.sampled_from([0.0, 1.0, 2.0, 3.0, 4.0, 0.0, 1.0, 2.0, 3.0, np.nan])
    values = draw(arrays(np.float64, (n, d), elements=cell))
    maximize = draw(st.lists(st.booleans(), min_size=d, max_size=d))
    return values, maximize


def seeded_sets() -> list[tuple[np.ndarray, list[bool]]]:
    """Larger seeded cases with ties and NaN for 2, 3 and 4 objectives."""
    rng = np.random.default_rng(7)
    cases = []
    for d in (2, 3, 4):
        for _ in range(3):
            values = rng.integers(0, 8, size=(300, d)).astype(float)
            values[rng.random((300, d)) < 0.02] = np.nan
            cases.append((values, [bool(b) for b in rng.integers(0, 2, d)]))
    return cases


# ----------------------------------------------------------------------------- Pareto


@settings(max_examples=300, deadline=None)
@given(objective_sets())
def test_pareto_mask_matches_brute_force(case: tuple[np.ndarray, list[bool]]) -> None:
    values, maximize = case
    np.testing.assert_array_equal(pareto_mask(values, maximize), brute_mask(values, maximize))


@pytest.mark.parametrize("case", seeded_sets())
def test_pareto_mask_matches_brute_force_seeded(case: tuple[np.ndarray, list[bool]]) -> None:
    values, maximize = case
    np.testing.assert_array_equal(pareto_mask(values, maximize), brute_mask(values, maximize))


def test_pareto_mask_keeps_identical_rows_and_drops_nan() -> None:
    values = np.array([[1.0, 1.0], [1.0, 1.0], [0.0, np.nan], [2.0, 2.0], [-0.0, 5.0], [0.0, 5.0]])
    mask = pareto_mask(values, [False, False])
    assert mask.tolist() == [True, True, False, False, True, True]


def test_pareto_mask_rejects_bad_shapes() -> None:
    with pytest.raises(ValueError, match="2-D"):
        pareto_mask(np.zeros(3), [False])
    with pytest.raises(ValueError, match="one bool per objective"):
        pareto_mask(np.zeros((3, 2)), [False])
    with pytest.raises(ValueError, match="one bool per objective"):
        pareto_mask(np.zeros((3, 2)), ["max", "min"])


@settings(max_examples=200, deadline=None)
@given(objective_sets())
def test_pareto_rank_matches_peeling(case: tuple[np.ndarray, list[bool]]) -> None:
    values, maximize = case
    np.testing.assert_array_equal(pareto_rank(values, maximize), brute_rank(values, maximize))


@pytest.mark.parametrize("case", seeded_sets())
def test_pareto_rank_matches_peeling_seeded(case: tuple[np.ndarray, list[bool]]) -> None:
    values, maximize = case
    np.testing.assert_array_equal(pareto_rank(values, maximize), brute_rank(values, maximize))


def test_pareto_rank_puts_nan_rows_last() -> None:
    values = np.array([[0.0, 0.0], [1.0, 1.0], [np.nan, 0.0], [2.0, 2.0]])
    assert pareto_rank(values, [False, False]).tolist() == [0, 1, 3, 2]


def test_crowding_distance_hand_example() -> None:
    values = np.array([[4.0, 2.0], [1.0, 5.0], [5.0, 1.0], [2.0, 3.0]])
    distance = crowding_distance(values, [False, False])
    # f0 spans 4, f1 spans 4: (2,3) gets (4-1)/4 + (5-2)/4; (4,2) gets (5-2)/4 + (3-1)/4.
    np.testing.assert_allclose(distance, [1.25, np.inf, np.inf, 1.5])
    np.testing.assert_allclose(crowding_distance(-values, [True, True]), distance)


def test_crowding_distance_small_sets_and_nan() -> None:
    assert crowding_distance(np.array([[1.0, 2.0], [2.0, 1.0]]), [False, False]).tolist() == [np.inf] * 2
    values = np.array([[0.0, 3.0], [1.0, 2.0], [np.nan, 1.0], [3.0, 0.0]])
    distance = crowding_distance(values, [False, False])
    assert distance[2] == 0.0
    np.testing.assert_allclose(distance[1], 1 + 1)


# ----------------------------------------------------------------------------- hypervolume


def test_hypervolume_2d_by_hand() -> None:
    assert hypervolume(np.array([[1.0, 2.0]]), [3.0, 5.0]) == 6.0
    # Boxes [1,4]x[3,4] (3) and [2,4]x[1,4] (6) overlap in [2,4]x[3,4] (2).
    assert hypervolume(np.array([[1.0, 3.0], [2.0, 1.0]]), [4.0, 4.0]) == 7.0
    # A point beyond the reference adds nothing; a duplicate adds nothing; NaN adds nothing.
    points = np.array([[1.0, 3.0], [5.0, 0.0], [1.0, 3.0], [np.nan, 0.0], [4.0, 0.0]])
    assert hypervolume(points, [4.0, 4.0]) == 3.0
    assert hypervolume(np.empty((0, 2)), [1.0, 1.0]) == 0.0
    # Maximised accuracy, minimised params: ref is the worst corner in the objectives' own units.
    assert hypervolume(np.array([[0.9, 100.0]]), [0.0, 1000.0], maximize=[True, False]) == pytest.approx(810.0)


def test_hypervolume_3d_by_hand() -> None:
    assert hypervolume(np.array([[1.0, 1.0, 1.0]]), [2.0, 3.0, 4.0]) == 6.0
    # Boxes 2x2x1 and 1x1x2 overlap in a unit cube.
    assert hypervolume(np.array([[0.0, 0.0, 1.0], [1.0, 1.0, 0.0]]), [2.0, 2.0, 2.0]) == 5.0
    assert hypervolume(np.array([[0.0, 0.0, 3.0]]), [2.0, 2.0, 2.0]) == 0.0
    # A dominated point inside another's box changes nothing.
    assert hypervolume(np.array([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]]), [2.0, 2.0, 2.0]) == 8.0


@settings(max_examples=150, deadline=None)
@given(objective_sets(min_d=1, max_d=4))
def test_hypervolume_matches_cell_count(case: tuple[np.ndarray, list[bool]]) -> None:
    values, maximize = case
    d = values.shape[1]
    ref = np.full(d, 4.0)  # points at 4 touch the reference and add nothing
    minimised = values[~np.isnan(values).any(axis=1)]
    expected = grid_hypervolume(minimised, ref)
    assert hypervolume(values, ref) == pytest.approx(expected)
    flipped = np.where(maximize, -values, values)  # the same geometry through maximize flags
    flipped_ref = np.where(maximize, -ref, ref)
    assert hypervolume(flipped, flipped_ref, maximize=maximize) == pytest.approx(expected)


@settings(max_examples=200, deadline=None)
@given(objective_sets(min_d=2, max_d=3), objective_sets(min_d=2, max_d=3))
def test_hypervolume_gains_are_each_candidates_own_addition(case, other) -> None:
    """The vectorised 2-D gains (and the 3-D loop) equal one hypervolume with the candidate minus one without,
    whatever the flags, ties, NaN and points beyond the reference (values in 0..4, reference 3.5)."""
    (values, maximize), (candidates, _) = case, other
    d = values.shape[1]
    candidates = candidates[:, :d] if candidates.shape[1] >= d else np.hstack([candidates, candidates[:, :1]])
    ref = np.where(maximize, 0.5, 3.5)
    base = hypervolume(values, ref, maximize)
    expected = [hypervolume(np.vstack([values, c]), ref, maximize) - base for c in candidates]
    assert hypervolume_gains(values, candidates, ref, maximize) == pytest.approx(expected, abs=1e-9)


def test_nsga_keys_order_by_front_then_crowding() -> None:
    values = np.array([[0.0, 4.0], [1.0, 2.0], [2.0, 1.9], [4.0, 0.0], [3.0, 3.0], [np.nan, 0.0]])
    keys = nsga_keys(values, [False, False])  # minimise both: rows 0-3 are the front, row 4 the next, NaN last
    assert [k[0] for k in keys] == [0, 0, 0, 0, -1, -2]
    assert keys[0][1] == keys[3][1] == np.inf  # the extremes
    # the sides of each one's box of neighbours over the front's span (4 in x and in y): row 1 has x 0..2 and
    # y 1.9..4, row 2 x 1..4 and y 0..2
    assert keys[1][1] == pytest.approx(2 / 4 + 2.1 / 4) and keys[2][1] == pytest.approx(3 / 4 + 2 / 4)


def test_hypervolume_monte_carlo_3d() -> None:
    rng = np.random.default_rng(3)
    points = rng.random((400, 3))
    points /= np.linalg.norm(points, axis=1, keepdims=True)  # a curved front
    front = points[pareto_mask(points, [False] * 3)][:60]
    ref = np.array([1.1, 1.2, 1.3])
    low = front.min(axis=0)
    samples = low + rng.random((200_000, 3)) * (ref - low)
    covered = np.zeros(len(samples), dtype=bool)
    for p in front:
        covered |= (samples >= p).all(axis=1)
    box = float(np.prod(ref - low))
    share = covered.mean()
    estimate, stderr = box * share, box * np.sqrt(share * (1 - share) / len(samples))
    assert abs(hypervolume(front, ref) - estimate) < 5 * stderr
