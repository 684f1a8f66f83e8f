"""The task catalog: every task the engine can train on, looked up by id.

    list_tasks()                 built-in real tasks, then user tasks, then the synthetic family
    get_task("atis_intent")      its TaskSource (card, availability, load)
    load_task("atis_intent", seed=0, max_train_examples=None, synthetic_correlation=0.5, data_seed=0) -> TaskData
    card_dict("atis_intent")     the card plus sizes, labels and availability, JSON-ready

Each source module registers its tasks when imported below; user tasks are read from
data_home()/user_tasks on every call, so tasks registered by another process appear at once.
"""
from __future__ import annotations

from mtl_core.errors import TaskUnavailableError, UnknownTaskError, UserError
# Importing a source module registers its tasks; this order is the catalog's order.
from mtl_core.tasks import atis, bbc, tweets, vader, wnut, brown, cmudict_tasks  # noqa: F401
# Generation (seq2seq) tasks: headlines, verse translation, emoji names, number words, dialogue replies,
# aspect summaries of ACL papers.
from mtl_core.tasks import bbc_headline, verse, emoji_names, numwords, dialogue, cmudict_g2p, aclsum  # noqa: F401
from mtl_core.tasks import synthetic  # noqa: F401
from mtl_core.tasks.base import TaskData, TaskSource
from mtl_core.tasks.registry import builtin_sources
from mtl_core.tasks.user import user_task_sources

__all__ = ["list_tasks", "get_task", "load_task", "card_dict"]


def list_tasks() -> list[TaskSource]:
    builtins = builtin_sources()
    real = [s for s in builtins if s.card.family != synthetic.FAMILY]
    generated = [s for s in builtins if s.card.family == synthetic.FAMILY]
    return real + user_task_sources() + generated


def get_task(task_id: str) -> TaskSource:
    sources = {source.card.id: source for source in list_tasks()}
    if task_id not in sources:
        raise UnknownTaskError(f"unknown task {task_id!r}; valid ids: {', '.join(sources)}", "task")
    return sources[task_id]


def load_task(
    task_id: str,
    *,
    seed: int = 0,
    max_train_examples: int | None = None,
    synthetic_correlation: float = synthetic.DEFAULT_CORRELATION,
    data_seed: int = synthetic.DEFAULT_DATA_SEED,
) -> TaskData:
    """The task's splits; `max_train_examples` keeps the first n training examples (a seeded order).
    `seed` orders real tasks' splits; the synthetic tasks' data follows `data_seed` alone."""
    source = get_task(task_id)
    correlation = synthetic.check_correlation(synthetic_correlation)
    if max_train_examples is not None and (
        not isinstance(max_train_examples, int) or isinstance(max_train_examples, bool) or max_train_examples < 1
    ):
        raise UserError(
            f"max_train_examples: must be a positive whole number or None, got {max_train_examples!r}",
            "max_train_examples",
        )
    availability = source.availability()
    if not availability.available:
        raise TaskUnavailableError(f"task {task_id!r} is unavailable: {availability.reason}; fix: {availability.fix}", "task")
    return source.load(seed=seed, max_train_examples=max_train_examples, synthetic_correlation=correlation,
                       data_seed=data_seed)


def card_dict(task_id: str) -> dict:
    """Everything the catalog shows about one task; sizes and labels come from the cache (seed 0)."""
    source = get_task(task_id)
    availability = source.availability()
    card = source.card.to_dict()
    card.update(available=availability.available, reason=availability.reason, fix=availability.fix)
    summary = {}
    if availability.available:
        try:
            summary = source.load.summary()
        except UserError as exc:
            if source.card.family != "user":
                raise
            # A user file that no longer parses (edited on disk, or accepted by an older, laxer check) hides
            # only its own task: the catalog lists it as unavailable with the reason.
            card.update(available=False, reason=str(exc), fix=f"python -m mtl_core tasks remove {task_id}")
    card["sizes"] = summary.get("sizes")
    card["labels"] = summary.get("labels")
    card["n_labels"] = summary.get("n_labels")
    card["value_range"] = summary.get("value_range")
    card["notes"] = summary.get("notes", [])
    return card
