"""The sharing-mode registry (mtl_core/models/sharing/, one module per mode) and its two newer modes,
MMoE (Ma et al. 2018) and cross-stitch (Misra et al. 2016)."""
from __future__ import annotations

import argparse
import copy
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

from mtl_core import estimate
from mtl_core.errors import UserError
from mtl_core.models import sharing
from mtl_core.models.encoders import MLPEncoder
from mtl_core.models.multitask import CrossStitchModel, MMoEModel
from mtl_core.spec import SHARING_MODES, ExperimentSpec
from tests.test_engine import ListRecorder, make_trainer

FIVE = ("hard", "soft", "hierarchical", "mmoe", "cross_stitch")
TWO = ("synth_1", "synth_2")


# ---- the registry ----------------------------------------------------------------------------------
def test_the_registry_lists_the_five_modes_and_the_spec_and_cli_read_it():
    assert tuple(sharing.modes()) == FIVE == sharing.mode_names() == SHARING_MODES
    assert all(sharing.get_mode(name).name == name for name in FIVE)
    from mtl_core.commands.train import add_run_options

    parser = argparse.ArgumentParser()
    add_run_options(parser)
    [action] = [a for a in parser._actions if "--sharing" in a.option_strings]
    assert tuple(action.choices) == FIVE
    from dashboard import state, text

    assert state.FIELD_BY_NAME["sharing"].parse("cross_stitch") == "cross_stitch"
    assert set(text.SHARING_LABELS) == set(text.SHARING_EXPLANATIONS) == set(text.FORMULA_NOTES) == set(FIVE)
    with pytest.raises(UserError, match="sharing: 'stitch' is not one of hard, soft, hierarchical, mmoe, cross_stitch"):
        ExperimentSpec(tasks=list(TWO), sharing="stitch").validated()


def test_every_mode_declares_its_words_formula_and_trunk():
    for name, mode in sharing.modes().items():
        assert mode.title and mode.explanation and mode.summary and mode.formula and mode.formula_note, name
    trunk = {name: mode.one_shared_trunk for name, mode in sharing.modes().items()}
    assert trunk == {"hard": True, "soft": False, "hierarchical": True, "mmoe": True, "cross_stitch": True}
    for name in FIVE:
        assert ExperimentSpec(tasks=list(TWO), sharing=name).validated().affinity_possible() == trunk[name]


def test_the_registry_imports_no_torch():
    code = ("import sys; from mtl_core.models import sharing; from mtl_core.spec import SHARING_MODES; "
            "[m.title for m in sharing.modes().values()]; print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.split() == ["False"]


def test_the_estimate_reads_the_cost_factor_of_the_mode():
    def per_step(**options) -> float:
        spec = ExperimentSpec(tasks=list(TWO), steps=100, conflict_every=0, **options).validated()
        mtl, baseline = spec.runs()[0], spec.runs()[1]
        return ((estimate.run_seconds(mtl, 100) - estimate.STARTUP_SECONDS),
                estimate.run_seconds(baseline, 100) - estimate.STARTUP_SECONDS)

    hard, hard_baseline = per_step()
    assert per_step(sharing="soft")[0] == pytest.approx(hard)
    mmoe, mmoe_baseline = per_step(sharing="mmoe", experts=6)
    assert mmoe == pytest.approx(6 * hard) and mmoe_baseline == pytest.approx(hard_baseline)  # a baseline is hard
    assert per_step(sharing="cross_stitch")[0] == pytest.approx(2 * hard)


# ---- spec options -----------------------------------------------------------------------------------
@pytest.mark.parametrize("options, field, message", [
    ({"sharing": "mmoe", "experts": 0}, "experts", "experts: must be between 1 and 16, got 0"),
    ({"sharing": "mmoe", "experts": 17}, "experts", "experts: must be between 1 and 16, got 17"),
    ({"sharing": "mmoe", "experts": 2.5}, "experts", "experts: expected a whole number, got 2.5"),
    ({"sharing": "hard", "experts": 8}, "experts", "experts: only used with sharing 'mmoe', got sharing 'hard'"),
    ({"sharing": "cross_stitch", "layers": {"synth_1": 1}}, "layers",
     "layers: only used with sharing 'hierarchical', got sharing 'cross_stitch'"),
])
def test_a_bad_sharing_option_names_the_field(options, field, message):
    with pytest.raises(UserError, match=message) as error:
        ExperimentSpec.from_dict({"tasks": list(TWO), **options})
    assert error.value.field == field


@pytest.mark.parametrize("options, message", [
    ({"sharing": "cross_stitch", "encoder": "minilm"}, "sharing: cross_stitch mixes the task encoders between layers"),
    ({"sharing": "mmoe", "encoder": "minilm", "freeze_encoder": True}, "sharing: MMoE mixes experts that learn"),
    ({"sharing": "soft", "encoder": "minilm", "freeze_encoder": True}, "sharing: soft sharing pulls trainable"),
])
def test_modes_refuse_encoders_they_cannot_train(options, message):
    with pytest.raises(UserError, match=message) as error:
        ExperimentSpec.from_dict({"tasks": ["atis_intent", "atis_slots"], **options})
    assert error.value.field == "sharing"


def test_experts_is_part_of_an_mmoe_configuration_only():
    from mtl_core.analysis.configurations import baseline_key, configuration

    def config(**options):
        spec = ExperimentSpec(tasks=list(TWO), **options).validated()
        run = {"tasks": list(TWO), "spec_json": json.dumps({"experiment": spec.to_dict()})}
        return configuration(run), spec

    mmoe, spec = config(sharing="mmoe", experts=3)
    assert mmoe["experts"] == 3 and mmoe["soft_lambda"] is None and mmoe["layers"] == {}
    hard, hard_spec = config()
    assert "experts" not in hard
    # a baseline trained in a hard experiment is the baseline of an MMoE configuration too
    assert baseline_key(mmoe, "synth_1") == baseline_key(hard_spec.to_dict(), "synth_1")


# ---- MMoE ---------------------------------------------------------------------------------------------
def _train_losses(recorder, task):
    return [row[4] for row in recorder.metrics if row[1] == task and row[2] == "train" and row[3] == "loss"]


def test_mmoe_trains_two_tasks_and_its_gates_are_probabilities_that_differ_per_task():
    trainer = make_trainer(TWO, sharing="mmoe", experts=3, total_steps=60, conflict_every=5)
    model = trainer.model
    assert isinstance(model, MMoEModel) and list(model.encoders) == ["expert1", "expert2", "expert3"]
    first = [p.detach().clone() for p in model.encoders["expert1"].parameters()]
    second = [p.detach().clone() for p in model.encoders["expert2"].parameters()]
    assert any(not torch.equal(a, b) for a, b in zip(first, second))  # experts start apart
    assert model.logged_values() == []  # no training batch yet
    recorder = ListRecorder()
    assert trainer.fit(recorder) == "completed"
    for task in TWO:
        losses = _train_losses(recorder, task)
        assert np.mean(losses[-15:]) < 0.7 * np.mean(losses[:15]), task
    assert any(r[1] == "all" for r in recorder.conflicts)  # conflict measured on the experts

    rows = model.logged_values()
    assert [(task, name) for task, name, _ in rows] == [(t, f"gate_expert_{e}") for t in TWO for e in (1, 2, 3)]
    for task in TWO:
        values = [value for t, _, value in rows if t == task]
        assert all(0.0 <= v <= 1.0 for v in values) and sum(values) == pytest.approx(1.0, abs=1e-6)
    batch = trainer._batch("synth_1", np.arange(32))
    g1, g2 = model.gate_weights("synth_1", batch), model.gate_weights("synth_2", batch)
    assert torch.allclose(g1.sum(1), torch.ones(32)) and not torch.allclose(g1, g2, atol=1e-3)
    assert any(not torch.equal(a, b) for a, b in zip(first, model.encoders["expert1"].parameters()))


def test_mmoe_head_reads_the_gate_weighted_sum_of_the_experts():
    trainer = make_trainer(TWO, sharing="mmoe", experts=2, total_steps=1)
    model = trainer.model.eval()
    batch = trainer._batch("synth_2", np.arange(5))
    with torch.no_grad():
        features, mask = model.features("synth_2", batch)
        x = batch["x"]
        gate = torch.softmax(x @ model.gates["synth_2"].weight.T, dim=-1)  # softmax(W_t x)
        tops = [expert(batch).layers[-1] for expert in model.encoders.values()]
    assert mask is None
    assert torch.allclose(features, gate[:, :1] * tops[0] + gate[:, 1:] * tops[1], atol=1e-6)


def test_mmoe_shares_the_experts_and_gives_each_task_its_gate():
    model = make_trainer(TWO, sharing="mmoe", experts=2, total_steps=1).model
    groups = {task: model.shared_layer_groups(task) for task in TWO}
    assert list(groups["synth_1"]) == ["layer1", "layer2"]
    for layer in groups["synth_1"]:  # the same parameters, in the same order, for every task
        assert [id(p) for p in groups["synth_1"][layer]] == [id(p) for p in groups["synth_2"][layer]]
    experts = {id(p) for expert in model.encoders.values() for p in expert.parameters()}
    assert {id(p) for params in groups["synth_1"].values() for p in params} == experts
    gate = {id(p) for p in model.gates["synth_1"].parameters()}
    assert gate <= {id(p) for p in model.head_parameters("synth_1")}
    assert not gate & {id(p) for p in model.head_parameters("synth_2")}


# ---- cross-stitch ---------------------------------------------------------------------------------------
def test_cross_stitch_trains_two_tasks_and_logs_its_stitch_weights():
    trainer = make_trainer(TWO, sharing="cross_stitch", total_steps=60, conflict_every=5)
    model = trainer.model
    assert isinstance(model, CrossStitchModel) and list(model.encoders) == list(TWO)
    names = [(task, name) for task, name, _ in model.logged_values()]
    assert names == [(t, f"stitch_l{l}_{s}") for l in (1, 2) for t in TWO for s in TWO]
    start = {(task, name): value for task, name, value in model.logged_values()}
    assert start[("synth_1", "stitch_l1_synth_1")] == pytest.approx(0.9)
    assert start[("synth_1", "stitch_l1_synth_2")] == pytest.approx(0.1)
    assert start[("synth_2", "stitch_l2_synth_2")] == pytest.approx(0.9)
    recorder = ListRecorder()
    assert trainer.fit(recorder) == "completed"
    for task in TWO:
        losses = _train_losses(recorder, task)
        assert np.mean(losses[-15:]) < 0.7 * np.mean(losses[:15]), task
    after = {(task, name): value for task, name, value in model.logged_values()}
    assert any(after[key] != pytest.approx(start[key], abs=1e-4) for key in start)  # α learned
    groups = {task: model.shared_layer_groups(task) for task in TWO}
    for layer in groups["synth_1"]:
        assert [id(p) for p in groups["synth_1"][layer]] == [id(p) for p in groups["synth_2"][layer]]
    assert id(model.stitch[0]) in map(id, groups["synth_1"]["layer1"])
    assert id(model.stitch[1]) in map(id, groups["synth_1"]["layer2"])


def test_cross_stitch_at_initialisation_mixes_as_documented():
    encoder = MLPEncoder(input_size=3, hidden_size=2, depth=2, dropout=0.0)
    model = CrossStitchModel("cross_stitch", encoder, {"a": nn.Identity(), "b": nn.Identity()}, {"a": 2, "b": 2})
    with torch.no_grad():
        for name, first in (("a", [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]), ("b", [[0.0, 0.0, -1.0], [1.0, 1.0, 1.0]])):
            linears = model.encoders[name].linears
            linears[0].weight.copy_(torch.tensor(first))
            linears[1].weight.copy_(torch.eye(2))
            for linear in linears:
                linear.bias.zero_()
        out = model.stitched({"x": torch.tensor([[1.0, 2.0, 3.0]])})
    # layer 1: h_a = relu([1, 2]) = [1, 2], h_b = relu([-3, 6]) = [0, 6]
    #   h̃_a = 0.9 h_a + 0.1 h_b = [0.9, 2.4]; h̃_b = 0.1 h_a + 0.9 h_b = [0.1, 5.6]
    # layer 2 (identity, relu keeps them): h̃_a = 0.9 [0.9, 2.4] + 0.1 [0.1, 5.6] = [0.82, 2.72],
    #   h̃_b = 0.1 [0.9, 2.4] + 0.9 [0.1, 5.6] = [0.18, 5.28]
    assert torch.allclose(out["a"].layers[0], torch.tensor([[0.9, 2.4]]))
    assert torch.allclose(out["b"].layers[0], torch.tensor([[0.1, 5.6]]))
    assert torch.allclose(out["a"].layers[1], torch.tensor([[0.82, 2.72]]))
    assert torch.allclose(out["b"].layers[1], torch.tensor([[0.18, 5.28]]))
    three = CrossStitchModel("cross_stitch", encoder, {t: nn.Identity() for t in "abc"}, {t: 2 for t in "abc"})
    assert torch.allclose(three.stitch[0].detach(), torch.tensor([[0.9, 0.05, 0.05], [0.05, 0.9, 0.05],
                                                                  [0.05, 0.05, 0.9]]))


# ---- every mode ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", FIVE)
def test_every_mode_gives_a_representation_per_encoder_and_its_baseline_is_hard(mode):
    trainer = make_trainer(TWO, sharing=mode, total_steps=1)
    batch = trainer.model.encoder.prepare(trainer.data["synth_1"].validation.inputs[:7])
    for name in trainer.model.encoders:
        assert trainer.model.representation(batch, name).shape == (7, 16)
    baseline = make_trainer(["synth_1"], kind="stl", sharing=mode, total_steps=1).model
    assert baseline.sharing == "hard" and list(baseline.encoders) == ["shared"]


@pytest.mark.parametrize("mode", ["mmoe", "cross_stitch"])
def test_gradient_combining_weighting_trains_on_the_shared_trunk(mode):
    trainer = make_trainer(TWO, sharing=mode, total_steps=4, weighting="pcgrad", conflict_every=2, affinity_every=2)
    before = copy.deepcopy(trainer.model.state_dict())
    recorder = ListRecorder()
    assert trainer.fit(recorder) == "completed"
    assert recorder.affinities  # TAG lookahead steps the shared trunk
    changed = [k for k, v in trainer.model.state_dict().items() if not torch.equal(v, before[k])]
    assert any(k.startswith("encoders.") for k in changed) and any(k.startswith("heads.") for k in changed)
    if mode == "mmoe":
        assert any(k.startswith("gates.") for k in changed)
    else:
        assert any(k.startswith("stitch.") for k in changed)


def test_the_new_experiment_form_carries_experts_for_mmoe_only():
    from dashboard import state, text

    form, notes = state.parse_query({"tasks": "synth_1,synth_2", "sharing": "mmoe", "experts": "6"}, list(TWO))
    assert not notes and state.spec_dict(form)["experts"] == 6
    assert state.to_query(form)["experts"] == "6"
    ExperimentSpec.from_dict(state.spec_dict(form))
    form["sharing"] = "hard"
    assert "experts" not in state.spec_dict(form) and "experts" not in state.to_query(form)
    _, notes = state.parse_query({"experts": "40"}, list(TWO))
    assert notes == ["experts='40' ignored: must be a whole number from 1 to 16; using the default 4"]
    assert r"\sum_{e=1}^{6}" in text.loss_formula("mmoe", list(TWO), {}, 0.01, experts=6)


# ---- one forward pass of the trunk for tasks that read the same rows ---------------------------------
TRUNK_CASES = {
    "hard": dict(sharing="hard"),
    "hierarchical": dict(sharing="hierarchical", layers={"synth_1": 1}),
    "mmoe": dict(sharing="mmoe"),
    "cross_stitch": dict(sharing="cross_stitch"),
    "atis-hierarchical-bilstm": dict(sharing="hierarchical", encoder="bilstm", layers={"atis_slots": 1},
                                     max_train_examples=64, max_eval_examples=32),
}


@pytest.mark.parametrize("case", list(TRUNK_CASES))
def test_tasks_on_the_same_rows_get_each_its_own_loss_and_gradient_from_one_pass_of_the_trunk(case):
    """Without dropout (eval mode) the trunk is deterministic, so one pass for both tasks must give each task exactly the
    loss and the gradient its own forward gives; and the trunk's first layer runs once per step, not per task."""
    tasks = ["atis_intent", "atis_slots"] if case.startswith("atis") else list(TWO)
    trainer = make_trainer(tasks, **TRUNK_CASES[case])
    rows = {t: trainer.streams[t].next_rows() for t in tasks}
    assert all(np.array_equal(rows[tasks[0]], rows[t]) for t in tasks)  # the premise: they draw the same rows
    batches = trainer._group_batches(tasks, rows[tasks[0]])
    model = trainer.model.eval()  # no dropout and no word dropout: the trunk is deterministic
    first_layers = [m for name, m in model.named_modules() if name.endswith(("linears.0", "lstms.0"))]
    calls = []
    hooks = [m.register_forward_hook(lambda *_: calls.append(1)) for m in first_layers]
    together = {t: loss for t, (loss, _) in model.group_outputs(tasks, batches).items()}
    for hook in hooks:
        hook.remove()
    assert len(calls) == len(first_layers)  # each encoder's first layer ran once for both tasks
    parameters = [p for p in model.parameters() if p.requires_grad]
    for task in tasks:
        alone = model.task_loss(task, trainer._batch(task, rows[task]))[0]
        torch.testing.assert_close(together[task], alone, rtol=1e-6, atol=1e-7)
        expected = torch.autograd.grad(alone, parameters, allow_unused=True)
        got = torch.autograd.grad(together[task], parameters, allow_unused=True, retain_graph=True)
        for a, b in zip(got, expected):
            assert (a is None) == (b is None)
            if a is not None:
                torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)


def test_a_measured_step_on_one_pass_of_the_trunk_records_the_cosine_of_the_tasks_own_gradients():
    """Conflict is measured on the shared pass (task by task through the kept graph) and equals the cosine of
    the gradients each task's own forward gives, with every weighting route: plain sum, gradients, Gram."""
    for weighting in ("static", "pcgrad", "mgda"):
        trainer = make_trainer(list(TWO), conflict_every=1, weighting=weighting)
        before = copy.deepcopy(trainer.model)
        rows = {t: copy.deepcopy(trainer.streams[t]).next_rows() for t in TWO}
        recorder = ListRecorder()
        trainer.train_step(1, recorder, measure=True)
        shared = [p for params in before.shared_layer_groups(TWO[0]).values() for p in params]
        grads = {}
        for task in TWO:
            loss = before.task_loss(task, trainer._batch(task, rows[task]))[0]
            grads[task] = torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss, shared)])
        expected = float(torch.nn.functional.cosine_similarity(grads[TWO[0]], grads[TWO[1]], dim=0))
        [cos] = [row[4] for row in recorder.conflicts if row[1] == "all"]
        assert cos == pytest.approx(expected, abs=1e-5), weighting


@pytest.mark.parametrize("case", ["hierarchical", "atis-hierarchical-bilstm"])
def test_tasks_evaluated_together_score_exactly_as_each_evaluated_alone(case):
    tasks = ["atis_intent", "atis_slots"] if case.startswith("atis") else list(TWO)
    trainer = make_trainer(tasks, **TRUNK_CASES[case])
    for step in (1, 2, 3):
        trainer.train_step(step, ListRecorder(), measure=False)
    rows = {t: np.arange(len(trainer.data[t].validation)) for t in tasks}
    together = trainer.evaluate_all("validation", rows)
    for task in tasks:
        alone = trainer.evaluate(task, "validation", rows[task])
        assert together[task].keys() == alone.keys()
        assert together[task] == pytest.approx(alone, rel=1e-6, abs=1e-7), task
