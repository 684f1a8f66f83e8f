"""Export to MLflow and TensorBoard, read back with each tool's own reader and compared with the store."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from mtl_core.analysis.summary import experiment_summary
from mtl_core.cli import main
from tests.test_engine import run_experiment

# Its module fixture trains once per pytest-xdist worker: the module's tests stay on one worker.
pytestmark = pytest.mark.xdist_group("test_tracker_export")

OPTIONS = dict(tasks=["synth_1", "synth_2"], steps=20, conflict_every=2, eval_every=5)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    store, experiment_id = run_experiment(tmp_path_factory.mktemp("store"), **OPTIONS)
    return store, experiment_id


def export(capsys, *argv):
    rc = main(["export", *map(str, argv)])
    out, err = capsys.readouterr()
    return rc, out, err


def key(split, task, name):
    return "/".join(p for p in (split, task, name) if p)


def same(a, b):
    return (a is None or math.isnan(a)) and (b is None or math.isnan(b)) or a == pytest.approx(b, rel=1e-6, abs=1e-9)


def series_of(store, run_id):
    """{key: [(step, value), ...]} straight from the store's metric rows."""
    out = {}
    for row in store.metrics([run_id]).itertuples():
        out.setdefault(key(row.split, row.task, row.name), []).append((int(row.step), row.value))
    return {k: sorted(v) for k, v in out.items()}


def flat_params(spec, prefix=""):
    out = {}
    for k, v in spec.items():
        name = f"{prefix}.{k}" if prefix else k
        if isinstance(v, dict):
            out.update(flat_params(v, name))
        else:
            out[name] = v if isinstance(v, str) else json.dumps(v, sort_keys=True)
    return out


def mlflow_runs(client, experiment_name):
    experiment = client.get_experiment_by_name(experiment_name)
    assert experiment is not None
    return {r.data.tags["mtl_explorer.run_id"]: r for r in client.search_runs([experiment.experiment_id])}


def test_mlflow_export_holds_every_series_param_tag_and_the_spec(trained, tmp_path, capsys):
    store, experiment_id = trained
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    rc, out, err = export(capsys, experiment_id, "--format", "mlflow", "--tracking-uri", uri, "--store", store.path)
    assert rc == 0, err
    assert f"mlflow ui --backend-store-uri {uri}" in out

    client = MlflowClient(tracking_uri=uri)
    runs = mlflow_runs(client, experiment_id)
    stored = store.runs(experiment_id)
    assert set(runs) == {r["id"] for r in stored} and len(stored) == 3
    [configuration] = experiment_summary(store, experiment_id)["configurations"]
    for run in stored:
        exported = runs[run["id"]]
        assert exported.data.tags["mtl_explorer.kind"] == run["kind"]
        assert exported.data.tags["mtl_explorer.status"] == run["status"] == "completed"
        assert exported.info.status == "FINISHED"
        spec = json.loads(run["spec_json"])
        assert exported.data.params == flat_params(spec)
        assert exported.data.params["seed"] == str(run["seed"]) and json.loads(exported.data.params["tasks"]) == run["tasks"]

        expected = series_of(store, run["id"])
        assert len(expected) > 5
        for name, rows in expected.items():
            history = sorted((m.step, m.value) for m in client.get_metric_history(exported.info.run_id, name))
            assert [s for s, _ in history] == [s for s, _ in rows], name
            assert all(same(a, b) for (_, a), (_, b) in zip(history, rows)), name
        for task in run["tasks"]:  # per-task test metrics and the effective weights are among them
            assert any(k.startswith(f"test/{task}/") for k in expected)
        summary_keys = {k for k in exported.data.metrics if k.startswith(("delta", "conflict/"))}
        assert set(exported.data.metrics) == set(expected) | summary_keys

        artifact = client.download_artifacts(exported.info.run_id, "spec.json", str(tmp_path))
        assert json.loads(Path(artifact).read_text()) == spec

    mtl = runs[configuration["run_ids"][0]]
    assert mtl.data.tags["mtl_explorer.kind"] == "mtl"
    metrics = mtl.data.metrics
    for task, compared in configuration["tasks"].items():
        assert metrics[f"delta_pct/{task}"] == pytest.approx(compared["delta_pct"])
    assert metrics["delta_m_pct"] == pytest.approx(configuration["delta_m_pct"])
    stats = configuration["conflict"]["synth_1|synth_2"]
    assert metrics["conflict/synth_1/synth_2/mean_cos"] == pytest.approx(stats["mean_cos"])
    assert metrics["conflict/synth_1/synth_2/conflict_rate"] == pytest.approx(stats["conflict_rate"])
    assert metrics["conflict/synth_1/synth_2/n"] == stats["n"]
    baselines = configuration["baseline_run_ids"]
    assert len(baselines) == 2
    assert mtl.data.tags["mtl_explorer.baseline_run_ids"].split(",") == baselines
    assert mtl.data.tags["mtl_explorer.baseline_mlflow_run_ids"].split(",") == [runs[b].info.run_id for b in baselines]


def test_exporting_twice_does_not_duplicate_runs(trained, tmp_path, capsys):
    store, experiment_id = trained
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert export(capsys, experiment_id, "--format", "mlflow", "--tracking-uri", uri, "--store", store.path)[0] == 0
    client = MlflowClient(tracking_uri=uri)
    first = {k: r.info.run_id for k, r in mlflow_runs(client, experiment_id).items()}
    rc, out, _ = export(capsys, experiment_id, "--format", "mlflow", "--tracking-uri", uri, "--store", store.path)
    assert rc == 0 and "0 run(s) exported, 3 unchanged" in out
    second = {k: r.info.run_id for k, r in mlflow_runs(client, experiment_id).items()}
    assert second == first
    assert len(client.search_experiments()) == 2  # MLflow's Default and this experiment's


def test_mlflow_default_store_is_in_the_data_home(trained, tmp_path, monkeypatch, capsys):
    store, experiment_id = trained
    monkeypatch.setenv("MTL_EXPLORER_HOME", str(tmp_path / "home"))
    rc, out, err = export(capsys, experiment_id, "--format", "mlflow", "--store", store.path)
    assert rc == 0, err
    database = (tmp_path / "home" / "mlflow.db").resolve()
    assert database.is_file() and f"mlflow ui --backend-store-uri sqlite:///{database}" in out
    runs = mlflow_runs(MlflowClient(tracking_uri=f"sqlite:///{database}"), experiment_id)
    artifact_uri = next(iter(runs.values())).info.artifact_uri
    assert artifact_uri.startswith((tmp_path / "home" / "mlflow-artifacts").resolve().as_uri())


def test_tensorboard_export_holds_every_scalar(trained, tmp_path, capsys):
    store, experiment_id = trained
    out_dir = tmp_path / "tb"
    for _ in range(2):  # a second export replaces the first, never adds a second event file
        rc, out, err = export(capsys, experiment_id, "--format", "tensorboard", "--out", out_dir, "--store", store.path)
        assert rc == 0, err
    assert f"tensorboard --logdir {out_dir}" in out
    stored = store.runs(experiment_id)
    assert sorted(p.name for p in out_dir.iterdir()) == sorted(r["id"] for r in stored)
    for run in stored:
        folder = out_dir / run["id"]
        assert len(list(folder.glob("events.out.tfevents.*"))) == 1
        events = EventAccumulator(str(folder), size_guidance={"scalars": 0})
        events.Reload()
        expected = series_of(store, run["id"])
        for row in store.conflict([run["id"]]).itertuples():
            pair = f"conflict/{row.layer}/{row.task_a}/{row.task_b}"
            expected.setdefault(f"{pair}/cos", []).append((int(row.step), row.cos))
            expected.setdefault(f"{pair}/magnitude_sim", []).append((int(row.step), row.magnitude_sim))
        if run["kind"] == "mtl":
            assert "conflict/all/synth_1/synth_2/cos" in expected
            assert any(k.startswith("train/") and k.endswith("/weight") for k in expected)
        assert set(events.Tags()["scalars"]) == set(expected)
        for name, rows in expected.items():
            scalars = [(e.step, e.value) for e in events.Scalars(name)]
            rows = sorted(rows)
            assert [s for s, _ in scalars] == [s for s, _ in rows], name
            assert all(same(a, b) for (_, a), (_, b) in zip(scalars, rows)), name


@pytest.mark.parametrize("fmt", ["mlflow", "tensorboard"])
def test_unknown_experiment_is_one_line_and_writes_nothing(trained, tmp_path, capsys, fmt):
    store, _ = trained
    where = ["--tracking-uri", f"sqlite:///{tmp_path / 'mlflow.db'}"] if fmt == "mlflow" else ["--out", tmp_path / "tb"]
    rc, out, err = export(capsys, "exp-nope", "--format", fmt, *where, "--store", store.path)
    assert rc == 2 and err.count("\n") == 1 and "no experiment 'exp-nope'" in err
    assert list(tmp_path.iterdir()) == []


def test_tensorboard_needs_out(trained, capsys):
    store, experiment_id = trained
    rc, _, err = export(capsys, experiment_id, "--format", "tensorboard", "--store", store.path)
    assert rc == 2 and err.count("\n") == 1 and "--out is required" in err


def test_unwritable_out_is_one_line(trained, tmp_path, capsys):
    store, experiment_id = trained
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    rc, _, err = export(capsys, experiment_id, "--format", "tensorboard", "--out", blocker / "tb", "--store", store.path)
    assert rc == 2 and err.count("\n") == 1 and str(blocker / "tb") in err
    assert blocker.read_text() == "not a folder"


@pytest.mark.parametrize("uri, says", [("nosuch://somewhere", "not a tracking URI"),
                                       ("mlflow.db", "not a tracking URI"),
                                       ("sqlite:///", "names a database file"),
                                       ("http://127.0.0.1:9", "MLflow cannot use")])  # nothing listens there
def test_bad_tracking_uri_is_one_line(trained, capsys, uri, says):
    store, experiment_id = trained
    rc, _, err = export(capsys, experiment_id, "--format", "mlflow", "--tracking-uri", uri, "--store", store.path)
    assert rc == 2 and err.count("\n") == 1 and says in err


def test_tracking_uri_naming_a_folder_or_a_path_under_a_file(trained, tmp_path, capsys):
    store, experiment_id = trained
    rc, _, err = export(capsys, experiment_id, "--format", "mlflow", "--tracking-uri", f"sqlite:///{tmp_path}",
                        "--store", store.path)
    assert rc == 2 and err.count("\n") == 1 and "names a directory" in err
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    rc, _, err = export(capsys, experiment_id, "--format", "mlflow", "--tracking-uri",
                        f"sqlite:///{blocker / 'mlflow.db'}", "--store", store.path)
    assert rc == 2 and err.count("\n") == 1 and str(blocker / "mlflow.db") in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]
