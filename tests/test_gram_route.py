"""The Gram route against the materialised reference: the same Gram matrices (float tolerance) on every
encoder and shared-trunk sharing mode, the same training trajectory, and the parameters each route covers."""
from __future__ import annotations

import pytest
import torch

from mtl_core.train import conflict as conflict_math
from mtl_core.train.gram_route import GramRoute
from tests.test_engine import ListRecorder, make_trainer

TEXT = dict(max_train_examples=64, max_eval_examples=32)
SYNTH = ["synth_1", "synth_2", "synth_3"]
ATIS = ["atis_intent", "atis_slots"]

SETUPS = {
    "mlp-hard": (SYNTH, {}),
    "mlp-wide": (SYNTH, dict(hidden_size=128)),  # n (h_in + h_out) ≤ 2 h_in h_out: the n × n kernels
    "mlp-hierarchical": (SYNTH, dict(sharing="hierarchical", encoder_layers=3, layers={"synth_1": 1, "synth_2": 2})),
    "mlp-mmoe": (SYNTH, dict(sharing="mmoe", experts=3)),
    "mlp-cross-stitch": (SYNTH, dict(sharing="cross_stitch")),
    "bilstm": (ATIS, dict(encoder="bilstm", **TEXT)),
    "transformer": (ATIS, dict(encoder="transformer", **TEXT)),
    "transformer-hierarchical": (ATIS, dict(encoder="transformer", sharing="hierarchical", **TEXT)),
}


def pair(setup: str, steps: int, **options):
    tasks, base = SETUPS[setup]
    reference = make_trainer(tasks, total_steps=steps, gradient_route="materialised", **base, **options)
    gram = make_trainer(tasks, total_steps=steps, **base, **options)
    return reference, gram


@pytest.mark.parametrize("setup", sorted(SETUPS))
def test_both_routes_record_the_same_gradient_statistics_and_train_the_same_run(setup):
    reference, gram = pair(setup, 6, conflict_every=1)
    assert gram.gram_route is not None and reference.gram_route is None
    recorded = {}
    for name, trainer in (("reference", reference), ("gram", gram)):
        recorder = ListRecorder()
        for step in range(1, 7):
            trainer.train_step(step, recorder, measure=True)
        recorded[name] = recorder
    ref, got = recorded["reference"], recorded["gram"]
    assert [row[:4] for row in got.conflicts] == [row[:4] for row in ref.conflicts]  # every layer and pair
    for a, b in zip(ref.conflicts, got.conflicts):  # nan where a task's gradient does not reach the layer
        assert b[4] == pytest.approx(a[4], abs=1e-5, nan_ok=True) and b[5] == pytest.approx(a[5], abs=1e-5, nan_ok=True)
    norms = [(r[0], r[1], r[4]) for r in ref.metrics if r[3] == "grad_norm"]
    assert [(r[0], r[1]) for r in got.metrics if r[3] == "grad_norm"] == [n[:2] for n in norms]
    for (_, _, expected), row in zip(norms, [r for r in got.metrics if r[3] == "grad_norm"]):
        assert row[4] == pytest.approx(expected, rel=1e-5)
    # The same trajectory: after six steps the parameters agree to float rounding (Adam amplifies a last-bit
    # difference in a near-zero gradient to at most about one learning-rate step).
    lr = reference.spec.lr
    for p, q in zip(reference.model.parameters(), gram.model.parameters()):
        assert float((p - q).detach().abs().max()) <= 2 * lr


def test_the_gram_of_a_step_equals_the_materialised_gram_layer_by_layer():
    """One step's Gram from the route against conflict.layer_grams of independently materialised gradients."""
    trainer = make_trainer(SYNTH, total_steps=1, hidden_size=64)
    route = trainer.gram_route
    batches = {t: trainer._batch(t, trainer.streams[t].next_rows()) for t in SYNTH}
    losses = {}
    for task in SYNTH:
        with route.tasks([task]):
            losses[task] = trainer.model.task_loss(task, batches[task])[0]
    heads = {t: trainer.model.head_parameters(t) for t in SYNTH}
    grads = route.gradients(losses, heads)
    grams = route.grams(grads, torch.device("cpu"))
    materialised = {}
    for task in SYNTH:
        groups = trainer.model.shared_layer_groups(task)
        loss = trainer.model.task_loss(task, batches[task])[0]
        flat = torch.autograd.grad(loss, [p for params in groups.values() for p in params], allow_unused=True)
        out, i = {}, 0
        for layer, params in groups.items():
            out[layer] = list(flat[i: i + len(params)])
            i += len(params)
        materialised[task] = out
    expected = conflict_math.layer_grams(materialised)
    assert set(grams) == set(expected)
    for layer in expected:
        torch.testing.assert_close(grams[layer], expected[layer], rtol=1e-5, atol=1e-7)


def test_each_encoder_says_which_parameters_took_which_route():
    mlp = make_trainer(SYNTH, total_steps=1, hidden_size=64).gram_route
    assert set(mlp.linears) == {"encoders.shared.linears.0", "encoders.shared.linears.1"}
    transformer = make_trainer(ATIS, total_steps=1, encoder="transformer", **TEXT).gram_route
    assert {name.rsplit(".", 1)[-1] for name in transformer.linears} >= {"linear1", "linear2"}
    bilstm = make_trainer(ATIS, total_steps=1, encoder="bilstm", **TEXT).gram_route
    assert bilstm.linears == {}  # embeddings and LSTM weights: all materialised
    soft = make_trainer(SYNTH, total_steps=1, sharing="soft")
    assert soft.gram_route is None  # each task its own encoder: the materialised route


def test_a_gram_method_takes_the_same_steps_by_either_route():
    reference, gram = pair("mlp-wide", 5, weighting="mgda", conflict_every=1)
    for trainer in (reference, gram):
        recorder = ListRecorder()
        for step in range(1, 6):
            trainer.train_step(step, recorder, measure=True)
    for p, q in zip(reference.model.parameters(), gram.model.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=2 * reference.spec.lr)
    assert reference.method.last_weights == pytest.approx(gram.method.last_weights, rel=1e-3)


def test_the_route_is_a_measurement_setting_not_part_of_a_configuration():
    from mtl_core.analysis.configurations import NOT_TRAINING_FIELDS

    assert "gradient_route" in NOT_TRAINING_FIELDS
    assert isinstance(GramRoute, type)


def test_fine_tuned_minilm_takes_its_linear_layers_by_the_gram_route_with_the_same_statistics():
    options = dict(encoder="minilm", max_train_examples=32, max_eval_examples=16, batch_size=8, conflict_every=1)
    reference = make_trainer(ATIS, total_steps=2, gradient_route="materialised", **options)
    gram = make_trainer(ATIS, total_steps=2, **options)
    recorders = ListRecorder(), ListRecorder()
    for step in (1, 2):
        reference.train_step(step, recorders[0], measure=True)
        gram.train_step(step, recorders[1], measure=True)
    assert len(gram.gram_route.covered_modules) == 36  # 6 blocks × (query, key, value, 3 dense)
    for a, b in zip(*(r.conflicts for r in recorders)):
        assert a[:4] == b[:4] and b[4] == pytest.approx(a[4], abs=1e-4, nan_ok=True)
