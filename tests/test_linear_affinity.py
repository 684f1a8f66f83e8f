"""The linearised lookahead affinity (Grad-TAG's first-order Z): lr·⟨g_i, ∇L_j⟩ / L_j from the step's Gram.

Checked against an independent recomputation from materialised gradients (both gradient routes), against
the exact lookahead as lr → 0, in the store, and as a proxy of the map and the recommender.
"""
from __future__ import annotations

import copy
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from mtl_core import recommend, relmap
from mtl_core.spec import ExperimentSpec
from mtl_core.store import Store
from mtl_core.train.runner import execute_run, prepare_experiment
from tests.dashboard_helpers import ROOT
from tests.test_engine import SMALL, ListRecorder, make_trainer

TASKS = ("synth_1", "synth_2")


class LinearRecorder(ListRecorder):
    def __init__(self):
        super().__init__()
        self.linear = []

    def linear_affinity(self, step, source, target, z):
        self.linear.append((step, source, target, z))


def independent_linear_affinity(trainer, model, streams) -> dict[tuple[str, str], float]:
    """lr · ⟨∇L_i, ∇L_j⟩ / L_j on the step's own batches, from one full gradient per task of the pre-step model."""
    grads, losses = {}, {}
    for task in TASKS:
        rows = streams[task].next_rows()
        split = trainer.data[task].train
        batch = {"x": torch.as_tensor(split.inputs[rows], dtype=torch.float32),
                 "targets": torch.as_tensor(np.asarray(split.targets, dtype=np.float32)[rows])}
        loss, _ = model.task_loss(task, batch)
        shared = list(model.encoders["shared"].parameters())
        grads[task] = torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss, shared)]).double()
        losses[task] = float(loss.detach())
    return {(i, j): trainer.spec.lr * float(grads[i] @ grads[j]) / losses[j] for i in TASKS for j in TASKS}


@pytest.mark.parametrize("affinity_every", [0, 1], ids=["gram route", "materialised gradients"])
def test_linear_affinity_equals_an_independent_recomputation(affinity_every):
    trainer = make_trainer(conflict_every=1, affinity_every=affinity_every)
    before = copy.deepcopy(trainer.model)
    streams = copy.deepcopy(trainer.streams)
    recorder = LinearRecorder()
    trainer.train_step(1, recorder, measure=True)
    expected = independent_linear_affinity(trainer, before, streams)
    recorded = {(s, t): z for _, s, t, z in recorder.linear}
    assert recorded.keys() == expected.keys()
    for key, z in expected.items():
        assert recorded[key] == pytest.approx(z, rel=1e-4, abs=1e-9)
    assert recorded[("synth_1", "synth_1")] > 0  # ⟨g, g⟩ > 0: a step on a task lowers its own loss, to first order


def test_as_the_step_shrinks_the_linearised_affinity_meets_the_exact_lookahead():
    """Z = lr·⟨g_i, ∇L_j⟩/L_j + O(lr²): the relative gap to the exact lookahead shrinks with lr (dropout 0)."""
    gaps = {}
    for lr in (1e-1, 1e-3):
        trainer = make_trainer(conflict_every=1, affinity_every=1, lr=lr)
        recorder = LinearRecorder()
        trainer.train_step(1, recorder, measure=True)
        exact = {(s, t): z for _, s, t, z in recorder.affinities}
        linear = {(s, t): z for _, s, t, z in recorder.linear}
        assert exact.keys() == linear.keys()
        gaps[lr] = max(abs(linear[k] - exact[k]) / abs(exact[k]) for k in exact)
    assert gaps[1e-3] < 0.02, gaps
    assert gaps[1e-3] < gaps[1e-1] / 10, gaps


def test_no_linear_affinity_without_a_shared_trunk_or_a_second_task():
    for trainer in (make_trainer(conflict_every=1, sharing="soft"), make_trainer(tasks=("synth_1",), kind="stl",
                                                                                   conflict_every=1)):
        recorder = LinearRecorder()
        trainer.train_step(1, recorder, measure=True)
        assert recorder.linear == []


def test_a_run_stores_it_at_every_conflict_step_and_the_map_and_recommender_read_it(tmp_path):
    store = Store(tmp_path / "runs.sqlite")
    spec = ExperimentSpec(**{**SMALL, "tasks": list(TASKS), "steps": 20, "conflict_every": 5,
                             "baselines": False}).validated()
    experiment_id, (run_id,) = store.create_experiment(spec.to_json(), prepare_experiment(spec))
    assert execute_run(store, run_id) == "completed", store.run(run_id)["error"]
    rows = store.linear_affinity([run_id])
    assert sorted(set(rows["step"])) == [5, 10, 15, 20]  # every conflict step; no lookahead affinity was asked for
    assert len(rows) == 4 * 4 and rows["z"].notna().all() and store.affinity([run_id]).empty
    for fmt in ("json", "csv"):  # `export` writes it beside the other series
        out = tmp_path / f"series.{fmt}"
        done = subprocess.run([sys.executable, "-m", "mtl_core", "export", experiment_id, "--format", fmt, "--out",
                               str(out), "--store", str(store.path)], cwd=ROOT, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        if fmt == "json":
            exported = [r for r in json.loads(out.read_text())["affinity"] if r["name"] == "linear_affinity"]
        else:
            table = pd.read_csv(out)
            exported = table[table["name"] == "linear_affinity"].to_dict("records")
        assert len(exported) == 16
        assert sorted(r["z" if fmt == "json" else "value"] for r in exported) == pytest.approx(sorted(rows["z"]))

    # the map's matrix is the mean over steps, rows = source, columns = target
    from tests.test_relmap import RecordingBackend

    map_id, _ = relmap.submit_map(RecordingBackend(store), ExperimentSpec(**{**SMALL, "tasks": list(TASKS),
                                                                               "steps": 20}).validated())
    pair = next(r for r in store.runs(map_id) if r["kind"] == "mtl")
    store.update_run(pair["id"], status="completed", result={"best_step": 1, "test": {}})
    store.write_rows(linear_affinity=[(pair["id"], 10, "synth_1", "synth_2", 0.02),
                                      (pair["id"], 20, "synth_1", "synth_2", 0.04),
                                      (pair["id"], 10, "synth_2", "synth_1", -0.01)])
    result = relmap.relatedness_map(store, map_id)
    assert result["linear_affinity"] == [[None, pytest.approx(0.03)], [pytest.approx(-0.01), None]]
    assert "linear_affinity" in result["proxy_scores"]

    rec_id = recommend.submit_stage1(RecordingBackend(store), ExperimentSpec(tasks=["synth_1"], steps=20),
                                     "synth_1", ["synth_2", "synth_3"])
    (stage1,) = store.runs(rec_id)
    store.update_run(stage1["id"], status="completed", result={"best_step": 1, "test": {}})
    store.write_rows(linear_affinity=[(stage1["id"], 10, "synth_2", "synth_1", 0.05),
                                      (stage1["id"], 10, "synth_3", "synth_1", 0.01)])
    proxies = recommend.recommendation(store, rec_id)["stage1"]
    assert proxies["proxies"]["linear_affinity"] == {"synth_2": pytest.approx(0.05), "synth_3": pytest.approx(0.01)}
    assert proxies["rankings"]["linear_affinity"] == ["synth_2", "synth_3"]

