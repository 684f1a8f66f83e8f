"""The dashboard's pages driven headlessly with Streamlit's AppTest: widgets, validation, URL state, launch, charts.

A module fixture trains two small synthetic experiments with the CLI into a temporary store (hard
sharing with the noise floor, soft sharing without baselines); the pages are then read against it.
"""
from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from tests.dashboard_helpers import APP, SYNTH, dashboard_env, run_cli_experiment, stop_background, \
    wait_until_finished

# Its module fixture trains once per pytest-xdist worker: the module's tests stay on one worker.
pytestmark = pytest.mark.xdist_group("test_dashboard_apptest")

TIMEOUT = 90


@pytest.fixture(scope="module")
def store_env(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    store = home / "runs.sqlite"
    env = dashboard_env(home, store)
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        hard = run_cli_experiment(store, env, "--steps", "40", "--noise-floor", "--conflict-every", "5",
                                  "--name", "hard synthetic")
        soft = run_cli_experiment(store, env, "--steps", "30", "--sharing", "soft", "--soft-lambda", "0.1",
                                  "--no-baselines", "--name", "soft synthetic")
        mmoe = run_cli_experiment(store, env, "--steps", "20", "--sharing", "mmoe", "--experts", "2",
                                  "--weighting", "pcgrad", "--no-baselines", "--name", "mmoe synthetic")
        yield {"store": store, "home": home, "hard": hard, "soft": soft, "mmoe": mmoe}
        stop_background(store)


def app(page: str | None = None, **query: str) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    for name, value in query.items():
        at.query_params[name] = value
    if page:
        at.switch_page(page)
    return at.run()


def no_exceptions(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def messages(at: AppTest, kind: str = "error") -> list[str]:
    return [element.value for element in getattr(at, kind)]


def figures(at: AppTest) -> dict[str, dict]:
    """Every plotly chart on the page by its element key (falls back to position), as figure JSON."""
    out = {}
    for i, chart in enumerate(at.get("plotly_chart")):
        spec = json.loads(chart.proto.spec)
        out[str(i)] = spec
        title = (spec.get("layout", {}).get("title") or {}).get("text", "")
        out[title] = spec
    return out


def trace_names(spec: dict) -> list[str]:
    return [trace.get("name") for trace in spec.get("data", [])]


# ---- New experiment ------------------------------------------------------------------------------
def test_new_experiment_shows_every_control(store_env):
    at = app()
    no_exceptions(at)
    assert at.multiselect(key="new_tasks").value == []
    assert at.radio(key="new_sharing").value == "hard"
    labels = [b.label for b in at.button]
    assert {"ATIS intent + slots", "Synthetic, related (p=0.9)", "Synthetic, unrelated (p=0)", "Launch"} <= set(labels)
    assert at.number_input(key="new_steps").value == 200
    assert at.checkbox(key="new_baselines").value is True
    assert at.get("file_uploader"), "the upload-your-own-task control is missing"
    assert any("Choose at least one task" in m for m in messages(at, "info"))


def test_launch_without_tasks_says_what_is_missing(store_env):
    at = app()
    at.button(key="newui_launch").click().run()
    no_exceptions(at)
    assert any("tasks: choose at least one task" in m for m in messages(at))


def test_all_zero_weights_are_reported_next_to_the_weights(store_env):
    at = app(tasks="synth_1,synth_2")
    at.slider(key="new_w_synth_1").set_value(0.0)
    at.slider(key="new_w_synth_2").set_value(0.0).run()
    no_exceptions(at)
    assert any("weights: at least one task needs a weight > 0" in m for m in messages(at))
    at.button(key="newui_launch").click().run()
    assert any(m.startswith("Not launched: weights") for m in messages(at))


def test_mixing_synthetic_and_text_tasks_is_explained(store_env):
    at = app(tasks="synth_1,atis_intent")
    no_exceptions(at)
    assert any("synthetic tasks" in m and "cannot share an encoder" in m for m in messages(at))


def test_url_values_fill_the_form_and_widget_changes_update_the_url(store_env):
    at = app(tasks="synth_1,synth_2", sharing="soft", soft_lambda="0.1", w_synth_1="0.5", steps="150", p="0.9",
             seeds="0,1,2")
    no_exceptions(at)
    assert at.multiselect(key="new_tasks").value == SYNTH
    assert at.radio(key="new_sharing").value == "soft"
    assert at.number_input(key="new_soft_lambda").value == pytest.approx(0.1)
    assert at.slider(key="new_w_synth_1").value == pytest.approx(0.5)
    assert at.slider(key="new_p").value == pytest.approx(0.9)
    assert at.number_input(key="new_steps").value == 150
    formula = at.latex[0].value
    assert r"0.5 \cdot \mathcal{L}_{\text{synth\_1}}" in formula and r"0.1 \sum_t" in formula

    at.radio(key="new_sharing").set_value("hard")
    at.slider(key="new_w_synth_2").set_value(2.0)
    at.number_input(key="new_steps").set_value(60).run()
    query = {k: v for k, v in at.query_params.items()}
    flat = {k: v[-1] if isinstance(v, list) else v for k, v in query.items()}
    assert flat["tasks"] == "synth_1,synth_2"
    assert flat["steps"] == "60" and flat["w_synth_2"] == "2" and flat["w_synth_1"] == "0.5"
    assert "sharing" not in flat and "soft_lambda" not in flat  # back to the defaults: not in the link


def test_invalid_url_values_fall_back_to_defaults_with_a_note(store_env):
    at = app(tasks="synth_1,nonsense", steps="many", sharing="psychic", w_synth_1="-1")
    no_exceptions(at)
    notes = " ".join(messages(at, "warning"))
    assert "nonsense" in notes and "steps='many'" in notes and "sharing='psychic'" in notes and "w_synth_1" in notes
    assert at.multiselect(key="new_tasks").value == ["synth_1"]
    assert at.number_input(key="new_steps").value == 200
    assert at.radio(key="new_sharing").value == "hard"


def test_preset_fills_the_form(store_env):
    at = app()
    next(b for b in at.button if b.label == "Synthetic, unrelated (p=0)").click().run()
    no_exceptions(at)
    assert at.multiselect(key="new_tasks").value == SYNTH
    assert at.slider(key="new_p").value == 0.0
    assert at.checkbox(key="new_noise_floor").value is True
    assert at.query_params["p"] in ("0", ["0"])


def test_hierarchical_layers_default_to_low_for_tokens_and_top_for_sentences(store_env):
    at = app(tasks="atis_intent,atis_slots", sharing="hierarchical")
    no_exceptions(at)
    assert at.selectbox(key="new_layer_atis_slots").value == 1
    assert at.selectbox(key="new_layer_atis_intent").value == 2
    assert r"\theta_s^{(\le 1)}" in at.latex[0].value


def test_estimate_and_device_are_shown(store_env):
    at = app(tasks="synth_1,synth_2", steps="100")
    labels = {m.label: m.value for m in at.metric}
    assert labels["Device (auto)"].startswith(("CPU", "GPU", "Apple"))
    assert labels["Estimated time"].startswith("≈ ")
    assert any("estimate" in c.value.lower() for c in at.caption)


def test_launch_submits_in_the_background_and_lists_the_runs(store_env):
    from mtl_core.store import Store

    before = set(Store(store_env["store"]).experiments()["id"])
    at = app(tasks="synth_1,synth_2", steps="30", max_train="200", conflict_every="5")
    at.button(key="newui_launch").click().run()
    no_exceptions(at)
    new = set(Store(store_env["store"]).experiments()["id"]) - before
    assert len(new) == 1
    experiment_id = new.pop()
    assert at.title[0].value == "Runs"
    assert at.query_params["exp"] in (experiment_id, [experiment_id])
    progress_texts = [p.proto.text for p in at.get("progress")]
    assert len(progress_texts) == 3  # the multi-task run and two single-task baselines
    runs = wait_until_finished(store_env["store"], experiment_id)
    assert [r["status"] for r in runs] == ["completed"] * 3
    at.run()
    assert all("step 30 / 30" in p.proto.text for p in at.get("progress"))


def test_upload_rejects_a_bad_file_with_its_message(store_env):
    at = app()
    at.text_input(key="newui_upload_name").input("my_task")
    uploader = at.get("file_uploader")[0]
    if not hasattr(uploader, "set_value"):
        pytest.skip("this Streamlit's AppTest cannot drive file_uploader")
    uploader.set_value(("bad.csv", b"wrong,columns\n1,2\n", "text/csv"))
    at.button(key="newui_upload_add").click().run()
    assert any("bad.csv" in m for m in messages(at))


def test_uploaded_task_appears_in_the_picker(store_env):
    at = app()
    uploader = at.get("file_uploader")[0]
    if not hasattr(uploader, "set_value"):
        pytest.skip("this Streamlit's AppTest cannot drive file_uploader")
    rows = "".join(f"sentence number {i},{'yes' if i % 2 else 'no'}\n" for i in range(30))
    uploader.set_value(("mine.csv", ("text,label\n" + rows).encode(), "text/csv"))
    at.text_input(key="newui_upload_name").input("my_upload")
    at.button(key="newui_upload_add").click().run()
    no_exceptions(at)
    assert any("Added task `my_upload`" in m for m in messages(at, "success"))
    assert any(option.endswith("(my_upload)") for option in at.multiselect(key="new_tasks").options)


def test_cancel_all_stops_queued_runs_and_offers_resume(store_env):
    from mtl_core.store import Store

    before = set(Store(store_env["store"]).experiments()["id"])
    at = app(tasks="synth_1,synth_2", steps="5000", seeds="0,1")
    at.button(key="newui_launch").click().run()
    experiment_id = (set(Store(store_env["store"]).experiments()["id"]) - before).pop()
    try:
        at.button(key=f"cancel_{experiment_id}").click().run()
        no_exceptions(at)
        runs = wait_until_finished(store_env["store"], experiment_id, timeout=60)
        assert {r["status"] for r in runs} == {"cancelled"}
        at.run()
        assert not at.button(key=f"resume_{experiment_id}").disabled
    finally:
        stop_background(store_env["store"])


# ---- Runs ----------------------------------------------------------------------------------------
def test_runs_shows_curves_and_conflict_for_a_finished_experiment(store_env):
    at = app("views/runs.py", exp=store_env["hard"])
    no_exceptions(at)
    charts = figures(at)
    curves = next(spec for title, spec in charts.items() if title.startswith("loss per task"))
    assert {"synth_1 · multi-task", "synth_1 · single-task", "synth_2 · multi-task"} <= set(trace_names(curves))
    cosine = next(spec for title, spec in charts.items() if title.startswith("Gradient cosine between tasks"))
    assert {"synth_1 × synth_2 (raw)", "synth_1 × synth_2 (smoothed)", "noise floor: synth_1"} <= \
        set(trace_names(cosine))
    matrix = next(spec for title, spec in charts.items() if title.startswith("Mean gradient cosine"))
    z = matrix["data"][0]["z"]
    assert len(z) == 2 and z[0][1] == z[1][0] and matrix["data"][0]["zmid"] == 0
    assert any(title.startswith("Gradient cosine per layer") for title in charts)
    assert len(at.get("progress")) == 3
    assert not any("Updating every" in c.value for c in at.caption)  # finished: no polling


def test_runs_says_how_much_disk_the_store_takes(store_env):
    from mtl_core.store import Store

    at = app("views/runs.py", exp=store_env["hard"])
    no_exceptions(at)
    import re

    total = Store(store_env["store"], readonly=True).disk_usage()["total"] / 2**20
    shown = [float(m.group(1)) for c in at.caption if (m := re.match(r"The store takes ([0-9.]+) MiB on disk", c.value))]
    assert shown and abs(shown[0] - total) < 0.5  # the WAL may grow a little between the page's read and this one


def test_runs_shows_soft_sharing_distance(store_env):
    at = app("views/runs.py", exp=store_env["soft"])
    no_exceptions(at)
    soft = next(spec for title, spec in figures(at).items() if title.startswith("Soft sharing"))
    assert set(trace_names(soft)) == {"‖θ_synth_1 − θ_s‖", "‖θ_synth_2 − θ_s‖"}
    assert any("Noise floor not recorded" in c.value for c in at.caption)


def test_runs_shows_mmoe_gates_and_the_methods_weights(store_env):
    at = app("views/runs.py", exp=store_env["mmoe"])
    no_exceptions(at)
    gates = next(spec for title, spec in figures(at).items() if title.startswith("MMoE"))
    assert set(trace_names(gates)) == {"synth_1 · 1", "synth_1 · 2", "synth_2 · 1", "synth_2 · 2"}
    assert any("PCGrad" in c.value for c in at.caption)  # the weights chart names the method


def test_runs_in_chinese_translates_headings_and_charts(store_env):
    at = app("views/runs.py", exp=store_env["hard"], lang="zh")
    no_exceptions(at)
    assert at.title[0].value == "运行"
    assert [s.value for s in at.subheader][:2] == ["各任务曲线", "任务间的梯度冲突"]
    assert at.query_params["lang"] == "zh"
    charts = figures(at)
    curves = next(spec for title, spec in charts.items() if title.startswith("各任务的 loss"))
    assert {"synth_1 · 多任务", "synth_1 · 单任务"} <= set(trace_names(curves))
    assert curves["layout"]["xaxis"]["title"]["text"] == "训练步数"
    cosine = next(spec for title, spec in charts.items() if title.startswith("任务间的梯度余弦"))
    assert "synth_1 × synth_2 (平滑)" in trace_names(cosine)
    assert any(title.startswith("平均梯度余弦") for title in charts)


def test_runs_empty_store_says_what_to_do(tmp_path, monkeypatch, store_env):
    monkeypatch.setenv("MTL_EXPLORER_STORE", str(tmp_path / "empty.sqlite"))
    at = app("views/runs.py")
    no_exceptions(at)
    assert any("No runs yet: start one on **New experiment**" in m for m in messages(at, "info"))


def test_a_running_experiment_draws_no_empty_chart_before_its_first_point_then_polls_every_two_seconds(
        tmp_path, monkeypatch, store_env):
    from mtl_core.spec import ExperimentSpec
    from mtl_core.store import Store
    from mtl_core.train.runner import prepare_experiment

    store_path = tmp_path / "waiting.sqlite"
    monkeypatch.setenv("MTL_EXPLORER_STORE", str(store_path))
    store = Store(store_path)
    spec = ExperimentSpec(tasks=list(SYNTH), steps=300, baselines=False).validated()
    experiment_id, (run_id,) = store.create_experiment(spec.to_json(), prepare_experiment(spec))  # queued, no worker
    at = app("views/runs.py", exp=experiment_id)
    no_exceptions(at)
    assert any("Waiting for the first recorded point" in m for m in messages(at, "info")) and not figures(at)
    assert any("Updating every 0.5 s" in c.value for c in at.caption)
    store.write_rows(metrics=[(run_id, 6, task, "train", "loss", 1.0) for task in SYNTH])
    at.run()
    no_exceptions(at)
    assert not any("Waiting for the first recorded point" in m for m in messages(at, "info"))
    curves = next(spec for title, spec in figures(at).items() if title.startswith("loss per task"))
    assert {"synth_1 · multi-task", "synth_2 · multi-task"} <= set(trace_names(curves))
    assert any("Updating every 2 s" in c.value for c in at.caption)


def test_the_quick_poll_draws_the_first_point_once_then_the_view_reruns_at_its_pace():
    from dashboard.data import poll_action

    assert poll_action(0.5, 0.5, 0.5, False) == "wait"  # no point yet: no empty charts
    assert poll_action(0.5, 2, 0.5, False) == "draw_first"  # found: drawn by this very poll
    assert poll_action(0.5, 2, 0.5, True) == "rerun"  # the next poll: the view at 2 s, not charts twice a second
    assert poll_action(2, 2, 0.5, False) == "draw"
    assert poll_action(0.5, None, 0.5, False) == "rerun"  # everything finished before a poll: stop polling
    assert poll_action(2, None, 0.5, False) == "rerun"
    assert poll_action(None, None, 0.5, False) == "draw"  # a finished experiment, drawn once


# ---- Compare -------------------------------------------------------------------------------------
def test_compare_shows_delta_with_sign_convention_table_downloads_and_cli(store_env):
    at = app("views/compare.py", exp=store_env["hard"])
    no_exceptions(at)
    charts = figures(at)
    delta = next(spec for title, spec in charts.items() if title.startswith("Δ_t per task"))
    assert "positive = multi-task better" in json.dumps(delta)
    assert trace_names(delta) == ["Δ_t", "Δm"]
    assert any(title.startswith("Test metric per task") for title in charts)
    assert any(title.startswith("loss on the validation set across runs") for title in charts)
    assert [d.proto.label for d in at.get("download_button")] == \
        ["Per-task table (CSV)", "Summary (JSON)", "Per-run test metrics (CSV)"]
    cli = at.code[0].value
    assert cli.startswith("python -m mtl_core run --tasks synth_1,synth_2 --sharing hard")
    assert "--steps 40" in cli and "--noise-floor" in cli and "--max-train-examples 200" in cli
    assert any("seed" in m for m in messages(at, "warning"))  # one seed: a warning, not a verdict


def test_compare_exports_the_experiment_to_mlflow_and_tensorboard_on_request(store_env):
    from mlflow.tracking import MlflowClient

    from mtl_core.paths import mlflow_tracking_uri
    from mtl_core.store import Store

    at = app("views/compare.py", exp=store_env["hard"])
    at.button(key="export_mlflow").click().run()
    no_exceptions(at)
    assert any("run(s) to MLflow" in m for m in messages(at, "success"))
    uri = mlflow_tracking_uri()
    assert any(c.value == f"mlflow ui --backend-store-uri {uri}" for c in at.code)
    runs = Store(store_env["store"], readonly=True).runs(store_env["hard"])
    found = MlflowClient(tracking_uri=uri).search_runs(
        [e.experiment_id for e in MlflowClient(tracking_uri=uri).search_experiments()])
    assert {r["id"] for r in runs} <= {run.data.tags.get("mtl_explorer.run_id") for run in found}

    at.button(key="export_tensorboard").click().run()
    no_exceptions(at)
    folder = store_env["home"] / "tensorboard" / store_env["hard"]
    assert {p.name for p in folder.iterdir()} == {r["id"] for r in runs}
    assert any(c.value == f"tensorboard --logdir {folder}" for c in at.code)


def test_compare_without_baselines_explains_why_nothing_is_compared(store_env):
    at = app("views/compare.py", exp=store_env["soft"])
    no_exceptions(at)
    assert any("no single-task baselines" in m for m in messages(at, "info"))


def test_compare_in_chinese_translates_headings_and_charts(store_env):
    at = app("views/compare.py", exp=store_env["hard"], lang="zh")
    no_exceptions(at)
    assert at.title[0].value == "比较"
    assert [h.value for h in at.header] == ["多任务与单任务对比", "跨运行的曲线", "全部数值", "复现"]
    charts = figures(at)
    delta = next(spec for title, spec in charts.items() if title == "各任务的 Δ_t 与 Δm")
    assert "正值 = 多任务优于单任务" in json.dumps(delta, ensure_ascii=False)
    assert trace_names(delta) == ["Δ_t", "Δm"]
    assert any(title.startswith("各任务的测试指标") for title in charts)
    assert any(title == "各运行在验证集上的 loss" for title in charts)
    assert [d.proto.label for d in at.get("download_button")] == \
        ["按任务的表格（CSV）", "摘要（JSON）", "按运行的测试指标（CSV）"]
    assert at.code[0].value.startswith("python -m mtl_core run --tasks synth_1,synth_2")  # the CLI line stays as is


def test_new_experiment_in_chinese_keeps_the_language_in_the_url(store_env):
    at = app(lang="zh", tasks="synth_1,synth_2", sharing="soft")
    no_exceptions(at)
    assert at.title[0].value == "新实验"
    assert [h.value for h in at.header] == ["1 · 任务", "2 · 任务如何共享模型", "3 · 模型、训练预算与测量", "4 · 启动"]
    assert at.radio(key="new_sharing").value == "soft"
    assert "软共享" in at.radio(key="new_sharing").options
    assert any(m.value.startswith("**软共享**") for m in at.markdown)
    assert at.query_params["lang"] == "zh" and at.query_params["tasks"] == "synth_1,synth_2"
    assert not at.warning  # ?lang= is not a form setting: no "could not be used" note
    assert "启动" in [b.label for b in at.button]
    assert any("θ_s = 编码器的平均" in chart.proto.spec for chart in at.get("graphviz_chart"))
