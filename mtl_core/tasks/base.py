"""The task contract: what a catalog entry describes (TaskCard) and what loading it returns (TaskData).

Every data source module in this package defines one or more `TaskSource`s and registers them with
`register`; the engine only ever sees `TaskData`.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Callable

import numpy as np


class TaskKind(str, Enum):
    SENTENCE_CLASSIFICATION = "sentence_classification"  # tokens -> one class
    DOCUMENT_CLASSIFICATION = "document_classification"  # long token list -> one class
    TOKEN_TAGGING = "token_tagging"  # tokens -> one tag per token (BIO or POS)
    SENTENCE_REGRESSION = "sentence_regression"  # tokens -> one real value
    VECTOR_REGRESSION = "vector_regression"  # fixed-size float vector -> one real value (synthetic)
    SEQ2SEQ = "seq2seq"  # tokens -> a generated text (translation, number words, headlines, replies)

    @property
    def is_text(self) -> bool:
        return self is not TaskKind.VECTOR_REGRESSION

    @property
    def is_classification(self) -> bool:
        return self in (TaskKind.SENTENCE_CLASSIFICATION, TaskKind.DOCUMENT_CLASSIFICATION)

    @property
    def is_regression(self) -> bool:
        return self in (TaskKind.SENTENCE_REGRESSION, TaskKind.VECTOR_REGRESSION)

    @property
    def is_generation(self) -> bool:
        return self is TaskKind.SEQ2SEQ


# The primary metric of every task is one of these; `higher_is_better` is stored on the card.
METRICS = ("accuracy", "macro_f1", "span_f1", "pearson", "mse", "bleu", "chrf", "rouge1", "rouge2", "rougeL",
           "exact_match", "cer", "wer")


@dataclass(frozen=True)
class TaskCard:
    """What a user sees about a task before training on it."""

    id: str  # stable identifier used on the CLI and in specs, e.g. "atis_intent"
    name: str  # display name, e.g. "ATIS intent"
    family: str  # corpus the task comes from, e.g. "ATIS"; tasks of one family share inputs
    kind: TaskKind
    metric: str  # primary metric, one of METRICS
    higher_is_better: bool
    source: str  # package==version (or "synthetic", "user upload")
    licence: str
    description: str  # one or two plain sentences
    related: tuple[str, ...] = ()  # task ids DATA.md expects it to relate to
    unrelated: tuple[str, ...] = ()  # task ids expected to be unrelated (controls)
    # Generation tasks only: how targets are split into decoder tokens ("char" or "word"), how the source was
    # split into input tokens (so that copy-the-source and sample tables can show it as text), and the target
    # language (ISO 639-1; ROUGE is computed for "en" targets only, as its tokeniser keeps a-z and 0-9).
    target_tokens: str = ""
    source_tokens: str = ""
    target_language: str = ""

    def to_dict(self) -> dict:
        d = asdict(self)
        d["kind"] = self.kind.value
        d["related"] = list(self.related)
        d["unrelated"] = list(self.unrelated)
        return d


@dataclass
class Split:
    """One split of one task.

    inputs:  text tasks: list of token lists (words, as in the source; never empty lists);
             vector tasks: float32 array of shape (n, d).
    targets: classification: list[int] (index into TaskData.labels);
             token tagging: list[list[int]] aligned one-to-one with inputs[i];
             regression: float32 array of shape (n,);
             seq2seq: list[str], the reference text of each input (tokenised by the task kind, see
             mtl_core/tasks/seq2seq.py: the target vocabulary is built from the training split at train time).
    """

    inputs: list[list[str]] | np.ndarray
    targets: list[int] | list[list[int]] | np.ndarray

    def __len__(self) -> int:
        return len(self.targets)


@dataclass
class TaskData:
    card: TaskCard
    train: Split
    validation: Split
    test: Split
    labels: list[str] | None = None  # class or tag names; None for regression
    value_range: tuple[float, float] | None = None  # regression targets' (min, max) on train
    notes: list[str] = field(default_factory=list)  # e.g. "fell back to the word-level lexicon"

    @property
    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "validation": len(self.validation), "test": len(self.test)}


@dataclass(frozen=True)
class Availability:
    available: bool
    reason: str = ""  # why not, in plain words
    fix: str = ""  # the command that makes it available


@dataclass(frozen=True)
class TaskSource:
    """A catalog entry: its card, how to check it can be loaded, and how to load it.

    load(seed=..., max_train_examples=..., **options) -> TaskData. `seed` fixes the split (synthetic
    tasks follow their `data_seed` option instead); the same arguments return the same data on any machine.
    """

    card: TaskCard
    availability: Callable[[], Availability]
    load: Callable[..., TaskData]
