"""Loss-weighting methods in the dashboard: the static-λ front against adaptive methods (points, classification,
chart), weights over training, the "methods" lesson's settings and runs, the form's method in the URL and the
spec, and the New experiment page choosing a method (Streamlit AppTest)."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from dashboard import charts_weighting as cw
from dashboard import lessons, state

ROWS = {"static": {"name": "static", "family": "static", "cost": {}},
        "pcgrad": {"name": "pcgrad", "family": "gradient-based", "cost": {"small": 1.4, "medium": 1.8}},
        "uw": {"name": "uw", "family": "loss-based", "cost": {}}}


def configuration(weights, method, dx, dy, tasks=("a", "b"), options=None):
    config = {"tasks": list(tasks), "weights": dict(zip(tasks, weights)),
              "weighting": {"name": method, "options": options or {}}}
    compared = {task: {"delta_pct": value} for task, value in zip(tasks, (dx, dy))}
    return {"id": f"c-{method}-{weights}", "label": f"{method} {weights}", "configuration": config,
            "tasks": compared, "delta_m_pct": None if dx is None or dy is None else (dx + dy) / 2}


def points_of(rows):
    """Hand-made front points: (name, static, x, y)."""
    return pd.DataFrame([{"id": name, "label": name, "name": name, "method": "static" if static else name,
                          "family": "static" if static else "loss-based", "static": static, "weights": {},
                          "x": x, "y": y, "delta_m": None, "cost": float("nan")} for name, static, x, y in rows],
                        columns=cw.POINT_COLUMNS)


# ---- the front -------------------------------------------------------------------------------
def test_front_points_take_both_deltas_of_each_multi_task_configuration_and_the_method_cost():
    configurations = [configuration((1.0, 0.5), "static", -3.0, 2.0), configuration((1.0, 1.0), "pcgrad", 1.5, -0.5),
                      configuration((1.0, 1.0), "uw", None, 4.0),  # a task without its baseline yet: left out
                      configuration((1.0,), "static", 2.0, None, tasks=("a",))]  # single task: not a configuration
    points = cw.front_points(configurations, ("a", "b"), ROWS)
    assert list(points["method"]) == ["static", "pcgrad"]
    assert list(points["static"]) == [True, False]
    assert list(points["name"]) == ["λ = (1, 0.5)", "pcgrad"]
    assert (points["x"].tolist(), points["y"].tolist()) == ([-3.0, 1.5], [2.0, -0.5])
    assert points["cost"].iloc[1] == 1.8 and pd.isna(points["cost"].iloc[0])
    swapped = cw.front_points(configurations, ("b", "a"), ROWS)
    assert swapped["x"].tolist() == [2.0, -0.5]


def test_a_method_with_options_is_named_by_the_options_it_changed():
    points = cw.front_points([configuration((1.0, 1.0), "cagrad", 1.0, 1.0, options={"c": 0.5})], ("a", "b"))
    assert points["name"].iloc[0] == "cagrad (c=0.5)"


def test_each_method_is_dominated_by_on_or_beyond_the_static_front():
    points = points_of([
        ("A", True, 0.0, 10.0), ("B", True, 5.0, 5.0), ("C", True, 10.0, 0.0),
        ("D", True, 1.0, 1.0),        # static but behind B: not on the front
        ("low", False, 2.0, 2.0),     # B is better on both
        ("out", False, 6.0, 6.0),     # better than B on both
        ("side", False, 11.0, -1.0),  # past C on one task, behind it on the other
        ("tie", False, 5.0, 4.0),     # equal to B on a, worse on b: dominated
        ("past_d", False, 4.0, 6.0),  # beats only D, which is off the front: still on the front
    ])
    assert cw.static_front(points) == [True, True, True, False, False, False, False, False, False]
    verdicts = {v["name"]: v for v in cw.classify(points)}
    assert list(verdicts) == ["low", "out", "side", "tie", "past_d"]
    assert verdicts["low"]["where"] == cw.DOMINATED and verdicts["low"]["by"] == ["B"]
    assert verdicts["out"]["where"] == cw.BEYOND and verdicts["out"]["beats"] == ["B"]
    assert verdicts["side"]["where"] == cw.ON and verdicts["side"]["by"] == verdicts["side"]["beats"] == []
    assert verdicts["tie"]["where"] == cw.DOMINATED and verdicts["tie"]["by"] == ["B"]
    assert verdicts["past_d"]["where"] == cw.ON and verdicts["past_d"]["beats"] == []


def test_without_static_points_a_method_has_nothing_to_be_compared_with():
    verdicts = cw.classify(points_of([("uw", False, 1.0, 2.0)]))
    assert [v["where"] for v in verdicts] == [None]


def test_the_front_chart_joins_the_static_front_and_labels_each_method_with_its_cost():
    points = points_of([("A", True, 0.0, 10.0), ("C", True, 10.0, 0.0), ("B", True, 5.0, 5.0), ("D", True, 1.0, 1.0),
                        ("pcgrad", False, 6.0, 6.0), ("uw", False, 2.0, 2.0)])
    points.loc[points["name"] == "pcgrad", "cost"] = 1.8
    fig = cw.method_front(points, title="front", x_title="Δ a", y_title="Δ b",
                          names={"static": "static λ", "front": "static-λ front", "baseline": "separate"},
                          cost_text=lambda r: "not measured" if r is None else f"{r:.1f}×")
    by_name = {trace.name: trace for trace in fig.data}
    assert list(by_name) == ["static-λ front", "static λ", "pcgrad · 1.8×", "uw · not measured", "separate"]
    assert list(by_name["static-λ front"].x) == [0.0, 5.0, 10.0]  # the front only, in order along x
    assert list(by_name["static λ"].text) == ["A", "C", "B", "D"]
    assert list(by_name["pcgrad · 1.8×"].text) == ["pcgrad"]
    assert (list(by_name["separate"].x), list(by_name["separate"].y)) == ([0.0], [0.0])
    assert fig.layout.xaxis.title.text == "Δ a" and fig.layout.title.text == "front"


def test_an_empty_front_is_an_empty_chart():
    fig = cw.method_front(points_of([]), title="front", x_title="x", y_title="y",
                          names={"static": "s", "front": "f", "baseline": "b"}, cost_text=str)
    assert not fig.data


def test_weight_curves_draw_one_line_per_run_and_task_from_the_weight_rows_only():
    frame = pd.DataFrame([
        {"run_id": run, "step": step, "task": task, "name": name, "value": value}
        for run in ("r1", "r2") for step in (0, 10) for task in ("a", "b")
        for name, value in (("weight", 0.5 + step / 100), ("loss", 9.0))])
    fig = cw.weight_curves(frame, {"r1": "uw · seed 0", "r2": "famo · seed 0"}, title="w", x_title="step",
                           y_title="weight")
    assert [trace.name for trace in fig.data] == ["a · uw · seed 0", "b · uw · seed 0", "a · famo · seed 0",
                                                  "b · famo · seed 0"]
    assert list(fig.data[0].y) == [0.5, 0.6]
    single = cw.weight_curves(frame, {"r1": "uw"}, title="w", x_title="step", y_title="weight")
    assert [trace.name for trace in single.data] == ["a", "b"]
    assert not cw.weight_curves(frame[frame["name"] == "loss"], {"r1": "uw"}, title="w", x_title="s",
                                y_title="w").data


# ---- the "methods" lesson --------------------------------------------------------------------
def test_the_methods_lesson_keeps_its_methods_in_the_link_sorted():
    lesson, values, notes = lessons.parse_query({"lesson": "methods", "methods": "uw,pcgrad", "p": "0.2"})
    assert (lesson, values["methods"], values["p"], notes) == ("methods", ("pcgrad", "uw"), 0.2, [])
    assert lessons.to_query("methods", values) == {"lesson": "methods", "p": "0.2", "methods": "pcgrad,uw"}
    assert lessons.defaults("methods")["p"] == 0.0 and lessons.defaults("methods")["seeds"] == 1
    assert lessons.to_query("methods", lessons.defaults("methods")) == {"lesson": "methods"}
    _, values, notes = lessons.parse_query({"lesson": "methods", "methods": "pcgrad,static"})
    assert values["methods"] == lessons.METHOD_DEFAULT
    assert len(notes) == 1 and "methods='pcgrad,static' ignored" in notes[0] and "famo" in notes[0]
    assert "static" not in lessons.method_choices()
    names = {lessons.experiment_name("methods", {**lessons.defaults("methods"), "methods": chosen})
             for chosen in (("uw",), ("pcgrad", "uw"))}
    assert len(names) == 2


def test_the_methods_lesson_runs_the_static_grid_each_method_once_and_the_baselines():
    values = {**lessons.defaults("methods"), "methods": ("mgda", "uw"), "seeds": 2}
    spec, runs = lessons.lesson_runs("methods", values)
    assert spec.synthetic_correlation == 0.0 and spec.name == lessons.experiment_name("methods", values)
    mtl = [r for r in runs if r.kind == "mtl"]
    static = [r for r in mtl if r.experiment.weighting["name"] == "static"]
    assert sorted({tuple(r.experiment.weights.values()) for r in static}) == sorted(lessons.METHOD_GRID)
    adaptive = [r for r in mtl if r.experiment.weighting["name"] != "static"]
    assert sorted(r.experiment.weighting["name"] for r in adaptive) == ["mgda", "mgda", "uw", "uw"]
    assert all(set(r.experiment.weights.values()) == {1.0} for r in adaptive)
    assert sorted((r.tasks[0], r.seed) for r in runs if r.kind == "stl") == [
        ("synth_1", 0), ("synth_1", 1), ("synth_2", 0), ("synth_2", 1)]
    assert len(runs) == 2 * (len(lessons.METHOD_GRID) + 2 + 2)


def test_method_outcomes_read_the_configuration_comparison():
    s1, s2 = lessons.SYNTH
    configurations = [configuration((1.6, 0.4), "static", 5.0, -20.0, tasks=lessons.SYNTH),
                      configuration((1.0, 1.0), "static", -2.0, -2.0, tasks=lessons.SYNTH),
                      configuration((1.0, 1.0), "uw", -3.0, -3.0, tasks=lessons.SYNTH),
                      configuration((1.0, 1.0), "pcgrad", 0.0, 0.0, tasks=lessons.SYNTH)]
    points, verdicts = lessons.method_outcomes(configurations, ROWS)
    assert list(points["name"]) == ["λ = (1.6, 0.4)", "λ = (1, 1)", "uw", "pcgrad"]
    assert [(v["name"], v["where"]) for v in verdicts] == [("uw", cw.DOMINATED), ("pcgrad", cw.BEYOND)]
    assert verdicts[0]["by"] == ["λ = (1, 1)"] and verdicts[1]["beats"] == ["λ = (1, 1)"]
    assert points.loc[points["name"] == "pcgrad", "cost"].iloc[0] == 1.8
    assert {s1, s2} == set(points["weights"].iloc[0])


# ---- the form: the method in the link, the spec and the CLI line ----------------------------------
def test_the_method_and_its_options_round_trip_through_the_link():
    tasks = ["synth_1", "synth_2"]
    form, notes = state.parse_query({"tasks": "synth_1,synth_2", "weighting": "cagrad", "wo_c": "0.5",
                                     "w_synth_1": "2"}, tasks)
    assert (form["weighting"], form["weighting_options"], notes) == ("cagrad", {"c": 0.5}, [])
    query = state.to_query(form)
    assert query["weighting"] == "cagrad" and query["wo_c"] == "0.5"
    assert "w_synth_1" not in query  # cagrad picks the weights itself: λ is not part of its link
    again, _ = state.parse_query(query, tasks)
    assert (again["weighting"], again["weighting_options"]) == ("cagrad", {"c": 0.5})
    data = state.spec_dict(form)
    assert data["weighting"] == {"name": "cagrad", "options": {"c": 0.5}}
    assert data["weights"] == {"synth_1": 1.0, "synth_2": 1.0}
    static, _ = state.parse_query({"tasks": "synth_1,synth_2", "w_synth_1": "2"}, tasks)
    assert "weighting" not in state.to_query(static) and state.to_query(static)["w_synth_1"] == "2"
    assert state.spec_dict(static)["weights"]["synth_1"] == 2.0
    start, _ = state.parse_query({"tasks": "synth_1,synth_2", "weighting": "gradnorm", "w_synth_1": "2"}, tasks)
    assert state.spec_dict(start)["weights"]["synth_1"] == 2.0  # gradnorm starts from λ


def test_bad_method_values_in_the_link_are_noted_and_an_out_of_range_option_reaches_the_spec_check():
    from mtl_core.errors import UserError
    from mtl_core.spec import ExperimentSpec

    tasks = ["synth_1", "synth_2"]
    form, notes = state.parse_query({"tasks": "synth_1,synth_2", "weighting": "magic", "wo_c": "x"}, tasks)
    assert form["weighting"] == "static"
    assert any(note.startswith("weighting='magic' ignored") for note in notes)
    assert any(note.startswith("wo_c ignored: static has no option 'c'") for note in notes)
    form, notes = state.parse_query({"tasks": "synth_1,synth_2", "weighting": "cagrad", "wo_c": "-1"}, tasks)
    assert notes == [] and form["weighting_options"] == {"c": -1}
    with pytest.raises(UserError) as raised:
        ExperimentSpec.from_dict(state.spec_dict(form))
    assert raised.value.field == "weighting" and "cagrad option c" in str(raised.value)


def test_the_cli_line_names_the_method_and_its_changed_options():
    from mtl_core.spec import ExperimentSpec

    spec = ExperimentSpec(tasks=["synth_1", "synth_2"], weighting={"name": "cagrad", "options": {"c": 0.5}})
    line = state.cli_command(spec.validated().to_dict())
    assert "--weighting cagrad --weighting-option c=0.5" in line and "no CLI flag" not in line
    plain = state.cli_command(ExperimentSpec(tasks=["synth_1", "synth_2"]).validated().to_dict())
    assert "--weighting" not in plain and "no CLI flag" not in plain


# ---- the New experiment page, driven headlessly ----------------------------------------------------
@pytest.fixture
def page_env(tmp_path, monkeypatch):
    from tests.dashboard_helpers import dashboard_env, stop_background

    store = tmp_path / "runs.sqlite"
    for name, value in dashboard_env(tmp_path / "home", store).items():
        monkeypatch.setenv(name, value)
    yield store
    stop_background(store)


def new_page(**query: str):
    from streamlit.testing.v1 import AppTest

    from tests.dashboard_helpers import APP

    at = AppTest.from_file(str(APP), default_timeout=90)
    for name, value in query.items():
        at.query_params[name] = value
    return at.run()


def test_choosing_a_method_explains_it_hides_lambda_checks_its_option_and_launches_it(page_env):
    from mtl_core.store import Store

    at = new_page(tasks="synth_1,synth_2", steps="5", max_train="100", conflict_every="0")
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="new_weighting").value == "static"
    assert at.slider(key="new_w_synth_1").value == 1.0
    at.selectbox(key="new_weighting").set_value("cagrad").run()
    assert not at.exception, [e.value for e in at.exception]
    assert not [s for s in at.slider if s.key == "new_w_synth_1"]  # cagrad picks the weights itself
    assert any("chooses the task weights itself" in c.value for c in at.caption)
    assert any("bends it to help the task" in m.value for m in at.markdown)
    assert any("Liu et al. 2021" in c.value for c in at.caption)
    assert any(c.value.startswith("Cost: ") for c in at.caption)
    assert at.get("latex"), "the method's formula is missing"
    assert at.number_input(key="new_wo_cagrad_c").value == 0.4
    assert at.query_params["weighting"] in ("cagrad", ["cagrad"])

    at.number_input(key="new_wo_cagrad_c").set_value(-1.0).run()
    assert any("cagrad option c must be a number in [0, 10]" in e.value for e in at.error)
    at.number_input(key="new_wo_cagrad_c").set_value(0.5).run()
    assert not at.error
    assert at.query_params["wo_c"] in ("0.5", ["0.5"])

    at.button(key="newui_launch").click().run()
    assert not at.exception, [e.value for e in at.exception]
    experiments = Store(page_env).experiments()
    assert len(experiments) == 1
    spec = json.loads(experiments.iloc[0]["spec_json"])
    assert spec["weighting"] == {"name": "cagrad", "options": {"c": 0.5}}
    assert spec["weights"] == {"synth_1": 1.0, "synth_2": 1.0}


def test_gradnorm_labels_the_sliders_as_its_starting_point(page_env):
    at = new_page(tasks="synth_1,synth_2", weighting="gradnorm", w_synth_1="2")
    assert not at.exception, [e.value for e in at.exception]
    assert any("Starting weights" in m.value for m in at.markdown)
    assert at.slider(key="new_w_synth_1").value == 2.0
