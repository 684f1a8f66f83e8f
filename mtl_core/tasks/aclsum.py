"""Aspect-based summaries of ACL papers (package aclsum, its JSONL files read directly): a paper's abstract → the
one-sentence summary of one aspect of it, its challenge (the problem it addresses), its approach or its outcome.
Three small abstractive summarisation tasks on the same 250 papers, scored by ROUGE (rouge-score, stemming on).

The package's own splits are kept (train / val / test: 100 / 50 / 100 papers), so every aspect trains, validates
and tests on the same papers and a run that trains two aspects never shows one of them a test paper. The seed
orders the papers inside each split (what `max_train_examples` keeps the first of), the same order for every
aspect; it never moves a paper to another split. The source is the abstract's sentences (already tokenised in
the package) joined and cut to MAX_SOURCE_TOKENS words; a run cuts it further to its `max_tokens`.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from mtl_core.tasks.base import Availability, TaskCard, TaskData, TaskKind
from mtl_core.tasks.loading import PHONOLOGY_CONTROLS, package_files, seeded_order, task_source
from mtl_core.tasks.registry import register
from mtl_core.tasks.seq2seq import seq2seq_task_data
from mtl_core.text import simple_tokenize

SOURCE = "aclsum==0.1.2"
FAMILY = "ACL papers"
# The longest abstract is about 900 words; all but three of the 250 are shorter than this.
MAX_SOURCE_TOKENS = 256
# Our split name -> the package's file.
SPLIT_FILES = {"train": "dataset/train.jsonl", "validation": "dataset/val.jsonl", "test": "dataset/test.jsonl"}
# aspect -> what its summary says
ASPECTS = {
    "challenge": "the problem the paper addresses",
    "approach": "what the paper does about it",
    "outcome": "what the paper finds or achieves",
}
TASK_IDS = tuple(f"aclsum_{aspect}" for aspect in ASPECTS)

_files = package_files("aclsum", *SPLIT_FILES.values())


def _availability() -> Availability:
    files = _files()
    if files and all(path.exists() for path in files):
        return Availability(True)
    # Without --no-deps pip also installs sienna, which reading the files does not need.
    return Availability(False, f"the {SOURCE} package is not installed", f"python -m pip install --no-deps {SOURCE}")


@lru_cache(maxsize=1)
def _read_papers(paths: tuple[Path, ...]) -> tuple[tuple[dict, ...], ...]:
    out = []
    for path in paths:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        out.append(tuple(json.loads(line) for line in lines if line.strip()))
    return tuple(out)


def papers(seed: int = 0) -> dict[str, list[dict]]:
    """split name -> the package's papers of that split (id, title, summary, sentences, highlights), in the
    seed's order of their ids."""
    out = {}
    for name, rows in zip(SPLIT_FILES, _read_papers(tuple(_files()))):
        ids = [str(row["id"]) for row in rows]
        out[name] = [rows[i] for i in seeded_order(ids, seed)]
    return out


def abstract_tokens(paper: dict) -> list[str]:
    """The paper's abstract sentences joined, as words, the first MAX_SOURCE_TOKENS of them."""
    text = " ".join(" ".join(str(s).split()) for s in paper["sentences"]["abstract"])
    return simple_tokenize(text)[:MAX_SOURCE_TOKENS]


def _builder(aspect: str):
    def build(seed: int) -> TaskData:
        parts = [[(abstract_tokens(p), " ".join(str(p["summary"][aspect]).split())) for p in split]
                 for split in papers(seed).values()]
        return seq2seq_task_data(CARDS[aspect], *parts)

    return build


def _card(aspect: str) -> TaskCard:
    others = tuple(t for t in TASK_IDS if t != f"aclsum_{aspect}")
    return TaskCard(
        id=f"aclsum_{aspect}",
        name=f"ACL paper {aspect}",
        family=FAMILY,
        kind=TaskKind.SEQ2SEQ,
        metric="rougeL",
        higher_is_better=True,
        source=SOURCE,
        licence="MIT (package); ACL Anthology texts CC BY",
        description=f"Write the one-sentence {aspect} summary of an ACL paper ({ASPECTS[aspect]}, about 25 words) from its "
                    f"abstract (≤ {MAX_SOURCE_TOKENS} words). ACLSum's 100 / 50 / 100 papers and splits, the "
                    f"same for all three aspects. Scored by ROUGE-L F (rouge-score, stemming on), with BLEU "
                    f"and chrF.",
        related=others + ("bbc_headline",),
        unrelated=("atis_slots",) + PHONOLOGY_CONTROLS,
        target_tokens="word",
        source_tokens="word",
        target_language="en",
    )


CARDS = {aspect: _card(aspect) for aspect in ASPECTS}

for _aspect, _card_of_aspect in CARDS.items():
    register(task_source(_card_of_aspect, _files, _builder(_aspect), _availability))
