"""The seq2seq task kind: (source tokens, target text) examples, the target side's tokenisation and vocabulary.

A source module gives `seq2seq_task_data` its examples; the engine asks `target_vocabulary` for the decoder's
vocabulary, built from the training split it trains on (after any max_train_examples cut), most frequent
tokens first, capped at `max_size`, and `encode_targets` for the id lists a decoder is trained on.

Target tokens are characters (number words, G2P, Japanese and Chinese) or words (`simple_tokenize`: words and
single punctuation marks). `detokenize` inverts them: characters are joined, words are joined by spaces with
no space before closing punctuation or after opening punctuation, so outputs read as text and sacrebleu
re-tokenises them exactly as it tokenises the reference.
"""
from __future__ import annotations

import dataclasses
import re
from collections import Counter
from typing import Callable, Iterable, Sequence

from mtl_core.tasks.base import Availability, Split, TaskCard, TaskData, TaskSource
from mtl_core.tasks.loading import CachedTaskLoader, installed_availability
from mtl_core.text import cached_json, simple_tokenize, store_json

TOKENISATIONS = ("char", "word")
DEFAULT_MAX_TARGET_VOCABULARY = 8000

_NO_SPACE_BEFORE = re.compile(r" ([.,;:!?%)\]}»”’])")
_NO_SPACE_AFTER = re.compile(r"([(\[{«“¿¡]) ")

Example = tuple  # (source tokens: list[str], target text: str)


def tokenize_target(text: str, tokens: str) -> list[str]:
    if tokens == "char":
        return list(text)
    return simple_tokenize(text)


def detokenize(pieces: Sequence[str], tokens: str) -> str:
    if tokens == "char":
        return "".join(pieces)
    text = " ".join(pieces)
    return _NO_SPACE_AFTER.sub(r"\1", _NO_SPACE_BEFORE.sub(r"\1", text))


class TargetVocabulary:
    """Decoder tokens ↔ ids: 0 padding, 1 begin, 2 end, 3 unknown, then the training tokens by frequency."""

    PAD, BOS, EOS, UNK = "<pad>", "<s>", "</s>", "<unk>"
    SPECIAL = (PAD, BOS, EOS, UNK)
    pad_id, bos_id, eos_id, unk_id = 0, 1, 2, 3

    def __init__(self, tokens: Sequence[str], tokenisation: str):
        self.tokenisation = tokenisation
        self.itos = list(self.SPECIAL) + [t for t in tokens if t not in self.SPECIAL]
        self.stoi = {t: i for i, t in enumerate(self.itos)}

    @classmethod
    def build(cls, texts: Iterable[str], tokenisation: str, max_size: int = DEFAULT_MAX_TARGET_VOCABULARY
              ) -> "TargetVocabulary":
        """Most frequent tokens first, ties in code-point order (never dependent on example order); the four
        special tokens count towards max_size."""
        counts = Counter(t for text in texts for t in tokenize_target(text, tokenisation))
        ranked = sorted(counts, key=lambda t: (-counts[t], t))[: max(0, max_size - len(cls.SPECIAL))]
        return cls(ranked, tokenisation)

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, text: str, max_length: int) -> list[int]:
        """The first `max_length` tokens' ids, then the end token."""
        pieces = tokenize_target(text, self.tokenisation)[:max_length]
        return [self.stoi.get(t, self.unk_id) for t in pieces] + [self.eos_id]

    def decode(self, ids: Iterable[int]) -> str:
        """Text of ids up to the first end token; padding and begin tokens are skipped."""
        pieces = []
        for i in ids:
            i = int(i)
            if i == self.eos_id:
                break
            if i in (self.pad_id, self.bos_id):
                continue
            pieces.append(self.itos[i] if 0 <= i < len(self.itos) else self.UNK)
        return detokenize(pieces, self.tokenisation)


def seq2seq_task_data(card: TaskCard, train: list[Example], validation: list[Example], test: list[Example],
                      notes: Sequence[str] = ()) -> TaskData:
    """TaskData whose targets are reference texts; examples with an empty source or target are dropped."""
    notes = list(notes)

    def to_split(examples: list[Example]) -> Split:
        return Split(inputs=[list(tokens) for tokens, _ in examples], targets=[str(target) for _, target in examples])

    kept = [[e for e in part if e[0] and str(e[1]).strip()] for part in (train, validation, test)]
    dropped = sum(len(a) - len(b) for a, b in zip((train, validation, test), kept))
    if dropped:
        notes.append(f"dropped {dropped} examples with an empty source or target")
    return TaskData(card=card, train=to_split(kept[0]), validation=to_split(kept[1]), test=to_split(kept[2]),
                    notes=notes)


def target_vocabulary(data: TaskData, max_size: int = DEFAULT_MAX_TARGET_VOCABULARY) -> TargetVocabulary:
    """The decoder vocabulary of a generation task: its training split's target tokens only."""
    return TargetVocabulary.build(data.train.targets, data.card.target_tokens or "word", max_size)


def run_target_vocabularies(tasks: Sequence[str], data: dict, shared: bool = False) -> dict[str, TargetVocabulary]:
    """The target vocabulary of each generation task of a run: its own training split's, or with a `shared`
    decoder one vocabulary from every generation task's training split (their target tokens agree: the spec
    checks it), capped at the same size."""
    generation = [t for t in tasks if data[t].card.kind.is_generation]
    if not shared or len(generation) < 2:
        return {t: target_vocabulary(data[t]) for t in generation}
    union = TargetVocabulary.build([text for t in generation for text in data[t].train.targets],
                                   data[generation[0]].card.target_tokens or "word")
    return {t: union for t in generation}


def encode_targets(data: TaskData, vocabulary: TargetVocabulary, max_length: int) -> TaskData:
    """The same task with every split's targets as id lists (≤ max_length tokens + the end token)."""
    def encoded(split: Split) -> Split:
        return Split(inputs=split.inputs, targets=[vocabulary.encode(t, max_length) for t in split.targets])

    return dataclasses.replace(data, train=encoded(data.train), validation=encoded(data.validation),
                               test=encoded(data.test))


def source_text(tokens: Sequence[str], data: TaskData) -> str:
    """The source of an example as text (what copy-the-source outputs, and what sample tables show)."""
    return detokenize(list(tokens), data.card.source_tokens or "word")


class SummarisedLoader(CachedTaskLoader):
    """A cached loader whose catalog summary, before the task was ever loaded, comes from `sizes(seed)` (the exact
    split sizes, computed without building the data) instead of a full build: the catalog lists dozens of
    generation tasks, and building them all on a first visit would take minutes on a small machine."""

    def __init__(self, task_id, source_files, build, sizes: Callable[[int], tuple[dict, list[str]]]):
        super().__init__(task_id, source_files, build)
        self.sizes = sizes

    def summary(self, seed: int = 0, **options) -> dict:
        key = self._key(seed, {})
        stored = cached_json(key)
        if stored is not None:
            return stored
        sizes, notes = self.sizes(seed)
        summary = {"sizes": sizes, "labels": None, "n_labels": None, "value_range": None, "notes": notes}
        store_json(key, summary)  # what loading would store: the sizes are exact
        return summary


def generation_source(card: TaskCard, source_files, build, sizes, availability=None) -> TaskSource:
    """A catalog entry like loading.task_source's, with a summary from `sizes(seed) -> (sizes, notes)`."""
    return TaskSource(card, availability or installed_availability(source_files, card.source),
                      SummarisedLoader(card.id, source_files, build, sizes))
