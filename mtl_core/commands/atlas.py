"""`atlas`: the gain matrix and every proxy's score over real tasks at a fixed budget, as one report.

    python -m mtl_core atlas --budget small|medium [--tasks A,B,...] [--out REPORT.json] [--store PATH]
                             [--backend local|ray] [--json]
    python -m mtl_core atlas show MAP_ID [--out REPORT.json] [--json]      (the report of a finished atlas)

It is a relatedness map (mtl_core/relmap.py: every pair run, every single-task run, the all-task run)
trained at one of the budgets in BUDGETS, always with seeds 0, 1 and 2; the report holds the gain
matrix, each proxy's Spearman ρ and regret@1 / regret@3 over all targets (mtl_core/analysis/proxies.py)
and the wall time (first run started to last run finished, from the store). Without --tasks it covers
DEFAULT_TASKS, eight real catalog tasks (a map holds at most 8). The `tiny` budget exists for checking
the command itself (CI), not for reading transfer. A benchmark, not a test: expect hours at `small`
over eight real tasks on a 2-core machine.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from mtl_core.errors import UserError

# Steps per task, training rows per task, encoder width; every budget trains seeds 0, 1, 2.
BUDGETS = {
    "tiny": {"steps": 20, "max_train_examples": 200, "hidden_size": 16},
    "small": {"steps": 300, "max_train_examples": 2000, "hidden_size": 64},
    "medium": {"steps": 1500, "max_train_examples": 8000, "hidden_size": 128},
}
SEEDS = (0, 1, 2)
DEFAULT_TASKS = ("atis_intent", "atis_slots", "bbc_topic", "tweet_sentiment", "sentiment_intensity", "wnut_ner",
                 "brown_pos", "cmu_syllables")
REPORT_KS = (1, 3)


def add_parsers(subparsers) -> None:
    from mtl_core.commands.train import add_store_option

    p = subparsers.add_parser(
        "atlas", help="gain matrix and every proxy's ρ and regret@k over real tasks at a fixed budget, 3 seeds",
        description="atlas --budget small|medium [--tasks A,B,...]: trains a relatedness map at a fixed budget "
                    "with seeds 0,1,2 and writes one report. atlas show MAP_ID: the report of a finished one.")
    p.add_argument("words", nargs="*", metavar="show ID", help="show and a map id, to report a finished atlas")
    p.add_argument("--budget", default=None, help=f"one of {', '.join(BUDGETS)} (see `atlas --help` and the README)")
    p.add_argument("--tasks", default=None, help=f"2 to 8 task ids (default: {','.join(DEFAULT_TASKS)})")
    p.add_argument("--out", default=None, help="write the report there as JSON (default: print only)")
    add_store_option(p)
    p.add_argument("--backend", choices=("local", "ray"), default=None,
                   help="where runs train (default: $MTL_EXPLORER_BACKEND or local)")
    p.add_argument("--json", action="store_true", help="the last line of output is the report as one JSON object")
    p.set_defaults(func=cmd_atlas)


def atlas_spec(budget: str, tasks: list[str]):
    """The map spec of an atlas: the budget's settings, seeds 0, 1, 2, everything else the engine's defaults."""
    from mtl_core.spec import ExperimentSpec

    if budget not in BUDGETS:
        raise UserError(f"budget: '{budget}' is not one of {', '.join(BUDGETS)}", field="budget")
    return ExperimentSpec(tasks=list(tasks), seeds=list(SEEDS), name=f"atlas ({budget}): {', '.join(tasks)}",
                          **BUDGETS[budget]).validated()


def atlas_report(store, map_id: str, budget: str | None = None) -> dict:
    """The report of an atlas map: gain matrix, per proxy ρ and regret@1/@3 over all targets, wall time."""
    from mtl_core.relmap import PROXIES, relatedness_map

    relmap = relatedness_map(store, map_id)
    runs = store.runs(map_id)
    started = [r["started_at"] for r in runs if r.get("started_at")]
    finished = [r["finished_at"] for r in runs if r.get("finished_at")]
    wall = max(finished) - min(started) if started and finished else None
    return {
        "map_id": map_id,
        "budget": budget,
        "settings": {name: relmap_spec_value(store, map_id, name) for name in
                     ("steps", "max_train_examples", "hidden_size", "seeds", "encoder")},
        "tasks": relmap["tasks"],
        "transfer_gain": relmap["transfer_gain"],
        "transfer_gain_std": relmap["transfer_gain_std"],
        "proxies": {name: {"rho": relmap["proxy_scores"][name]["overall"]["rho"],
                           "rho_reason": relmap["proxy_scores"][name]["overall"]["rho_reason"],
                           **{f"regret@{k}": relmap["proxy_scores"][name]["overall"]["regret"].get(str(k))
                              for k in REPORT_KS},
                           "targets": relmap["proxy_scores"][name]["overall"]["targets"]}
                    for name in PROXIES},
        "wall_seconds": wall,
        "runs": {"completed": relmap["progress"]["completed"], "total": relmap["progress"]["total"]},
        "sign_convention": relmap["sign_convention"],
        "notes": relmap["notes"],
    }


def relmap_spec_value(store, map_id: str, name: str):
    return json.loads(store.experiment(map_id)["spec_json"]).get(name)


def report_markdown(report: dict) -> str:
    """The report as Markdown: the proxy table, then the gain matrix (rows = helper, columns = target)."""
    lines = [f"atlas {report['map_id']} (budget {report['budget']}, seeds {report['settings']['seeds']}, "
             f"{report['runs']['completed']}/{report['runs']['total']} runs, wall time "
             f"{'—' if report['wall_seconds'] is None else format(report['wall_seconds'] / 60, '.1f') + ' min'})", "",
             "| proxy | Spearman ρ | regret@1 | regret@3 | targets |", "|---|---|---|---|---|"]
    for name, entry in report["proxies"].items():
        cells = ["—" if entry["rho"] is None else f"{entry['rho']:+.2f}"]
        cells += ["—" if entry[f"regret@{k}"] is None else f"{entry[f'regret@{k}']:.2f}" for k in REPORT_KS]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {entry['targets']} |")
    tasks = report["tasks"]
    lines += ["", "transfer gain G(helper → target), %:", "",
              "| helper \\ target | " + " | ".join(tasks) + " |", "|---|" + "---|" * len(tasks)]
    for task, row in zip(tasks, report["transfer_gain"]):
        lines.append(f"| {task} | " + " | ".join("—" if v is None else f"{v:+.1f}" for v in row) + " |")
    return "\n".join(lines)


def cmd_atlas(args) -> int:
    from mtl_core.commands.train import open_store

    if args.words:
        action, *rest = args.words
        if action != "show" or len(rest) != 1:
            raise UserError("atlas: give `atlas show MAP_ID`, or --budget to train one")
        if args.budget or args.tasks:
            raise UserError("atlas show: --budget and --tasks are for training; show reads a finished atlas")
        store = open_store(args)
        return _emit(atlas_report(store, rest[0], store.experiment_options(rest[0]).get("atlas_budget")), args)
    if args.budget is None:
        raise UserError(f"--budget: required, one of {', '.join(BUDGETS)}")
    tasks = [t.strip() for t in (args.tasks or ",".join(DEFAULT_TASKS)).split(",") if t.strip()]
    spec = atlas_spec(args.budget, tasks)
    return _train(args, spec)


def _train(args, spec) -> int:
    from mtl_core.commands.relmap import _duration, _wait
    from mtl_core.commands.train import open_store
    from mtl_core.jobs import get_backend
    from mtl_core.relmap import estimate_map_seconds, submit_map

    estimate = estimate_map_seconds(spec)  # also checks the map's input
    if args.out:
        _check_out(Path(args.out))
    store = open_store(args)
    backend = get_backend(args.backend, store)
    map_id, run_ids = submit_map(backend, spec)
    store.set_experiment_options(map_id, {**store.experiment_options(map_id), "atlas_budget": args.budget})
    print(f"atlas {map_id}: {len(run_ids)} run(s) queued on the {backend.name} backend, about {_duration(estimate)}",
          file=sys.stderr)
    _wait(backend, map_id)
    return _emit(atlas_report(store, map_id, args.budget), args)


def _check_out(path: Path) -> None:
    if path.is_dir():
        raise UserError(f"--out: {path} is a folder; give a file name for the report")
    if not path.parent.exists():
        raise UserError(f"--out: folder {path.parent} does not exist")


def _emit(report: dict, args) -> int:
    if args.out:
        path = Path(args.out)
        _check_out(path)
        temporary = path.with_name(path.name + ".tmp")
        temporary.write_text(json.dumps(report, indent=1), encoding="utf-8")
        temporary.replace(path)
        print(f"wrote {path}", file=sys.stderr)
    print(report_markdown(report))
    if args.json:
        print(json.dumps(report))
    return 0 if report["runs"]["completed"] == report["runs"]["total"] else 1
