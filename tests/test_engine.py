"""The training engine on synthetic tasks: sharing modes, gradient conflict, baselines, determinism."""
from __future__ import annotations

import copy
import io
import json

import numpy as np
import pytest
import torch

from mtl_core.models.encoders import BiLSTMEncoder
from mtl_core.spec import ExperimentSpec, RunSpec
from mtl_core.store import Store
from mtl_core.text import Vocabulary
from mtl_core.train.loop import SELECTION_EPSILON, Diverged, Trainer, selection_score
from mtl_core.train.runner import (build_vocabulary, configure_threads, execute_run, load_experiment_data,
                                   prepare_experiment)

SMALL = dict(max_train_examples=256, hidden_size=16, batch_size=32, dropout=0.0)
DEFAULT_DROPOUT = ExperimentSpec(tasks=["synth_1"]).dropout


class ListRecorder:
    """Collects what the loop records, as the store's MetricWriter would."""

    def __init__(self):
        self.metrics, self.conflicts, self.affinities = [], [], []

    def metric(self, step, task, split, name, value):
        self.metrics.append((step, task, split, name, value))

    def conflict(self, step, layer, task_a, task_b, cos, magnitude_sim):
        self.conflicts.append((step, layer, task_a, task_b, cos, magnitude_sim))

    def affinity(self, step, source, target, z):
        self.affinities.append((step, source, target, z))

    def tick(self, step):
        pass


def make_trainer(tasks=("synth_1", "synth_2"), kind="mtl", seed=0, total_steps=20, **options):
    spec = ExperimentSpec(tasks=list(tasks), **{**SMALL, **options}).validated()
    run = RunSpec(kind=kind, tasks=list(tasks), seed=seed, experiment=spec)
    data = load_experiment_data(spec, seed)
    configure_threads(1)  # as a worker does; two threads on a busy machine make a step ten times slower
    return Trainer(run, data, build_vocabulary(spec, data), total_steps, torch.device("cpu"))


def run_experiment(tmp_path, **spec_options) -> tuple[Store, str]:
    store = Store(tmp_path / "runs.sqlite")
    spec = ExperimentSpec(**{**SMALL, **spec_options}).validated()
    experiment_id, run_ids = store.create_experiment(spec.to_json(), prepare_experiment(spec))
    for run_id in run_ids:
        assert execute_run(store, run_id) == "completed", store.run(run_id)["error"]
    return store, experiment_id


def test_recorded_cosine_equals_an_independent_recomputation():
    trainer = make_trainer(conflict_every=1)
    before = copy.deepcopy(trainer.model)
    streams = copy.deepcopy(trainer.streams)
    recorder = ListRecorder()
    trainer.train_step(1, recorder, measure=True)

    # Independent recomputation: the same batches through the pre-step model, one full gradient per task.
    flat = {}
    for task in ("synth_1", "synth_2"):
        rows = streams[task].next_rows()
        split = trainer.data[task].train
        x = torch.as_tensor(split.inputs[rows], dtype=torch.float32)
        y = torch.as_tensor(np.asarray(split.targets, dtype=np.float32)[rows])
        loss, _ = before.task_loss(task, {"x": x, "targets": y})
        shared = list(before.encoders["shared"].parameters())
        flat[task] = torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss, shared)]).double()
    g1, g2 = flat["synth_1"], flat["synth_2"]
    expected_cos = float(g1 @ g2 / (g1.norm() * g2.norm()))
    expected_magnitude = float(2 * g1.norm() * g2.norm() / (g1.norm() ** 2 + g2.norm() ** 2))

    recorded = {row[1]: row for row in recorder.conflicts}
    assert recorded["all"][4] == pytest.approx(expected_cos, abs=1e-6)
    assert recorded["all"][5] == pytest.approx(expected_magnitude, abs=1e-6)
    norms = {task: value for _, task, _, name, value in recorder.metrics if name == "grad_norm"}
    assert norms["synth_1"] == pytest.approx(float(g1.norm()), rel=1e-5)
    assert set(recorded) == {"all", "layer1", "layer2"}  # and one row per encoder layer


def test_measuring_conflict_does_not_change_training():
    # At the default dropout, with the noise floor's extra forward passes: they must not move the training masks.
    measured = make_trainer(conflict_every=1, noise_floor=True, dropout=DEFAULT_DROPOUT)
    plain = make_trainer(conflict_every=0, dropout=DEFAULT_DROPOUT)
    for step in range(1, 6):
        measured.train_step(step, ListRecorder(), measure=True)
        plain.train_step(step, ListRecorder(), measure=False)
    for a, b in zip(measured.model.parameters(), plain.model.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_soft_sharing_with_zero_lambda_equals_independent_training(tmp_path):
    store, experiment_id = run_experiment(tmp_path, tasks=["synth_1", "synth_2"], sharing="soft", soft_lambda=0.0,
                                          steps=40, conflict_every=0)
    runs = store.runs(experiment_id)
    mtl = next(r for r in runs if r["kind"] == "mtl")
    # The whole validation curve of each task matches its baseline's (the best checkpoint is chosen
    # over all tasks in a multi-task run, so compare curves rather than the final test numbers).
    for baseline in (r for r in runs if r["kind"] == "stl"):
        task = baseline["tasks"][0]
        curves = []
        for run in (mtl, baseline):
            frame = store.metrics([run["id"]])
            curves.append(frame[(frame.task == task) & (frame.split == "validation") & (frame.name == "mse")])
        assert len(curves[0]) == 10
        np.testing.assert_allclose(curves[0].value.to_numpy(), curves[1].value.to_numpy(), rtol=1e-5)


def test_large_soft_lambda_pulls_task_encoders_together():
    distances = {}
    for soft_lambda in (0.0, 1.0):
        trainer = make_trainer(sharing="soft", soft_lambda=soft_lambda, total_steps=60)
        trainer.fit(ListRecorder())
        distances[soft_lambda] = max(trainer.model.soft_distances().values())
    assert distances[1.0] < 0.2 * distances[0.0]


def test_hierarchical_heads_read_their_layers():
    trainer = make_trainer(sharing="hierarchical", layers={"synth_1": 1, "synth_2": 2}, encoder_layers=2)
    assert trainer.model.head_layers == {"synth_1": 1, "synth_2": 2}
    recorder = ListRecorder()
    trainer.train_step(1, recorder, measure=True)
    # synth_1 reads layer 1, so its gradient on layer 2 is zero: no cosine can be formed there.
    layer2 = [row for row in recorder.conflicts if row[1] == "layer2"][0]
    assert np.isnan(layer2[4])
    layer1 = [row for row in recorder.conflicts if row[1] == "layer1"][0]
    assert np.isfinite(layer1[4])


def test_representations_for_cka_come_from_the_layer_the_head_reads():
    # A hierarchical baseline whose head reads layer 1: layer 2 above it never trains, so it says nothing.
    spec = ExperimentSpec(tasks=["synth_1", "synth_2"], sharing="hierarchical", layers={"synth_1": 1, "synth_2": 2},
                          encoder_layers=2, **SMALL).validated()
    data = load_experiment_data(spec, 0)
    baseline = Trainer(RunSpec("stl", ["synth_1"], 0, spec), data, None, 10, torch.device("cpu"))
    baseline.fit(ListRecorder())
    inputs = data["synth_1"].validation.inputs[:20]
    encoder = baseline.model.encoders["shared"].eval()
    with torch.no_grad():
        layers = encoder(encoder.prepare(inputs)).layers
    stored = baseline.representations(inputs)["shared"]
    np.testing.assert_array_equal(stored, layers[0].numpy())
    assert not np.allclose(stored, layers[1].numpy())


def test_word_dropout_reads_rare_training_words_as_unknown_only_while_training():
    vocabulary = Vocabulary.build([["the", "the", "the", "cat"]] * 25)  # "the" 75 times, "cat" 25 times
    encoder = BiLSTMEncoder(vocabulary, hidden_size=8, depth=1)
    assert encoder.unknown_rates.tolist() == pytest.approx([0.0, 0.0, 0.25 / 75.25, 0.25 / 25.25])
    word_ids = torch.tensor([vocabulary.encode(["cat"] * 4000)])
    torch.manual_seed(0)
    read_as_unknown = (encoder.embed(word_ids) == encoder.embedding.weight[vocabulary.unk_id]).all(-1).float().mean()
    assert 0.005 < float(read_as_unknown) < 0.015  # 0.25 / 25.25 ≈ 1 %
    encoder.eval()
    assert torch.equal(encoder.embed(word_ids), encoder.embedding(word_ids))


@pytest.mark.parametrize("tasks", [["atis_intent"], ["atis_intent", "atis_slots"]], ids=["baseline", "multi-task"])
def test_the_unknown_word_vector_is_trained(tasks):
    # Every training word is in the vocabulary, so only word dropout makes <unk> appear in training:
    # then a word first seen at test time reaches a trained vector, in the baseline and the multi-task run alike.
    trainer = make_trainer(tasks, kind="stl" if len(tasks) == 1 else "mtl", encoder="bilstm", max_train_examples=64,
                           dropout=DEFAULT_DROPOUT)
    embedding, unknown = trainer.model.encoder.embedding.weight, trainer.model.encoder.vocabulary.unk_id
    initial = embedding[unknown].detach().clone()
    for step in range(1, 11):
        trainer.train_step(step, ListRecorder(), measure=False)
    assert not torch.equal(embedding[unknown], initial)


def test_hierarchical_defaults_put_token_tasks_low_and_sentence_tasks_high():
    spec = ExperimentSpec(tasks=["atis_intent", "atis_slots"], sharing="hierarchical", encoder_layers=3).validated()
    assert spec.layers == {"atis_intent": 3, "atis_slots": 1}


def test_related_synthetic_tasks_have_more_aligned_gradients(tmp_path):
    mean_cos = {}
    for p in (0.0, 1.0):
        store, experiment_id = run_experiment(tmp_path / f"p{p}", tasks=["synth_1", "synth_2"], steps=150,
                                              conflict_every=1, synthetic_correlation=p, baselines=False)
        frame = store.conflict([r["id"] for r in store.runs(experiment_id)], layers=["all"])
        mean_cos[p] = frame["cos"].mean()
    assert mean_cos[1.0] > mean_cos[0.0] + 0.2, mean_cos


def test_same_spec_and_seed_give_the_same_numbers_twice(tmp_path):
    results = []
    for attempt in range(2):
        store, experiment_id = run_experiment(tmp_path / str(attempt), tasks=["synth_1", "synth_2"], steps=30,
                                              baselines=False)
        results.append(store.runs(experiment_id)[0]["result"])
    assert results[0] == results[1]


@pytest.mark.parametrize("tasks, options", [
    (["synth_1", "synth_2"], {}),
    (["atis_intent", "atis_slots"], {"encoder": "bilstm", "max_train_examples": 64, "max_eval_examples": 32}),
], ids=["mlp", "bilstm"])
def test_a_trainer_restored_from_a_checkpoint_continues_exactly(tasks, options):
    # Default dropout and the noise floor: both random streams (training, measurement) must resume where they were.
    options = dict(total_steps=12, eval_every=6, conflict_every=3, noise_floor=True, dropout=DEFAULT_DROPOUT, **options)
    uninterrupted, recorder = make_trainer(tasks, **options), ListRecorder()
    uninterrupted.fit(recorder)

    first, resumed_recorder = make_trainer(tasks, **options), ListRecorder()
    first.fit(resumed_recorder, should_stop=lambda: first.state.step == 6)
    checkpoint = io.BytesIO()
    torch.save(first.state_dict(), checkpoint)
    checkpoint.seek(0)
    resumed = make_trainer(tasks, **options)
    resumed.load_state_dict(torch.load(checkpoint, weights_only=False))
    resumed.fit(resumed_recorder)

    assert all(torch.equal(p, q) for p, q in zip(resumed.model.parameters(), uninterrupted.model.parameters()))
    assert resumed_recorder.metrics == recorder.metrics
    assert resumed_recorder.conflicts == recorder.conflicts  # noise floor included: the same probe dropout masks


def test_baselines_get_the_same_budget_and_seed_as_the_multi_task_run():
    spec = ExperimentSpec(tasks=["synth_1", "synth_2"], epochs=2, seeds=[0, 1], **SMALL).validated()
    runs = prepare_experiment(spec)
    assert [(r["kind"], r["seed"]) for r in runs] == [("mtl", 0), ("stl", 0), ("stl", 0), ("mtl", 1), ("stl", 1),
                                                      ("stl", 1)]
    assert {r["total_steps"] for r in runs} == {2 * 256 // 32}
    assert json.loads(runs[1]["spec_json"])["tasks"] == ["synth_1"]


def test_run_records_curves_and_test_metrics_in_the_store(tmp_path):
    store, experiment_id = run_experiment(tmp_path, tasks=["synth_1", "synth_2"], steps=40, eval_every=10)
    mtl = store.runs(experiment_id)[0]
    assert mtl["status"] == "completed" and mtl["device"] == "cpu"
    assert mtl["environment"]["torch"] == torch.__version__
    metrics = store.metrics([mtl["id"]])
    validation = metrics[(metrics.split == "validation") & (metrics.name == "mse")]
    assert sorted(validation.step.unique()) == [10, 20, 30, 40]
    assert set(validation.task) == {"synth_1", "synth_2"}
    train_loss = metrics[(metrics.split == "train") & (metrics.name == "loss")]
    learns = train_loss.groupby("task").value.apply(lambda s: s.iloc[-10:].mean() < s.iloc[:10].mean())
    assert learns.all(), train_loss
    assert set(mtl["result"]["test"]) == {"synth_1", "synth_2"}


def poison_loss_at(monkeypatch, step: int) -> None:
    """The first task's loss turns NaN at `step`, injected from outside the trainer (as a bad batch would)."""
    compute_losses = Trainer._group_losses

    def losses(self, group, batches):
        values = compute_losses(self, group, batches)
        return {task: value * float("nan") if self.state.step + 1 == step and task == self.tasks[0] else value
                for task, value in values.items()}

    monkeypatch.setattr(Trainer, "_group_losses", losses)


def test_a_nan_loss_stops_the_run_as_diverged(tmp_path, monkeypatch):
    poison_loss_at(monkeypatch, 7)
    store = Store(tmp_path / "runs.sqlite")
    spec = ExperimentSpec(tasks=["synth_1"], steps=20, **SMALL).validated()
    _, (run_id,) = store.create_experiment(spec.to_json(), prepare_experiment(spec))
    assert execute_run(store, run_id) == "diverged"
    assert "step 7" in store.run(run_id)["error"]


def test_a_nan_loss_between_loss_readings_is_reported_at_its_step(monkeypatch):
    poison_loss_at(monkeypatch, 7)
    trainer = make_trainer(total_steps=400)  # losses read every 2 steps
    with pytest.raises(Diverged) as diverged:
        trainer.fit(ListRecorder())
    assert (diverged.value.task, diverged.value.step) == ("synth_1", 7)


def test_training_loss_rows_are_the_mean_of_the_step_losses_since_the_last_row():
    trainer = make_trainer(total_steps=400, conflict_every=0)  # a row every 2 steps
    step_losses = []
    compute_losses = trainer._group_losses

    def recording_losses(group, batches):
        losses = compute_losses(group, batches)
        step_losses.extend((task, float(loss.detach())) for task, loss in losses.items())
        return losses

    trainer._group_losses = recording_losses
    recorder = ListRecorder()
    trainer.fit(recorder, should_stop=lambda: trainer.state.step == 6)
    rows = [(step, task, value) for step, task, split, name, value in recorder.metrics if name == "loss"]
    for index, step in enumerate((2, 4, 6)):
        window = step_losses[4 * index: 4 * index + 4]  # two steps of two tasks
        for task in ("synth_1", "synth_2"):
            values = [value for name, value in window if name == task]
            assert (step, task, sum(values) / 2) in rows  # exactly what reading each step at once gave


def test_the_best_checkpoint_rule_is_one_formula_also_where_a_first_score_is_zero():
    signs, firsts = {"slots": 1.0, "intent": 1.0}, {"slots": 0.0, "intent": 0.5}  # span F1 before any span is found
    score = selection_score({"slots": 0.2, "intent": 0.6}, firsts, signs)
    assert score == pytest.approx(np.mean([0.2 / SELECTION_EPSILON, 0.1 / (0.5 + SELECTION_EPSILON)]))
    # Continuous at 0: a first score of 0 weighs as one of 1e-9 does (a switch to absolute improvement at 0
    # made them differ by a factor of 10^8).
    nearly_zero = selection_score({"slots": 0.2, "intent": 0.6}, {"slots": 1e-9, "intent": 0.5}, signs)
    assert nearly_zero == pytest.approx(score, rel=1e-5)
    assert selection_score({"mse": 0.5}, {"mse": 1.0}, {"mse": -1.0}) == pytest.approx(0.5 / (1 + SELECTION_EPSILON))


def test_the_best_checkpoint_is_the_evaluation_with_the_best_selection_score():
    trainer = make_trainer()  # synthetic tasks: MSE, lower is better
    scripted = iter([{"synth_1": 1.0, "synth_2": 0.0}, {"synth_1": 0.9, "synth_2": 0.0},
                     {"synth_1": 0.5, "synth_2": 0.001}])  # synth_2 worsens from 0 by a thousandth at the end
    validation = {}

    def scripted_evaluate_all(split, rows):
        if split == "validation":
            validation.update(next(scripted))
        return {task: {"mse": validation.get(task, 1.0), "loss": 1.0, "pearson": 0.0} for task in rows}

    trainer.evaluate_all = scripted_evaluate_all
    for step in (10, 20, 30):
        trainer.run_evaluation(step, ListRecorder())
    # Relative to where each task started, step 30 loses more on synth_2 than it gains on synth_1.
    assert trainer.state.best_step == 20


def test_lookahead_affinity_equals_an_independent_recomputation():
    trainer = make_trainer(affinity_every=1)
    before = copy.deepcopy(trainer.model).eval()
    streams = copy.deepcopy(trainer.streams)
    recorder = ListRecorder()
    trainer.train_step(1, recorder, measure=False)

    batches = {}
    for task in ("synth_1", "synth_2"):
        rows = streams[task].next_rows()
        split = trainer.data[task].train
        batches[task] = {"x": torch.as_tensor(split.inputs[rows], dtype=torch.float32),
                         "targets": torch.as_tensor(np.asarray(split.targets, dtype=np.float32)[rows])}
    shared = list(before.encoders["shared"].parameters())
    expected = {}
    for i in ("synth_1", "synth_2"):
        grads = torch.autograd.grad(before.task_loss(i, batches[i])[0], shared)
        stepped = copy.deepcopy(before)
        with torch.no_grad():
            for p, g in zip(stepped.encoders["shared"].parameters(), grads):
                p -= trainer.spec.lr * g
            for j in ("synth_1", "synth_2"):
                expected[(i, j)] = 1 - float(stepped.task_loss(j, batches[j])[0]) / float(before.task_loss(j, batches[j])[0])
    recorded = {(s, t): z for _, s, t, z in recorder.affinities}
    assert recorded.keys() == expected.keys()
    for key, z in expected.items():
        assert recorded[key] == pytest.approx(z, rel=1e-4, abs=1e-8)
    assert recorded[("synth_1", "synth_1")] > 0  # a step on a task lowers its own loss


def test_affinity_measurement_leaves_training_unchanged():
    measured = make_trainer(affinity_every=1, conflict_every=0, dropout=DEFAULT_DROPOUT)
    plain = make_trainer(conflict_every=0, dropout=DEFAULT_DROPOUT)
    for step in range(1, 4):
        measured.train_step(step, ListRecorder(), measure=False)
        plain.train_step(step, ListRecorder(), measure=False)
    for a, b in zip(measured.model.parameters(), plain.model.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_runs_keep_representations_of_the_same_probe_inputs(tmp_path):
    store, experiment_id = run_experiment(tmp_path, tasks=["synth_1", "synth_2"], steps=10, probe_examples=20)
    runs = store.runs(experiment_id)
    representations = store.representations([r["id"] for r in runs])
    assert {(r["id"], "shared") for r in runs} == set(representations)
    assert {m.shape for m in representations.values()} == {(40, 16)}


def test_proportional_sampling_gives_each_baseline_its_share_of_the_steps():
    spec = ExperimentSpec(tasks=["synth_1", "synth_2"], steps=50, sampling="proportional",
                          max_train_examples=None, hidden_size=16).validated()
    runs = prepare_experiment(spec)
    # Equal training sizes: the multi-task run takes one task per step for T × 50 steps, each baseline half.
    assert [r["total_steps"] for r in runs] == [100, 50, 50]
    trainer = make_trainer(sampling="temperature", temperature=2.0, total_steps=100, conflict_every=5)
    recorder = ListRecorder()
    trainer.fit(recorder)
    assert trainer.state.step == 100
    # Conflict under one-task sampling is probed on extra batches of every task.
    assert len([row for row in recorder.conflicts if row[1] == "all"]) == 20
