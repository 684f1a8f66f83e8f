"""`gc`: free the checkpoints that finished runs no longer need."""
from __future__ import annotations

import time

from mtl_core.errors import UserError

# Runs that will never be resumed; interrupted and cancelled runs keep theirs (`resume` continues from it),
# queued and running ones are still training.
COLLECTABLE_STATUSES = ("completed", "failed", "diverged")


def add_parsers(subparsers) -> None:
    from mtl_core.commands.train import add_store_option

    gc = subparsers.add_parser("gc", help="delete the checkpoints of completed, failed and diverged runs "
                                          "(never those `resume` needs)")
    gc.add_argument("--older-than", type=float, metavar="DAYS",
                    help="only runs that finished more than DAYS days ago")
    gc.add_argument("--dry-run", action="store_true", help="print what would be freed; delete nothing")
    add_store_option(gc)
    gc.set_defaults(func=cmd_gc)


def human_bytes(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


def cmd_gc(args) -> int:
    from mtl_core.commands.train import open_store

    if args.older_than is not None and not args.older_than >= 0:
        raise UserError(f"gc: --older-than must be a number of days ≥ 0, got {args.older_than}")
    store = open_store(args, readonly=args.dry_run)
    before = None if args.older_than is None else time.time() - args.older_than * 86400
    records = store.checkpoints(statuses=COLLECTABLE_STATUSES, finished_before=before)
    freed = 0
    for record in records:
        if args.dry_run:
            size = record["bytes"]
        else:
            size = store.delete_checkpoint(record["run_id"], record["kind"])
        freed += size
        print(f"{'would free' if args.dry_run else 'freed'} {record['kind']} checkpoint of {record['status']} run "
              f"{record['run_id']}: {record['path']} ({size} bytes)")
    verb = "would free" if args.dry_run else "freed"
    print(f"{verb} {freed} bytes ({human_bytes(freed)}) in {len(records)} checkpoint(s); the store now takes "
          f"{human_bytes(store.disk_usage()['total'] - (0 if not args.dry_run else freed))}"
          + (" after gc" if args.dry_run else ""))
    return 0
