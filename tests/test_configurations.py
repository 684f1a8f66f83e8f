"""Comparison by configuration: every multi-task configuration of a sweep, map or lesson against its own
matched baselines, in `show` and in the summary every front end reads."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from mtl_core.analysis.compare import delta_pct
from mtl_core.analysis.configurations import baseline_key, compare_configurations, configuration
from mtl_core.analysis.summary import experiment_summary, task_card
from mtl_core.train.runner import run_rows
from mtl_core.jobs.sweep import expand_grid, parse_weight_grid
from mtl_core.spec import ExperimentSpec, RunSpec
from mtl_core.store import Store
from mtl_core.train.runner import execute_run
from tests.test_jobs_local import ROOT

# Its module fixture trains once per pytest-xdist worker: the module's tests stay on one worker.
pytestmark = pytest.mark.xdist_group("test_configurations")

TASKS3 = ["synth_1", "synth_2", "synth_3"]


def tiny(**kw) -> ExperimentSpec:
    kw.setdefault("steps", 30)
    return ExperimentSpec(tasks=kw.pop("tasks", TASKS3), hidden_size=8, max_train_examples=200,
                          max_eval_examples=50, conflict_every=5, **kw).validated()


def train_all(store: Store, spec: ExperimentSpec, run_specs: list[RunSpec], kind: str = "sweep") -> str:
    experiment_id, run_ids = store.create_experiment(spec.to_json(), run_rows(run_specs), kind=kind)
    for run_id in run_ids:
        assert execute_run(store, run_id, threads=1) == "completed"
    return experiment_id


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """A --pairs --weight-grid sweep over three synthetic tasks, two seeds, trained in the foreground."""
    store = Store(tmp_path_factory.mktemp("configurations") / "runs.sqlite")
    spec = tiny(seeds=[0, 1])
    grid = parse_weight_grid("synth_1=1,synth_2=0.5;synth_1=0.5,synth_2=1", spec.tasks)
    experiment_id = train_all(store, spec, expand_grid(spec, weights_grid=grid, subsets="pairs"))
    return store, experiment_id


def test_every_configuration_of_a_sweep_is_compared_with_its_matched_baselines(sweep):
    store, experiment_id = sweep
    summary = experiment_summary(store, experiment_id)
    configs = summary["configurations"]
    # (1,2) × 2 weight settings, (1,3) × 2 (synth_1's λ differs), (2,3) × 2 (synth_2's λ differs)
    assert len(configs) == 6
    assert "tasks" not in summary  # no single "the" comparison when there are six
    runs = {r["id"]: r for r in store.runs(experiment_id)}
    for entry in configs:
        tasks = entry["configuration"]["tasks"]
        assert len(entry["run_ids"]) == 2 and {runs[i]["seed"] for i in entry["run_ids"]} == {0, 1}
        assert set(entry["tasks"]) == set(tasks)
        for task in tasks:
            metric = task_card(task).metric
            per_seed = []
            for seed in (0, 1):
                mtl = next(runs[i] for i in entry["run_ids"] if runs[i]["seed"] == seed)
                stl = next(r for r in runs.values() if r["kind"] == "stl" and r["tasks"] == [task]
                           and r["seed"] == seed)
                assert stl["id"] in entry["baseline_run_ids"]
                per_seed.append(delta_pct(mtl["result"]["test"][task][metric], stl["result"]["test"][task][metric],
                                          higher_is_better=False))
            assert entry["tasks"][task]["delta_pct"] == pytest.approx(np.mean(per_seed))
            assert entry["tasks"][task]["seed_deltas"] == pytest.approx(per_seed)
        assert entry["delta_m_pct"] == pytest.approx(np.mean([entry["tasks"][t]["delta_pct"] for t in tasks]))
    labels = [entry["label"] for entry in configs]
    assert len(set(labels)) == 6 and all("λ" in label for label in labels)
    assert "synth_1+synth_2 · λ synth_1=1, synth_2=0.5" in labels


def test_show_prints_every_configuration_and_json_has_one_entry_each(sweep):
    store, experiment_id = sweep
    shown = subprocess.run([sys.executable, "-m", "mtl_core", "show", experiment_id, "--store", str(store.path)],
                           cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert "6 multi-task configurations" in shown.stdout and shown.stdout.count("Δm =") == 6
    as_json = subprocess.run([sys.executable, "-m", "mtl_core", "show", experiment_id, "--store",
                              str(store.path), "--json"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert as_json.returncode == 0, as_json.stderr
    payload = json.loads(as_json.stdout.strip().splitlines()[-1])
    assert [c["id"] for c in payload["configurations"]] == [c["id"] for c in
                                                             experiment_summary(store, experiment_id)["configurations"]]


def test_one_configuration_keeps_the_plain_experiment_shape(tmp_path):
    store = Store(tmp_path / "runs.sqlite")
    spec = tiny(tasks=["synth_1", "synth_2"], steps=20)
    experiment_id = train_all(store, spec, spec.runs(), kind="experiment")
    summary = experiment_summary(store, experiment_id)
    assert len(summary["configurations"]) == 1
    only = summary["configurations"][0]
    assert summary["tasks"] == only["tasks"] and summary["delta_m_pct"] == only["delta_m_pct"]
    assert set(summary["conflict"]) == {"synth_1|synth_2"} and summary["conflict"]["synth_1|synth_2"]["n"] > 0


def run_row(run: RunSpec, status: str = "completed") -> dict:
    """A run as the store returns it, before training (what the comparison keys on)."""
    return {"id": f"{run.kind}-{'+'.join(run.tasks)}-{run.seed}", "kind": run.kind, "tasks": run.tasks,
            "seed": run.seed, "status": status, "result": None, "total_steps": run.experiment.steps,
            "spec_json": json.dumps(run.to_dict())}


def test_measurement_settings_do_not_split_a_configuration():
    base = tiny(tasks=["synth_1", "synth_2"])
    measured = ExperimentSpec(**{**base.to_dict(), "conflict_every": 1, "noise_floor": True, "affinity_every": 2,
                                 "probe_examples": 8, "seeds": [3], "name": "other"}).validated()
    first, second = (configuration(run_row(RunSpec("mtl", s.tasks, s.seeds[0], s))) for s in (base, measured))
    assert first == second
    soft = ExperimentSpec(**{**base.to_dict(), "sharing": "soft", "soft_lambda": 0.5}).validated()
    assert configuration(run_row(RunSpec("mtl", soft.tasks, 0, soft)))["soft_lambda"] == 0.5
    assert configuration(run_row(RunSpec("mtl", base.tasks, 0, base)))["soft_lambda"] is None


def test_hierarchical_baseline_reads_the_same_layer_as_the_task_head():
    spec = ExperimentSpec(tasks=["atis_intent", "atis_slots"], sharing="hierarchical", steps=10).validated()
    assert spec.layers == {"atis_intent": 2, "atis_slots": 1}
    mtl = configuration(run_row(RunSpec("mtl", spec.tasks, 0, spec)))
    stl_slots = json.loads(run_row(RunSpec("stl", ["atis_slots"], 0, spec))["spec_json"])["experiment"]
    assert baseline_key(mtl, "atis_slots") == baseline_key(stl_slots, "atis_slots")
    on_top = ExperimentSpec(**{**spec.to_dict(), "layers": {"atis_intent": 2, "atis_slots": 2}}).validated()
    stl_top = json.loads(run_row(RunSpec("stl", ["atis_slots"], 0, on_top))["spec_json"])["experiment"]
    assert baseline_key(mtl, "atis_slots") != baseline_key(stl_top, "atis_slots")  # a tagger on another layer
    hard = ExperimentSpec(**{**spec.to_dict(), "sharing": "hard", "layers": {}}).validated()
    stl_hard = json.loads(run_row(RunSpec("stl", ["atis_intent"], 0, hard))["spec_json"])["experiment"]
    assert baseline_key(mtl, "atis_intent") == baseline_key(stl_hard, "atis_intent")  # the top layer either way


def test_a_baseline_on_another_budget_is_not_a_match():
    short, long = tiny(tasks=["synth_1", "synth_2"], steps=20), tiny(tasks=["synth_1", "synth_2"], steps=40)
    runs = [run_row(RunSpec("mtl", short.tasks, 0, short))] + [run_row(RunSpec("stl", [t], 0, long))
                                                                for t in long.tasks]
    (entry,) = compare_configurations(runs, {t: task_card(t) for t in short.tasks})
    assert entry["baseline_run_ids"] == []
    assert any("no single-task baseline" in note for note in entry["notes"])


def test_a_map_shows_its_pairs_and_its_gain_is_the_same_comparison(tmp_path):
    from mtl_core.relmap import map_run_specs, relatedness_map

    store = Store(tmp_path / "runs.sqlite")
    spec = tiny(steps=20)
    run_specs = map_run_specs(spec)
    experiment_id = train_all(store, run_specs[0].experiment, run_specs, kind="map")
    configs = experiment_summary(store, experiment_id)["configurations"]
    assert sorted(len(c["configuration"]["tasks"]) for c in configs) == [2, 2, 2, 3]  # the pairs and the all-task run
    relmap = relatedness_map(store, experiment_id)
    for entry in (c for c in configs if len(c["configuration"]["tasks"]) == 2):
        helper, target = entry["configuration"]["tasks"]
        for i, j in ((helper, target), (target, helper)):
            gain = relmap["transfer_gain"][TASKS3.index(i)][TASKS3.index(j)]
            assert gain == pytest.approx(entry["tasks"][j]["delta_pct"])


def test_every_lesson_has_a_summary(tmp_path):
    from dashboard import lessons

    store = Store(tmp_path / "runs.sqlite")
    values = {**lessons.defaults("soft"), "steps": 20}
    spec, run_specs = lessons.lesson_runs("soft", values)
    experiment_id = train_all(store, spec, run_specs, kind="lab")
    configs = experiment_summary(store, experiment_id)["configurations"]
    settings = sorted((c["configuration"]["sharing"], c["configuration"]["soft_lambda"]) for c in configs)
    assert settings == sorted([("soft", float(v)) for v in values["soft"]] + [("hard", None)])
    for entry in configs:  # the lesson trains no baselines: no Δ, and the summary says why
        assert all(task["delta_pct"] is None and task["mtl"] is not None for task in entry["tasks"].values())
        assert any("no single-task baseline" in note for note in entry["notes"])


def test_an_experiment_of_one_task_has_no_configuration_to_compare(tmp_path):
    store = Store(tmp_path / "runs.sqlite")
    spec = tiny(tasks=["synth_1"], steps=20)
    experiment_id = train_all(store, spec, spec.runs(), kind="experiment")
    summary = experiment_summary(store, experiment_id)
    assert summary["configurations"] == []
    (run,) = store.runs(experiment_id)
    assert summary["tasks"]["synth_1"]["mtl"] == pytest.approx(run["result"]["test"]["synth_1"]["mse"])
    assert summary["tasks"]["synth_1"]["delta_pct"] is None and summary["delta_m_pct"] is None


def test_gain_of_a_pair_is_asymmetric_and_the_mean_of_paired_seeds():
    """By hand: intent per seed +10 % and −10 % (mean 0, where Δ of the seed means would say +2.3 %); slots +5 %."""
    spec = ExperimentSpec(tasks=["atis_intent", "atis_slots"], steps=10, seeds=[0, 1]).validated()
    values = {("mtl", 0): (0.88, 0.84), ("mtl", 1): (0.45, 0.84), ("stl", 0): (0.8, 0.8), ("stl", 1): (0.5, 0.8)}
    runs = []
    for seed in (0, 1):
        intent, slots = values[("mtl", seed)]
        runs.append({**run_row(RunSpec("mtl", spec.tasks, seed, spec)),
                     "result": {"test": {"atis_intent": {"accuracy": intent}, "atis_slots": {"span_f1": slots}}}})
        intent, slots = values[("stl", seed)]
        for task, metric, value in (("atis_intent", "accuracy", intent), ("atis_slots", "span_f1", slots)):
            runs.append({**run_row(RunSpec("stl", [task], seed, spec)), "result": {"test": {task: {metric: value}}}})
    (entry,) = compare_configurations(runs, {t: task_card(t) for t in spec.tasks})
    assert entry["tasks"]["atis_intent"]["seed_deltas"] == pytest.approx([10.0, -10.0])
    assert entry["tasks"]["atis_intent"]["delta_pct"] == pytest.approx(0.0, abs=1e-9)
    assert entry["tasks"]["atis_slots"]["delta_pct"] == pytest.approx(5.0)
