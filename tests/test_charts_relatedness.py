"""The relatedness-map and teaching-lab charts on hand-made data: what a reader sees is what went in.

Also the lab's pure lesson logic (URL round trip, runs submitted, front, curve gap) and the string
table of both languages.
"""
from __future__ import annotations

import re
import string

import numpy as np
import pandas as pd
import pytest

from dashboard import charts_relatedness as rc
from dashboard import i18n, lessons

TASKS = ["atis_intent", "atis_slots", "wnut_ner"]
GAIN = [[None, 4.25, -3.5], [1.0, None, 0.0], [-12.75, 2.5, None]]


def heatmap(matrix=GAIN, decimals=1):
    return rc.relatedness_heatmap(matrix, TASKS, title="Transfer gain, %", x_title="target task j",
                                  y_title="helper task i", decimals=decimals)


def test_heatmap_z_is_the_input_with_missing_cells_empty():
    trace = heatmap().data[0]
    assert [list(row) for row in trace.z] == GAIN
    assert list(trace.x) == TASKS and list(trace.y) == TASKS


def test_heatmap_writes_each_value_in_its_cell_with_its_sign():
    trace = heatmap().data[0]
    assert trace.texttemplate == "%{text}"
    assert [list(row) for row in trace.text] == [["—", "+4.2", "-3.5"], ["+1.0", "—", "+0.0"],
                                                 ["-12.8", "+2.5", "—"]]


def test_heatmap_shows_small_values_with_enough_decimals():
    tiny = [[None, 0.021, -0.004], [0.0, None, 0.01], [0.02, 0.003, None]]
    assert heatmap(tiny, decimals=None).data[0].text[0][1] == "+0.021"
    assert heatmap([[None, 92.4], [86.0, None]] + [[1, 2]], decimals=None).data[0].text[0][1] == "+92"


def test_heatmap_scale_is_diverging_and_centred_on_zero():
    trace = heatmap().data[0]
    assert trace.zmid == 0
    assert trace.zmin == -12.75 and trace.zmax == 12.75  # symmetric: equal values look equally strong
    colours = [c[1] for c in trace.colorscale]
    assert colours[0] != colours[-1]


def test_heatmap_axes_name_helper_rows_and_target_columns():
    fig = heatmap()
    assert fig.layout.yaxis.title.text == "helper task i"
    assert fig.layout.xaxis.title.text == "target task j"
    assert fig.layout.yaxis.autorange == "reversed"  # row i = the i-th task from the top
    assert fig.layout.title.text == "Transfer gain, %"


def test_heatmap_of_an_all_missing_matrix_still_draws():
    trace = heatmap([[None] * 3] * 3).data[0]
    assert trace.zmin == -1 and trace.zmax == 1


def test_dendrogram_leaves_follow_scipy_order():
    from scipy.cluster.hierarchy import dendrogram, linkage

    points = np.array([[0.0], [10.0], [0.5], [10.4]])
    tree = linkage(points, "average")
    labels = ["a", "b", "c", "d"]
    fig = rc.dendrogram_figure(tree.tolist(), labels, title="clusters", axis_title="distance")
    assert rc.dendrogram_leaves(fig) == dendrogram(tree, labels=labels, no_plot=True)["ivl"]
    assert set(rc.dendrogram_leaves(fig)[:2]) in ({"a", "c"}, {"b", "d"})  # near tasks are neighbours
    assert len(fig.data) == 3  # one ⊓ per merge
    assert max(max(trace.y) for trace in fig.data) == pytest.approx(tree[-1, 2])
    assert fig.layout.yaxis.title.text == "distance"


def test_front_draws_one_point_per_weighting_and_joins_the_front():
    points = pd.DataFrame({"x": [1.0, 2.0, 3.0, 2.5], "y": [3.0, 2.0, 1.0, 2.5]})
    front = lessons.on_front(points)
    assert front == [True, True, True, False]  # (2.5, 2.5) is beaten by (2, 2) on both tasks
    fig = rc.weighting_front(points, title="front", x_title="task 1 MSE", y_title="task 2 MSE",
                             point_names=["a", "b", "c", "d"], front=front, chosen=[False, True, False, False],
                             baseline=(1.5, 1.5), names={"weightings": "W", "front": "F", "yours": "Y",
                                                          "baseline": "B"})
    by_name = {trace.name: trace for trace in fig.data}
    assert list(by_name["W"].x) == [1.0, 2.0, 3.0, 2.5] and list(by_name["W"].text) == ["a", "b", "c", "d"]
    assert list(by_name["F"].x) == [1.0, 2.0, 3.0] and list(by_name["F"].y) == [3.0, 2.0, 1.0]
    assert (by_name["Y"].x[0], by_name["Y"].y[0]) == (2.0, 2.0)
    assert (by_name["B"].x[0], by_name["B"].y[0]) == (1.5, 1.5)
    assert by_name["W"].marker.color[1] == rc.CHOSEN_COLOUR


def curves_frame():
    steps = [0, 10, 20]
    rows = [{"step": s, "task": "synth_1", "kind": "mtl", "value": v} for s, v in zip(steps, [2.0, 1.0, 1.0])]
    rows += [{"step": s, "task": "synth_1", "kind": "stl", "value": v} for s, v in zip(steps, [2.0, 2.0, 2.0])]
    return pd.DataFrame(rows)


def test_gap_curves_draw_single_task_dashed_and_fill_to_multi_task():
    fig = rc.gap_curves(curves_frame(), title="gap", x_title="step", y_title="MSE", mtl_name="shared",
                        stl_name="separate")
    stl, mtl = fig.data
    assert (stl.name, stl.line.dash) == ("synth_1 · separate", "dash")
    assert mtl.name == "synth_1 · shared" and mtl.fill == "tonexty"
    assert list(mtl.y) == [2.0, 1.0, 1.0]


def test_curve_gap_is_the_mean_area_between_the_curves_positive_when_shared_is_lower():
    # gap 0, 1, 1 over steps 0..20: trapezoids 5 + 10 = 15, over 20 steps = 0.75
    assert lessons.curve_gap(curves_frame()) == {"synth_1": pytest.approx(0.75)}


def test_grouped_bars_write_values_on_bars_and_translate_figure_swaps_text():
    table = pd.DataFrame({"synth_1": [1.25, 2.0], "synth_2": [0.5, np.nan]}, index=["λ_soft = 0", "hard"])
    fig = rc.grouped_bars(table, title="Test MSE per task", y_title="test MSE")
    assert [trace.name for trace in fig.data] == ["synth_1", "synth_2"]
    assert list(fig.data[1].text) == ["0.500", ""]
    rc.translate_figure(fig, {"hard": "硬共享", "Test MSE per task": "每个任务的测试 MSE", "test MSE": "测试 MSE"})
    assert fig.layout.title.text == "每个任务的测试 MSE"
    assert fig.layout.yaxis.title.text == "测试 MSE"


# ---- lesson logic ------------------------------------------------------------------------------
def test_lesson_settings_round_trip_through_the_url():
    lesson, values, notes = lessons.parse_query({"lesson": "weights", "w1": "0.5", "p": "0.2"})
    assert (lesson, notes) == ("weights", [])
    assert values == {**lessons.defaults("weights"), "w1": 0.5, "p": 0.2}
    assert lessons.to_query(lesson, values) == {"lesson": "weights", "w1": "0.5", "p": "0.2"}
    assert lessons.parse_query(lessons.to_query(lesson, values))[1] == values


def test_bad_url_values_fall_back_with_a_note():
    lesson, values, notes = lessons.parse_query({"lesson": "soft", "p": "7", "soft": "0,3"})
    assert values == lessons.defaults("soft")
    assert len(notes) == 2 and notes[0].startswith("p='7' ignored")
    assert lessons.parse_query({"lesson": "nope"})[0] == "relatedness"


def test_each_lesson_submits_matched_runs():
    spec, runs = lessons.lesson_runs("relatedness", {**lessons.defaults("relatedness"), "p": 0.0, "seeds": 2})
    assert runs is None and spec.synthetic_correlation == 0.0 and spec.noise_floor and spec.baselines
    assert [r.kind for r in spec.runs()] == ["mtl", "stl", "stl"] * 2
    _, runs = lessons.lesson_runs("weights", {**lessons.defaults("weights"), "w1": 0.7, "w2": 0.2})
    mtl = [r.experiment.weights for r in runs if r.kind == "mtl"]
    assert len(mtl) == len(lessons.WEIGHT_GRID) + 1 and {"synth_1": 0.7, "synth_2": 0.2} in mtl
    assert sorted(r.tasks[0] for r in runs if r.kind == "stl") == ["synth_1", "synth_2"]
    _, runs = lessons.lesson_runs("soft", lessons.defaults("soft"))
    assert [(r.experiment.sharing, r.experiment.soft_lambda) for r in runs][-1][0] == "hard"
    assert [r.experiment.soft_lambda for r in runs[:-1]] == list(lessons.SOFT_DEFAULT)
    _, runs = lessons.lesson_runs("attach", lessons.defaults("attach"))
    assert [r.experiment.layers for r in runs] == [{"atis_slots": 1, "atis_intent": 2},
                                                   {"atis_slots": 2, "atis_intent": 1}]


def test_experiment_name_changes_with_every_setting():
    base = lessons.defaults("relatedness")
    names = {lessons.experiment_name("relatedness", {**base, name: value})
             for name, value in (("p", 0.3), ("steps", 100), ("seeds", 2))}
    assert len(names | {lessons.experiment_name("relatedness", base)}) == 4


# ---- strings -----------------------------------------------------------------------------------
def test_every_string_exists_in_both_languages_with_the_same_fields():
    fields = lambda text: sorted(name for _, name, _, _ in string.Formatter().parse(text) if name)
    for key, entry in i18n.STRINGS.items():
        assert set(entry) == set(i18n.LANGUAGES), key
        assert fields(entry["en"]) == fields(entry["zh"]), key
    assert i18n.translate("lab.title", "zh") == "教学实验室"
    assert i18n.translate("lab.rel.summary_head", "en", p=0.2) == "With p = 0.2:"
    assert re.search(r"[\u4e00-\u9fff]", i18n.translate("map.title", "zh"))


def test_a_conflict_rate_heatmap_shows_high_rates_in_red():
    from dashboard.charts_relatedness import relatedness_heatmap

    rate = relatedness_heatmap([[None, 80.0], [80.0, None]], ["a", "b"], title="t", x_title="x", y_title="y",
                               higher_is_worse=True)
    gain = relatedness_heatmap([[None, 80.0], [80.0, None]], ["a", "b"], title="t", x_title="x", y_title="y")
    assert rate.data[0].reversescale is True and not gain.data[0].reversescale


def test_proxy_scatter_draws_each_pair_where_it_was_measured_one_colour_per_target():
    points = pd.DataFrame({"proxy": [2.5, -1.0, 0.5, np.nan], "gain": [4.0, -3.0, 1.5, 2.0],
                           "label": ["b", "c", "a", "c"], "group": ["a", "a", "b", "b"]})
    fig = rc.proxy_gain_scatter(points, title="affinity against gain", x_title="affinity, %", y_title="gain, %")
    first, second = fig.data
    assert (first.name, list(first.x), list(first.y), list(first.text)) == ("a", [2.5, -1.0], [4.0, -3.0], ["b", "c"])
    assert (second.name, list(second.x), list(second.y)) == ("b", [0.5], [1.5])  # the pair without a proxy is left out
    assert first.marker.color != second.marker.color
    assert fig.layout.shapes[0].y0 == 0 and fig.layout.xaxis.title.text == "affinity, %"
    empty = rc.proxy_gain_scatter(points.iloc[3:], title="nothing", x_title="x", y_title="y")
    assert not empty.data and empty.layout.annotations[0].text == "nothing"
