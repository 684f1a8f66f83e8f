"""Loss-weighting methods: the registry, each method against its definition (or TorchJD's own aggregator), the
loop's one backward path, exact resume of a method's state, and static λ unchanged bit for bit."""
from __future__ import annotations

import io
import json
import math

import numpy as np
import pytest
import torch
from torchjd.aggregation import IMTLG, MGDA, UPGrad, AlignedMTL, CAGrad, NashMTL

from mtl_core import weighting
from mtl_core.errors import UserError
from mtl_core.spec import ExperimentSpec
from mtl_core.train.loop import load_checkpoint
from tests.static_reference import CASES, REFERENCE, trajectory
from tests.test_engine import ListRecorder, make_trainer

TWO = ["synth_1", "synth_2"]


def method(name: str, tasks=("a", "b"), lambdas=None, **options):
    return weighting.build(weighting.normalise({"name": name, "options": options}), list(tasks),
                           lambdas or {t: 1.0 for t in tasks}, seed=0, device=torch.device("cpu"))


def combination(name: str, jacobian: torch.Tensor, **options) -> torch.Tensor:
    """Σ_t w_t g_t with w from the method's Gram weights, as the loop applies it to the shared trunk."""
    m = method(name, tasks=[f"t{i}" for i in range(len(jacobian))], **options)
    gram = (jacobian @ jacobian.T).double()
    weights = m.gram_weights(gram, {"all": gram}, {}, step=1)
    return weights.to(jacobian.dtype) @ jacobian


# ---- the registry ----------------------------------------------------------------------------------
def test_the_registry_lists_every_method_with_what_a_student_and_the_loop_need():
    rows = {row["name"]: row for row in weighting.describe()}
    assert len(rows) >= 12
    assert {"static", "uw", "dwa", "rlw", "gradnorm", "mgda", "pcgrad", "cagrad", "imtl_g", "aligned_mtl",
            "nash_mtl", "famo", "upgrad"} <= set(rows)
    assert list(rows)[0] == "static"
    for row in rows.values():
        assert row["family"] in ("static", "loss-based", "gradient-based")
        assert row["needs"] in ("losses", "gram", "grads")
        assert row["reference"] and row["explanation"] and row["formula"]
    assert rows["pcgrad"]["source"] == "torchjd" and rows["gradnorm"]["source"] == "ours"


@pytest.mark.parametrize("value, message", [
    ("nope", "unknown method 'nope'; allowed: static"),
    ({"name": "cagrad", "options": {"c": -1}}, "cagrad option c must be a number in [0, 10], got -1"),
    ({"name": "pcgrad", "options": {"lr": 1}}, "pcgrad has no option 'lr'; its options: none"),
    ({"name": "dwa", "options": {"window": 2.5}}, "window must be a whole number in [1, 1e+06]"),
    ({"method": "uw"}, "unknown key(s) 'method'"),
])
def test_a_bad_method_or_option_names_both(value, message):
    with pytest.raises(UserError, match=None) as caught:
        ExperimentSpec(tasks=TWO, weighting=value).validated()
    assert message in str(caught.value) and caught.value.field == "weighting"


@pytest.mark.parametrize("options, field, message", [
    (dict(weighting="pcgrad", sharing="soft"), "weighting", "soft sharing gives each task its own encoder"),
    (dict(weighting="mgda", sampling="proportional"), "sampling", "needs every task's loss on every step"),
    (dict(weighting="famo", sampling="temperature"), "sampling", "use sampling 'all'"),
    (dict(weighting="upgrad", weights={"synth_1": 2.0}), "weights", "chooses the task weights itself"),
])
def test_settings_a_method_cannot_train_under_are_refused(options, field, message):
    with pytest.raises(UserError) as caught:
        ExperimentSpec(tasks=TWO, **options).validated()
    assert message in str(caught.value) and caught.value.field == field


def test_a_validated_spec_carries_every_option_and_round_trips_through_json():
    spec = ExperimentSpec(tasks=TWO, weighting={"name": "cagrad"}).validated()
    assert spec.weighting == {"name": "cagrad", "options": {"c": 0.4}}
    assert ExperimentSpec.from_json(spec.to_json()).weighting == spec.weighting
    assert ExperimentSpec(tasks=TWO).validated().weighting == {"name": "static", "options": {}}


# ---- each method against its definition --------------------------------------------------------------
def test_pcgrad_on_two_gradients_at_120_degrees_projects_each_off_the_other():
    g1 = torch.tensor([1.0, 0.0], dtype=torch.float64)
    g2 = torch.tensor([math.cos(2 * math.pi / 3), math.sin(2 * math.pi / 3)], dtype=torch.float64) * 2
    p1 = g1 - (g1 @ g2) / (g2 @ g2) * g2  # the paper's projection, both conflict (cos = -1/2)
    p2 = g2 - (g2 @ g1) / (g1 @ g1) * g1
    torch.testing.assert_close(combination("pcgrad", torch.stack([g1, g2])), p1 + p2)
    assert float(p1 @ g2) == pytest.approx(0, abs=1e-12) and float(p2 @ g1) == pytest.approx(0, abs=1e-12)


def test_pcgrad_leaves_gradients_that_do_not_conflict_alone():
    jacobian = torch.tensor([[1.0, 0.2], [0.3, 1.0]], dtype=torch.float64)
    torch.testing.assert_close(combination("pcgrad", jacobian), jacobian.sum(0))


def test_mgda_finds_the_min_norm_point_of_two_known_vectors():
    g1, g2 = torch.tensor([2.0, 0.0], dtype=torch.float64), torch.tensor([0.0, 1.0], dtype=torch.float64)
    # Closed form for two gradients: α = (g2 − g1)·g2 / ‖g1 − g2‖², the point α g1 + (1 − α) g2.
    alpha = float((g2 - g1) @ g2 / ((g1 - g2) @ (g1 - g2)))
    expected = alpha * g1 + (1 - alpha) * g2
    torch.testing.assert_close(combination("mgda", torch.stack([g1, g2]), epsilon=1e-9, max_iters=10000), expected,
                               atol=1e-4, rtol=1e-4)
    assert float(expected @ g1) == pytest.approx(float(expected @ g2))  # equal progress: the min-norm property


@pytest.mark.parametrize("name, aggregator", [
    ("mgda", MGDA()), ("upgrad", UPGrad()), ("imtl_g", IMTLG()), ("aligned_mtl", AlignedMTL()),
    ("cagrad", CAGrad(c=0.4)),
])
def test_gram_methods_give_the_update_of_torchjds_own_aggregator_on_the_jacobian(name, aggregator):
    jacobian = torch.tensor([[-4.0, 1.0, 1.0, 0.5], [6.0, 1.0, 1.0, -0.5], [1.0, -2.0, 0.0, 1.0]], dtype=torch.float64)
    torch.testing.assert_close(combination(name, jacobian), aggregator(jacobian), atol=1e-5, rtol=1e-5)


def test_nash_mtl_on_a_root_of_the_gram_equals_nash_mtl_on_the_jacobian():
    jacobian = torch.tensor([[-4.0, 1.0, 1.0, 0.5], [6.0, 1.0, 1.0, -0.5], [1.0, -2.0, 0.0, 1.0]], dtype=torch.float64)
    reference = NashMTL(n_tasks=3, max_norm=1.0, update_weights_every=1, optim_niter=20)
    torch.testing.assert_close(combination("nash_mtl", jacobian), reference(jacobian), atol=1e-4, rtol=1e-4)


def test_uncertainty_weighting_reaches_its_closed_form_optimum():
    """min_s L/(2e^s) + s/2 at e^s = L: the learned log-variances converge to log L_t."""
    m = method("uw")
    losses = {"a": torch.tensor(4.0), "b": torch.tensor(0.25)}
    optimizer = torch.optim.Adam(m.parameters(), lr=0.05)
    for step in range(3000):
        optimizer.zero_grad()
        scales = m.scales(losses, step)
        (sum(scales[t] * losses[t] for t in losses) + m.regulariser()).backward()
        optimizer.step()
    np.testing.assert_allclose(m.log_variance.detach().numpy(), np.log([4.0, 0.25]), atol=1e-2)
    assert m.last_weights["a"] == pytest.approx(1 / 8, rel=0.02)  # effective weight 1 / (2 L_t)


def test_dwa_weights_follow_the_softmax_of_the_last_two_windows_loss_ratios():
    m = method("dwa", window=2, temperature=2.0)
    sequence = [(1.0, 1.0), (1.0, 1.0), (0.5, 0.9), (0.5, 0.9)]  # window means: (1, 1) then (.5, .9)
    for step, (a, b) in enumerate(sequence, 1):
        applied = m.scales({"a": torch.tensor(a), "b": torch.tensor(b)}, step)
        assert applied == {"a": 1.0, "b": 1.0}  # the first two windows train with λ = 1
    ratios = np.array([0.5, 0.9]) / 2.0
    expected = 2 * np.exp(ratios) / np.exp(ratios).sum()
    applied = m.scales({"a": torch.tensor(0.4), "b": torch.tensor(0.8)}, 5)
    np.testing.assert_allclose([applied["a"], applied["b"]], expected)
    assert applied["b"] > applied["a"]  # the task whose loss fell slower gains weight


def test_random_weighting_draws_a_reproducible_softmax_each_step():
    first, again = method("rlw"), method("rlw")
    draws = [first.scales({"a": torch.tensor(1.0), "b": torch.tensor(1.0)}, s) for s in range(3)]
    assert draws == [again.scales({"a": torch.tensor(1.0), "b": torch.tensor(1.0)}, s) for s in range(3)]
    assert all(sum(d.values()) == pytest.approx(1.0) for d in draws) and draws[0] != draws[1]


def test_famo_moves_weight_to_the_task_whose_log_loss_fell_least_and_scales_by_one_over_the_loss():
    m = method("famo")
    first = m.scales({"a": torch.tensor(1.0), "b": torch.tensor(2.0)}, 1)
    # Equal z at the start: c_t = z_t / (c L_t), c = Σ z_t / L_t, so c_a / c_b = L_b / L_a.
    assert first["a"] / first["b"] == pytest.approx(2.0)
    m.scales({"a": torch.tensor(0.5), "b": torch.tensor(1.9)}, 2)  # a's log-loss fell much more than b's
    z = torch.softmax(m.logits.detach(), 0)
    assert float(z[1]) > float(z[0])


def test_gradnorm_raises_the_weight_of_the_task_that_trains_slower():
    m = method("gradnorm", lr=0.1)
    gram = torch.diag(torch.tensor([1.0, 1.0], dtype=torch.float64))
    m.gram_weights(gram, {"layer1": gram, "all": gram}, {"a": torch.tensor(1.0), "b": torch.tensor(1.0)}, 1)
    # Later, a's loss fell to a tenth and b's did not: b's inverse training rate is higher, so its weight grows.
    applied = m.gram_weights(gram, {"layer1": gram, "all": gram}, {"a": torch.tensor(0.1), "b": torch.tensor(1.0)}, 2)
    assert float(applied.sum()) == pytest.approx(2.0)  # renormalised to Σ λ = T
    assert m.weights[1] > m.weights[0]


# ---- the loop -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(weighting.methods()))
def test_every_method_trains_two_tasks_and_records_its_weights(name):
    trainer = make_trainer(TWO, total_steps=8, eval_every=4, conflict_every=4, weighting=name)
    recorder = ListRecorder()
    assert trainer.fit(recorder) == "completed"
    weights = [row for row in recorder.metrics if row[3] == "weight"]
    assert {row[1] for row in weights} == set(TWO) and all(math.isfinite(row[4]) for row in weights)
    assert all(torch.isfinite(p).all() for p in trainer.model.parameters())
    conflict_steps = sorted({row[0] for row in recorder.conflicts if row[2] != row[3]})
    # A method of the gradients has the Gram every step, and logs conflict every step; the others every k.
    assert conflict_steps == (list(range(1, 9)) if trainer.method.uses_gradients else [4, 8])


def test_a_gradient_method_updates_the_trunk_by_its_weights_on_the_per_task_gradients():
    """Independent recomputation: per-task gradients of the pre-step model, MGDA's weights from TorchJD on their
    Jacobian, Σ_t w_t g_t on the trunk and each head's own gradient."""
    trainer = make_trainer(TWO, total_steps=1, weighting="mgda", optimizer="sgd", lr=0.1)
    import copy
    model, streams = copy.deepcopy(trainer.model), copy.deepcopy(trainer.streams)
    trainer.train_step(1, ListRecorder(), measure=False)
    shared = [p for group in model.shared_layer_groups(TWO[0]).values() for p in group]
    rows = []
    head_grads = {}
    for task in TWO:
        batch = trainer._batch(task, streams[task].next_rows())
        loss = model.task_loss(task, batch)[0]
        grads = torch.autograd.grad(loss, shared + model.head_parameters(task))
        rows.append(torch.cat([g.reshape(-1) for g in grads[: len(shared)]]))
        head_grads[task] = grads[len(shared):]
    jacobian = torch.stack(rows).double()
    weights = weighting.build({"name": "mgda", "options": {"epsilon": 0.001, "max_iters": 100}}, TWO, {}, 0,
                              torch.device("cpu")).gram_weights(jacobian @ jacobian.T, {}, {}, 1)
    expected = (weights @ jacobian).float()
    got = torch.cat([p.grad.reshape(-1) for p in
                     [p for group in trainer.model.shared_layer_groups(TWO[0]).values() for p in group]])
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-6)
    for task in TWO:
        for parameter, grad in zip(trainer.model.head_parameters(task), head_grads[task]):
            torch.testing.assert_close(parameter.grad, grad)


@pytest.mark.parametrize("name", ["uw", "gradnorm", "famo", "dwa", "rlw"])
def test_resuming_in_the_middle_continues_a_methods_run_exactly(name, tmp_path):
    options = dict(total_steps=16, eval_every=8, conflict_every=4, weighting=name)
    straight = make_trainer(TWO, **options)
    straight_rows = ListRecorder()
    straight.fit(straight_rows)

    first = make_trainer(TWO, **options)
    rows = ListRecorder()
    assert first.fit(rows, should_stop=lambda: first.state.step == 6) == "cancelled"
    path = tmp_path / "checkpoint.pt"
    torch.save(first.state_dict(), path)
    resumed = make_trainer(TWO, **options)
    resumed.load_state_dict(load_checkpoint(path, torch.device("cpu")))  # the weights-only reader
    resumed.fit(rows)
    assert all(torch.equal(p, q) for p, q in zip(resumed.model.parameters(), straight.model.parameters()))
    assert [r for r in rows.metrics if r[3] == "weight"] == [r for r in straight_rows.metrics if r[3] == "weight"]


@pytest.mark.parametrize("case", sorted(CASES))
def test_static_lambda_trains_exactly_as_the_stored_reference(case):
    """Parameters, metrics, conflict and affinity after 12 steps, recorded by tests/static_reference.py, to a
    relative 1e-4, absolute 1e-6 (lookahead affinities are differences of nearly equal float32 losses; bit for
    bit on one machine, another CPU rounds differently). (The soft case's conflict
    statistics were recorded after the fix that takes them before the soft penalty's gradient is added.)"""
    expected = json.loads(REFERENCE.read_text())[case]
    got = json.loads(json.dumps(trajectory(case)))  # the same JSON round trip as the stored reference
    assert set(got) == set(expected)
    for series in expected:
        assert len(got[series]) == len(expected[series]), series
        for row, want in zip(got[series], expected[series]):
            labels = [v for v in want if not isinstance(v, float)]
            assert [v for v in row if not isinstance(v, float)] == labels, (series, row, want)
            floats = [v for v in row if isinstance(v, float)]
            assert floats == pytest.approx([v for v in want if isinstance(v, float)], rel=1e-4, abs=1e-6,
                                           nan_ok=True), (series, labels)


def test_single_task_baselines_train_static_whatever_the_experiment_compares():
    trainer = make_trainer(["synth_1"], kind="stl", total_steps=2, weighting="pcgrad")
    assert trainer.method.name == "static"


# ---- the command line -------------------------------------------------------------------------------
@pytest.mark.parametrize("argv, message", [
    (["run", "--weighting", "nope"], "error: weighting: unknown method 'nope'; allowed: static, "),
    (["run", "--weighting", "cagrad", "--weighting-option", "c=abc"], "--weighting-option: c must be a number"),
    (["run", "--weighting", "cagrad", "--weighting-option", "radius=1"], "cagrad has no option 'radius'; its options: c"),
    (["run", "--weighting", "pcgrad", "--sharing", "soft"], "soft sharing gives each task its own encoder"),
    (["run", "--weighting", "mgda", "--sampling", "proportional"], "sampling: weighting 'mgda' needs every task's loss"),
    (["submit", "--weighting-grid", "static,nope"], "weighting: unknown method 'nope'"),
    (["submit", "--weighting-grid", "static,pcgrad", "--sharing", "soft"], "weighting-grid: weighting: 'pcgrad'"),
])
def test_a_bad_weighting_on_the_command_line_is_one_line_exit_2_and_nothing_stored(argv, message, tmp_path, capsys):
    from mtl_core.cli import main

    store = tmp_path / "runs.sqlite"
    code = main(argv[:1] + ["--tasks", "synth_1,synth_2", "--steps", "5", "--store", str(store)] + argv[1:])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not store.exists()


def test_a_weighting_sweep_compares_each_method_with_the_same_baselines():
    from mtl_core.jobs.sweep import expand_grid

    spec = ExperimentSpec(tasks=TWO, steps=5)
    runs = expand_grid(spec, weights_grid=[{"synth_1": 1, "synth_2": 0.5}, {"synth_1": 0.5, "synth_2": 1}],
                       weighting_grid=["static", "pcgrad", "uw"])
    mtl = [(r.experiment.weighting["name"], r.experiment.weights) for r in runs if r.kind == "mtl"]
    # static runs every λ setting; methods that choose their own weights run once, with λ = 1.
    assert mtl == [("static", {"synth_1": 1.0, "synth_2": 0.5}), ("static", {"synth_1": 0.5, "synth_2": 1.0}),
                   ("pcgrad", {"synth_1": 1.0, "synth_2": 1.0}), ("uw", {"synth_1": 1.0, "synth_2": 1.0})]
    assert sorted(r.tasks[0] for r in runs if r.kind == "stl") == TWO  # one baseline per task, shared by all four


def test_a_configuration_names_its_method_and_shares_its_baselines_with_every_other_method():
    from mtl_core.analysis.configurations import baseline_key, configuration
    from mtl_core.spec import RunSpec

    def stored(weighting_value):
        spec = ExperimentSpec(tasks=TWO, steps=5, weighting=weighting_value).validated()
        run = RunSpec(kind="mtl", tasks=TWO, seed=0, experiment=spec)
        return {"spec_json": json.dumps(run.to_dict()), "tasks": TWO}

    pcgrad, static = configuration(stored("pcgrad")), configuration(stored("static"))
    assert pcgrad["weighting"] == {"name": "pcgrad", "options": {}} and static["weighting"]["name"] == "static"
    assert all(baseline_key(pcgrad, t) == baseline_key(static, t) for t in TWO)
    old = json.loads(stored("static")["spec_json"])
    del old["experiment"]["weighting"]  # a run stored before weighting methods existed trained static λ
    assert configuration({"spec_json": json.dumps(old), "tasks": TWO})["weighting"] == static["weighting"]
