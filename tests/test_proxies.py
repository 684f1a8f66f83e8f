"""Scoring a relatedness proxy against the measured gain: Spearman ρ and regret@k by hand."""
from __future__ import annotations

import numpy as np
import pytest

from mtl_core.analysis.proxies import ranking, regret_at_k, score_column, score_matrix, spearman
from mtl_core.errors import UserError


def test_spearman_of_a_perfect_and_a_reversed_order():
    assert spearman([0.1, 0.2, 0.3, 0.4], [-5.0, 1.0, 2.0, 9.0]) == (pytest.approx(1.0), None)
    assert spearman([0.4, 0.3, 0.2, 0.1], [-5.0, 1.0, 2.0, 9.0]) == (pytest.approx(-1.0), None)


def test_spearman_with_ties_uses_average_ranks():
    # proxy ranks: 1, 2.5, 2.5, 4; gain ranks: 1, 2, 3, 4.
    # Pearson of the ranks: dx = (-1.5, 0, 0, 1.5), dy = (-1.5, -0.5, 0.5, 1.5):
    # Σ dx dy = 4.5, Σ dx² = 4.5, Σ dy² = 5 -> ρ = 4.5 / √(4.5 · 5) = 0.9487
    rho, reason = spearman([1.0, 2.0, 2.0, 3.0], [10.0, 20.0, 30.0, 40.0])
    assert reason is None and rho == pytest.approx(4.5 / np.sqrt(4.5 * 5))


def test_spearman_is_undefined_for_constant_inputs_or_too_few_candidates():
    rho, reason = spearman([0.5, 0.5, 0.5], [1.0, 2.0, 3.0])
    assert rho is None and "same score" in reason
    rho, reason = spearman([0.1, 0.2, 0.3], [4.0, 4.0, 4.0])
    assert rho is None and "gain is the same" in reason
    rho, reason = spearman([0.1, None, 0.3, 0.2], [1.0, 2.0, None, 0.5])  # two candidates have both
    assert rho is None and reason.startswith("2 candidate(s)")


def test_regret_with_negative_gains_by_hand():
    proxy = [0.9, 0.1, 0.5, 0.3]
    gain = [-4.0, 6.0, 1.0, -2.0]  # best: 6, 1, -2; proxy's order: -4, 1, -2, 6
    assert regret_at_k(proxy, gain, 1) == pytest.approx(6.0 - (-4.0))
    assert regret_at_k(proxy, gain, 2) == pytest.approx((6.0 + 1.0) / 2 - (-4.0 + 1.0) / 2)
    assert regret_at_k(proxy, gain, 3) == pytest.approx((6.0 + 1.0 - 2.0) / 3 - (-4.0 + 1.0 - 2.0) / 3)


def test_regret_at_1_is_zero_when_the_first_pick_is_the_best():
    assert regret_at_k([0.7, 0.2, 0.4], [3.0, -1.0, 5.0 - 5.0], 1) == 0.0
    # the first pick is the best though the rest is in the wrong order: regret@2 is not 0
    assert regret_at_k([0.7, 0.2, 0.4], [3.0, 2.0, -1.0], 2) == pytest.approx((3 + 2) / 2 - (3 - 1) / 2)


def test_k_larger_than_the_candidates_is_clamped():
    proxy, gain = [0.1, 0.9], [5.0, -5.0]
    assert regret_at_k(proxy, gain, 3) == 0.0  # k = 2: both candidates are taken either way
    assert regret_at_k(proxy, gain, 1) == pytest.approx(10.0)
    assert regret_at_k([None, 0.2], [1.0, None], 1) is None  # no candidate has both


def test_tied_proxy_scores_at_the_cut_count_their_mean_gain():
    # the two candidates tied at 0.5 share the first place: regret@1 = 4 − mean(4, 0) = 2
    assert regret_at_k([0.5, 0.5, 0.1], [4.0, 0.0, 1.0], 1) == pytest.approx(2.0)
    # in either order of the tied pair
    assert regret_at_k([0.5, 0.5, 0.1], [0.0, 4.0, 1.0], 1) == pytest.approx(2.0)
    # a tie fully inside the top 2 costs nothing extra: top 2 = {4, 0}, best 2 = {4, 1}
    assert regret_at_k([0.5, 0.5, 0.1], [4.0, 0.0, 1.0], 2) == pytest.approx((4 + 1) / 2 - (4 + 0) / 2)


def test_bad_k_names_the_field():
    with pytest.raises(UserError, match="k: must be a whole number ≥ 1, got 0"):
        regret_at_k([1.0], [1.0], 0)


def test_score_matrix_reads_each_target_column_and_averages_regret():
    tasks = ["a", "b", "c", "d"]
    gain = np.array([[np.nan, 1.0, 2.0, -1.0],
                     [3.0, np.nan, -2.0, 0.5],
                     [-1.0, 4.0, np.nan, 2.0],
                     [0.0, 2.0, 1.0, np.nan]])
    proxy = np.array([[np.nan, 0.3, 0.9, 0.1],
                      [0.9, np.nan, 0.1, 0.2],
                      [0.1, 0.1, np.nan, 0.3],
                      [0.5, 0.2, 0.5, np.nan]])
    scores = score_matrix(proxy, gain, tasks)
    # target a: candidates b, c, d with gains 3, -1, 0 and proxy 0.9, 0.1, 0.5: same order, ρ = 1, regret 0
    assert scores["per_target"]["a"] == {"rho": pytest.approx(1.0), "rho_reason": None,
                                         "regret": {"1": 0.0, "3": 0.0}, "candidates": 3}
    # target b: gains a 1, c 4, d 2; proxy 0.3, 0.1, 0.2 -> proxy picks a (1) instead of c (4)
    assert scores["per_target"]["b"]["regret"]["1"] == pytest.approx(3.0)
    assert scores["per_target"]["b"]["rho"] == pytest.approx(-1.0)
    # target c: gains a 2, b -2, d 1; proxy 0.9, 0.1, 0.5 -> first pick a is the best
    assert scores["per_target"]["c"]["regret"]["1"] == 0.0
    # target d: gains a -1, b 0.5, c 2; proxy 0.1, 0.2, 0.3 -> c is the best
    assert scores["per_target"]["d"]["regret"]["1"] == 0.0
    assert scores["overall"]["regret"]["1"] == pytest.approx(3.0 / 4)
    assert scores["overall"]["regret"]["3"] == 0.0 and scores["overall"]["targets"] == 4
    from scipy.stats import spearmanr

    off = ~np.eye(4, dtype=bool)
    assert scores["overall"]["rho"] == pytest.approx(spearmanr(proxy[off], gain[off]).statistic)


def test_score_column_counts_only_candidates_with_both_values():
    entry = score_column([0.2, None, 0.1], [1.0, 5.0, 2.0])
    assert entry["candidates"] == 2 and entry["rho"] is None and entry["regret"]["1"] == pytest.approx(1.0)


def test_ranking_puts_unscored_candidates_last():
    assert ranking({"a": 0.1, "b": None, "c": 0.7, "d": 0.1}) == ["c", "a", "d", "b"]
