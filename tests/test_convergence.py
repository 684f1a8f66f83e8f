"""The convergence check behind "still improving": a verdict only where the runs have stopped learning."""
import numpy as np
import pytest

from mtl_core.analysis.convergence import curve_convergence, suggested_steps, task_convergence, trend_gain

STEPS = [20, 40, 60, 80, 100, 120, 140, 160, 180, 200]


def test_trend_gain_by_hand():
    # last third of 10 points = 4 points; y = 0.5 + 0.001·x exactly: slope 0.001 over 60 steps
    values = [0.5 + 0.001 * s for s in STEPS]
    gain, scatter = trend_gain(STEPS, values)
    assert gain == pytest.approx(0.001 * (200 - 140))
    assert scatter == pytest.approx(0.0, abs=1e-12)


def test_a_rising_curve_is_still_improving_and_a_plateau_has_converged():
    rising = [0.40, 0.55, 0.65, 0.72, 0.77, 0.80, 0.83, 0.85, 0.87, 0.89]
    assert curve_convergence(STEPS, rising, higher_is_better=True)["status"] == "still improving"
    plateau = [0.40, 0.70, 0.85, 0.90, 0.905, 0.904, 0.906, 0.905, 0.904, 0.905]
    assert curve_convergence(STEPS, plateau, higher_is_better=True)["status"] == "converged"


def test_lower_is_better_metrics_improve_downwards():
    falling = [1.0, 0.8, 0.6, 0.5, 0.42, 0.36, 0.31, 0.27, 0.24, 0.21]
    assert curve_convergence(STEPS, falling, higher_is_better=False)["status"] == "still improving"
    assert curve_convergence(STEPS, falling, higher_is_better=True)["status"] == "converged"


def test_a_trend_inside_the_seed_noise_is_not_improvement():
    slow = [0.80 + 0.0001 * s for s in STEPS]  # +0.006 over the window
    assert curve_convergence(STEPS, slow, True)["status"] == "still improving"
    result = curve_convergence(STEPS, slow, True, seed_spread=0.01)
    assert result["status"] == "converged" and result["noise"] == 0.01


def test_too_few_evaluations_cannot_tell():
    assert curve_convergence([10, 20, 30], [0.1, 0.2, 0.3], True)["status"] == "unknown"


def test_task_convergence_averages_seeds_and_flags_any_kind():
    flat = [0.9] * 10
    rising = list(np.linspace(0.5, 0.9, 10))
    result = task_convergence({"mtl": [(STEPS, rising), (STEPS, rising)], "stl": [(STEPS, flat), (STEPS, flat)]},
                              higher_is_better=True)
    assert result["mtl"]["status"] == "still improving" and result["stl"]["status"] == "converged"
    assert result["still_improving"] is True
    assert task_convergence({"mtl": [], "stl": []}, True)["still_improving"] is None


def test_suggested_budget_doubles_and_rounds_up():
    assert suggested_steps(200) == 400
    assert suggested_steps(130) == 300
