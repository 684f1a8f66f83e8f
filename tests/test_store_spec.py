"""The run store's schema and batching, and the experiment spec's JSON round trip and expansion."""
from __future__ import annotations

import sqlite3

import pytest

from mtl_core.errors import UserError
from mtl_core.spec import ExperimentSpec
from mtl_core.store import SCHEMA_VERSION, MetricWriter, Store


def test_a_new_store_is_at_the_current_schema_in_wal_mode(tmp_path):
    store = Store(tmp_path / "runs.sqlite")
    assert store.schema_version() == SCHEMA_VERSION
    assert store.connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    Store(tmp_path / "runs.sqlite")  # opening again migrates nothing and loses nothing
    assert store.schema_version() == SCHEMA_VERSION


def test_a_store_from_a_newer_release_is_refused_untouched(tmp_path):
    path = tmp_path / "runs.sqlite"
    Store(path)
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    with pytest.raises(UserError, match="newer than this MTL Explorer"):
        Store(path)


def test_writer_writes_the_first_point_at_once_then_batches_rows_within_its_interval(tmp_path):
    store = Store(tmp_path / "runs.sqlite")
    _, (run_id,) = store.create_experiment("{}", [{"kind": "mtl", "tasks": ["a"], "seed": 0, "spec_json": "{}"}])
    writer = MetricWriter(store, run_id, flush_seconds=60)
    writer.tick(1)
    writer.metric(2, "a", "train", "loss", 1.0)
    writer.tick(2)
    assert store.metrics([run_id]).step.tolist() == [2]  # the first point: the Runs page is waiting for it
    writer.metric(3, "a", "train", "loss", 2.0)
    writer.tick(3)
    assert store.metrics([run_id]).step.tolist() == [2]  # not yet: no commit per step
    writer.flush_seconds = 0  # the interval has passed
    writer.metric(4, "a", "train", "loss", float("nan"))
    writer.tick(4)
    rows = store.metrics([run_id])
    assert rows.step.tolist() == [2, 3, 4] and rows.value.isna().tolist() == [False, False, True]
    assert store.run(run_id)["step"] == 4  # the flush beats the heartbeat with the step


def test_resume_truncation_drops_only_rows_after_the_checkpoint(tmp_path):
    store = Store(tmp_path / "runs.sqlite")
    _, (run_id,) = store.create_experiment("{}", [{"kind": "mtl", "tasks": ["a"], "seed": 0, "spec_json": "{}"}])
    store.write_rows(metrics=[(run_id, s, "a", "train", "loss", 1.0) for s in range(1, 11)])
    store.truncate_after(run_id, 6)
    assert store.metrics([run_id]).step.tolist() == [1, 2, 3, 4, 5, 6]


def test_has_metrics_says_whether_any_of_the_runs_recorded_a_row(tmp_path):
    """The Runs page polls quickly until this turns true: it must see the other runs' rows, not only the first's."""
    store = Store(tmp_path / "runs.sqlite")
    _, (first, second) = store.create_experiment("{}", [{"kind": "mtl", "tasks": ["a"], "seed": 0, "spec_json": "{}"},
                                                        {"kind": "stl", "tasks": ["a"], "seed": 0, "spec_json": "{}"}])
    assert not store.has_metrics([first, second]) and not store.has_metrics([])
    store.write_rows(metrics=[(second, 1, "a", "train", "loss", 1.0)])
    assert store.has_metrics([first, second]) and store.has_metrics([second])
    assert not store.has_metrics([first])


def test_spec_json_round_trip_and_defaults():
    spec = ExperimentSpec(tasks=["atis_intent", "atis_slots"], sharing="hierarchical",
                          weights="atis_slots=0.5").validated()
    again = ExperimentSpec.from_json(spec.to_json())
    assert again == spec
    assert spec.weights == {"atis_intent": 1.0, "atis_slots": 0.5}
    assert spec.encoder == "bilstm" and spec.lr == 5e-3 and spec.steps == 200
    assert ExperimentSpec(tasks=["synth_1"]).validated().encoder == "mlp"


def test_spec_expands_into_matched_runs():
    spec = ExperimentSpec(tasks=["synth_1", "synth_2"], seeds=[3, 4]).validated()
    runs = spec.runs()
    assert [(r.kind, r.tasks, r.seed) for r in runs] == [
        ("mtl", ["synth_1", "synth_2"], 3), ("stl", ["synth_1"], 3), ("stl", ["synth_2"], 3),
        ("mtl", ["synth_1", "synth_2"], 4), ("stl", ["synth_1"], 4), ("stl", ["synth_2"], 4)]
    assert all(r.experiment is spec for r in runs)
    assert [r.kind for r in ExperimentSpec(tasks=["synth_1", "synth_2"], baselines=False).validated().runs()] == ["mtl"]


def test_the_estimate_counts_lookahead_affinity_only_where_the_trainer_records_it():
    from mtl_core import estimate

    def seconds(**options) -> float:
        spec = ExperimentSpec(tasks=["synth_1", "synth_2"], steps=100, conflict_every=0, baselines=False,
                              **options).validated()
        return estimate.run_seconds(spec.runs()[0], 100)

    assert seconds(affinity_every=1) > seconds()
    for without_lookahead in ({"sampling": "proportional"}, {"sharing": "soft"}):
        assert not ExperimentSpec(tasks=["synth_1", "synth_2"], **without_lookahead).validated().affinity_possible()
        assert seconds(affinity_every=1, **without_lookahead) == seconds(**without_lookahead)


@pytest.mark.parametrize("field, value, message", [
    ("tasks", [], "tasks: choose at least one task"),
    ("tasks", ["synth_1", "synth_1"], "tasks: synth_1 listed twice"),
    ("soft_lambda", -0.1, "soft_lambda: must be ≥ 0"),
    ("lr", 0, "lr: must be > 0"),
    ("batch_size", 2.5, "batch_size: expected a whole number"),
    ("conflict_every", "often", "conflict_every: expected a whole number"),
    ("device", "tpu", "device: 'tpu' is not one of auto, cpu, cuda, mps"),
])
def test_every_invalid_field_is_named_with_its_value(field, value, message):
    with pytest.raises(UserError, match=message) as error:
        ExperimentSpec.from_dict({"tasks": ["synth_1", "synth_2"], field: value})
    assert error.value.field == field


def test_seeds_given_as_text_are_parsed_or_named():
    assert ExperimentSpec(tasks=["synth_1"], seeds="0, 1,2").validated().seeds == [0, 1, 2]
    with pytest.raises(UserError, match="seeds: expected a whole number, got 'a'") as error:
        ExperimentSpec(tasks=["synth_1"], seeds="0,a").validated()
    assert error.value.field == "seeds"
    with pytest.raises(UserError, match="unknown task 'nope'") as error:
        ExperimentSpec(tasks=["nope"]).validated()
    assert error.value.field == "tasks"


def test_a_run_restarting_from_scratch_shows_zero_steps_never_a_negative_progress(tmp_path):
    """A warm worker claims a run at once; between the claim and the first step the Runs page reads it, and its
    progress bar must get a value in [0, 1] (a negative one was an error on the page)."""
    from dashboard.state import run_progress
    from mtl_core.train.runner import run_rows

    store = Store(tmp_path / "runs.sqlite")
    spec = ExperimentSpec(tasks=["synth_1", "synth_2"], steps=50, baselines=False).validated()
    _, [run_id] = store.create_experiment(spec.to_json(), run_rows(spec.runs()))
    assert store.claim_run(run_id, pid=1)
    store.update_run(run_id, total_steps=50)
    store.truncate_after(run_id, -1)  # what a clean (re)start does before its first step
    run = store.run(run_id)
    assert run["step"] == 0
    assert run_progress(run, now=run["started_at"] + 1) == (0.0, None)
    assert run_progress({**run, "step": -1}, now=run["started_at"] + 1)[0] == 0.0  # a row written before the fix
