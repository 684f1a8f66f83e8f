"""Tokenisation, vocabularies and the on-disk cache that makes a second task load fast."""
from __future__ import annotations

import pytest

from mtl_core import text
from mtl_core.text import Vocabulary, cache_key, cached, simple_tokenize


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("MTL_EXPLORER_HOME", str(tmp_path))
    return tmp_path


def test_simple_tokenize_splits_words_and_punctuation_keeping_contractions():
    assert simple_tokenize("Don't panic, it's 3.5 km away!") == [
        "Don't", "panic", ",", "it's", "3", ".", "5", "km", "away", "!"
    ]
    assert simple_tokenize("state-of-the-art #NLP @user") == ["state-of-the-art", "#", "NLP", "@", "user"]
    assert simple_tokenize("   ") == []


def test_vocabulary_reserves_pad_and_unknown_and_ranks_by_frequency():
    vocab = Vocabulary.build([["the", "cat"], ["The", "dog"], ["a", "cat", "the"]])
    assert (vocab.pad_id, vocab.unk_id) == (0, 1)
    assert vocab.itos[:4] == ["<pad>", "<unk>", "the", "cat"]  # 3x "the", 2x "cat", then ties alphabetically
    assert vocab.encode(["THE", "cat", "zebra"]) == [2, 3, vocab.unk_id]
    assert len(vocab) == 6
    assert vocab.counts == [0, 0, 3, 2, 1, 1]  # what word dropout reads: how rare each word is


def test_vocabulary_min_freq_max_size_and_case():
    token_lists = [["a", "a", "b", "B", "c"]]
    assert Vocabulary.build(token_lists, min_freq=2).itos == ["<pad>", "<unk>", "a", "b"]
    assert len(Vocabulary.build(token_lists, max_size=3)) == 3
    cased = Vocabulary.build(token_lists, lowercase=False)
    assert cased.encode(["B", "b"]) != [cased.unk_id, cased.unk_id] and cased.encode(["B"]) != cased.encode(["b"])


def test_vocabulary_does_not_depend_on_input_order_and_round_trips():
    lists = [["x", "y"], ["y", "z"], ["w"]]
    vocab = Vocabulary.build(lists)
    assert Vocabulary.build(list(reversed(lists))).itos == vocab.itos
    restored = Vocabulary.from_dict(vocab.to_dict())
    assert restored.itos == vocab.itos and restored.encode(["z", "q"]) == vocab.encode(["z", "q"])
    assert restored.counts == vocab.counts


def test_cache_builds_once_and_leaves_no_temporary_files(home):
    calls = []

    def build():
        calls.append(1)
        return {"rows": [[1, 2], [3]]}

    assert cached("example", build) == {"rows": [[1, 2], [3]]}
    assert cached("example", build) == {"rows": [[1, 2], [3]]}
    assert len(calls) == 1
    assert [p.name for p in (home / "cache").iterdir()] == ["example.npz"]


def test_a_damaged_cache_entry_is_rebuilt(home):
    cached("example", lambda: 1)
    (home / "cache" / "example.npz").write_bytes(b"not an entry")
    assert cached("example", lambda: 2) == 2


def test_cache_key_follows_file_contents_and_settings(tmp_path):
    source = tmp_path / "data.txt"
    source.write_text("one")
    key = cache_key("task", [source], {"seed": 0})
    assert cache_key("task", [source], {"seed": 0}) == key
    assert cache_key("task", [source], {"seed": 1}) != key
    source.write_text("two, longer")  # a different size, so the digest memo cannot mask the change
    text._file_digests.clear()
    assert cache_key("task", [source], {"seed": 0}) != key


def test_cache_key_does_not_depend_on_where_the_files_are(tmp_path):
    """The same data in another data home and the code in another checkout give the same key, whatever the
    folders' names sort like (the catalog index shipped with the package is keyed this way)."""
    for folder in ("a_data", "z_data", "m_code"):
        (tmp_path / folder).mkdir()
    for data in ("a_data", "z_data"):
        (tmp_path / data / "train.txt").write_text("rows")
    (tmp_path / "m_code" / "parser.py").write_text("code")
    first = cache_key("task", [tmp_path / "a_data" / "train.txt", tmp_path / "m_code" / "parser.py"], {"seed": 0})
    moved = cache_key("task", [tmp_path / "z_data" / "train.txt", tmp_path / "m_code" / "parser.py"], {"seed": 0})
    assert first == moved
