"""User tasks from CSV/JSONL files: registered whole or not at all, with errors that say what to fix."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from mtl_core.errors import UserError
from mtl_core.tasks import card_dict, list_tasks, load_task
from mtl_core.tasks.base import TaskKind
from mtl_core.tasks.user import (
    USER_TASK_MAX_BYTES,
    add_user_task,
    add_user_task_from_bytes,
    remove_user_task,
    user_tasks_dir,
)

WORDS = ["great", "awful", "fine", "superb", "terrible", "okay", "lovely", "bad", "decent", "grim", "nice", "poor"]


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("MTL_EXPLORER_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def classification_csv(rows: int = 40) -> str:
    lines = ["text,label"] + [f"the film was {WORDS[i % 12]} number {i},{'pos' if i % 2 else 'neg'}" for i in range(rows)]
    return "\n".join(lines) + "\n"


def tagging_jsonl(tags=("B-PER", "O", "O")) -> str:
    rows = [{"tokens": [f"Name{i}", "said", "hi"], "tags": list(tags)} for i in range(20)]
    return "\n".join(json.dumps(r) for r in rows) + "\n"


def user_ids() -> list[str]:
    return [s.card.id for s in list_tasks() if s.card.family == "user"]


def test_a_csv_becomes_a_task_listed_with_the_built_ins(tmp_path):
    path = tmp_path / "reviews.csv"
    path.write_text(classification_csv(40))
    card = add_user_task(path, "my_reviews", "sentence_classification")
    assert (card.id, card.kind, card.metric, card.family) == ("my_reviews", TaskKind.SENTENCE_CLASSIFICATION, "accuracy", "user")
    assert user_ids() == ["my_reviews"]
    assert [s.card.id for s in list_tasks()][-4:] == ["synth_1", "synth_2", "synth_3", "synth_4"]
    data = load_task("my_reviews")
    assert sum(data.sizes.values()) == 40 and data.sizes == {"train": 32, "validation": 4, "test": 4}
    assert data.labels == ["neg", "pos"]
    assert card_dict("my_reviews")["available"] is True


def test_jsonl_tagging_with_bio_tags_is_scored_by_span_f1_otherwise_by_accuracy():
    bio = add_user_task_from_bytes(tagging_jsonl().encode(), "ner.jsonl", "my_ner", "token_tagging")
    pos = add_user_task_from_bytes(tagging_jsonl(("NNP", "VBD", "UH")).encode(), "pos.jsonl", "my_pos", "token_tagging")
    assert (bio.metric, pos.metric) == ("span_f1", "accuracy")
    data = load_task("my_ner")
    assert data.labels == ["O", "B-PER"] and data.train.targets[0] == [1, 0, 0]


def test_regression_scores_give_a_pearson_task_with_its_value_range():
    rows = "text,score\n" + "".join(f"sentence number {i},{i / 10}\n" for i in range(30))
    card = add_user_task_from_bytes(rows.encode(), "scores.csv", "my_scores", TaskKind.SENTENCE_REGRESSION)
    assert card.metric == "pearson"
    low, high = load_task("my_scores").value_range
    assert 0.0 <= low < high <= 2.9


def test_splits_do_not_depend_on_row_order():
    rows = classification_csv(50).splitlines()
    reordered = [rows[0]] + list(reversed(rows[1:]))
    add_user_task_from_bytes("\n".join(rows).encode(), "a.csv", "order_a", "sentence_classification")
    add_user_task_from_bytes("\n".join(reordered).encode(), "b.csv", "order_b", "sentence_classification")
    a, b = load_task("order_a"), load_task("order_b")
    assert sorted(map(tuple, a.test.inputs)) == sorted(map(tuple, b.test.inputs))


@pytest.mark.parametrize(
    ("data", "filename", "name", "kind", "message"),
    [
        (b"text,category\nhello,x\n", "f.csv", "t", "sentence_classification", r"missing column\(s\) label"),
        (b"", "f.csv", "t", "sentence_classification", "the file is empty"),
        (classification_csv().replace(",pos", ",neg").encode(), "f.csv", "t", "sentence_classification",
         r"only one label \('neg'\)"),
        (tagging_jsonl().replace('"hi"]', '"hi", "extra"]', 1).encode(), "f.jsonl", "t", "token_tagging",
         "line 1: 4 tokens but 3 tags"),
        (b"text,label\nhello,a\ncaf\xe9,b\n", "f.csv", "t", "sentence_classification", r"byte 0xe9 at byte offset 22 \(line 3\)"),
        (b"text,score\n" + b"x,not-a-number\n" * 12, "f.csv", "t", "sentence_regression", "score must be a finite number"),
        (b"text,label\na,x\nb,y\n", "f.csv", "t", "sentence_classification", "has 2 rows; a task needs at least 10"),
        (classification_csv().encode(), "f.xlsx", "t", "sentence_classification", "unsupported file type '.xlsx'"),
        (classification_csv().encode(), "f.csv", "Bad-Name", "sentence_classification", "name: use 1-40 lowercase"),
        (classification_csv().encode(), "f.csv", "atis_intent", "sentence_classification", "is a built-in task id"),
        (classification_csv().encode(), "f.csv", "t", "translation", "kind: must be one of"),
        (b"x" * (USER_TASK_MAX_BYTES + 1), "f.csv", "t", "sentence_classification", "the limit is 20 MB"),
    ],
    ids=["missing-column", "empty", "one-class", "length-mismatch", "not-utf8", "bad-score", "too-few-rows",
         "file-type", "bad-name", "built-in-name", "unknown-kind", "too-large"],
)
def test_each_bad_file_is_refused_with_its_reason_and_registers_nothing(data, filename, name, kind, message):
    with pytest.raises(UserError, match=message):
        add_user_task_from_bytes(data, filename, name, kind)
    assert user_ids() == [] and list(user_tasks_dir().iterdir()) == []


def test_an_oversized_file_on_disk_is_refused_before_reading(tmp_path):
    path = tmp_path / "big.csv"
    with open(path, "wb") as handle:
        handle.truncate(USER_TASK_MAX_BYTES + 1)
    with pytest.raises(UserError, match="big.csv: file is 20.0 MB; the limit is 20 MB"):
        add_user_task(path, "big", "sentence_classification")


def test_a_name_in_use_is_refused_and_remove_frees_it():
    add_user_task_from_bytes(classification_csv().encode(), "f.csv", "mine", "sentence_classification")
    with pytest.raises(UserError, match="already exists; remove it first"):
        add_user_task_from_bytes(classification_csv(20).encode(), "g.csv", "mine", "sentence_classification")
    assert load_task("mine").sizes["train"] == 32  # the first registration is untouched
    remove_user_task("mine")
    assert user_ids() == [] and list(user_tasks_dir().iterdir()) == []
    with pytest.raises(UserError, match="no user task 'mine'"):
        remove_user_task("mine")


def test_cli_adds_and_removes_a_user_task(tmp_path, home):
    path = tmp_path / "reviews.csv"
    path.write_text(classification_csv())
    env = {**os.environ, "MTL_EXPLORER_HOME": str(home)}

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "mtl_core", *args], capture_output=True, text=True, env=env, timeout=120)

    added = cli("tasks", "add", str(path), "--name", "cli_reviews", "--kind", "sentence_classification")
    assert added.returncode == 0, added.stderr
    assert "cli_reviews" in added.stdout and "32/4/4" in added.stdout
    refused = cli("tasks", "add", str(path), "--name", "atis_intent", "--kind", "sentence_classification")
    assert refused.returncode == 2 and refused.stderr.startswith("error: name:") and len(refused.stderr.splitlines()) == 1
    assert cli("tasks", "remove", "cli_reviews").returncode == 0
    assert user_ids() == []
