"""The relatedness slider means what it says: the synthetic family's label correlation follows the
recipe's average curve in every data draw, the data draw is its own setting (data_seed) that training
seeds never move, and the realised correlation is shown where p is chosen."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from dashboard import lessons, state
from mtl_core.commands.train import add_run_options, spec_from_args
from mtl_core.errors import UserError
from mtl_core.spec import ExperimentSpec
from mtl_core.tasks import card_dict
from mtl_core.tasks.synthetic import (CURVE_TOLERANCE, DEFAULT_DATA_SEED, RECIPE_AVERAGE_CORRELATION,
                                      label_correlation, realised_label_correlation, recipe_average_correlation)
from mtl_core.train.runner import load_experiment_data
from tests.dashboard_helpers import ROOT, dashboard_env

CURVE_POINTS = (0.0, 0.25, 0.5, 0.75, 0.9, 1.0)
SYNTH = ["synth_1", "synth_2"]


def curve(data_seed: int, points=CURVE_POINTS) -> list[float]:
    return [realised_label_correlation(p, data_seed) for p in points]


def test_default_draw_rises_with_p_on_the_recipe_scale():
    correlation = dict(zip(CURVE_POINTS, curve(DEFAULT_DATA_SEED)))
    assert list(correlation.values()) == sorted(correlation.values())
    assert abs(correlation[0.0]) < 0.05 and correlation[1.0] > 0.99
    # SCIENCE.md: label correlation ≈ .28 at p = .5 and .78 at p = .9
    assert abs(correlation[0.5] - 0.28) < 0.1 and abs(correlation[0.9] - 0.78) < 0.1


@pytest.mark.parametrize("data_seed", [DEFAULT_DATA_SEED, 1, 2, 31])
def test_every_data_draw_stays_within_the_tolerance_of_the_average_curve(data_seed):
    points = list(RECIPE_AVERAGE_CORRELATION)
    realised = np.array(curve(data_seed, points))
    assert np.abs(realised - list(RECIPE_AVERAGE_CORRELATION.values())).max() <= CURVE_TOLERANCE


def test_the_average_curve_is_what_plain_draws_of_the_recipe_average():
    fresh = recipe_average_correlation(4000, seed=1)  # other draws than the stored constants came from
    for p, stored in RECIPE_AVERAGE_CORRELATION.items():
        assert abs(fresh[p] - stored) < 0.01, (p, fresh[p], stored)


def test_the_exact_population_correlation_matches_a_large_sample():
    rng = np.random.default_rng(7)
    alpha, beta = rng.standard_normal((2, 10))
    p = 0.6
    first, other = rng.standard_normal((2, 400_000))
    second = p * first + np.sqrt(1 - p * p) * other
    labels = [z + np.sin(alpha[:, None] * z + beta[:, None]).sum(axis=0) for z in (first, second)]
    assert abs(np.corrcoef(*labels)[0, 1] - label_correlation(p, alpha, beta)) < 0.01


def test_training_seeds_share_one_dataset_and_only_data_seed_changes_it():
    spec = ExperimentSpec(tasks=SYNTH, seeds=[0, 1], synthetic_correlation=0.7).validated()
    seed_0, seed_1 = load_experiment_data(spec, 0), load_experiment_data(spec, 1)
    for task in SYNTH:
        assert np.array_equal(seed_0[task].train.inputs, seed_1[task].train.inputs)
        assert np.array_equal(seed_0[task].test.targets, seed_1[task].test.targets)
    other_draw = load_experiment_data(ExperimentSpec(tasks=SYNTH, data_seed=1, synthetic_correlation=0.7).validated(), 0)
    assert not np.array_equal(seed_0["synth_1"].train.inputs, other_draw["synth_1"].train.inputs)
    assert not np.array_equal(seed_0["synth_1"].train.targets, other_draw["synth_1"].train.targets)


def test_the_spec_records_which_draw_the_runs_trained_on():
    spec = ExperimentSpec(tasks=SYNTH, seeds=[0, 1], data_seed=5).validated()
    assert {run.to_dict()["experiment"]["data_seed"] for run in spec.runs()} == {5}
    assert ExperimentSpec(tasks=SYNTH).validated().data_seed == DEFAULT_DATA_SEED


@pytest.mark.parametrize("bad", [-1, 1.5, "seven", True, 2**31])
def test_a_bad_data_seed_is_refused_naming_the_field(bad):
    with pytest.raises(UserError, match="^data_seed: ") as error:
        ExperimentSpec(tasks=SYNTH, data_seed=bad).validated()
    assert error.value.field == "data_seed"


def test_the_command_line_sets_the_data_draw():
    import argparse

    parser = argparse.ArgumentParser()
    add_run_options(parser)
    spec = spec_from_args(parser.parse_args(["--tasks", "synth_1,synth_2", "--data-seed", "7", "--seeds", "0,1"]))
    assert spec.data_seed == 7 and spec.seeds == [0, 1]
    assert "--data-seed 7" in state.cli_command(spec.to_dict())


def test_data_seed_round_trips_through_the_link():
    form, notes = state.parse_query({"tasks": "synth_1,synth_2", "data_seed": "7"}, SYNTH)
    assert not notes and form["data_seed"] == 7
    assert state.to_query(form)["data_seed"] == "7"
    assert state.parse_query(state.to_query(form), SYNTH)[0] == form
    assert ExperimentSpec.from_dict(state.spec_dict(form)).data_seed == 7
    default_form, _ = state.parse_query({"tasks": "synth_1,synth_2"}, SYNTH)
    assert "data_seed" not in state.to_query(default_form)  # the default stays out of short links


def test_a_bad_data_seed_in_a_link_falls_back_to_the_default_with_a_note():
    form, notes = state.parse_query({"tasks": "synth_1", "data_seed": "-3"}, SYNTH)
    assert form["data_seed"] == DEFAULT_DATA_SEED
    assert len(notes) == 1 and notes[0].startswith("data_seed='-3' ignored")


def test_the_task_card_states_the_realised_correlation_of_its_draw():
    notes = card_dict("synth_1")["notes"]
    assert f"{realised_label_correlation(0.5):.2f} (data draw {DEFAULT_DATA_SEED})" in " ".join(notes)


def test_the_relatedness_lesson_trains_on_the_draw_its_caption_describes():
    spec, _ = lessons.lesson_runs("relatedness", lessons.defaults("relatedness"))
    assert spec.data_seed == DEFAULT_DATA_SEED


@pytest.fixture
def page_env(tmp_path, monkeypatch):
    # the catalog's data home when the environment names one (its caches make the page quick), a new store
    home = Path(os.environ.get("MTL_EXPLORER_HOME") or tmp_path / "home")
    for name, value in dashboard_env(home, tmp_path / "runs.sqlite").items():
        monkeypatch.setenv(name, value)


def captions(at: AppTest) -> list[str]:
    assert not at.exception, [e.value for e in at.exception]
    return [caption.value for caption in at.caption]


def test_new_experiment_page_shows_the_label_correlation_next_to_the_slider(page_env):
    at = AppTest.from_file(str(ROOT / "dashboard" / "views" / "new_experiment.py"), default_timeout=90)
    at.query_params.update({"tasks": "synth_1,synth_2", "p": "0.9", "data_seed": "3"})
    shown = captions(at.run())
    expected = f"Label correlation of synth_1 and synth_2 at p = 0.9: {realised_label_correlation(0.9, 3):.2f} (data draw 3)"
    assert expected in shown
    at.slider(key="new_p").set_value(0.0).run()
    assert f"at p = 0: {realised_label_correlation(0.0, 3):.2f} (data draw 3)" in " ".join(captions(at))


def test_relatedness_lesson_shows_the_label_correlation_of_its_p(page_env):
    at = AppTest.from_file(str(ROOT / "dashboard" / "views" / "lab.py"), default_timeout=90)
    at.query_params.update({"lesson": "relatedness", "p": "0.5", "lang": "zh"})
    shown = " ".join(captions(at.run()))
    assert f"p = 0.5 时 synth_1 与 synth_2 的标签相关系数：{realised_label_correlation(0.5):.2f}" in shown
