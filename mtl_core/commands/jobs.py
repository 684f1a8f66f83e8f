"""Background runs from the command line: submit, status, cancel, resume, logs.

    python -m mtl_core submit --tasks synth_1,synth_2 --steps 100 [--pairs] [--weight-grid "a=1,b=0.5;a=0.5,b=1"]
        [--weighting-grid static,pcgrad,famo] [--json]
    python -m mtl_core status [ID] [--all] [--json]
    python -m mtl_core cancel ID          (an experiment id cancels all its queued and running runs)
    python -m mtl_core resume ID          (interrupted / cancelled runs go back to the queue)
    python -m mtl_core logs RUN_ID

Every command takes --store PATH and --backend local|ray ($MTL_EXPLORER_BACKEND). For existing ids
the backend recorded with the experiment is used.
"""
from __future__ import annotations

import argparse
import json
import time

from mtl_core.errors import UserError


# ---- run options: shared with `run` (mtl_core/commands/train.py) when it provides them ----------
def _run_option_functions():
    try:
        from mtl_core.commands import train
    except ImportError:
        return _add_run_options, _spec_from_args
    add = getattr(train, "add_run_options", None)
    build = getattr(train, "spec_from_args", None)
    if add is None or build is None:
        return _add_run_options, _spec_from_args
    return add, build


_SKIP = {"tasks", "name"}


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    """Fallback: one option per ExperimentSpec field (values are validated by the spec)."""
    from dataclasses import MISSING, fields

    from mtl_core.spec import ExperimentSpec

    parser.add_argument("--spec", help="a JSON file with the experiment (options below override it)")
    parser.add_argument("--tasks", help="comma-separated task ids, e.g. synth_1,synth_2")
    parser.add_argument("--name", help="a label for the experiment")
    for f in fields(ExperimentSpec):
        if f.name in _SKIP:
            continue
        flag = "--" + f.name.replace("_", "-")
        if f.type in ("bool", bool):
            parser.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=None)
        else:
            parser.add_argument(flag, dest=f.name, default=None,
                                help=None if f.default is MISSING else f"default {f.default}")


def _spec_from_args(args: argparse.Namespace):
    from dataclasses import fields

    from mtl_core.spec import ExperimentSpec, parse_spec_json

    data = {}
    if getattr(args, "spec", None):
        try:
            with open(args.spec, encoding="utf-8") as fh:
                text = fh.read()
        except (OSError, UnicodeDecodeError) as exc:
            raise UserError(f"--spec: cannot read {args.spec}: {exc}") from None
        data = parse_spec_json(text, f"--spec '{args.spec}'")
    for f in fields(ExperimentSpec):
        value = getattr(args, f.name, None)
        if value is None:
            continue
        if f.name in ("weights", "layers") and isinstance(value, str) and value.strip().startswith("{"):
            value = json.loads(value)
        data[f.name] = value
    if "tasks" not in data:
        raise UserError("tasks: required, e.g. --tasks synth_1,synth_2")
    return ExperimentSpec.from_dict(data)


# ---- parsers ------------------------------------------------------------------------------------
def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", default=None, help="the run store (default: $MTL_EXPLORER_HOME/runs.sqlite)")
    parser.add_argument("--backend", choices=("local", "ray"), default=None,
                        help="where runs train (default: $MTL_EXPLORER_BACKEND or local)")


def add_parsers(subparsers) -> None:
    add_run_options, _ = _run_option_functions()

    p = subparsers.add_parser("submit", help="queue an experiment to train in the background; returns at once")
    add_run_options(p)
    if not any(a.dest == "store" for a in p._actions):
        p.add_argument("--store", default=None, help="the run store")
    if not any(a.dest == "backend" for a in p._actions):
        p.add_argument("--backend", choices=("local", "ray"), default=None,
                       help="where runs train (default: $MTL_EXPLORER_BACKEND or local)")
    p.add_argument("--pairs", action="store_true", help="sweep: one multi-task run for every pair of the tasks")
    p.add_argument("--weight-grid", default=None,
                   help="sweep: λ settings separated by ';', e.g. \"a=1,b=0.5;a=0.5,b=1\"")
    p.add_argument("--weighting-grid", default=None,
                   help="sweep: weighting methods, e.g. static,pcgrad,famo (× the λ settings for methods that use λ)")
    p.add_argument("--wait", action="store_true", help="block until every run has finished")
    if not any(a.dest == "json" for a in p._actions):
        p.add_argument("--json", action="store_true", help="last line of output: {experiment_id, runs}")
    p.set_defaults(func=cmd_submit)

    p = subparsers.add_parser("status", help="the runs of an experiment (default: the latest) and their state")
    p.add_argument("id", nargs="?", help="an experiment or run id")
    p.add_argument("--all", action="store_true", help="a table of every experiment instead")
    p.add_argument("--json", action="store_true")
    _common(p)
    p.set_defaults(func=cmd_status)

    p = subparsers.add_parser("cancel", help="stop a run, or every queued/running run of an experiment")
    p.add_argument("id", help="an experiment or run id")
    _common(p)
    p.set_defaults(func=cmd_cancel)

    p = subparsers.add_parser("resume", help="queue interrupted or cancelled runs again (from their checkpoint)")
    p.add_argument("id", help="an experiment or run id")
    _common(p)
    p.set_defaults(func=cmd_resume)

    p = subparsers.add_parser("logs", help="a run's output and events")
    p.add_argument("run_id")
    _common(p)
    p.set_defaults(func=cmd_logs)


# ---- handlers -----------------------------------------------------------------------------------
def _store(args):
    from mtl_core.store import Store

    return Store(args.store)


def _backend_for(args, store, id: str | None):
    from mtl_core.jobs import backend_for_id, get_backend

    if id:
        return backend_for_id(store, id, default=args.backend)
    return get_backend(args.backend, store)


def cmd_submit(args) -> int:
    from mtl_core.jobs import backend_name, get_backend
    from mtl_core.jobs.local import check_device_here
    from mtl_core.jobs.sweep import expand_grid, parse_weight_grid, parse_weighting_grid, submit_runs

    _, spec_from_args = _run_option_functions()
    spec = spec_from_args(args).validated()
    sweep = args.pairs or args.weight_grid or args.weighting_grid
    if sweep:  # expanded before the store is opened, so that a bad grid leaves nothing behind
        grid = parse_weight_grid(args.weight_grid, spec.tasks) if args.weight_grid else None
        methods = parse_weighting_grid(args.weighting_grid) if args.weighting_grid else None
        run_specs = expand_grid(spec, weights_grid=grid, subsets="pairs" if args.pairs else None,
                                weighting_grid=methods)
    if backend_name(args.backend) == "local":  # before the store is opened: a refused submit leaves nothing
        check_device_here(spec.device)
    store = _store(args)
    backend = get_backend(args.backend, store)
    if sweep:
        experiment_id, run_ids = submit_runs(backend, spec, run_specs, kind="sweep")
    else:
        experiment_id, run_ids = backend.submit(spec)
    print(f"submitted {experiment_id}: {len(run_ids)} run(s) queued on the {backend.name} backend "
          f"(watch with `python -m mtl_core status {experiment_id}`)")
    if args.wait:
        runs = _wait(backend, experiment_id)
        _print_runs(runs)
    if args.json:
        print(json.dumps({"experiment_id": experiment_id, "runs": run_ids}))
    return 0


def _wait(backend, experiment_id: str) -> list[dict]:
    from mtl_core.store import FINISHED_STATUSES

    while True:
        runs = backend.status(experiment_id)
        if all(r["status"] in FINISHED_STATUSES for r in runs):
            return runs
        time.sleep(1.0)


def _print_runs(runs: list[dict]) -> None:
    print(f"{'run':<30} {'kind':<4} {'tasks':<28} {'seed':>4} {'status':<11} {'step':>11}")
    for r in runs:
        step = f"{r['step']}/{r['total_steps'] if r.get('total_steps') is not None else '?'}"
        print(f"{r['id']:<30} {r['kind']:<4} {','.join(r['tasks'])[:28]:<28} {r['seed']:>4} {r['status']:<11} "
              f"{step:>11}")
        if r.get("error") and r["status"] in ("failed", "diverged", "interrupted", "cancelled"):
            print("    " + r["error"].strip().splitlines()[0][:160])


def cmd_status(args) -> int:
    from mtl_core.jobs import common

    store = _store(args)
    if args.all:
        common.check_liveness(store)
        table = store.experiments()
        if args.json:
            print(table.drop(columns=["spec_json"]).to_json(orient="records"))
            return 0
        if table.empty:
            print(f"no experiments in {store.path}")
            return 0
        for row in table.itertuples():
            stamp = time.strftime("%Y-%m-%d %H:%M", time.localtime(row.created_at))
            print(f"{row.id:<30} {stamp} {row.kind:<10} {row.backend:<5} runs {row.runs:>3}: "
                  f"{int(row.completed or 0)} completed, {int(row.running or 0)} running, {int(row.queued or 0)} queued, "
                  f"{int(row.stopped or 0)} stopped  {row.name}")
        return 0
    experiment_id = args.id or store.latest_experiment_id()
    if experiment_id is None:
        if args.json:
            print(json.dumps({"experiment_id": None, "runs": []}))
        else:
            print(f"no experiments in {store.path}")
        return 0
    backend = _backend_for(args, store, experiment_id)
    runs = backend.status(experiment_id)
    exp_id = runs[0]["experiment_id"] if runs else experiment_id
    if args.json:
        print(json.dumps({"experiment_id": exp_id, "runs": [common.status_dict(r) for r in runs]}))
    else:
        print(f"experiment {exp_id} ({backend.name})")
        _print_runs(runs)
    return 0


def cmd_cancel(args) -> int:
    store = _store(args)
    backend = _backend_for(args, store, args.id)
    out = backend.cancel(args.id)
    if not out:
        print(f"{args.id}: nothing queued or running to cancel")
    for run_id, outcome in out:
        note = {"cancelled": "cancelled", "cancelling": "stopping at its next step (killed if it has not stopped "
                "within 10 s)"}.get(outcome, f"already {outcome}")
        print(f"{run_id}: {note}")
    return 0


def cmd_resume(args) -> int:
    store = _store(args)
    backend = _backend_for(args, store, args.id)
    resumed = backend.resume(args.id)
    if not resumed:
        print(f"{args.id}: no interrupted or cancelled runs to resume")
    for run_id in resumed:
        print(f"{run_id}: queued again")
    return 0


def cmd_logs(args) -> int:
    store = _store(args)
    backend = _backend_for(args, store, args.run_id)
    print(backend.logs(args.run_id), end="")
    return 0
