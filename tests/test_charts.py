"""dashboard.charts on small hand-made frames: the traces, values, colours and labels a user reads."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dashboard import charts, state, text


def metric_rows() -> pd.DataFrame:
    rows = []
    for run_id, kind, tasks in (("m", "mtl", ["a", "b"]), ("s_a", "stl", ["a"]), ("s_b", "stl", ["b"])):
        for task in tasks:
            for step in (10, 20):
                rows.append({"run_id": run_id, "step": step, "task": task, "split": "train", "name": "loss",
                             "value": 1.0 / step})
                rows.append({"run_id": run_id, "step": step, "task": task, "split": "validation", "name": "loss",
                             "value": 2.0 / step})
    return pd.DataFrame(rows)


RUNS = [{"id": "m", "kind": "mtl", "tasks": ["a", "b"], "seed": 0},
        {"id": "s_a", "kind": "stl", "tasks": ["a"], "seed": 0},
        {"id": "s_b", "kind": "stl", "tasks": ["b"], "seed": 0}]


def conflict_rows() -> pd.DataFrame:
    rows = []
    for step, cos in ((5, -0.5), (10, 0.25), (15, -0.25)):
        rows.append({"run_id": "m", "step": step, "layer": "all", "task_a": "a", "task_b": "b", "cos": cos,
                     "magnitude_sim": 0.8})
        rows.append({"run_id": "m", "step": step, "layer": "all", "task_a": "a", "task_b": "a", "cos": 0.1,
                     "magnitude_sim": np.nan})
        rows.append({"run_id": "m", "step": step, "layer": "layer1", "task_a": "a", "task_b": "b", "cos": cos / 2,
                     "magnitude_sim": 0.9})
        rows.append({"run_id": "m", "step": step, "layer": "embedding", "task_a": "a", "task_b": "b", "cos": 0.3,
                     "magnitude_sim": 0.9})
    return pd.DataFrame(rows)


def test_training_curves_overlay_multi_task_solid_and_single_task_dashed_in_one_colour_per_task():
    frame = charts.with_run_info(metric_rows(), RUNS)
    fig = charts.training_curves(frame, "loss")
    by_name = {}
    for trace in fig.data:
        by_name.setdefault(trace.name, []).append(trace)
    assert set(by_name) == {"a · multi-task", "a · single-task", "b · multi-task", "b · single-task"}
    assert all(t.line.dash == "solid" for t in by_name["a · multi-task"])
    assert all(t.line.dash == "dash" for t in by_name["a · single-task"])
    assert by_name["a · multi-task"][0].line.color == by_name["a · single-task"][0].line.color
    assert by_name["a · multi-task"][0].line.color != by_name["b · multi-task"][0].line.color
    validation = [t for t in by_name["a · multi-task"] if t.xaxis == "x2"][0]
    assert list(validation.y) == [0.2, 0.1]
    assert fig.layout.xaxis.title.text == "training step"
    assert "↓ better" in fig.layout.yaxis.title.text


def test_cosine_over_time_has_raw_smoothed_and_noise_floor_series():
    fig = charts.cosine_over_time(conflict_rows(), span=2)
    names = [t.name for t in fig.data]
    assert names == ["a × b (raw)", "a × b (smoothed)", "noise floor: a"]
    assert list(fig.data[0].y) == [-0.5, 0.25, -0.25]
    assert fig.data[1].y[0] == -0.5 and fig.data[1].y[1] != 0.25  # smoothed from the first value on
    assert fig.data[2].line.dash == "dot"
    assert "cosine" in fig.layout.yaxis.title.text


def test_pair_heatmap_z_equals_the_matrix_with_values_in_cells_and_a_scale_centred_at_zero():
    matrix = np.array([[0.1, -0.2], [-0.2, np.nan]])
    fig = charts.pair_heatmap(matrix, ["a", "b"], "Mean cosine", "cos")
    heat = fig.data[0]
    assert np.allclose(np.array(heat.z, dtype=float), matrix, equal_nan=True)
    assert heat.zmid == 0 and heat.zmin == -1 and heat.zmax == 1
    assert heat.text[0][1] == "-0.20" and heat.text[1][1] == "—"
    rate = charts.pair_heatmap(np.array([[0.0, 0.5], [0.5, 0.0]]), ["a", "b"], "Conflict rate", "rate",
                               diverging=False).data[0]
    assert rate.zmin == 0 and rate.zmax == 1 and rate.zmid is None


def test_magnitude_similarity_leaves_out_the_noise_floor_rows():
    fig = charts.magnitude_similarity_over_time(conflict_rows(), span=1)
    assert [t.name for t in fig.data] == ["a × b"]
    assert list(fig.data[0].y) == pytest.approx([0.8, 0.8, 0.8])


def test_layer_heatmap_orders_layers_from_the_input_up():
    fig = charts.layer_heatmap(conflict_rows(), "b", "a")  # either order of the pair
    heat = fig.data[0]
    assert list(heat.y) == ["embedding", "layer1"]
    assert list(heat.x) == [5, 10, 15]
    assert heat.z[1] == pytest.approx([-0.25, 0.125, -0.125])
    assert heat.zmid == 0


def test_soft_distance_one_series_per_task():
    frame = pd.DataFrame({"run_id": "m", "step": [1, 2, 1, 2], "task": ["a", "a", "b", "b"], "split": "train",
                          "name": "soft_distance", "value": [0.1, 0.2, 0.3, 0.4]})
    fig = charts.soft_distance_curves(frame)
    assert [t.name for t in fig.data] == ["‖θ_a − θ_s‖", "‖θ_b − θ_s‖"]
    assert list(fig.data[1].y) == [0.3, 0.4]


def summary_tasks() -> dict:
    return {"a": {"metric": "accuracy", "higher_is_better": True, "mtl": 0.9, "stl": 0.8, "delta_pct": 12.5,
                  "n_seeds": 3, "mtl_std": 0.01, "stl_std": 0.02, "delta_std": 1.0},
            "b": {"metric": "mse", "higher_is_better": False, "mtl": 1.1, "stl": 1.0, "delta_pct": -10.0,
                  "n_seeds": 3, "mtl_std": 0.05, "stl_std": 0.04, "delta_std": 2.0}}


def test_delta_chart_colours_negative_transfer_and_states_the_sign_convention():
    table = charts.comparison_table(summary_tasks())
    fig = charts.delta_chart(table, delta_m=1.25, delta_m_std=0.5)
    tasks, mean = fig.data
    assert list(tasks.x) == [12.5, -10.0]
    assert list(tasks.marker.color) == [charts.POSITIVE_COLOUR, charts.NEGATIVE_COLOUR]
    assert "negative transfer" in tasks.text[1]
    assert mean.name == "Δm" and mean.x[0] == 1.25 and mean.marker.color == charts.POSITIVE_COLOUR
    assert "positive = multi-task better" in fig.layout.xaxis.title.text
    assert any("positive = multi-task better" in a.text for a in fig.layout.annotations)


def test_mtl_vs_stl_bars_one_panel_per_task_with_seed_error_bars_and_delta_labels():
    fig = charts.mtl_vs_stl_bars(charts.comparison_table(summary_tasks()))
    assert len(fig.data) == 4
    mtl_b = fig.data[2]
    assert mtl_b.x[0] == "multi-task" and mtl_b.y[0] == 1.1 and mtl_b.marker.color == charts.NEGATIVE_COLOUR
    assert list(mtl_b.error_y.array) == [0.05]
    assert fig.data[3].marker.color == charts.BASELINE_COLOUR
    labels = [a.text for a in fig.layout.annotations]
    assert any("Δ = +12.50 %" in label for label in labels)
    assert any("Δ = -10.00 % (negative transfer)" in label for label in labels)
    assert "positive = multi-task better" in fig.layout.title.text


def test_runs_overlay_names_each_trace_after_run_and_task():
    frame = charts.with_run_info(metric_rows(), RUNS)
    fig = charts.runs_overlay(frame, "loss", "validation")
    assert sorted(t.name for t in fig.data) == ["multi-task a+b seed 0 · a", "multi-task a+b seed 0 · b",
                                                "single-task a seed 0 · a", "single-task b seed 0 · b"]


def test_empty_inputs_give_a_figure_that_says_so():
    fig = charts.training_curves(metric_rows().iloc[0:0].assign(kind=[]), "loss")
    assert "no loss recorded yet" in fig.layout.annotations[0].text


def test_cosine_histogram_colours_conflicting_bins():
    from mtl_core.analysis.conflict_stats import cosine_histogram

    fig = charts.cosine_histogram_chart(cosine_histogram([-0.5, -0.05, 0.5, 0.6]), "a × b")
    assert list(fig.data[0].y) == pytest.approx([25.0, 25.0, 0.0, 50.0])
    assert fig.data[0].marker.color[0] == charts.NEGATIVE_COLOUR and fig.data[0].marker.color[-1] == \
        charts.POSITIVE_COLOUR


# ---- the formula, the diagram and the URL state behind the charts' page --------------------------
def test_loss_formula_carries_the_users_lambdas():
    formula = text.loss_formula("soft", ["atis_intent", "atis_slots"], {"atis_intent": 1.0, "atis_slots": 0.5}, 0.01)
    assert r"1.0 \cdot \mathcal{L}_{\text{atis\_intent}}" in formula
    assert r"0.5 \cdot \mathcal{L}_{\text{atis\_slots}}" in formula
    assert r"0.01 \sum_t \lVert \theta_t - \theta_s \rVert^2" in formula and r"\frac{1}{T}" in formula


def test_hierarchical_diagram_attaches_heads_to_their_layers():
    dot = text.sharing_diagram("hierarchical", ["pos", "topic"], 3, {"pos": 1, "topic": 3})
    assert '"shared layer 1" -> "head: pos";' in dot and '"shared layer 3" -> "head: topic";' in dot


def test_query_round_trip_keeps_only_non_defaults():
    form, notes = state.parse_query({"tasks": "synth_1,synth_2", "sharing": "soft", "soft_lambda": "0.1",
                                     "w_synth_1": "0.5", "steps": "200", "p": "0.9"}, ["synth_1", "synth_2"])
    assert notes == []
    assert form["weights"] == {"synth_1": 0.5} and form["p"] == 0.9
    assert state.to_query(form) == {"tasks": "synth_1,synth_2", "sharing": "soft", "soft_lambda": "0.1",
                                    "p": "0.9", "w_synth_1": "0.5"}


def test_estimate_grows_with_steps_and_shrinks_with_workers():
    from mtl_core.spec import ExperimentSpec

    small = ExperimentSpec(tasks=["synth_1", "synth_2"], steps=100).validated()
    large = ExperimentSpec(tasks=["synth_1", "synth_2"], steps=10_000).validated()
    sizes = {"synth_1": 2000, "synth_2": 2000}
    assert state.estimate_seconds(large, sizes) > state.estimate_seconds(small, sizes)
    assert state.estimate_seconds(large, sizes, slots=3) < state.estimate_seconds(large, sizes, slots=1)


def test_mixing_curves_draw_one_line_per_task_and_weight_averaged_over_seeds():
    import pandas as pd

    from dashboard.charts import mixing_curves

    rows = []
    for run, offset in (("r0", 0.0), ("r1", 0.2)):
        for step in (1, 2):
            for task in ("synth_1", "synth_2"):
                rows += [dict(run_id=run, step=step, task=task, name="gate_expert_1", value=0.4 + offset),
                         dict(run_id=run, step=step, task=task, name="gate_expert_2", value=0.6 - offset),
                         dict(run_id=run, step=step, task=task, name="loss", value=9.0)]
    fig = mixing_curves(pd.DataFrame(rows), "gate_expert_", title="gates", x_title="step", y_title="weight")
    assert sorted(trace.name for trace in fig.data) == ["synth_1 · 1", "synth_1 · 2", "synth_2 · 1", "synth_2 · 2"]
    first = next(trace for trace in fig.data if trace.name == "synth_1 · 1")
    assert list(first.y) == pytest.approx([0.5, 0.5])  # the two seeds' 0.4 and 0.6
