"""The engine on real catalog data: every sharing mode and every text encoder trains ATIS end to end."""
from __future__ import annotations

import pytest
import torch

from mtl_core.spec import ExperimentSpec, RunSpec
from mtl_core.store import Store
from mtl_core.train.loop import Trainer
from mtl_core.train.runner import build_vocabulary, execute_run, load_experiment_data, prepare_experiment

ATIS = ["atis_intent", "atis_slots"]


def run_all(tmp_path, **options):
    store = Store(tmp_path / "runs.sqlite")
    spec = ExperimentSpec(tasks=ATIS, max_train_examples=200, max_eval_examples=100, **options).validated()
    experiment_id, run_ids = store.create_experiment(spec.to_json(), prepare_experiment(spec))
    for run_id in run_ids:
        assert execute_run(store, run_id) == "completed", store.run(run_id)["error"]
    return store, experiment_id


@pytest.mark.parametrize("sharing", ["hard", "soft", "hierarchical"])
def test_every_sharing_mode_trains_intent_and_slots(tmp_path, sharing):
    store, experiment_id = run_all(tmp_path, sharing=sharing, steps=12, conflict_every=4)
    runs = store.runs(experiment_id)
    assert [r["kind"] for r in runs] == ["mtl", "stl", "stl"]
    mtl = runs[0]
    assert set(mtl["result"]["test"]["atis_slots"]) >= {"span_f1", "accuracy", "loss"}
    assert 0 <= mtl["result"]["test"]["atis_intent"]["accuracy"] <= 1
    conflict = store.conflict([mtl["id"]], layers=["all"])
    assert len(conflict) == 3 and conflict.cos.between(-1, 1).all()
    if sharing == "soft":
        distances = store.metrics([mtl["id"]], names=["soft_distance"])
        assert distances.groupby("task").value.last().gt(0).all()


@pytest.mark.parametrize("encoder, options", [("transformer", {}), ("minilm", {"freeze_encoder": True}),
                                              ("minilm", {})])
def test_text_encoders_align_one_vector_per_word(encoder, options):
    spec = ExperimentSpec(tasks=ATIS, encoder=encoder, max_train_examples=40, batch_size=4, **options).validated()
    data = load_experiment_data(spec, 0)
    trainer = Trainer(RunSpec("mtl", ATIS, 0, spec), data, build_vocabulary(spec, data), 2, torch.device("cpu"))
    rows = list(range(4))
    batch = trainer._batch("atis_slots", rows)
    words = [len(tokens) for tokens in (data["atis_slots"].train.inputs[i] for i in rows)]
    assert batch["mask"].sum(1).tolist() == words  # one position per word, sub-words or not
    assert (batch["targets"] >= 0).sum(1).tolist() == words
    trainer.train_step(1, _Null(), measure=not options.get("freeze_encoder"))
    metrics = trainer.evaluate("atis_slots", "validation", torch.arange(8).numpy())
    assert 0 <= metrics["span_f1"] <= 1


class _Null:
    def metric(self, *args): pass
    def conflict(self, *args): pass
    def tick(self, step): pass
