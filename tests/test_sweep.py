"""Sweeps: grid expansion (seeds x λ x subsets, one baseline per task and seed) and submission."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from mtl_core.errors import UserError
from mtl_core.jobs import get_backend
from mtl_core.jobs.sweep import expand_grid, parse_weight_grid, submit_runs
from mtl_core.spec import ExperimentSpec, RunSpec
from mtl_core.store import Store
from tests.test_jobs_local import ROOT, small_spec, store_path, wait_finished  # noqa: F401 - fixture

TASKS3 = ["synth_1", "synth_2", "synth_3"]


def keys(runs):
    return [(r.kind, tuple(r.tasks), r.seed) for r in runs]


def test_pairs_with_seeds_dedupe_baselines():
    spec = ExperimentSpec(tasks=TASKS3, steps=10, seeds=[0, 1]).validated()
    runs = expand_grid(spec, subsets="pairs")
    mtl = [k for k in keys(runs) if k[0] == "mtl"]
    stl = [k for k in keys(runs) if k[0] == "stl"]
    assert len(mtl) == 3 * 2 and len(stl) == 3 * 2  # one baseline per task per seed, not per pair
    assert len(set(keys(runs))) == len(runs)
    assert {k[1] for k in mtl} == {("synth_1", "synth_2"), ("synth_1", "synth_3"), ("synth_2", "synth_3")}
    assert all(r.experiment.tasks == TASKS3 for r in runs)  # every run keeps the whole experiment


def test_weight_grid_and_subsets():
    spec = ExperimentSpec(tasks=TASKS3, steps=10, baselines=False).validated()
    grid = parse_weight_grid("synth_1=1,synth_2=0.5;synth_1=0.5,synth_2=1", spec.tasks)
    assert grid == [{"synth_1": 1.0, "synth_2": 0.5}, {"synth_1": 0.5, "synth_2": 1.0}]
    runs = expand_grid(spec, weights_grid=grid, subsets=[["synth_2", "synth_1"], ["synth_1", "synth_3"]])
    # (1,2) differs between the settings; (1,3) restricted to its tasks gives {1:1,3:1} and {1:.5,3:1}.
    assert len(runs) == 4
    assert runs[0].tasks == ["synth_1", "synth_2"]  # the experiment's order
    assert runs[0].experiment.weights == {"synth_1": 1.0, "synth_2": 0.5, "synth_3": 1.0}
    same = expand_grid(spec, weights_grid=[{"synth_3": 2}, {"synth_3": 3}], subsets=[["synth_1", "synth_2"]])
    assert len(same) == 1  # synth_3's weight does not matter to the pair: kept once
    round_trip = RunSpec.from_dict(json.loads(json.dumps(runs[1].to_dict())))
    assert round_trip.experiment.weights == runs[1].experiment.weights


def test_grid_mistakes_are_user_errors():
    spec = ExperimentSpec(tasks=TASKS3, steps=10).validated()
    with pytest.raises(UserError, match="not one of"):
        expand_grid(spec, weights_grid=[{"atis_intent": 1}])
    with pytest.raises(UserError, match="not among"):
        expand_grid(spec, subsets=[["synth_1", "atis_intent"]])
    with pytest.raises(UserError, match="task=value"):
        parse_weight_grid("synth_1", spec.tasks)
    with pytest.raises(UserError, match="at least two"):
        expand_grid(ExperimentSpec(tasks=["synth_1"], steps=10).validated(), subsets="pairs")


def test_sweep_is_one_experiment_and_trains(store_path):
    spec = small_spec(steps=20, tasks=TASKS3, baselines=False)
    backend = get_backend("local", store=Store(store_path))
    run_specs = expand_grid(spec, subsets="pairs")
    experiment_id, run_ids = submit_runs(backend, spec, run_specs)
    store = backend.store
    assert store.experiment(experiment_id)["kind"] == "sweep"
    runs = store.runs(experiment_id)
    assert [r["id"] for r in runs] == run_ids
    assert [tuple(r["tasks"]) for r in runs] == [tuple(r.tasks) for r in run_specs]
    finished = wait_finished(store, run_ids, 120)
    assert [r["status"] for r in finished] == ["completed"] * 3, [r["error"] for r in finished]
    assert set(store.metrics([run_ids[1]]).task) >= {"synth_1", "synth_3"}


def test_cli_pairs_and_weight_grid(store_path):
    out = subprocess.run(
        [sys.executable, "-m", "mtl_core", "submit", "--tasks", ",".join(TASKS3), "--steps", "5", "--pairs",
         "--weight-grid", "synth_1=1,synth_2=0.5;synth_1=0.5,synth_2=1", "--store", str(store_path), "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, env=dict(os.environ))
    assert out.returncode == 0, out.stderr
    submitted = json.loads(out.stdout.strip().splitlines()[-1])
    # pairs: (1,2) x 2 settings, (1,3) x 2, (2,3) x 2 -> 6 multi-task runs, + 3 baselines
    assert len(submitted["runs"]) == 9
    store = Store(store_path)
    get_backend("local", store=store).cancel(submitted["experiment_id"])
    wait_finished(store, submitted["runs"], 60)
