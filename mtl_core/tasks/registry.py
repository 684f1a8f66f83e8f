"""The one place built-in task sources are registered and looked up by id (user tasks live in user.py)."""
from __future__ import annotations

from mtl_core.tasks.base import TaskSource

_BUILTIN: dict[str, TaskSource] = {}


def register(*sources: TaskSource) -> None:
    """Called by each source module at import; ids must be unique across the whole catalog."""
    for source in sources:
        if source.card.id in _BUILTIN:
            raise ValueError(f"task id {source.card.id!r} is registered twice")
        _BUILTIN[source.card.id] = source


def builtin_sources() -> list[TaskSource]:
    """In registration order (the order in which mtl_core.tasks imports the source modules)."""
    return list(_BUILTIN.values())


def builtin_ids() -> set[str]:
    return set(_BUILTIN)
