"""Dialogue replies (package chatterbot-corpus, its English YAML files read directly): a conversation turn →
the reply that follows it, over the 21 English topic files. Small and skewed (tech_support holds about half),
and a prompt may have several replies in the corpus: each pair is one example, so a single reference per
example under-rates a good answer. Splits are by prompt, so a prompt's replies are all in one split."""
from __future__ import annotations

from pathlib import Path

from mtl_core.tasks.base import TaskCard, TaskData, TaskKind
from mtl_core.tasks.loading import package_folder, task_source, three_way_split
from mtl_core.tasks.registry import register
from mtl_core.tasks.seq2seq import seq2seq_task_data
from mtl_core.text import simple_tokenize

SOURCE = "chatterbot-corpus==1.3.3"


def _files() -> list[Path]:
    folder = package_folder("chatterbot_corpus")
    return sorted((folder / "data" / "english").glob("*.yml")) if folder else []


def turn_pairs() -> list[tuple[str, str]]:
    """(turn, next turn) over every English conversation, in file order."""
    import yaml

    pairs = []
    for path in _files():
        document = yaml.safe_load(path.read_text(encoding="utf-8", errors="replace")) or {}
        for conversation in document.get("conversations") or []:
            if not isinstance(conversation, list):  # a few entries are a bare string, not a conversation
                continue
            turns = [" ".join(str(turn).split()) for turn in conversation if turn is not None]
            pairs += [(a, b) for a, b in zip(turns, turns[1:]) if a and b]
    return pairs


def _build(seed: int) -> TaskData:
    pairs = turn_pairs()
    prompts = sorted({prompt for prompt, _ in pairs})
    split_of = {}
    for name, rows in zip(("train", "validation", "test"), three_way_split(prompts, seed)):
        split_of.update({prompts[i]: name for i in rows})
    parts = {"train": [], "validation": [], "test": []}
    for prompt, reply in sorted(set(pairs)):
        parts[split_of[prompt]].append((simple_tokenize(prompt), reply))
    return seq2seq_task_data(CARD, parts["train"], parts["validation"], parts["test"])


CARD = TaskCard(
    id="chatterbot_reply",
    name="Chatterbot reply",
    family="Chatterbot",
    kind=TaskKind.SEQ2SEQ,
    metric="chrf",
    higher_is_better=True,
    source=SOURCE,
    licence="BSD",
    description="Reply to a conversation turn as the chatterbot English corpus does (21 topics, about 1,200 distinct "
                "turn pairs). Scored by chrF, BLEU and ROUGE against the one reply of each pair.",
    unrelated=("cmu_syllables", "cmu_stress"),
    target_tokens="word",
    source_tokens="word",
    target_language="en",
)

register(task_source(CARD, _files, _build))
