"""Bad experiment input is refused at the boundary: one line naming the field, the value and what is allowed.

Spec files and specs from the dashboard go through ExperimentSpec.from_dict; the CLI prints its UserError as one
line with exit code 2, and a refused `submit` records nothing in the store.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import fields

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mtl_core.errors import UserError
from mtl_core.jobs.sweep import parse_weight_grid
from mtl_core.spec import DEVICES, ENCODERS, OPTIMIZERS, SAMPLING, SHARING_MODES, ExperimentSpec, parse_spec_json
from mtl_core.store import Store
from tests.reliability.helpers import home  # noqa: F401 - the module's data home (autouse)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TASKS = ["synth_1", "synth_2"]
TOO_DEEP = "[" * 100_000 + "]" * 100_000  # json recurses once per bracket: far past Python's stack


def refusal(**fields_) -> UserError:
    with pytest.raises(UserError) as error:
        ExperimentSpec.from_dict({"tasks": TASKS, **fields_})
    return error.value


# ---- booleans must be JSON booleans --------------------------------------------------------------
@pytest.mark.parametrize("field", ["baselines", "noise_floor", "freeze_encoder"])
@pytest.mark.parametrize("value", ["no", "false", 0, 1, None, [], {}])
def test_a_boolean_field_takes_only_true_or_false(field, value):
    error = refusal(**{field: value})
    assert str(error) == f"{field}: expected true or false, got {value!r}"
    assert error.field == field


def test_json_false_still_turns_baselines_off():
    assert [r.kind for r in ExperimentSpec.from_dict({"tasks": TASKS, "baselines": False}).runs()] == ["mtl"]


# ---- every field refuses a value of the wrong type -------------------------------------------------
WRONG_TYPES = {
    "tasks": ({"synth_1": 1}, "tasks: expected a list of task ids or a comma-separated string, got {'synth_1': 1}"),
    "sharing": (["hard"], f"sharing: ['hard'] is not one of {', '.join(SHARING_MODES)}"),
    "weights": (["synth_1=1"], "weights: expected task=value pairs, got ['synth_1=1']"),
    "soft_lambda": ([0.1], "soft_lambda: expected a number, got [0.1]"),
    "layers": (1, "layers: expected task=value pairs, got 1"),
    "experts": ("four", "experts: expected a whole number, got 'four'"),
    "weighting": (["pcgrad"], 'weighting: expected a method name or {"name": ..., "options": {...}}, got list'),
    "gradient_route": (1, "gradient_route: 1 is not one of auto, materialised"),
    "encoder": ({"name": "mlp"}, f"encoder: {{'name': 'mlp'}} is not one of {', '.join(ENCODERS)}"),
    "encoder_layers": ("two", "encoder_layers: expected a whole number, got 'two'"),
    "hidden_size": ([128], "hidden_size: expected a whole number, got [128]"),
    "freeze_encoder": ("yes", "freeze_encoder: expected true or false, got 'yes'"),
    "dropout": ({}, "dropout: expected a number, got {}"),
    "optimizer": (1, f"optimizer: 1 is not one of {', '.join(OPTIMIZERS)}"),
    "lr": (True, "lr: expected a number, got True"),
    "weight_decay": ([], "weight_decay: expected a number, got []"),
    "batch_size": ("32 examples", "batch_size: expected a whole number, got '32 examples'"),
    "steps": ([100], "steps: expected a whole number, got [100]"),
    "epochs": ("one", "epochs: expected a number, got 'one'"),
    "seeds": (1.5, "seeds: expected a whole number, a list of them or a comma-separated string, got 1.5"),
    "baselines": ("no", "baselines: expected true or false, got 'no'"),
    "conflict_every": ([10], "conflict_every: expected a whole number, got [10]"),
    "noise_floor": ("true", "noise_floor: expected true or false, got 'true'"),
    "affinity_every": ({}, "affinity_every: expected a whole number, got {}"),
    "probe_examples": (True, "probe_examples: expected a whole number, got True"),
    "sampling": (["all"], f"sampling: ['all'] is not one of {', '.join(SAMPLING)}"),
    "temperature": (None, "temperature: expected a number, got None"),
    "eval_every": ("often", "eval_every: expected a whole number, got 'often'"),
    "max_eval_examples": ([1000], "max_eval_examples: expected a whole number, got [1000]"),
    "synthetic_correlation": ("high", "synthetic_correlation: expected a number, got 'high'"),
    "data_seed": (0.5, "data_seed: expected a whole number, got 0.5"),
    "max_train_examples": ([100], "max_train_examples: expected a whole number, got [100]"),
    "max_tokens": ({}, "max_tokens: expected a whole number, got {}"),
    "beam_size": ("wide", "beam_size: expected a whole number, got 'wide'"),
    "max_target_length": (2.5, "max_target_length: expected a whole number, got 2.5"),
    "max_decode_examples": ([200], "max_decode_examples: expected a whole number, got [200]"),
    "decoder": (1, "decoder: 1 is not one of per_task, shared"),
    "decoder_type": (2, "decoder_type: 2 is not one of gru, transformer"),
    "device": (["cuda"], f"device: ['cuda'] is not one of {', '.join(DEVICES)}"),
    "name": (42, "name: expected a string, got 42"),
}


def test_every_spec_field_has_a_wrong_type_case():
    assert set(WRONG_TYPES) == {f.name for f in fields(ExperimentSpec)}


@pytest.mark.parametrize("field", sorted(WRONG_TYPES))
def test_a_value_of_the_wrong_type_is_named_with_what_is_allowed(field):
    value, message = WRONG_TYPES[field]
    error = refusal(**{field: value})
    assert str(error) == message
    assert error.field == field


@pytest.mark.parametrize("value, message", [
    (10**400, r"lr: must be a finite number, got 10+\.\.\.0+"),
    (float("nan"), r"lr: must be a finite number, got nan"),
], ids=["int-beyond-float", "nan"])
def test_numbers_beyond_float_are_refused_as_not_finite(value, message):
    assert re.fullmatch(message, str(refusal(lr=value)))


def test_long_or_multi_line_values_are_shown_cut_on_one_line():
    message = str(refusal(sharing="hard\n" * 1000))
    allowed = ", ".join(SHARING_MODES)  # the message ends with the allowed modes, however many there are
    assert message.startswith("sharing: 'hard\\nhard\\n") and message.endswith(allowed)
    assert len(message) < 100 + len(allowed) and "\n" not in message
    assert str(refusal(tasks=["a\nb", "a\nb"])) == "tasks: 'a\\nb' listed twice"


# ---- nesting ----------------------------------------------------------------------------------------
def test_a_spec_nested_too_deeply_for_json_says_so():
    with pytest.raises(UserError, match=r"^spec: the spec is nested too deeply to read; a spec is one JSON object"):
        ExperimentSpec.from_json(TOO_DEEP)
    with pytest.raises(UserError, match=r"^--spec 'deep.json': the spec is nested too deeply"):
        parse_spec_json('{"tasks": ' + TOO_DEEP + "}", "--spec 'deep.json'")


def test_a_deep_value_built_in_python_is_refused_with_a_short_message():
    deep: list = ["synth_1"]
    for _ in range(5000):
        deep = [deep]
    message = str(refusal(tasks=deep))
    assert message == "tasks: expected task ids as strings, got [[[...]]]"


@pytest.mark.parametrize("text, message", [
    ("[1, 2]", "spec: expected a JSON object of fields, got a list"),
    ('{"steps": ' + "9" * 5000 + "}", "spec: not valid JSON (a number with more than 4300 digits)"),
])
def test_a_spec_text_that_is_not_an_object_of_fields_is_refused(text, message):
    with pytest.raises(UserError) as error:
        ExperimentSpec.from_json(text)
    assert str(error.value) == message


# ---- a weight given twice ------------------------------------------------------------------------------
def test_a_weight_or_layer_given_twice_is_refused():
    assert str(refusal(weights="synth_1=1,synth_1=2")) == (
        "weights: 'synth_1' is given twice ('1' and '2'); give each task once")
    assert str(refusal(sharing="hierarchical", layers="synth_1=1, synth_1=2")) == (
        "layers: 'synth_1' is given twice ('1' and '2'); give each task once")


def test_a_weight_given_twice_in_a_grid_setting_is_refused():
    with pytest.raises(UserError) as error:
        parse_weight_grid("synth_1=1,synth_2=0.5;synth_1=1,synth_1=2", TASKS)
    assert str(error.value) == ("weight-grid: 'synth_1' is given twice in the setting 'synth_1=1,synth_1=2'; "
                                "give each task once per setting")
    assert parse_weight_grid("synth_1=1;synth_1=2", TASKS) == [{"synth_1": 1.0}, {"synth_1": 2.0}]


# ---- property: any JSON value is a valid spec or a UserError -----------------------------------------
# No subnormal floats: a run trained earlier in the same process turned on flush-to-zero
# (torch.set_flush_denormal), under which hypothesis cannot draw them.
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_subnormal=False) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=10,
)
# Values a field could plausibly hold, so that some examples pass validation and reach the later checks.
plausible_values = st.one_of(
    st.sampled_from(SHARING_MODES + ENCODERS + OPTIMIZERS + SAMPLING + DEVICES),
    st.sampled_from(["synth_1", "synth_1,synth_2", "synth_1=0.5", "synth_2=2,synth_1=1", "0,1", "1"]),
    st.lists(st.sampled_from(["synth_1", "synth_2", "synth_3", "atis_intent"]), max_size=3),
    st.dictionaries(st.sampled_from(TASKS), st.integers(-1, 3) | st.floats(-1, 3, allow_subnormal=False), max_size=2),
    st.integers(-2, 300), st.floats(-2, 300, allow_subnormal=False), st.booleans(), st.none(),
)
# A spec that is valid but for one to three fields, so that every validator is reached, not only the first.
spec_like = st.builds(
    lambda overrides: {"tasks": TASKS, **overrides},
    st.dictionaries(st.sampled_from([f.name for f in fields(ExperimentSpec)] + ["colour"]),
                    plausible_values | json_values, min_size=1, max_size=3),
)


@settings(max_examples=100, deadline=None)
@given(data=spec_like | json_values)
def test_any_json_value_is_a_valid_spec_or_a_one_line_user_error(data):
    try:
        spec = ExperimentSpec.from_dict(data)
    except UserError as error:
        assert len(str(error).splitlines()) == 1
        return
    assert all(isinstance(getattr(spec, name), bool) for name in ("baselines", "noise_floor", "freeze_encoder"))
    assert ExperimentSpec.from_json(spec.to_json()) == spec  # a valid spec survives its own JSON unchanged


# ---- the same through `submit`: exit 2, one line, nothing recorded ----------------------------------------
def submit(home, store, *args, env=None):
    command = [sys.executable, "-m", "mtl_core", "submit", *args, "--store", str(store)]
    return subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=120,
                          env={**os.environ, "MTL_EXPLORER_HOME": str(home), **(env or {})})


def assert_refused_and_nothing_recorded(result, store, message: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith("error: ") and message in result.stderr, result.stderr
    assert not store.exists() or Store(store).experiments().empty


@pytest.mark.parametrize("content, message", [
    (json.dumps({"tasks": TASKS, "baselines": "no"}), "baselines: expected true or false, got 'no'"),
    (json.dumps({"tasks": TASKS, "steps": [100]}), "steps: expected a whole number, got [100]"),
    (json.dumps({"tasks": {"synth_1": 1}}), "tasks: expected a list of task ids or a comma-separated string"),
    (json.dumps({"tasks": TASKS, "weights": "synth_1=1,synth_1=2"}), "weights: 'synth_1' is given twice"),
    ('{"tasks": ' + TOO_DEEP + "}", "the spec is nested too deeply to read"),
    ("[]", "expected a JSON object of fields, got a list"),
], ids=["string-boolean", "list-steps", "dict-tasks", "weight-twice", "too-deep", "not-an-object"])
def test_submit_of_a_bad_spec_file_is_one_line_and_records_nothing(tmp_path, home, content, message):
    spec = tmp_path / "spec.json"
    spec.write_text(content)
    store = tmp_path / "runs.sqlite"
    assert_refused_and_nothing_recorded(submit(home, store, "--spec", str(spec)), store, message)


@pytest.mark.parametrize("args, message", [
    (["--weights", "synth_1=1,synth_1=2"], "weights: 'synth_1' is given twice ('1' and '2')"),
    (["--weight-grid", "synth_1=1,synth_1=2"], "weight-grid: 'synth_1' is given twice in the setting"),
])
def test_submit_with_a_weight_given_twice_records_nothing(tmp_path, home, args, message):
    store = tmp_path / "runs.sqlite"
    assert_refused_and_nothing_recorded(submit(home, store, "--tasks", ",".join(TASKS), *args), store, message)


@pytest.mark.parametrize("device", ["cuda", "mps"])
def test_submit_to_a_device_this_machine_lacks_is_refused_before_anything_is_recorded(tmp_path, home, device):
    if device == "mps" and sys.platform == "darwin":
        pytest.skip("a Mac may have MPS")
    store = tmp_path / "runs.sqlite"
    # An empty CUDA_VISIBLE_DEVICES hides every GPU from PyTorch, so the test means the same on a GPU machine.
    result = submit(home, store, "--tasks", ",".join(TASKS), "--steps", "5", "--device", device,
                    env={"CUDA_VISIBLE_DEVICES": ""})
    assert_refused_and_nothing_recorded(result, store, f"device: '{device}' was asked for but")
    assert "use auto or cpu" in result.stderr


def test_launch_to_a_device_this_machine_lacks_is_refused_by_the_backend(tmp_path, monkeypatch):
    """The dashboard's Launch submits through the backend, not the CLI: the same check, nothing recorded."""
    from mtl_core.jobs import get_backend
    from mtl_core.store import Store

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)  # CUDA_VISIBLE_DEVICES="" after torch's import
    store = Store(tmp_path / "runs.sqlite")
    spec = ExperimentSpec(tasks=TASKS, steps=5, device="cuda")
    with pytest.raises(UserError, match="device: 'cuda' was asked for but"):
        get_backend("local", store).submit(spec)
    assert store.runs() == []
