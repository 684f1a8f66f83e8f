"""The engine on real catalog data: every sharing mode and every text encoder trains ATIS end to end."""
from __future__ import annotations

import pytest
import torch

from mtl_core.spec import SHARING_MODES, ExperimentSpec, RunSpec
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


@pytest.mark.parametrize("sharing", SHARING_MODES)
def test_every_sharing_mode_learns_intent_and_slots(tmp_path, sharing):
    extra = {"experts": 2} if sharing == "mmoe" else {}  # two experts show the mixing at half the cost of four
    store, experiment_id = run_all(tmp_path, sharing=sharing, steps=60, conflict_every=4, **extra)
    runs = store.runs(experiment_id)
    assert [r["kind"] for r in runs] == ["mtl", "stl", "stl"]
    mtl = runs[0]
    assert set(mtl["result"]["test"]["atis_slots"]) >= {"span_f1", "accuracy", "loss"}
    # Learning, not just running: each task's primary validation metric ends well above its first
    # evaluation (intent starts at the majority class, about 0.72; slots near 0 span F1).
    metrics = store.metrics([mtl["id"]])
    for task, metric in (("atis_intent", "accuracy"), ("atis_slots", "span_f1")):
        curve = metrics[(metrics.task == task) & (metrics.split == "validation") & (metrics.name == metric)]
        curve = curve.sort_values("step").value.to_numpy()
        assert curve[-1] > curve[0] + 0.05, (task, curve)
    conflict = store.conflict([mtl["id"]], layers=["all"])
    assert sorted(conflict.step) == list(range(4, 61, 4))  # measured every k-th step, no other
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
    frozen = options.get("freeze_encoder", False)
    encoder_before = [p.detach().clone() for p in trainer.model.encoder.parameters()]
    heads_before = [p.detach().clone() for p in trainer.model.heads.parameters()]
    trainer.train_step(1, _Null(), measure=not frozen)
    encoder_moved = any(not torch.equal(a, b) for a, b in zip(encoder_before, trainer.model.encoder.parameters()))
    assert encoder_moved is not frozen  # freeze_encoder trains the heads only
    assert any(not torch.equal(a, b) for a, b in zip(heads_before, trainer.model.heads.parameters()))
    metrics = trainer.evaluate("atis_slots", "validation", torch.arange(8).numpy())
    assert set(metrics) >= {"span_f1", "accuracy", "loss"}


class _Null:
    def metric(self, *args): pass
    def conflict(self, *args): pass
    def tick(self, step): pass
