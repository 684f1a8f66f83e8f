"""`python -m mtl_core ...`: one parser, one subcommand module per area under mtl_core/commands/.

Every user mistake ends as one line on standard error and exit code 2, never a traceback.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from mtl_core.errors import UserError, file_error

# Each module defines add_parsers(subparsers); its handlers take the parsed args and return an exit code.
COMMAND_MODULES = ("tasks", "train", "jobs", "relmap", "recommend", "atlas", "store_admin")


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse's default prints usage + message and exits 2; keep it to one line
        command = " ".join(self.prog.split()[1:])  # "" for the top level, else e.g. "run" or "tasks add"
        self.exit(2, f"error: {message} (see `python -m mtl_core {command + ' ' if command else ''}--help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="mtl_core", description="MTL Explorer engine: multi-task learning on real NLP tasks.")
    subparsers = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"mtl_core.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"mtl_core.commands.{name}":
                continue
            raise
        module.add_parsers(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        error = storage_error(exc, args)
        if error is None:
            raise
        print(f"error: {error}", file=sys.stderr)
        return 2


def storage_error(exc: BaseException, args: argparse.Namespace) -> UserError | None:
    """A store or file error raised outside the Store's own mapping (a query run by pandas, a file a command
    reads) as the one line it deserves; None for anything else, which stays a traceback."""
    import sqlite3
    from pathlib import Path

    cause: BaseException | None = exc
    while cause is not None and not isinstance(cause, (sqlite3.Error, OSError)):
        cause = cause.__cause__ or cause.__context__
    if isinstance(cause, sqlite3.Error):
        from mtl_core.paths import default_store_path
        from mtl_core.store import store_error

        store = getattr(args, "store", None)
        return store_error(cause, Path(store) if store else default_store_path())
    if isinstance(cause, OSError) and cause.filename is not None:
        return file_error(cause, doing="use")
    return None
