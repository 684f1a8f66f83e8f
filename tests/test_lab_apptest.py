"""The Teaching lab and Relatedness map pages driven headlessly with Streamlit's AppTest.

Widgets, the English / 简体中文 switch, lesson settings in the URL, a lesson launched on a small
budget and read back after its background runs finish (summary text from the run's numbers, charts),
and a small completed relatedness map (heatmaps, rank correlations, groups, CSV, CLI line).
Every test points MTL_EXPLORER_HOME / MTL_EXPLORER_STORE at a temporary directory.
"""
from __future__ import annotations

import json
import math
import re

import pytest
from streamlit.testing.v1 import AppTest

from tests.dashboard_helpers import ROOT, dashboard_env, stop_background, wait_until_finished

# Its module fixture trains once per pytest-xdist worker: the module's tests stay on one worker.
pytestmark = pytest.mark.xdist_group("test_lab_apptest")

LAB = str(ROOT / "dashboard" / "views" / "lab.py")
MAP = str(ROOT / "dashboard" / "views" / "relatedness_map.py")
TIMEOUT = 90
CHINESE = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture
def store_env(tmp_path, monkeypatch):
    store = tmp_path / "runs.sqlite"
    for name, value in dashboard_env(tmp_path / "home", store).items():
        monkeypatch.setenv(name, value)
    yield store
    stop_background(store)


def page(path: str, **query: str) -> AppTest:
    at = AppTest.from_file(path, default_timeout=TIMEOUT)
    for name, value in query.items():
        at.query_params[name] = value
    return at.run()


def no_exceptions(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def figures(at: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def title(figure: dict) -> str:
    return (figure.get("layout", {}).get("title") or {}).get("text", "")


def texts(at: AppTest) -> str:
    return "\n".join(str(e.value) for kind in ("markdown", "caption", "info", "header", "title") for e in getattr(at, kind))


# ---- Teaching lab ------------------------------------------------------------------------------
def test_lab_shows_the_lesson_picker_settings_and_run(store_env):
    at = page(LAB)
    no_exceptions(at)
    assert at.title[0].value == "Teaching lab"
    assert at.slider(key="lab_relatedness_p").value == 1.0
    assert at.slider(key="lab_relatedness_steps").value == 400
    labels = [b.label for b in at.button]
    assert {"p = 1 (the same task)", "p = 0 (unrelated)", "Run"} <= set(labels)
    assert at.toggle(key="lab_auto").value is True
    assert any("press **Run**" in i.value for i in at.info)  # nothing in the store yet, nothing trained
    assert any(r"\cos(w_1, w_2) = p = 1" in latex.value for latex in at.latex)


def test_language_switch_translates_the_lab_and_goes_into_the_url(store_env):
    at = page(LAB)
    at.sidebar.selectbox(key="i18n_language").set_value("zh").run()
    no_exceptions(at)
    assert at.title[0].value == "教学实验室"
    assert at.header[0].value == "这些任务有多相关？"
    assert at.query_params["lang"] == "zh"
    assert [b.label for b in at.button][-1] == "运行"
    at = page(LAB, lang="zh", lesson="soft")  # a shared link opens in Chinese
    assert at.title[0].value == "教学实验室" and at.header[0].value == "软共享"


def test_lesson_settings_round_trip_through_the_url(store_env):
    at = page(LAB, lesson="weights", w1="0.5", p="0.2")
    no_exceptions(at)
    assert at.header[0].value == "Loss weights"
    assert (at.slider(key="lab_weights_w1").value, at.slider(key="lab_weights_p").value) == (0.5, 0.2)
    assert any(r"0.5 \cdot" in latex.value for latex in at.latex)  # the formula carries the slider's λ
    at.slider(key="lab_weights_w2").set_value(1.5).run()
    assert {k: at.query_params[k] for k in at.query_params} == {"lesson": "weights", "w1": "0.5", "w2": "1.5",
                                                                   "p": "0.2"}
    at = page(LAB, lesson="relatedness")
    at.toggle(key="lab_auto").set_value(False).run()  # a preset would otherwise start training at once
    at.button(key="lab_preset_none").click().run()
    assert at.slider(key="lab_relatedness_p").value == 0.0
    assert at.query_params["p"] == "0"


def test_a_bad_link_value_is_ignored_with_a_note(store_env):
    at = page(LAB, lesson="relatedness", p="9")
    no_exceptions(at)
    assert at.slider(key="lab_relatedness_p").value == 1.0
    assert any("p='9' ignored" in w.value for w in at.warning)


def test_running_a_lesson_explains_its_own_numbers(store_env):
    from mtl_core.store import Store

    at = page(LAB, lesson="relatedness", p="0", steps="50")
    at.button(key="lab_run").click().run()
    no_exceptions(at)
    experiments = Store(store_env).experiments()
    assert list(experiments["kind"]) == ["lab"] and experiments["name"][0].startswith("lab relatedness p=0 steps=50")
    runs = wait_until_finished(store_env, experiments["id"][0], timeout=240)
    assert [r["status"] for r in runs] == ["completed"] * 3
    at.run()
    no_exceptions(at)
    summary = texts(at)
    assert "With p = 0:" in summary
    mse = {r["tasks"][0]: r["result"]["test"][r["tasks"][0]]["mse"] for r in runs if r["kind"] == "stl"}
    assert f"vs {mse['synth_1']:.3f} separate" in summary  # the separate model's own number, not canned text
    shared = next(r for r in runs if r["kind"] == "mtl")["result"]["test"]["synth_1"]["mse"]
    delta = -(shared - mse["synth_1"]) / mse["synth_1"] * 100  # MSE: lower is better, positive = shared better
    assert f"On synth_1, Δ = {delta:+.1f}%" in summary  # the paired Δ that show prints, not a second formula
    assert "Mean gradient cosine between the tasks" in summary and "noise floor" in summary
    charts = {title(f): f for f in figures(at)}
    curves = charts["Validation MSE: shared (solid) vs separate (dashed); shaded = the gap"]
    assert {trace["name"] for trace in curves["data"]} == {
        f"{task} · {kind}" for task in ("synth_1", "synth_2")
        for kind in ("shared model (multi-task)", "separate models (single-task)")}
    cosine = charts["Gradient cosine between synth_1 and synth_2 over training"]
    assert "synth_1 × synth_2 (smoothed)" in [trace["name"] for trace in cosine["data"]]

    # The same settings again (a teacher's prepared link): shown at once from the store, in Chinese.
    at = page(LAB, lesson="relatedness", p="0", steps="50", lang="zh")
    no_exceptions(at)
    assert any("之前运行过" in c.value for c in at.caption)
    assert "当 p = 0 时" in texts(at)
    assert "验证集 MSE：共享（实线）对比独立（虚线）；阴影 = 差距" in [title(f) for f in figures(at)]
    assert len(Store(store_env).experiments()) == 1


def test_a_lesson_records_the_numbers_of_the_same_runs_launched_from_new_experiment(store_env):
    """The lab is a front to the engine, not a second one: the relatedness lesson's runs and the same setup
    typed into the New experiment page (its link) train to the same test numbers, run by run."""
    from mtl_core.store import Store

    store = Store(store_env)
    lab = page(LAB, lesson="relatedness", p="0.3", steps="50")
    lab.button(key="lab_run").click().run()
    no_exceptions(lab)
    [lesson_id] = store.experiments()["id"]
    new = AppTest.from_file(str(ROOT / "dashboard" / "app.py"), default_timeout=TIMEOUT)
    for name, value in {"tasks": "synth_1,synth_2", "encoder": "mlp", "hidden": "8", "lr": "0.01",
                        "max_train": "2000", "steps": "50", "p": "0.3", "conflict_every": "5",
                        "noise_floor": "1"}.items():
        new.query_params[name] = value
    new.run()
    new.button(key="newui_launch").click().run()
    no_exceptions(new)
    [launched_id] = set(store.experiments()["id"]) - {lesson_id}

    def results(experiment_id):
        runs = wait_until_finished(store_env, experiment_id, timeout=240)
        assert {r["status"] for r in runs} == {"completed"}
        return {(r["kind"], tuple(r["tasks"])): r["result"]["test"] for r in runs}

    lesson, launched = results(lesson_id), results(launched_id)
    assert set(lesson) == set(launched) and len(lesson) == 3  # the multi-task run and its two baselines
    for key, tasks in lesson.items():
        for task, values in tasks.items():
            assert set(values) == set(launched[key][task])
            for name, value in values.items():
                assert value == pytest.approx(launched[key][task][name], rel=1e-5, abs=1e-7), (key, task, name)


def test_the_languages_lesson_compares_a_related_and_a_distant_partner_with_its_own_numbers(store_env):
    from mtl_core.analysis.summary import experiment_summary
    from mtl_core.store import Store

    at = page(LAB, lesson="languages", steps="50")
    no_exceptions(at)
    assert at.header[0].value == "Do languages help each other?"
    at.button(key="lab_run").click().run()
    experiment_id = Store(store_env).experiments()["id"][0]
    runs = wait_until_finished(store_env, experiment_id, timeout=600)
    assert [r["status"] for r in runs] == ["completed"] * 5, [r["error"] for r in runs]
    assert sorted(tuple(r["tasks"]) for r in runs) == sorted([
        ("emoji_en_es", "emoji_en_fr"), ("emoji_en_es", "emoji_en_ja"), ("emoji_en_es",), ("emoji_en_fr",),
        ("emoji_en_ja",)])
    at.run()
    no_exceptions(at)
    summary = texts(at)
    configurations = experiment_summary(Store(store_env), experiment_id)["configurations"]
    cosines = {}
    for partner, words in (("emoji_en_fr", "with French (related)"), ("emoji_en_ja", "with Japanese (distant)")):
        entry = next(c for c in configurations if partner in c["tasks"])
        cosines[partner] = cos = entry["conflict"][f"emoji_en_es|{partner}"]["mean_cos"]
        delta = entry["tasks"]["emoji_en_es"]["delta_pct"]
        assert f"emoji_en_es {words}: Δ on emoji_en_es {delta:+.1f} %" in summary  # show's numbers, not new ones
        assert f"gradient cosine {cos:+.2f}" in summary
    closer = "French's gradients agree more" if cosines["emoji_en_fr"] > cosines["emoji_en_ja"] else \
        "Here Japanese's gradients agree more"
    assert closer in summary
    charts = {title(f): f for f in figures(at)}
    curves = charts["emoji_en_es: validation chrF (higher is better)"]
    assert {trace["name"] for trace in curves["data"]} == {"with French (related)", "with Japanese (distant)",
                                                          "alone (single-task)"}
    cosine = charts["Gradient cosine of each pair on the shared encoder"]
    assert {"emoji_en_es × emoji_en_fr (smoothed)", "emoji_en_es × emoji_en_ja (smoothed)"} <= {
        trace["name"] for trace in cosine["data"]}


# ---- Relatedness map -----------------------------------------------------------------------------
def test_map_page_without_maps_offers_a_new_one(store_env):
    pytest.importorskip("mtl_core.relmap")
    at = page(MAP)
    no_exceptions(at)
    assert at.title[0].value == "Relatedness map"
    assert at.multiselect(key="map_tasks").value == []
    assert at.toggle(key="map_cheap").value is False
    at.multiselect(key="map_tasks").set_value(["synth_1", "synth_2", "synth_3"]).run()
    no_exceptions(at)
    assert any(re.search(r"\d+ runs, estimated", c.value) for c in at.caption)
    at.sidebar.selectbox(key="i18n_language").set_value("zh").run()
    assert at.title[0].value == "任务相关性图"


@pytest.fixture(scope="module")
def map_store(tmp_path_factory):
    """A store holding one completed 3-task synthetic map (7 runs of 10 steps)."""
    relmap = pytest.importorskip("mtl_core.relmap")
    from mtl_core.jobs import get_backend
    from mtl_core.spec import ExperimentSpec
    from mtl_core.store import Store

    home = tmp_path_factory.mktemp("map")
    store = home / "runs.sqlite"
    with pytest.MonkeyPatch.context() as patch:
        for name, value in dashboard_env(home, store).items():
            patch.setenv(name, value)
        spec = ExperimentSpec(tasks=["synth_1", "synth_2", "synth_3"], steps=10, max_train_examples=200,
                              hidden_size=8, synthetic_correlation=0.5)
        experiment_id, _ = relmap.submit_map(get_backend("local", Store(store)), spec, max_groups=2)
        runs = wait_until_finished(store, experiment_id, timeout=240)
        assert {r["status"] for r in runs} == {"completed"}
        yield {"store": store, "id": experiment_id, "map": relmap.relatedness_map(Store(store), experiment_id)}
        stop_background(store)


def test_a_completed_map_shows_every_matrix_with_its_numbers(map_store):
    at = page(MAP)
    no_exceptions(at)
    assert at.query_params["exp"] == map_store["id"]
    charts = {title(f): f for f in figures(at)}
    gain = charts["Transfer gain G(i→j), %<br><sup>positive = helper i improves target j</sup>"]
    assert gain["data"][0]["z"] == map_store["map"]["transfer_gain"]  # already in %, drawn as stored
    assert gain["data"][0]["zmid"] == 0
    assert gain["layout"]["yaxis"]["title"]["text"] == "helper task i"
    assert gain["layout"]["xaxis"]["title"]["text"] == "target task j"
    affinity = charts["Lookahead affinity Z(i→j), %<br><sup>positive = a step on i lowers j's loss</sup>"]
    stored = map_store["map"]["affinity"]
    assert affinity["data"][0]["z"][0][1] == pytest.approx(stored[0][1] * 100)  # a fraction, shown in %
    linear = charts["Linearised lookahead affinity, %<br><sup>lr·⟨g_i, ∇L_j⟩ / L_j: the first-order Z(i→j)</sup>"]
    assert linear["data"][0]["z"][1][0] == pytest.approx(map_store["map"]["linear_affinity"][1][0] * 100)
    for name in ("Mean gradient cosine, %<br><sup>negative = conflict</sup>", "Tasks clustered by lookahead affinity",
                 "Conflict rate, %<br><sup>share of measurements with cos < 0</sup>",
                 "Linear CKA of the task representations, %<br><sup>100 = same representation</sup>"):
        assert name in charts
    page_text = texts(at)
    rho = map_store["map"]["proxy_rank_correlation"]["affinity"]
    measured = rho is not None and math.isfinite(rho)
    assert (f"lookahead affinity: ρ = {rho:+.2f}" if measured else "lookahead affinity: not available") in page_text
    assert "Proxies often correlate poorly with real gains" in page_text
    for i, group in enumerate(map_store["map"]["groups"], 1):
        assert f"Group {i}: {', '.join(group)}" in page_text
    assert len(at.get("download_button")) == 7  # one CSV per matrix and the map's JSON
    assert at.code[0].value.startswith("python -m mtl_core map --tasks synth_1,synth_2,synth_3")
    assert at.code[0].value.endswith("--max-groups 2 --json")


def test_the_map_in_chinese_with_one_group_from_the_link(map_store):
    at = page(MAP, exp=map_store["id"], groups="1", lang="zh")
    no_exceptions(at)
    gain = next(f for f in figures(at) if title(f).startswith("迁移增益"))
    assert gain["layout"]["yaxis"]["title"]["text"] == "辅助任务 i"
    assert "第 1 组：synth_1, synth_2, synth_3" in texts(at)
    assert at.code[0].value.endswith("--max-groups 1 --json")


def test_testing_the_grouping_trains_it_and_shows_each_arm(map_store):
    from mtl_core.store import Store

    at = page(MAP, exp=map_store["id"])
    at.button(key="map_test_grouping").click().run()
    no_exceptions(at)
    check_id = at.query_params["check"]
    assert Store(map_store["store"]).experiment(check_id)["kind"] == "grouping"
    wait_until_finished(map_store["store"], check_id, timeout=240)
    at.run()
    no_exceptions(at)
    table = at.dataframe[0].value
    assert list(table.index) == ["synth_1", "synth_2", "synth_3"]
    assert {"suggested groups", "all together", "all separate: Δ %"} <= set(table.columns)
    assert "all separate (synth_1 | synth_2 | synth_3): mean Δ +0.0% against all separate" in texts(at)
