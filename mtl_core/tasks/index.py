"""The catalog index: each built-in task's card summary (sizes, labels, notes), keyed by the exact source
bytes and parsing code it was computed from, shipped with the package so that a fresh data home lists the
whole catalog without parsing a dataset (the New experiment page draws at once; parsing waits for a run).

    python -m mtl_core.tasks.index --write    # after changing a task module or a data package's pin
    python -m mtl_core.tasks.index --check    # lists the tasks whose entry is stale (exit 1 if any)

An entry is used only when the task's cache key (file names and sha256 of every source file, the parsing
modules' code, the load settings) equals the one it was written for, so a different package version or an
edited parser is never answered from it: such a task is parsed on first use, as without an index. The
tests check that the shipped index is current for every built-in task that is available.
"""
from __future__ import annotations

import argparse
import json
import sys
from functools import lru_cache
from pathlib import Path

INDEX_PATH = Path(__file__).with_name("catalog_index.json")


@lru_cache(maxsize=1)
def shipped() -> dict[str, dict]:
    """cache key -> summary, as written by `--write` ({} when the file is missing or unreadable)."""
    try:
        return json.loads(INDEX_PATH.read_text(encoding="utf-8")).get("entries", {})
    except (OSError, ValueError, AttributeError):
        return {}


def shipped_summary(key: str) -> dict | None:
    return shipped().get(key)


def _indexed_sources():
    """(task id, loader) of every available built-in task whose data is parsed from files (the index's scope)."""
    from mtl_core.tasks import list_tasks  # noqa: F401 - registers the built-in sources
    from mtl_core.tasks.loading import CachedTaskLoader
    from mtl_core.tasks.registry import builtin_sources

    for source in builtin_sources():
        if isinstance(source.load, CachedTaskLoader) and source.availability().available:
            yield source.card.id, source.load


def current_keys() -> dict[str, str]:
    """task id -> the cache key its seed-0 summary has now (hashes the source files, parses nothing)."""
    return {task_id: loader._key(0, {}) for task_id, loader in _indexed_sources()}


def stale() -> list[str]:
    """Available built-in tasks that the shipped index does not answer."""
    entries = shipped()
    return [task_id for task_id, key in current_keys().items() if key not in entries]


def write() -> dict[str, int]:
    """Recompute every available built-in task's summary (parsing what the data cache lacks) into the index."""
    from mtl_core.tasks.loading import summarize

    entries = {}
    for task_id, loader in _indexed_sources():
        key = loader._key(0, {})
        entries[key] = summarize(loader(seed=0))
    text = json.dumps({"about": "summaries of the built-in tasks for the catalog; "
                                "regenerate with python -m mtl_core.tasks.index --write",
                       "entries": dict(sorted(entries.items()))}, indent=1, sort_keys=False, ensure_ascii=False)
    INDEX_PATH.write_text(text + "\n", encoding="utf-8")
    shipped.cache_clear()
    return {"entries": len(entries), "bytes": len(text)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mtl_core.tasks.index", description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--write", action="store_true", help="recompute the index from the installed data")
    group.add_argument("--check", action="store_true", help="list the tasks whose index entry is stale")
    args = parser.parse_args(argv)
    if args.write:
        result = write()
        print(f"wrote {INDEX_PATH}: {result['entries']} tasks, {result['bytes']} bytes")
        return 0
    missing = stale()
    for task_id in missing:
        print(f"stale: {task_id}")
    print(f"{len(missing)} stale entr{'y' if len(missing) == 1 else 'ies'}"
          + ("; run python -m mtl_core.tasks.index --write" if missing else ""))
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
