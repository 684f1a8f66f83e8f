"""Gradient conflict: cosine and magnitude similarity from Gram matrices, then rates, summaries, histograms."""
import math

import numpy as np
import pandas as pd
import pytest
import torch

from mtl_core.analysis.conflict_stats import (
    conflict_rate,
    cosine_histogram,
    pair_matrix,
    rolling_conflict_rate,
    smooth,
    summarise_conflict,
)
from mtl_core.train.conflict import ALL_LAYERS, cosine_of, layer_grams, pair_statistics


def statistics(*gradients):
    """{(i, j): (cos, Φ)} of whole-vector gradients, as the trainer computes them."""
    grams = layer_grams({f"task{i}": {"layer1": [torch.tensor(g)]} for i, g in enumerate(gradients)})
    return pair_statistics(grams[ALL_LAYERS])


def test_cosine_of_opposite_orthogonal_and_zero_gradients():
    assert statistics([1.0, 2.0], [-2.0, -4.0])[(0, 1)][0] == pytest.approx(-1.0)
    assert statistics([1.0, 0.0], [0.0, 1.0])[(0, 1)][0] == pytest.approx(0.0)
    assert all(math.isnan(value) for value in statistics([0.0, 0.0], [1.0, 0.0])[(0, 1)])
    assert cosine_of([torch.tensor([1.0]), None, torch.tensor([2.0])], [torch.tensor([-2.0]), None,
                                                                       torch.tensor([-4.0])]) == pytest.approx(-1.0)


def test_magnitude_similarity():
    assert statistics([2.5, 0.0], [0.0, 2.5])[(0, 1)][1] == pytest.approx(1.0)
    assert statistics([1.0, 0.0], [0.0, 3.0])[(0, 1)][1] == pytest.approx(0.6)  # 2·3 / (1 + 9)


def test_grams_are_made_on_the_gradients_device():
    # Hierarchical sharing: task b's head reads layer 1 only, and no head reaches layer 3. On a GPU, a zero row or
    # Gram made on the CPU raises; 'meta' tensors raise the same way on a machine without one.
    def grad(*shape):
        return torch.empty(*shape, device="meta")

    grams = layer_grams({"a": {"layer1": [grad(4, 3), grad(4)], "layer2": [grad(4, 4)], "layer3": [None]},
                         "b": {"layer1": [grad(4, 3), grad(4)], "layer2": [None], "layer3": [None]}})
    assert set(grams) == {"layer1", "layer2", "layer3", ALL_LAYERS}
    assert all(g.device.type == "meta" and g.shape == (2, 2) and g.dtype == torch.float64 for g in grams.values())


def test_conflict_rate_over_all_values_and_a_window():
    cos = [-0.5, 0.2, -0.1, 0.3, 0.4]
    assert conflict_rate(cos) == pytest.approx(2 / 5)
    assert conflict_rate(cos, window=3) == pytest.approx(1 / 3)
    assert conflict_rate(cos, threshold=0.35, window=3) == pytest.approx(2 / 3)
    assert conflict_rate([np.nan, -0.2, 0.1]) == pytest.approx(1 / 2)


def test_rolling_conflict_rate_uses_the_trailing_window():
    rates = rolling_conflict_rate([-1.0, 1.0, -1.0, -1.0], window=2)
    np.testing.assert_allclose(rates, [1.0, 0.5, 0.5, 1.0])


def test_smooth_is_an_exponential_moving_average():
    # span 3 → α = 0.5; second point = (2 + 0.5·0) / (1 + 0.5).
    np.testing.assert_allclose(smooth([0.0, 2.0], span=3), [0.0, 4 / 3])


def test_summarise_conflict_per_pair_with_noise_floor():
    log = pd.DataFrame(
        [
            (0, "all", "a", "b", -0.2, 0.5),
            (10, "all", "b", "a", 0.4, 0.7),  # written the other way round: same pair
            (20, "all", "a", "b", -0.5, 0.9),
            (0, "all", "a", "a", 0.3, 1.0),
            (0, "enc.0", "a", "b", 0.1, 0.8),
        ],
        columns=["step", "layer", "task_a", "task_b", "cos", "magnitude_sim"],
    )
    summary = summarise_conflict(log).set_index(["layer", "task_a", "task_b"])
    pair = summary.loc[("all", "a", "b")]
    assert pair["mean_cos"] == pytest.approx(-0.1)
    assert pair["std_cos"] == pytest.approx(np.std([-0.2, 0.4, -0.5], ddof=1))
    assert pair["conflict_rate"] == pytest.approx(2 / 3)
    assert pair["mean_magnitude_sim"] == pytest.approx(0.7)
    assert pair["n"] == 3
    assert summary.loc[("all", "a", "a"), "mean_cos"] == pytest.approx(0.3)
    assert summary.loc[("enc.0", "a", "b"), "conflict_rate"] == 0.0


def test_pair_matrix_is_symmetric_with_noise_floor_on_the_diagonal():
    summary = pd.DataFrame(
        {
            "layer": ["all", "all", "all"],
            "task_a": ["a", "a", "b"],
            "task_b": ["a", "b", "c"],
            "mean_cos": [0.3, -0.1, 0.2],
        }
    )
    matrix = pair_matrix(summary, ["a", "b", "c"])
    expected = np.array([[0.3, -0.1, np.nan], [-0.1, np.nan, 0.2], [np.nan, 0.2, np.nan]])
    np.testing.assert_array_equal(matrix, expected)


def test_cosine_histogram_default_bins():
    histogram = cosine_histogram([-0.5, -0.1, -0.05, -0.01, 0.0, 0.5, 1.0, np.nan])
    assert histogram["bin"].tolist() == ["[-1, -0.1)", "[-0.1, -0.02)", "[-0.02, 0)", "[0, 1]"]
    assert histogram["count"].tolist() == [1, 2, 1, 3]
    np.testing.assert_allclose(histogram["fraction"], [1 / 7, 2 / 7, 1 / 7, 3 / 7])
