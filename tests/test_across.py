"""Runs and configurations across experiments (dashboard/across.py, dashboard/charts_across.py, the Runs page's
"All experiments" tab): the runs table from a real store, its filters and group-by against hand computations,
which settings vary, Pareto membership on a hand-made example with a tie and dominated points, Δ copied from
experiment_summary (never recomputed), the CSV equal to the table, and the tab itself driven by AppTest.

A module fixture trains two small synthetic experiments with the CLI (hard sharing; soft sharing at another
learning rate), 20 steps each, into a temporary store.
"""
from __future__ import annotations

import io
import json
import math

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from dashboard import across, charts_across
from tests.dashboard_helpers import APP, SYNTH, dashboard_env, run_cli_experiment, stop_background

# Its module fixture trains once per pytest-xdist worker: the module's tests stay on one worker.
pytestmark = pytest.mark.xdist_group("test_across")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    store_path = home / "runs.sqlite"
    env = dashboard_env(home, store_path)
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        hard = run_cli_experiment(store_path, env, "--steps", "20", "--name", "hard")
        soft = run_cli_experiment(store_path, env, "--steps", "20", "--sharing", "soft", "--lr", "0.01",
                                  "--name", "soft")
        from mtl_core.store import Store

        yield {"store": Store(store_path, readonly=True), "hard": hard, "soft": soft}
        stop_background(store_path)


def synth_cards() -> dict:
    from mtl_core.tasks import card_dict

    return {task: card_dict(task) for task in SYNTH}


def table_of(store) -> pd.DataFrame:
    return across.runs_table(store.runs(), store.experiments(), synth_cards())


def summaries(store) -> list[tuple[pd.Series, dict]]:
    from mtl_core.analysis.summary import experiment_summary

    return [(row, experiment_summary(store, row["id"])) for _, row in store.experiments().iterrows()]


# ---- the runs table ------------------------------------------------------------------------------
def test_the_runs_table_has_every_run_with_its_settings_and_test_values(trained):
    store = trained["store"]
    table = table_of(store)
    runs = store.runs()
    assert list(table["run"]) == [r["id"] for r in runs]  # every run of both experiments, oldest first
    assert list(table["experiment name"]) == ["hard"] * 3 + ["soft"] * 3
    for run, row in zip(runs, table.to_dict("records")):
        settings = json.loads(run["spec_json"])["experiment"]
        assert row["lr"] == settings["lr"] and row["steps"] == 20 and row["seed"] == run["seed"]
        for task in SYNTH:  # mse is the synthetic tasks' primary metric
            expected = run["result"]["test"].get(task, {}).get("mse") if task in run["tasks"] else None
            value = row[f"test {task} mse"]
            assert (expected is None and math.isnan(value)) or value == pytest.approx(expected, rel=1e-12)
        if run["kind"] == "mtl":
            assert (row["sharing"], row["weighting"], row["λ synth_1"], row["λ synth_2"]) == \
                (settings["sharing"], "static", 1.0, 1.0)
        else:  # a baseline shares nothing and combines no losses
            assert all(across._missing(row[column]) for column in ("sharing", "weighting", "λ synth_1", "soft_lambda"))
    assert table.loc[table["sharing"] == "soft", "soft_lambda"].tolist() == [0.01]
    assert across.filter_options(table) == {"tasks": SYNTH, "sharing": ["hard", "soft"], "weighting": ["static"],
                                            "status": ["completed"]}


def hand_table() -> pd.DataFrame:
    """Six runs as runs_table lays them out, with test values chosen for hand computation."""
    return pd.DataFrame([
        {"run": "r1", "kind": "mtl", "tasks": "a+b", "sharing": "hard", "weighting": "static", "status": "completed",
         "lr": 0.001, "steps": 200, "test a acc": 0.80, "test b acc": 0.60},
        {"run": "r2", "kind": "mtl", "tasks": "a+b", "sharing": "hard", "weighting": "pcgrad", "status": "completed",
         "lr": 0.001, "steps": 50, "test a acc": 0.70, "test b acc": 0.70},
        {"run": "r3", "kind": "mtl", "tasks": "a+c", "sharing": "soft", "weighting": "static", "status": "failed",
         "lr": 5e-05, "steps": 200, "test a acc": None, "test b acc": None},
        {"run": "r4", "kind": "stl", "tasks": "a", "sharing": None, "weighting": None, "status": "completed",
         "lr": 0.001, "steps": 200, "test a acc": 0.75, "test b acc": None},
        {"run": "r5", "kind": "stl", "tasks": "b", "sharing": None, "weighting": None, "status": "completed",
         "lr": 0.001, "steps": 200, "test a acc": None, "test b acc": 0.65},
        {"run": "r6", "kind": "stl", "tasks": "c", "sharing": None, "weighting": None, "status": "running",
         "lr": 5e-05, "steps": 200, "test a acc": None, "test b acc": None},
    ])


def runs_of(frame: pd.DataFrame) -> list[str]:
    return list(frame["run"])


def test_filters_keep_runs_of_any_chosen_task_and_the_chosen_modes_methods_and_statuses():
    table = hand_table()
    assert runs_of(across.filter_runs(table)) == ["r1", "r2", "r3", "r4", "r5", "r6"]  # no filter, no change
    assert runs_of(across.filter_runs(table, tasks=["b"])) == ["r1", "r2", "r5"]
    assert runs_of(across.filter_runs(table, tasks=["b", "c"])) == ["r1", "r2", "r3", "r5", "r6"]
    assert runs_of(across.filter_runs(table, sharing=["hard"])) == ["r1", "r2"]  # baselines have no sharing
    assert runs_of(across.filter_runs(table, weighting=["static"])) == ["r1", "r3"]
    assert runs_of(across.filter_runs(table, status=["completed"])) == ["r1", "r2", "r4", "r5"]
    assert runs_of(across.filter_runs(table, tasks=["a"], sharing=["hard", "soft"], status=["completed"])) == \
        ["r1", "r2"]
    assert across.filter_runs(table, sharing=["mmoe"]).empty


def test_group_by_counts_runs_and_averages_each_test_value_by_hand():
    table = hand_table()
    by_sharing = across.group_runs(table, "sharing").set_index("sharing")
    assert list(by_sharing.index) == ["hard", "soft", "—"]  # the baselines' empty value is a group of its own, last
    assert by_sharing["runs"].tolist() == [2, 1, 3] and by_sharing["completed"].tolist() == [2, 0, 2]
    assert by_sharing.loc["hard", "test a acc mean"] == pytest.approx((0.80 + 0.70) / 2)
    assert by_sharing.loc["hard", "test a acc std"] == pytest.approx(math.sqrt(((0.05 ** 2) * 2) / 1))
    assert math.isnan(by_sharing.loc["soft", "test a acc mean"])  # the failed run has no test value
    assert by_sharing.loc["—", "test a acc mean"] == pytest.approx(0.75)
    assert math.isnan(by_sharing.loc["—", "test a acc std"])  # one value: no standard deviation

    by_lr = across.group_runs(table, "lr")
    assert by_lr["lr"].tolist() == [5e-05, 0.001]  # in numeric order (as text "5e-05" sorts after "0.001")
    assert by_lr["runs"].tolist() == [2, 4]
    assert by_lr["test b acc mean"].tolist() == pytest.approx([float("nan"), (0.60 + 0.70 + 0.65) / 3], nan_ok=True)
    assert by_lr["test b acc std"].iloc[1] == pytest.approx(np.std([0.60, 0.70, 0.65], ddof=1))
    assert across.group_runs(table, "steps")["steps"].tolist() == [50, 200]
    with pytest.raises(KeyError, match="group by: no column 'momentum'"):
        across.group_runs(table, "momentum")


def test_group_fields_are_every_setting_but_not_the_run_id_or_test_values(trained):
    fields = across.group_fields(table_of(trained["store"]))
    assert {"experiment", "experiment name", "kind", "tasks", "seed", "status", "sharing", "weighting", "λ synth_1",
            "lr", "steps", "encoder", "hidden_size", "soft_lambda"} <= set(fields)
    assert not {"run", "step", "total steps", "test synth_1 mse"} & set(fields)


def test_the_csv_is_the_table(trained):
    for table in (table_of(trained["store"]), across.group_runs(table_of(trained["store"]), "sharing")):
        back = pd.read_csv(io.StringIO(across.csv_text(table)))
        assert list(back.columns) == list(table.columns) and len(back) == len(table)
        for column in table.columns:
            for ours, theirs in zip(table[column], back[column]):
                if across._missing(ours):
                    assert across._missing(theirs), column
                elif isinstance(ours, (float, np.floating)):
                    assert theirs == pytest.approx(ours, rel=1e-12), column
                else:
                    assert str(theirs) == str(ours), column


# ---- configurations across experiments -----------------------------------------------------------
def test_configurations_copy_delta_from_the_experiment_summary_and_vary_in_sharing_and_lr(trained):
    store = trained["store"]
    pairs = summaries(store)
    frame = across.configurations_frame(pairs)
    assert len(frame) == 2 and set(frame["experiment name"]) == {"hard", "soft"}
    for (_, summary), row in zip(pairs, frame.to_dict("records")):
        (entry,) = summary["configurations"]
        assert row["configuration"] == entry["id"] and row["name"] == f"{row['experiment name']} · {entry['label']}"
        assert row["Δm %"] == entry["delta_m_pct"]
        for task in SYNTH:
            assert row[f"Δ {task} %"] == entry["tasks"][task]["delta_pct"]
            assert row[f"test {task} mse"] == entry["tasks"][task]["mtl"]
        # and independently: Δ_t = ±(multi-task − single-task) / single-task × 100 from the stored test values
        runs = [r for r in store.runs(row["experiment"]) if r["status"] == "completed"]
        for task in SYNTH:
            mtl = next(r for r in runs if r["kind"] == "mtl")["result"]["test"][task]["mse"]
            stl = next(r for r in runs if r["kind"] == "stl" and r["tasks"] == [task])["result"]["test"][task]["mse"]
            assert row[f"Δ {task} %"] == pytest.approx(-(mtl - stl) / stl * 100)  # mse: lower is better
    assert across.varying_fields(frame) == ["sharing", "lr", "soft_lambda"]
    table = table_of(store)
    assert across.multi_task_sets(table) == ["synth_1+synth_2"]
    assert across.experiments_on(table, "synth_2+synth_1") == [trained["hard"], trained["soft"]]


def test_varying_fields_count_an_empty_value_as_a_value_of_its_own():
    frame = pd.DataFrame({"name": ["x", "y", "z"], "tasks": ["a+b"] * 3, "encoder": ["mlp"] * 3,
                          "soft_lambda": [None, 0.1, None], "experts": [None, None, None], "lr": [0.01, 0.01, 0.001],
                          "Δ a %": [1.0, 2.0, 3.0], "Δm %": [0.5, 1.0, 2.0], "seeds": [1, 2, 3]})
    assert across.varying_fields(frame) == ["soft_lambda", "lr"]


def test_pareto_front_keeps_ties_and_drops_dominated_points():
    values = np.array([
        [1.0, 1.0],   # A
        [1.0, 1.0],   # B: equal to A, so neither dominates the other
        [0.0, 0.0],   # C: worse than A on both tasks
        [2.0, -1.0],  # D: a trade-off, best on the first task
        [1.0, 0.5],   # E: equal to A on the first task, worse on the second
        [-1.0, 3.0],  # F: a trade-off, best on the second task
    ])
    assert across.pareto_front(values) == [True, True, False, True, False, True]
    # three tasks: (2, 0, 0) and (0, 2, 0) trade off; (1, 1, 1) beats neither on every task; (0, 0, 0) loses to all
    three = np.array([[2.0, 0.0, 0.0], [0.0, 2.0, 0.0], [1.0, 1.0, 1.0], [0.0, 0.0, 0.0]])
    assert across.pareto_front(three) == [True, True, True, False]
    assert across.pareto_front(np.array([[-5.0, -5.0]])) == [True]  # alone, a point is on its own front


def test_front_frame_takes_the_configurations_on_the_tasks_in_any_order_with_every_delta():
    frame = pd.DataFrame({"name": ["p", "q", "r", "s", "t"], "tasks": ["a+b", "b+a", "a+b", "a+c", "a+b"],
                          "Δ a %": [1.0, 0.0, None, 5.0, -1.0], "Δ b %": [1.0, 2.0, 3.0, None, 0.5],
                          "Δ c %": [None] * 3 + [5.0, None], "Δm %": [1.0, 1.0, None, 5.0, -0.25]})
    rows = across.front_frame(frame, ["a", "b"])
    assert list(rows["name"]) == ["p", "q", "t"] and list(rows[across.ON_FRONT]) == [True, True, False]


def test_a_front_over_a_lower_is_better_metric_keeps_the_lowest():
    frame = pd.DataFrame({"name": ["p", "q", "r"], "tasks": ["a+b"] * 3, "test a mse": [1.0, 2.0, 0.5],
                          "test b acc": [0.9, 0.95, 0.8], "Δm %": [0.0, 0.0, 0.0]})
    # p: lower mse than q but lower accuracy, so both are on the front; r: lowest mse, lowest accuracy, also on it
    rows = across.front_frame(frame, ["a", "b"], ["test a mse", "test b acc"], [False, True])
    assert list(rows[across.ON_FRONT]) == [True, True, True]
    frame.loc[1, "test a mse"] = 0.9  # q now beats p on both: lower mse, higher accuracy
    rows = across.front_frame(frame, ["a", "b"], ["test a mse", "test b acc"], [False, True])
    assert list(rows[across.ON_FRONT]) == [False, True, True]


def test_task_sets_name_the_multi_task_runs_tasks_whatever_their_order():
    table = pd.DataFrame({"kind": ["mtl", "mtl", "stl", "mtl", "mtl"], "experiment": ["e1", "e2", "e2", "e3", "e3"],
                          "tasks": ["b+a", "a+b", "a", "a+c", "a+c"]})
    assert across.task_set("c+a+b") == "a+b+c"
    assert across.multi_task_sets(table) == ["a+b", "a+c"]  # two runs each: the first to appear first
    assert across.experiments_on(table, "a+b") == ["e1", "e2"] and across.experiments_on(table, "c+a") == ["e3"]


def test_charts_draw_one_line_and_one_point_per_configuration(trained):
    frame = across.front_frame(across.configurations_frame(summaries(trained["store"])), SYNTH)
    fields = across.varying_fields(frame)
    fig = charts_across.parallel_coordinates(frame, fields, SYNTH, title="t", delta_labels={t: t for t in SYNTH},
                                             delta_m_label="Δm")
    (trace,) = fig.data
    assert [d.label for d in trace.dimensions] == ["sharing", "lr", "soft_lambda", "synth_1", "synth_2", "Δm"]
    assert all(len(d.values) == 2 for d in trace.dimensions)
    sharing = trace.dimensions[0]
    assert list(sharing.ticktext) == ["hard", "soft"]
    assert [sharing.ticktext[v] for v in sharing.values] == list(frame["sharing"])
    assert list(trace.dimensions[4].values) == pytest.approx(list(frame["Δ synth_2 %"]))
    assert list(trace.dimensions[2].ticktext) == ["0.01", "—"]  # hard sharing has no λ_soft
    pareto = charts_across.pareto_chart(frame, *across.delta_columns(SYNTH), join=True, title="p", x_title="x",
                                        y_title="y", names={"front": "front", "dominated": "dominated"})
    drawn = {trace.name: len(trace.x) for trace in pareto.data}
    assert sum(drawn.values()) == 2 and drawn.get("front") == sum(frame[across.ON_FRONT])


# ---- the page ------------------------------------------------------------------------------------
def open_runs(**query: str) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=120)
    for name, value in query.items():
        at.query_params[name] = value
    at.switch_page("views/runs.py")
    return at.run()


def test_the_all_experiments_tab_follows_its_link(trained):
    store = trained["store"]
    table = table_of(store)
    hard_mtl = table[(table["experiment name"] == "hard") & (table["kind"] == "mtl")]["run"].iloc[0]
    soft_mtl = table[(table["experiment name"] == "soft") & (table["kind"] == "mtl")]["run"].iloc[0]
    at = open_runs(view="All experiments", all_tasks="synth_2", all_status="completed", all_group="lr",
                   all_overlay=f"{hard_mtl},{soft_mtl}")
    assert not at.exception, [e.value for e in at.exception]
    runs_shown, groups, configurations = (frame.value for frame in at.dataframe)
    expected = across.filter_runs(table, tasks=["synth_2"], status=["completed"])
    assert list(runs_shown["run"]) == list(expected["run"]) and len(expected) == 4  # 2 multi-task + 2 synth_2 alone
    assert groups["lr"].tolist() == [0.003, 0.01] and groups["runs"].tolist() == [2, 2]
    assert at.multiselect(key="all_overlay").value == [hard_mtl, soft_mtl]
    specs = {json.loads(chart.proto.spec)["layout"]["title"]["text"]: json.loads(chart.proto.spec)
             for chart in at.get("plotly_chart")}
    overlay = specs["loss on the validation set across runs"]
    assert len(overlay["data"]) == 4 and all(trace["name"].startswith(("hard · ", "soft · "))
                                             for trace in overlay["data"])
    (parcoords,) = specs["Settings against Δ_t and Δm, one line per configuration"]["data"]
    assert [d["label"] for d in parcoords["dimensions"]][:3] == ["sharing", "lr", "soft_lambda"]
    assert len(parcoords["dimensions"][0]["values"]) == 2
    front = across.pareto_front(configurations[["Δ synth_1 %", "Δ synth_2 %"]].to_numpy())
    assert configurations[across.ON_FRONT].tolist() == front
    pareto = specs["Pareto front of Δ_t over synth_1, synth_2"]
    assert sum(len(trace["x"]) for trace in pareto["data"]) == 2
    for name, value in {"view": "All experiments", "all_tasks": "synth_2", "all_status": "completed",
                        "all_group": "lr", "all_overlay": f"{hard_mtl},{soft_mtl}"}.items():
        assert at.query_params[name] == [value] or at.query_params[name] == value, name


def test_every_word_of_the_tab_is_in_english_and_chinese():
    import ast
    from pathlib import Path

    source = Path(across.__file__).with_name("views") / "runs.py"
    tree = ast.parse(source.read_text())
    text = next(ast.literal_eval(node.value) for node in tree.body
                if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "TEXT")
    assert {key for key, entry in text.items() if set(entry) != {"en", "zh"}} == set()
    used = {node.args[0].value for node in ast.walk(tree) if isinstance(node, ast.Call)
            and getattr(node.func, "id", "") == "tx" and isinstance(node.args[0], ast.Constant)}
    assert used - set(text) == set()


def test_an_experiment_without_a_name_is_named_by_its_id():
    assert across.experiment_name({"id": "exp-1", "name": None}) == "exp-1"
    assert across.experiment_name({"id": "exp-1", "name": float("nan")}) == "exp-1"
    assert across.experiment_name({"id": "exp-1", "name": "sweep"}) == "sweep"


def test_a_summary_is_read_again_once_a_run_moves_on(trained, tmp_path, monkeypatch):
    import shutil

    from dashboard import data
    from mtl_core.store import Store

    copy = tmp_path / "runs.sqlite"
    source = Store(trained["store"].path)
    source.connection.execute("PRAGMA wal_checkpoint(FULL)")
    shutil.copy(trained["store"].path, copy)
    monkeypatch.setenv("MTL_EXPLORER_STORE", str(copy))
    before = data.experiment_summary(trained["soft"])
    assert {r["status"] for r in before["runs"]} == {"completed"}
    baseline = next(r for r in before["runs"] if r["kind"] == "stl")
    (task,) = baseline["tasks"]
    assert before["tasks"][task]["delta_pct"] is not None
    Store(copy).update_run(baseline["id"], status="failed")
    after = data.experiment_summary(trained["soft"])
    assert {r["id"]: r["status"] for r in after["runs"]}[baseline["id"]] == "failed"
    assert after["tasks"][task]["delta_pct"] is None  # its baseline no longer has a test value


def test_the_tab_in_chinese(trained):
    at = open_runs(lang="zh", view="全部实验", all_group="sharing")
    assert not at.exception, [e.value for e in at.exception]
    assert [s.value for s in at.subheader] == ["所有实验的所有运行", "相同任务上的配置"]
    assert any(c.value == "6 个运行中的 6 个" for c in at.caption)
    groups = at.dataframe[1].value
    assert groups["sharing"].tolist() == ["hard", "soft", "—"] and groups["runs"].tolist() == [1, 1, 4]


def test_the_front_over_the_test_metric_follows_its_link(trained):
    at = open_runs(view="All experiments", all_front="metric")
    assert not at.exception, [e.value for e in at.exception]
    configurations = at.dataframe[-1].value
    columns = ["test synth_1 mse", "test synth_2 mse"]
    assert configurations[across.ON_FRONT].tolist() == across.pareto_front(-configurations[columns].to_numpy())
    specs = [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]
    pareto = next(s for s in specs if s["layout"]["title"]["text"].startswith("Pareto front of the multi-task"))
    assert pareto["layout"]["xaxis"]["title"]["text"] == "synth_1 mse (lower is better)"
    assert sum(len(trace["x"]) for trace in pareto["data"]) == 2
    assert at.query_params["all_front"] in ("metric", ["metric"])
