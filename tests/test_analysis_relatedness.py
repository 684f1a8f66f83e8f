"""Task relatedness: transfer gain, TAG affinity and grouping, dendrogram, linear CKA, rank correlation."""
import itertools
import math
import time

import numpy as np
import pandas as pd
import pytest

from mtl_core.analysis.relatedness import (
    affinity_dendrogram,
    affinity_matrix,
    best_grouping,
    group_score,
    grouping_score,
    linear_cka,
    lookahead_affinity,
    matrix_frame,
    matrix_to_json,
    rank_correlation,
)
from mtl_core.errors import UserError


def two_blocks(within: float = 1.0, across: float = -1.0) -> np.ndarray:
    """Affinity of tasks a, b, c, d where {a, b} and {c, d} help each other and hurt across."""
    block = np.array([[0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]], dtype=bool)
    affinity = np.where(block, within, across)
    np.fill_diagonal(affinity, np.nan)
    return affinity


def test_lookahead_affinity():
    assert lookahead_affinity(loss_before=2.0, loss_after=1.5) == pytest.approx(0.25)
    assert lookahead_affinity(loss_before=2.0, loss_after=2.5) == pytest.approx(-0.25)


def test_affinity_matrix_averages_over_steps():
    records = pd.DataFrame(
        [(0, "a", "b", 0.1), (10, "a", "b", 0.3), (0, "b", "a", -0.2), (0, "a", "a", 0.9)],
        columns=["step", "source", "target", "z"],
    )
    np.testing.assert_allclose(affinity_matrix(records), [[np.nan, 0.2], [-0.2, np.nan]])


def test_group_score_by_hand():
    affinity = np.array([[np.nan, 0.1, 0.2], [0.3, np.nan, 0.4], [0.5, 0.6, np.nan]])
    # Members: a ← mean(0.3, 0.5) = 0.4; b ← mean(0.1, 0.6) = 0.35; c ← mean(0.2, 0.4) = 0.3.
    assert group_score(affinity, [0, 1, 2]) == pytest.approx(0.35)
    assert group_score(affinity, [1]) == 0.0


def test_best_grouping_splits_tasks_that_hurt_each_other():
    tasks = ["a", "b", "c", "d"]
    assert best_grouping(two_blocks(), tasks, max_groups=2) == [["a", "b"], ["c", "d"]]
    assert best_grouping(two_blocks(), tasks, max_groups=1) == [["a", "b", "c", "d"]]
    # A third group cannot raise the score, so the tie goes to fewer groups.
    assert best_grouping(two_blocks(), tasks, max_groups=3) == [["a", "b"], ["c", "d"]]


def test_a_task_that_hurts_everyone_trains_alone():
    affinity = np.array([[np.nan, 1.0, -1.0], [1.0, np.nan, -1.0], [-1.0, -1.0, np.nan]])
    assert best_grouping(affinity, ["x", "y", "z"], max_groups=2) == [["x", "y"], ["z"]]


def test_best_grouping_matches_exhaustive_search():
    rng = np.random.default_rng(0)
    tasks = ["t0", "t1", "t2", "t3", "t4"]
    candidates = [list(group) for size in range(1, 6) for group in itertools.combinations(tasks, size)]
    for _ in range(3):
        affinity = rng.normal(size=(5, 5))
        np.fill_diagonal(affinity, np.nan)
        for max_groups in (2, 3):
            exhaustive = max(
                grouping_score(affinity, tasks, chosen)
                for count in range(1, max_groups + 1)
                for chosen in itertools.combinations(candidates, count)
            )
            found = best_grouping(affinity, tasks, max_groups)
            assert len(found) <= max_groups
            assert grouping_score(affinity, tasks, found) == pytest.approx(exhaustive)


def test_best_grouping_of_eight_tasks_does_not_hang():
    affinity = np.random.default_rng(1).normal(size=(8, 8))
    started = time.perf_counter()
    best_grouping(affinity, [f"t{i}" for i in range(8)], max_groups=3)
    assert time.perf_counter() - started < 2.0  # a hang guard (today 0.05 s), not a speed claim


def test_best_grouping_refuses_unmeasured_pairs():
    affinity = two_blocks()
    affinity[0, 2] = np.nan
    with pytest.raises(UserError, match="off-diagonal"):
        best_grouping(affinity, ["a", "b", "c", "d"], max_groups=2)


def test_dendrogram_merges_helpful_pairs_first():
    linkage_matrix, leaves = affinity_dendrogram(two_blocks(), ["a", "b", "c", "d"])
    # Distance = max(Z_sym) - Z_sym: 0 within the blocks, 2 across; average linkage keeps 2.
    np.testing.assert_allclose(linkage_matrix[:, 2], [0.0, 0.0, 2.0])
    assert {frozenset(leaves[:2]), frozenset(leaves[2:])} == {frozenset("ab"), frozenset("cd")}


def hsic_cka(X: np.ndarray, Y: np.ndarray) -> float:
    """CKA from the HSIC definition with the centring matrix H, no column centring beforehand."""
    n = X.shape[0]
    centring = np.eye(n) - np.ones((n, n)) / n
    K, L = X @ X.T, Y @ Y.T

    def hsic(A, B):
        return np.trace(A @ centring @ B @ centring) / (n - 1) ** 2

    return hsic(K, L) / math.sqrt(hsic(K, K) * hsic(L, L))


@pytest.mark.parametrize("n, features", [(40, 6), (10, 50)])  # feature form, then Gram form
def test_linear_cka(n, features):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(n, features))
    Y = X @ rng.normal(size=(features, 3)) + rng.normal(size=(n, 3))
    orthogonal, _ = np.linalg.qr(rng.normal(size=(features, features)))
    assert linear_cka(X, X) == pytest.approx(1.0)
    assert linear_cka(X @ orthogonal, Y) == pytest.approx(linear_cka(X, Y))
    assert linear_cka(7.5 * X, Y) == pytest.approx(linear_cka(X, Y))
    assert linear_cka(X, Y) == pytest.approx(hsic_cka(X, Y))
    assert 0.0 < linear_cka(X, Y) < 1.0


def test_rank_correlation_of_monotone_matrices():
    rng = np.random.default_rng(3)
    proxy = rng.normal(size=(4, 4))
    np.fill_diagonal(proxy, np.nan)
    assert rank_correlation(proxy, np.exp(proxy)) == pytest.approx(1.0)
    assert rank_correlation(proxy, -proxy) == pytest.approx(-1.0)
    # Diagonal values are ignored even when present.
    assert rank_correlation(np.where(np.isnan(proxy), 100.0, proxy), np.exp(proxy)) == pytest.approx(1.0)


def test_rank_correlation_needs_three_pairs():
    proxy = np.array([[np.nan, 1.0], [2.0, np.nan]])
    assert math.isnan(rank_correlation(proxy, proxy))


def test_matrix_exports():
    matrix = np.array([[np.nan, -25.0], [5.0, np.nan]])
    frame = matrix_frame(matrix, ["a", "b"])
    assert (frame.index.name, frame.columns.name) == ("source", "target")
    assert frame.loc["b", "a"] == 5.0
    assert matrix_to_json(matrix) == [[None, -25.0], [5.0, None]]
