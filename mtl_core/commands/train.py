"""`run` (train in the foreground), `show` (an experiment's summary) and `export` (every recorded series)."""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from mtl_core.errors import UserError, file_error, os_error_reason
from mtl_core.spec import DECODER_TYPES, DEVICES, ENCODERS, GRADIENT_ROUTES, OPTIMIZERS, SAMPLING, SHARING_MODES


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """The experiment options shared by `run`, `submit` and `map`."""
    p = parser.add_argument
    p("--tasks", help="comma-separated task ids, e.g. atis_intent,atis_slots (see `tasks`)")
    p("--spec", metavar="FILE", help="a JSON experiment spec; options given on the command line override it")
    p("--sharing", choices=SHARING_MODES, help="how tasks share the encoder (default hard)")
    p("--weights", help="loss weights λ_t, e.g. atis_intent=1,atis_slots=0.5 (default 1 each)")
    p("--weighting", metavar="NAME", help="how the task losses are combined: static (λ, the default) or a method "
                                          "of `weightings`, e.g. pcgrad, uw, famo")
    p("--weighting-option", metavar="KEY=VALUE", action="append",
      help="an option of the weighting method, e.g. c=0.4 for cagrad (repeat for several)")
    p("--experts", type=int, help="mmoe: the number of expert encoders (default 4)")
    p("--soft-lambda", type=float, help="λ_soft of the L2 pull in soft sharing (default 0.01)")
    p("--layers", help="hierarchical: encoder layer each task reads, e.g. atis_slots=1,atis_intent=2")
    p("--encoder", choices=ENCODERS,
      help="default bilstm for text tasks, mlp for synthetic ones")
    p("--encoder-layers", type=int, help="depth of bilstm / transformer / mlp (default 2)")
    p("--hidden-size", type=int, help="encoder width (default 128)")
    p("--freeze-encoder", action="store_true", default=None, help="minilm: train the heads on frozen features")
    p("--dropout", type=float)
    p("--optimizer", choices=OPTIMIZERS)
    p("--lr", type=float, help="learning rate (default: 5e-3 bilstm, 1e-3 transformer, 3e-3 mlp, 5e-5 minilm)")
    p("--batch-size", type=int, help="examples per task per step (default 32)")
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--epochs", type=float, help="epochs over the largest task's training set")
    budget.add_argument("--steps", type=int, help="optimiser steps per task (default 200)")
    p("--seeds", help="comma-separated seeds, e.g. 0,1,2 (default 0)")
    p("--baselines", dest="baselines", action="store_true", default=None,
      help="also train a single-task baseline per task (default)")
    p("--no-baselines", dest="baselines", action="store_false")
    p("--conflict-every", type=int, help="measure per-task gradients every K steps (default 10, 0 = never)")
    p("--noise-floor", action="store_true", default=None, help="also measure the same-task noise floor")
    p("--gradient-route", choices=GRADIENT_ROUTES,
      help="per-task gradient statistics by the Gram route where it applies (auto) or materialised (the reference)")
    p("--affinity-every", type=int, help="TAG lookahead affinity every K steps (default 0 = never)")
    p("--probe-examples", type=int, help="keep encoder representations of N validation inputs per task (CKA)")
    p("--sampling", choices=SAMPLING, help="task batches per step (default all)")
    p("--temperature", type=float)
    p("--eval-every", type=int, help="steps between validation evaluations (default: 20 per run)")
    p("--synthetic-correlation", type=float, help="p of the synthetic tasks, in [-1, 1] (default 0.5)")
    p("--data-seed", type=int, help="the synthetic tasks' data draw (default 0); --seeds never change it")
    p("--max-train-examples", type=int, help="cut every training set to N examples")
    p("--max-tokens", type=int, help="words per example kept (default 64)")
    p("--beam-size", type=int, help="generation tasks: 1 decodes greedily (default), more searches that many beams")
    p("--max-target-length", type=int, help="generation tasks: target tokens trained on and decoded (default 64)")
    p("--decoder", choices=("per_task", "shared"), help="generation tasks: a decoder per task (default) or one "
                                                          "shared decoder told the task by a tag")
    p("--decoder-type", choices=DECODER_TYPES, help="generation tasks: a GRU decoder with attention (default) or a "
                                                    "small Transformer decoder")
    p("--max-decode-examples", type=int, help="generation tasks: validation examples decoded at each evaluation "
                                              "(default 200; the test split is decoded whole)")
    p("--device", choices=DEVICES)
    p("--name", help="a label for the experiment")


def add_store_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", help="run store (SQLite file); default: $MTL_EXPLORER_HOME/runs.sqlite")


OPTION_FIELDS = ("tasks", "sharing", "weights", "experts", "gradient_route", "soft_lambda", "layers", "encoder", "encoder_layers", "hidden_size",
                 "freeze_encoder", "dropout", "optimizer", "lr", "batch_size", "epochs", "steps", "seeds", "baselines",
                 "conflict_every", "noise_floor", "affinity_every", "probe_examples", "sampling", "temperature", "eval_every", "synthetic_correlation",
                 "data_seed", "max_train_examples", "max_tokens", "beam_size", "max_target_length",
                 "max_decode_examples", "decoder", "decoder_type", "device", "name")


def spec_from_args(args: argparse.Namespace):
    """The validated ExperimentSpec of the command line (and --spec file)."""
    from mtl_core.spec import ExperimentSpec, parse_spec_json

    data = {}
    if getattr(args, "spec", None):
        try:
            text = Path(args.spec).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise UserError(f"--spec: no file '{args.spec}'") from None
        except OSError as exc:  # a directory, an unreadable file
            raise UserError(f"--spec: cannot read '{args.spec}': {os_error_reason(exc)}") from None
        except UnicodeDecodeError as exc:
            raise UserError(f"--spec: '{args.spec}' is not a JSON spec ({exc})") from None
        data = parse_spec_json(text, f"--spec '{args.spec}'")  # bad JSON, too deep, not an object
    for name in OPTION_FIELDS:
        value = getattr(args, name, None)
        if value is not None:
            data[name] = value
    weighting = weighting_from_args(args, data.get("weighting"))
    if weighting is not None:
        data["weighting"] = weighting
    if args.steps is not None:
        data.pop("epochs", None)
    if args.epochs is not None:
        data.pop("steps", None)
    if not data.get("tasks"):
        raise UserError("--tasks: required, e.g. --tasks atis_intent,atis_slots (list them with `tasks`)")
    return ExperimentSpec.from_dict(data)


def parse_weighting_options(items: list[str] | None) -> dict[str, float]:
    """['c=0.4', 'window=20'] -> {'c': 0.4, 'window': 20.0}; the method checks names and ranges."""
    options = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UserError(f"--weighting-option: expected key=value, e.g. c=0.4, got {item!r}", field="weighting")
        if key in options:
            raise UserError(f"--weighting-option: {key!r} is given twice", field="weighting")
        try:
            options[key] = float(raw)
        except ValueError:
            raise UserError(f"--weighting-option: {key} must be a number, got {raw.strip()!r}",
                            field="weighting") from None
    return options


def weighting_from_args(args: argparse.Namespace, current) -> dict | None:
    """--weighting / --weighting-option over the --spec file's weighting (None: neither given)."""
    name, items = getattr(args, "weighting", None), getattr(args, "weighting_option", None)
    if name is None and not items:
        return None
    if isinstance(current, str):
        current = {"name": current}
    current = dict(current) if isinstance(current, dict) else {}
    if name is not None and name != current.get("name"):
        current = {"name": name}  # options of another method do not carry over
    options = {**(current.get("options") or {}), **parse_weighting_options(items)}
    return {"name": current.get("name", "static"), "options": options}


def open_store(args, readonly: bool = False):
    """The store of --store (else the default); `readonly` for commands that only read it (never written)."""
    from mtl_core.store import Store

    return Store(getattr(args, "store", None), readonly=readonly)


def add_parsers(subparsers) -> None:
    run = subparsers.add_parser("run", help="train an experiment in the foreground and print the summary")
    add_run_options(run)
    add_store_option(run)
    run.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    run.add_argument("--json", action="store_true", help="print the summary as one JSON object on the last line")
    run.set_defaults(func=cmd_run)

    show = subparsers.add_parser("show", help="print a stored experiment's summary")
    show.add_argument("experiment_id")
    add_store_option(show)
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=cmd_show)

    methods = subparsers.add_parser("weightings", help="list the loss-weighting methods with their measured cost")
    methods.add_argument("--json", action="store_true", help="one JSON array of every method")
    methods.set_defaults(func=cmd_weightings)

    export = subparsers.add_parser("export", help="write every recorded series of an experiment (a file, MLflow "
                                                  "or TensorBoard)")
    export.add_argument("experiment_id")
    export.add_argument("--format", choices=["csv", "json", "mlflow", "tensorboard"], default="csv")
    export.add_argument("--out", help="output file (csv, json) or folder (tensorboard: one subfolder per run)")
    export.add_argument("--tracking-uri", help="mlflow: the tracking store (default: "
                                               "sqlite:///$MTL_EXPLORER_HOME/mlflow.db)")
    add_store_option(export)
    export.set_defaults(func=cmd_export)


def cmd_run(args) -> int:
    from tqdm import tqdm

    from mtl_core.analysis.summary import experiment_summary
    from mtl_core.train.runner import execute_run, prepare_experiment

    spec = spec_from_args(args)
    store = open_store(args)
    runs = prepare_experiment(spec)
    experiment_id, run_ids = store.create_experiment(spec.to_json(), runs, name=spec.name)
    print(f"experiment {experiment_id}: {len(run_ids)} run(s)", file=sys.stderr)
    for run_id, run in zip(run_ids, runs):
        label = f"{run['kind']} {'+'.join(run['tasks'])} seed {run['seed']}"
        interactive = sys.stderr.isatty()  # in a log file, a few updates per run rather than many
        with tqdm(total=run["total_steps"], desc=label, file=sys.stderr, leave=True,
                  mininterval=0.5 if interactive else 10.0) as bar:
            def progress(step, total, bar=bar):
                bar.n = step
                bar.refresh() if step == total else bar.update(0)

            status = execute_run(store, run_id, threads=args.threads, progress=progress)
        if status != "completed":
            error = store.run(run_id)["error"]
            print(f"{label}: {status}" + (f": {error}" if error else ""), file=sys.stderr)
    summary = experiment_summary(store, experiment_id)
    print_summary(summary, as_json=args.json)
    return 0 if all(r["status"] == "completed" for r in summary["runs"]) else 1


def cmd_show(args) -> int:
    from mtl_core.analysis.summary import experiment_summary

    print_summary(experiment_summary(open_store(args, readonly=True), args.experiment_id), as_json=args.json)
    return 0


def print_summary(summary: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(summary))
        return
    print(f"experiment {summary['experiment_id']}  sharing: {summary['sharing']}")
    for run in summary["runs"]:
        error = f"  ({run['error']})" if run["error"] and run["status"] != "completed" else ""
        configuration = f"  [{run['configuration']}]" if run.get("configuration") and len(summary["configurations"]) > 1 \
            else ""
        print(f"  {run['kind']:3}  seed {run['seed']}  {'+'.join(run['tasks']):40} {run['status']}{error}{configuration}")
    configurations = summary["configurations"]
    if len(configurations) > 1:
        print(f"\n{len(configurations)} multi-task configurations, each against its matched single-task baselines "
              f"(test set; Δ%: {summary['sign_convention']})")
        for entry in configurations:
            print(f"\n[{entry['id']}] {entry['label']}")
            _print_tasks(entry)
        return
    print(f"\nper task (test set; Δ%: {summary['sign_convention']})")
    _print_tasks(summary)
    if summary["conflict"]:
        print("\ngradient conflict on the shared encoder (mean cosine; conflict rate = share of steps with cos < 0)")
        for pair, stats in summary["conflict"].items():
            label = f"{pair} (noise floor)" if stats.get("noise_floor") else pair
            cos = "—" if stats["mean_cos"] is None else f"{stats['mean_cos']:+.3f}"
            rate = "—" if stats["conflict_rate"] is None else f"{stats['conflict_rate']:.2f}"
            print(f"  {label:50} mean cos {cos}  conflict rate {rate}  ({stats['n']} steps)")


def _print_tasks(compared: dict) -> None:
    """The per-task table of one comparison, Δm and its notes (a task still improving says so beside Δ)."""
    print(f"  {'task':24} {'metric':9} {'multi-task':>14} {'single-task':>14} {'Δ%':>12}")
    for task, entry in compared["tasks"].items():
        def fmt(key):
            value = entry.get(key)
            std = entry.get(f"{key}_std")
            if value is None:
                return "—"
            return f"{value:.4f}" + (f"±{std:.3f}" if std is not None else "")
        delta = entry.get("delta_pct")
        delta_text = "—" if delta is None else f"{delta:+.2f}" + (f"±{entry['delta_std']:.2f}" if "delta_std" in entry else "")
        note = f"  ({entry['note']})" if entry.get("note") else ""
        print(f"  {task:24} {entry['metric']:9} {fmt('mtl'):>14} {fmt('stl'):>14} {delta_text:>12}{note}")
    if compared.get("delta_m_pct") is not None:
        print(f"  Δm = {compared['delta_m_pct']:+.2f}%")
    for note in compared.get("notes", []):
        print(f"  note: {note}")


def export_frames(store, experiment_id: str):
    """(runs, metrics, conflict, affinity) DataFrames of one experiment, each tagged with run kind and seed; the
    affinity frame holds both the exact lookahead and the linearised one, told apart by `name`
    (lookahead_affinity, linear_affinity)."""
    import pandas as pd

    if store.experiment(experiment_id) is None:
        raise UserError(f"export: no experiment '{experiment_id}' in {store.path}")
    runs = pd.DataFrame([{"run_id": r["id"], "run_kind": r["kind"], "run_tasks": "+".join(r["tasks"]),
                          "seed": r["seed"], "status": r["status"]} for r in store.runs(experiment_id)])
    ids = list(runs["run_id"]) if len(runs) else []
    affinity = pd.concat([store.affinity(ids).assign(name="lookahead_affinity"),
                          store.linear_affinity(ids).assign(name="linear_affinity")], ignore_index=True)
    frames = [store.metrics(ids), store.conflict(ids), affinity]
    return runs, *[f.merge(runs, on="run_id", how="left") if len(runs) else f for f in frames]


def cmd_export(args) -> int:
    import pandas as pd

    from mtl_core.analysis.summary import experiment_summary

    if args.format in ("mlflow", "tensorboard"):
        return cmd_export_tracker(args)
    if getattr(args, "tracking_uri", None):
        raise UserError(f"export: --tracking-uri is for --format mlflow, not {args.format}")
    if not args.out:
        raise UserError(f"export: --out is required for --format {args.format}, e.g. --out series.{args.format}")
    out = Path(args.out)
    if out.is_dir():
        raise UserError(f"export: --out {out} is a directory; give a file, e.g. {out / ('series.' + args.format)}")
    store = open_store(args, readonly=True)
    runs, metrics, conflict, affinity = export_frames(store, args.experiment_id)
    if args.format == "json":
        payload = {"summary": experiment_summary(store, args.experiment_id),
                   "metrics": json.loads(metrics.to_json(orient="records")),
                   "conflict": json.loads(conflict.to_json(orient="records")),
                   "affinity": json.loads(affinity.to_json(orient="records"))}
        write_atomically(out, lambda fh: fh.write(json.dumps(payload)))
    else:
        long_conflict = conflict.melt(id_vars=[c for c in conflict.columns if c not in ("cos", "magnitude_sim")],
                                      value_vars=["cos", "magnitude_sim"], var_name="name")
        long_conflict = long_conflict.rename(columns={"task_a": "task"}).assign(series="conflict", split="train")
        long_affinity = affinity.rename(columns={"source": "task", "target": "task_b", "z": "value"}).assign(
            series="affinity", split="train")
        table = pd.concat([metrics.assign(series="metric"), long_conflict, long_affinity], ignore_index=True)
        columns = ["series", "run_id", "run_kind", "run_tasks", "seed", "step", "task", "task_b", "layer", "split",
                   "name", "value"]
        write_atomically(out, lambda fh: table.reindex(columns=columns).to_csv(fh, index=False))
    print(f"wrote {out}")
    return 0


def cmd_export_tracker(args) -> int:
    """--format mlflow (to --tracking-uri) or tensorboard (to the --out folder)."""
    from mtl_core import trackers

    store = open_store(args, readonly=True)
    if args.format == "tensorboard":
        if args.tracking_uri:
            raise UserError("export: --tracking-uri is for --format mlflow; tensorboard writes to --out")
        if not args.out:
            raise UserError("export: --out is required for --format tensorboard: the folder to write the runs to, "
                            "e.g. --out tb")
        trackers.export_tensorboard(store, args.experiment_id, Path(args.out))
        print(f"open with: tensorboard --logdir {args.out}")
        return 0
    if args.out:
        raise UserError("export: --out is not used by --format mlflow; give --tracking-uri (default: "
                        "sqlite:///$MTL_EXPLORER_HOME/mlflow.db)")
    result = trackers.export_mlflow(store, args.experiment_id, args.tracking_uri)
    print(f"{result['exported']} run(s) exported, {result['skipped']} unchanged, to MLflow experiment "
          f"{result['experiment_id']} at {result['uri']}")
    print(f"open with: mlflow ui --backend-store-uri {result['uri']}")
    return 0


def write_atomically(path: Path, write) -> None:
    """`write(text file)` into a temporary file in the same folder, renamed over `path` only once complete:
    a full disk or an interruption leaves the old file (or none), never a partial one."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(temporary, "w", encoding="utf-8", newline="") as fh:
            write(fh)
        os.replace(temporary, path)
    except OSError as exc:
        raise file_error(exc, path, doing="write --out") from None
    finally:
        try:
            temporary.unlink(missing_ok=True)
        except OSError:  # a read-only folder: it was never created
            pass


def cmd_weightings(args) -> int:
    from mtl_core import weighting

    rows = weighting.describe()
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    print(f"{'method':<12} {'family':<15} {'needs':<7} {'from':<8} {'cost small':>10} {'cost medium':>12}  reference")
    for row in rows:
        cost = row["cost"]
        small = f"{cost['small']:.2f}×" if "small" in cost else "—"
        medium = f"{cost['medium']:.2f}×" if "medium" in cost else "—"
        print(f"{row['name']:<12} {row['family']:<15} {row['needs']:<7} {row['source']:<8} {small:>10} {medium:>12}  "
              f"{row['reference'].split(',')[0]}")
        print(f"{'':<12} {row['explanation']}")
    print("cost: step time relative to a plain summed-loss step, measured by benchmarks/weighting_cost.py "
          "(small: 2 synthetic tasks, MLP 100 → 16 → 16; medium: 3 tasks, MLP 100 → 1024 → 1024, batch 32)")
    return 0
