"""Measuring never changes the run, at the default dropout: noise floor, probe conflict, lookahead affinity,
probe representations and evaluations draw their dropout masks from their own random stream."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.test_engine import DEFAULT_DROPOUT, ListRecorder, make_trainer

TEXT = dict(encoder="bilstm", max_train_examples=64, max_eval_examples=32)
NOTHING_MEASURED = dict(conflict_every=0)
EVERYTHING_MEASURED = dict(conflict_every=1, noise_floor=True, affinity_every=1)


def trained(tasks, kind, probe=False, **options):
    """Parameters and metric rows after 20 steps (evaluated at 10 and 20), with the probe representations
    taken half-way when `probe` (the runner takes them after training; half-way shows they leave no trace)."""
    trainer = make_trainer(tasks, kind=kind, total_steps=20, dropout=DEFAULT_DROPOUT, eval_every=10, **options)
    recorder = ListRecorder()
    assert trainer.fit(recorder, should_stop=lambda: trainer.state.step == 10) == "cancelled"
    if probe:
        trainer.representations(trainer.data[tasks[0]].validation.inputs[:16])
    assert trainer.fit(recorder) == "completed"
    rows = [row for row in recorder.metrics if row[3] != "grad_norm"]  # only measured steps record gradient norms
    return [p.detach().clone() for p in trainer.model.parameters()], rows


def relative_difference(params, reference) -> float:
    """max |θ − θ_ref| / max |θ_ref| over all parameters."""
    largest = max(float(p.abs().max()) for p in reference)
    return max(float((p - q).abs().max()) for p, q in zip(params, reference)) / largest


@pytest.mark.parametrize("tasks, options", [
    (["synth_1"], {}),
    (["atis_intent"], TEXT),
    (["synth_1", "synth_2"], {"sampling": "proportional"}),  # conflict probed on extra batches, update unchanged
], ids=["baseline-mlp", "baseline-bilstm", "one-task-sampling"])
def test_measuring_leaves_a_run_with_one_backward_pass_bit_identical(tasks, options):
    kind = "mtl" if len(tasks) > 1 else "stl"
    measured, measured_rows = trained(tasks, kind, probe=True, conflict_every=1, noise_floor=True, **options)
    plain, plain_rows = trained(tasks, kind, **NOTHING_MEASURED, **options)
    assert all(torch.equal(p, q) for p, q in zip(measured, plain))
    assert measured_rows == plain_rows  # training losses, train and validation metrics
    assert {row[3] for row in plain_rows} >= {"loss"} and {row[2] for row in plain_rows} >= {"train", "validation"}


@pytest.mark.parametrize("tasks, options", [(["synth_1", "synth_2"], {}), (["atis_intent", "atis_slots"], TEXT)],
                         ids=["mlp", "bilstm"])
def test_measuring_everything_changes_a_multi_task_run_only_by_rounding(tasks, options):
    measured, measured_rows = trained(tasks, "mtl", probe=True, **EVERYTHING_MEASURED, **options)
    plain, plain_rows = trained(tasks, "mtl", **NOTHING_MEASURED, **options)
    # On measured steps the update is Σ_t g_t rather than ∇ Σ_t λ_t L_t: the same sum in another order, about
    # 1e-6 relative per step. A different dropout mask moves the weights by about 1e-1 in 20 steps.
    assert relative_difference(measured, plain) < 1e-4
    assert [row[:4] for row in measured_rows] == [row[:4] for row in plain_rows]
    np.testing.assert_allclose([row[4] for row in measured_rows], [row[4] for row in plain_rows], rtol=1e-3)
