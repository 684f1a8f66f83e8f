"""Emoji names aligned across languages (package emoji, its JSON name tables read directly): the English name
of an emoji → its name in another language, e.g. "grinning face with big eyes" → "cara sonriendo con ojos
grandes". A tiny phrase-translation family with related (en → es / pt / it / fr) and distant (en → ja / zh / ar)
targets.

One example per English name (an emoji's variant-selector duplicates share it). Every direction uses one
seeded split of the English names, so the tasks translate the same inputs in the same order. Japanese and
Chinese targets are decoded character by character, the others word by word.
"""
from __future__ import annotations

import json
from pathlib import Path

from mtl_core.tasks.base import TaskCard, TaskData, TaskKind
from mtl_core.tasks.loading import package_folder, task_source, three_way_split
from mtl_core.tasks.registry import register
from mtl_core.tasks.seq2seq import seq2seq_task_data
from mtl_core.text import simple_tokenize

SOURCE = "emoji==2.16.0"
FAMILY = "Emoji names"
# language -> (display name, target tokens)
TARGETS = {"es": ("Spanish", "word"), "fr": ("French", "word"), "it": ("Italian", "word"),
           "pt": ("Portuguese", "word"), "de": ("German", "word"), "ru": ("Russian", "word"),
           "ar": ("Arabic", "word"), "ja": ("Japanese", "char"), "zh": ("Chinese", "char")}
ROMANCE = ("es", "fr", "it", "pt")
DISTANT = ("ja", "zh", "ar")


def _table_folder() -> Path | None:
    folder = package_folder("emoji")
    return folder / "unicode_codes" if folder else None


def _files(language: str):
    def files() -> list[Path]:
        folder = _table_folder()
        return [folder / "emoji.json", folder / f"emoji_{language}.json"] if folder else []
    return files


def readable(name: str) -> str:
    """':grinning_face_with_big_eyes:' -> 'grinning face with big eyes'."""
    return " ".join(name.strip(":").replace("_", " ").split())


def aligned_names(language: str) -> list[tuple[str, str]]:
    """(English name, name in `language`) per distinct English name, in English-name order; the first emoji
    (in code-point order) of a name gives its translation."""
    folder = _table_folder()
    english = json.loads((folder / "emoji.json").read_text(encoding="utf-8"))
    other = json.loads((folder / f"emoji_{language}.json").read_text(encoding="utf-8"))
    pairs: dict[str, str] = {}
    for emoji in sorted(english):
        source, target = readable(english[emoji].get("en", "")), readable(other.get(emoji, ""))
        if source and target and source not in pairs:
            pairs[source] = target
    return sorted(pairs.items())


def _builder(language: str, card: TaskCard):
    def build(seed: int) -> TaskData:
        english_names = [source for source, _ in aligned_names("es")]  # one split for every direction
        pairs = dict(aligned_names(language))
        keys = [name for name in english_names]
        parts = [[(simple_tokenize(keys[i]), pairs[keys[i]]) for i in rows if keys[i] in pairs]
                 for rows in three_way_split(keys, seed)]
        return seq2seq_task_data(card, *parts)
    return build


def _card(language: str) -> TaskCard:
    name, tokens = TARGETS[language]
    related = ROMANCE if language in ROMANCE else DISTANT if language in DISTANT else ()
    unrelated = DISTANT if language in ROMANCE else ROMANCE if language in DISTANT else ()
    return TaskCard(
        id=f"emoji_en_{language}",
        name=f"Emoji names: English → {name}",
        family=FAMILY,
        kind=TaskKind.SEQ2SEQ,
        metric="chrf",
        higher_is_better=True,
        source=SOURCE,
        licence="BSD (emoji package; names from Unicode CLDR)",
        description=f"Translate the English name of an emoji (about 4,000 names, one to eight words) into its "
                    f"{name} name: short phrase translation scored by chrF and BLEU.",
        related=tuple(f"emoji_en_{r}" for r in related if r != language),
        unrelated=tuple(f"emoji_en_{u}" for u in unrelated),
        target_tokens=tokens,
        source_tokens="word",
        target_language=language,
    )


for _language in TARGETS:
    _c = _card(_language)
    register(task_source(_c, _files(_language), _builder(_language, _c)))
