"""Multi-task vs single-task comparison: Δ_t signs, Δm, paired seeds."""
import math

import numpy as np
import pandas as pd
import pytest

from mtl_core.analysis.compare import compare_runs, delta_m, delta_pct, negative_transfer, paired_deltas
from mtl_core.errors import UserError


def test_accuracy_going_up_is_positive():
    assert delta_pct(mtl=0.9, stl=0.8, higher_is_better=True) == pytest.approx(12.5)


def test_mse_going_down_is_positive():
    assert delta_pct(mtl=0.8, stl=1.0, higher_is_better=False) == pytest.approx(20.0)
    assert delta_pct(mtl=1.1, stl=1.0, higher_is_better=False) == pytest.approx(-10.0)


def test_negative_pearson_baseline_keeps_positive_meaning_better():
    # r improves from -0.5 to -0.25: dividing by M_stl = -0.5 would report -50 %.
    assert delta_pct(mtl=-0.25, stl=-0.5, higher_is_better=True) == pytest.approx(50.0)
    assert delta_pct(mtl=-0.75, stl=-0.5, higher_is_better=True) == pytest.approx(-50.0)


def test_zero_baseline_gives_nan():
    assert math.isnan(delta_pct(mtl=0.3, stl=0.0, higher_is_better=True))


def test_delta_m_averages_within_a_task_first():
    # Task b has two metrics: (-2 + 6) / 2 = 2, then (10 + 2) / 2 = 6.
    assert delta_m({"a": 10.0, "b": [-2.0, 6.0]}) == pytest.approx(6.0)


def test_paired_deltas_share_a_single_baseline_across_seeds():
    np.testing.assert_allclose(paired_deltas([0.88, 0.72], 0.8, higher_is_better=True), [10.0, -10.0])
    with pytest.raises(UserError, match="cannot pair 3"):
        paired_deltas([1.0, 2.0, 3.0], [1.0, 2.0], higher_is_better=True)


def _results(rows):
    return pd.DataFrame(rows, columns=["task", "seed", "kind", "value", "higher_is_better", "metric"])


def _three_seed_results():
    rows = []
    # Task a, accuracy: per-seed Δ = +10, -5, +10.
    for seed, mtl, stl in [(0, 0.88, 0.8), (1, 0.76, 0.8), (2, 0.55, 0.5)]:
        rows += [("a", seed, "mtl", mtl, True, "accuracy"), ("a", seed, "stl", stl, True, "accuracy")]
    # Task b, MSE: per-seed Δ = +50, -25, 0.
    for seed, mtl, stl in [(0, 1.0, 2.0), (1, 5.0, 4.0), (2, 1.0, 1.0)]:
        rows += [("b", seed, "mtl", mtl, False, "mse"), ("b", seed, "stl", stl, False, "mse")]
    return rows


def test_compare_runs_pairs_seeds_and_reports_mean_and_std():
    summary = compare_runs(_results(_three_seed_results()))
    a = summary["tasks"]["a"]
    # Mean of per-seed Δ (10 - 5 + 10) / 3 = 5, not Δ of the means (0.73 vs 0.70 → 4.29 %).
    assert a["delta_pct"] == pytest.approx(5.0)
    assert a["delta_std"] == pytest.approx(math.sqrt((5**2 + 10**2 + 5**2) / 2))
    assert a["mtl"] == pytest.approx(0.73)
    assert a["stl_std"] == pytest.approx(np.std([0.8, 0.8, 0.5], ddof=1))
    assert a["n_seeds"] == 3 and a["seeds"] == [0, 1, 2]
    assert summary["tasks"]["b"]["delta_pct"] == pytest.approx(25.0 / 3)
    assert summary["delta_m_pct"] == pytest.approx((5.0 + 25.0 / 3) / 2)
    # Per-seed Δm: (10 + 50) / 2 = 30, (-5 - 25) / 2 = -15, (10 + 0) / 2 = 5.
    assert summary["delta_m_std"] == pytest.approx(np.std([30.0, -15.0, 5.0], ddof=1))
    assert summary["sign_convention"] == "positive = multi-task better than single-task"


def test_compare_runs_leaves_a_task_without_baseline_out_of_delta_m():
    rows = _three_seed_results() + [("c", 0, "mtl", 0.4, True, "f1"), ("c", 1, "mtl", 0.6, True, "f1")]
    summary = compare_runs(_results(rows))
    c = summary["tasks"]["c"]
    assert c["delta_pct"] is None and c["stl"] is None
    assert c["mtl"] == pytest.approx(0.5)
    assert summary["delta_m_tasks"] == ["a", "b"]
    assert summary["delta_m_pct"] == pytest.approx((5.0 + 25.0 / 3) / 2)


def test_single_seed_reports_no_spread():
    summary = compare_runs(_results([("a", 7, "mtl", 0.9, True, "acc"), ("a", 7, "stl", 1.0, True, "acc")]))
    entry = summary["tasks"]["a"]
    assert entry["delta_pct"] == pytest.approx(-10.0) and entry["n_seeds"] == 1
    assert "delta_std" not in entry and "delta_m_std" not in summary


def test_negative_transfer_is_never_hidden_by_a_positive_delta_m():
    rows = [
        ("a", 0, "mtl", 0.9, True, "acc"), ("a", 0, "stl", 0.6, True, "acc"),  # +50 %
        ("b", 0, "mtl", 0.9, True, "acc"), ("b", 0, "stl", 1.0, True, "acc"),  # -10 %
        ("c", 0, "mtl", 0.9, True, "acc"),  # no baseline
    ]
    summary = compare_runs(_results(rows))
    assert summary["delta_m_pct"] > 0
    assert negative_transfer(summary) == ["b"]


def test_duplicate_runs_are_refused_with_the_offending_key():
    rows = [("a", 0, "mtl", 0.9, True, "acc"), ("a", 0, "mtl", 0.8, True, "acc")]
    with pytest.raises(UserError, match="task 'a', seed 0, kind 'mtl'"):
        compare_runs(_results(rows))
