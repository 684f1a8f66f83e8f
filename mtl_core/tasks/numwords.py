"""Number words (package num2words): the digits of a whole number → its words, in several languages and
regional variants. Unlimited and deterministic, with relatedness known in advance: French, Belgian and Swiss
French differ only in 70-99 (septante, nonante) and a few plurals; Spanish, Italian and Portuguese are close;
English, German and Japanese are far from each other.

Inputs are the digits as characters (["1", "9", "9", "7"]); targets are character sequences. Every language
uses the numbers 0 … 9,999 and one seeded split of those numbers, so the tasks label the same inputs in the
same order (their gradients are compared on the same batch) and no test number is ever trained on.
"""
from __future__ import annotations

from pathlib import Path

from mtl_core.tasks.base import TaskCard, TaskData, TaskKind
from mtl_core.tasks.loading import package_folder, three_way_split
from mtl_core.tasks.registry import register
from mtl_core.tasks.seq2seq import generation_source, seq2seq_task_data

SOURCE = "num2words==0.5.14"
NUMBERS = range(10_000)
FAMILY = "Number words"
# task id suffix -> (num2words language code, display name, ISO 639-1 of the target)
LANGUAGES = {
    "en": ("en", "English", "en"),
    "fr": ("fr", "French", "fr"),
    "fr_be": ("fr_BE", "Belgian French", "fr"),
    "fr_ch": ("fr_CH", "Swiss French", "fr"),
    "es": ("es", "Spanish", "es"),
    "it": ("it", "Italian", "it"),
    "pt": ("pt", "Portuguese", "pt"),
    "de": ("de", "German", "de"),
    "ja": ("ja", "Japanese", "ja"),
}
RELATED = {"fr": ("fr_be", "fr_ch"), "fr_be": ("fr", "fr_ch"), "fr_ch": ("fr", "fr_be"),
           "es": ("it", "pt"), "it": ("es", "pt"), "pt": ("es", "it")}
UNRELATED = {"en": ("ja",), "de": ("ja",), "ja": ("en", "de", "fr")}


def _files(code: str):
    def files() -> list[Path]:
        folder = package_folder("num2words")
        if folder is None:
            return []
        return [folder / "__init__.py", folder / "base.py", folder / f"lang_{code.upper()}.py"]
    return files


def number_words(n: int, code: str) -> str:
    from num2words import num2words

    return num2words(n, lang=code)


def number_splits(seed: int) -> tuple[list[int], list[int], list[int]]:
    """(train, validation, test) numbers: one seeded split shared by every language."""
    keys = [str(n) for n in NUMBERS]
    return three_way_split(keys, seed)


def _sizes(seed: int) -> tuple[dict, list[str]]:
    train, validation, test = number_splits(seed)
    return {"train": len(train), "validation": len(validation), "test": len(test)}, []


def _builder(suffix: str, card: TaskCard):
    code = LANGUAGES[suffix][0]

    def build(seed: int) -> TaskData:
        parts = [[(list(str(NUMBERS[i])), number_words(NUMBERS[i], code)) for i in rows]
                 for rows in number_splits(seed)]
        return seq2seq_task_data(card, *parts)
    return build


def _card(suffix: str) -> TaskCard:
    code, name, language = LANGUAGES[suffix]
    return TaskCard(
        id=f"numwords_{suffix}",
        name=f"Number words: {name}",
        family=FAMILY,
        kind=TaskKind.SEQ2SEQ,
        metric="chrf",
        higher_is_better=True,
        source=SOURCE,
        licence="LGPL (num2words rules); the pairs are generated",
        description=f"Write a number from 0 to 9,999 in {name} words (digits in, characters out), as num2words "
                    f"spells it with lang={code!r}: a deterministic transduction scored by chrF, exact match and "
                    "character error rate.",
        related=tuple(f"numwords_{r}" for r in RELATED.get(suffix, ())),
        unrelated=tuple(f"numwords_{u}" for u in UNRELATED.get(suffix, ())),
        target_tokens="char",
        source_tokens="char",
        target_language=language,
    )


for _suffix in LANGUAGES:
    _c = _card(_suffix)
    register(generation_source(_c, _files(LANGUAGES[_suffix][0]), _builder(_suffix, _c), _sizes))
