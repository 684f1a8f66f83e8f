"""The catalog index shipped with the package: a fresh data home lists every task's card, sizes included,
without parsing a dataset; an entry answers only the exact source bytes and parsing code it was made from."""
from __future__ import annotations

import json

import pytest

from mtl_core.paths import cache_dir, sources_dir
from mtl_core.tasks import card_dict, list_tasks, load_task
from mtl_core.tasks import index
from mtl_core.tasks.loading import summarize


def test_the_shipped_index_is_current_for_every_available_builtin_task():
    missing = index.stale()
    assert not missing, (f"the catalog index is stale for {missing}: run "
                         f"`.venv/bin/python -m mtl_core.tasks.index --write` and commit mtl_core/tasks/catalog_index.json")


def fresh_home(tmp_path, monkeypatch):
    """A data home as `make run` leaves it on first use: the fetched sources (`mtl_core fetch`), no cache."""
    fetched = sources_dir()
    home = tmp_path / "fresh"
    home.mkdir()
    (home / "sources").symlink_to(fetched, target_is_directory=True)
    monkeypatch.setenv("MTL_EXPLORER_HOME", str(home))


def test_a_fresh_data_home_lists_the_catalog_without_parsing(tmp_path, monkeypatch):
    fresh_home(tmp_path, monkeypatch)
    indexed = index.current_keys()
    cards = {source.card.id: card_dict(source.card.id) for source in list_tasks()}
    written = [p.name for p in cache_dir().iterdir()]
    assert written == [], f"listing the catalog parsed (and cached) data: {written[:5]}"
    for task_id, key in indexed.items():
        assert cards[task_id]["sizes"] == index.shipped()[key]["sizes"], task_id
        assert cards[task_id]["sizes"]["train"] > 0


@pytest.mark.parametrize("task_id", ["atis_intent", "emoji_en_es"])
def test_an_index_entry_equals_a_real_parse(task_id, tmp_path, monkeypatch):
    fresh_home(tmp_path, monkeypatch)
    key = index.current_keys()[task_id]
    parsed = json.loads(json.dumps(summarize(load_task(task_id))))
    assert index.shipped()[key] == parsed


def test_a_task_without_a_current_entry_is_reported_and_parsed_on_first_use(tmp_path, monkeypatch):
    keys = index.current_keys()
    entries = {key: summary for key, summary in index.shipped().items() if key != keys["atis_intent"]}
    partial = tmp_path / "catalog_index.json"
    partial.write_text(json.dumps({"entries": entries}))
    monkeypatch.setattr(index, "INDEX_PATH", partial)
    index.shipped.cache_clear()
    try:
        assert index.stale() == ["atis_intent"]
        assert index.main(["--check"]) == 1
        fresh_home(tmp_path, monkeypatch)
        card = card_dict("atis_intent")  # no entry: parsed, as without an index
        assert card["sizes"]["train"] > 0 and any(cache_dir().iterdir())
    finally:
        index.shipped.cache_clear()
