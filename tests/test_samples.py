"""The Runs page's table of generation samples: each fixed validation example with the multi-task run's latest
output beside its single-task baseline's, read back from the store rows it shows."""
from __future__ import annotations

import pytest

from dashboard.samples import sample_tables
from mtl_core.spec import ExperimentSpec
from mtl_core.store import Store
from mtl_core.train.runner import execute_run, prepare_experiment
from tests.test_generation import TINY, user_home  # noqa: F401

TASKS = ["numwords_fr", "numwords_de"]


@pytest.fixture
def trained(user_home, tmp_path):  # noqa: F811
    store = Store(tmp_path / "runs.sqlite")
    spec = ExperimentSpec(tasks=TASKS, steps=10, max_train_examples=200, max_eval_examples=40, **TINY).validated()
    experiment_id, run_ids = store.create_experiment(spec.to_json(), prepare_experiment(spec))
    for run_id in run_ids:
        assert execute_run(store, run_id) == "completed", store.run(run_id)["error"]
    return store, [store.run(r) for r in run_ids]


def test_each_generation_task_shows_the_model_and_its_baseline_on_the_same_examples(trained):
    store, runs = trained
    mtl = next(r for r in runs if r["kind"] == "mtl")
    tables = sample_tables(store.generation_samples([r["id"] for r in runs]), runs)
    assert list(tables) == TASKS
    for task in TASKS:
        baseline = next(r for r in runs if r["kind"] == "stl" and r["tasks"] == [task])
        table = tables[task]
        assert list(table.columns) == ["source", "reference", "multi-task (step 10)", "single-task (step 10)"]
        rows = store.connection.execute(
            "SELECT run_id, position, source, reference, output FROM generation_samples WHERE task = ? AND step = 10 "
            "ORDER BY position", (task,)).fetchall()
        ours = [r for r in rows if r["run_id"] == mtl["id"]]
        theirs = [r for r in rows if r["run_id"] == baseline["id"]]
        assert len(table) == len(ours) == len(theirs) == 8
        assert list(table["source"]) == [r["source"] for r in ours]
        assert list(table["reference"]) == [r["reference"] for r in ours] == [r["reference"] for r in theirs]
        assert list(table["multi-task (step 10)"]) == [r["output"] for r in ours]
        assert list(table["single-task (step 10)"]) == [r["output"] for r in theirs]


def test_no_table_before_the_first_evaluation_and_the_headers_follow_the_language(trained):
    store, runs = trained
    assert sample_tables(store.generation_samples([]), runs) == {}
    table = sample_tables(store.generation_samples([r["id"] for r in runs]), runs, language="zh")[TASKS[0]]
    assert list(table.columns) == ["原文", "参考", "多任务（第 10 步）", "单任务（第 10 步）"]
