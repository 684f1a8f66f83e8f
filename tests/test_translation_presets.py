"""The translation presets of the New experiment page: each link loads its two directions and budget into the
form, and the form validates into an ExperimentSpec (nothing is trained here)."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from dashboard import state
from mtl_core.spec import ExperimentSpec
from mtl_core.tasks import list_tasks
from tests.dashboard_helpers import APP, dashboard_env

RELATED = "Translation: related targets (digits → fr + fr_be)"
DISTANT = "Translation: distant targets (digits → fr + ja)"
EXPECTED = {RELATED: ["numwords_fr", "numwords_fr_be"], DISTANT: ["numwords_fr", "numwords_ja"]}
STEPS = 1600


@pytest.mark.parametrize("name", [RELATED, DISTANT])
def test_translation_preset_link_validates_into_a_spec(name):
    available = [source.card.id for source in list_tasks() if source.availability().available]
    form, notes = state.parse_query(state.PRESETS[name], available)
    assert notes == []
    assert form["tasks"] == EXPECTED[name]
    assert form["budget"] == "steps" and form["steps"] == STEPS
    spec = ExperimentSpec.from_dict(state.spec_dict(form))
    assert spec.tasks == EXPECTED[name] and spec.steps == STEPS and spec.baselines
    assert spec.sharing == "hard"


def test_translation_presets_share_one_direction():
    related, distant = (set(EXPECTED[name]) for name in (RELATED, DISTANT))
    assert related & distant == {"numwords_fr"}
    budget = ("steps", "max_train", "hidden", "seeds")
    assert [state.PRESETS[RELATED].get(k) for k in budget] == [state.PRESETS[DISTANT].get(k) for k in budget]


@pytest.mark.parametrize("name", [RELATED, DISTANT])
def test_translation_preset_button_fills_the_form(name, tmp_path, monkeypatch):
    for variable, value in dashboard_env(tmp_path, tmp_path / "runs.sqlite").items():
        monkeypatch.setenv(variable, value)
    at = AppTest.from_file(str(APP), default_timeout=90).run()
    next(b for b in at.button if b.label == name).click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.multiselect(key="new_tasks").value == EXPECTED[name]
    assert at.number_input(key="new_steps").value == STEPS
    assert at.query_params["tasks"] in (",".join(EXPECTED[name]), [",".join(EXPECTED[name])])
    assert not at.error, [e.value for e in at.error]
