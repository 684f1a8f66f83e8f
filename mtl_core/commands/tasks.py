"""`tasks` (the catalog as a table or JSON), `tasks add` / `tasks remove` (user tasks) and `fetch`
(the registry-hosted sources). Imports no torch, so the catalog answers in about a second.
"""
from __future__ import annotations

import json

from mtl_core.tasks import card_dict, list_tasks
from mtl_core.tasks.base import TaskKind
from mtl_core.tasks.fetch import fetch_all
from mtl_core.tasks.user import COLUMNS, add_user_task, remove_user_task


def add_parsers(subparsers) -> None:
    tasks = subparsers.add_parser("tasks", help="list the task catalog; add or remove your own tasks")
    tasks.add_argument("--json", action="store_true", help="print the catalog as a JSON list of cards")
    tasks.set_defaults(func=list_catalog)
    actions = tasks.add_subparsers(dest="action", required=False, parser_class=type(tasks))

    kinds = ", ".join(f"{k.value} ({' + '.join(c)})" for k, c in COLUMNS.items())
    add = actions.add_parser("add", help="register a CSV or JSONL file as a task", description=f"Kinds: {kinds}.")
    add.add_argument("file", help="a .csv or .jsonl file (at most 20 MB, UTF-8)")
    add.add_argument("--name", required=True, help="task id: lowercase letters, digits, underscores")
    add.add_argument("--kind", required=True, choices=[k.value for k in COLUMNS], help="what the file holds")
    add.set_defaults(func=add_task)

    remove = actions.add_parser("remove", help="remove a user task")
    remove.add_argument("name")
    remove.set_defaults(func=remove_task)

    fetch = subparsers.add_parser("fetch", help="fetch the VADER sentence ratings and the Brown corpus once")
    fetch.set_defaults(func=fetch_sources)


def _sizes(card: dict) -> str:
    sizes = card["sizes"]
    return "-" if not sizes else f"{sizes['train']}/{sizes['validation']}/{sizes['test']}"


def _status(card: dict) -> str:
    if not card["available"]:
        return f"no: {card['reason']} (run `{card['fix']}`)"
    return f"yes ({card['reason']})" if card["reason"] else "yes"


def format_table(cards: list[dict]) -> str:
    header = ("id", "name", "kind", "metric", "train/val/test", "available")
    rows = [header] + [
        (c["id"], c["name"], c["kind"], c["metric"] + ("" if c["higher_is_better"] else " (lower better)"),
         _sizes(c), _status(c))
        for c in cards
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[-1] for row in rows)


def list_catalog(args) -> int:
    cards = [card_dict(source.card.id) for source in list_tasks()]
    print(json.dumps(cards, indent=2) if args.json else format_table(cards))
    return 0


def add_task(args) -> int:
    card = add_user_task(args.file, args.name, TaskKind(args.kind))
    print(f"registered user task {card.id!r}")
    print(format_table([card_dict(card.id)]))
    return 0


def remove_task(args) -> int:
    remove_user_task(args.name)
    print(f"removed user task {args.name!r}")
    return 0


def fetch_sources(args) -> int:
    fetch_all(print)
    return 0  # a source that cannot be fetched only hides its tasks; `make run` / `make test` go on
