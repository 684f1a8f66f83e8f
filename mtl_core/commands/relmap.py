"""`map`: launch a relatedness map and print it; show, export or test the grouping of a stored map.

    python -m mtl_core map --tasks A,B,C[,...] [run options] [--cheap] [--no-all] [--max-groups B] [--no-wait] [--json]
    python -m mtl_core map show MAP_ID [--max-groups B] [--json]
    python -m mtl_core map export MAP_ID --out DIR        (one CSV per matrix + map.json)
    python -m mtl_core map check MAP_ID [--groups "a,b;c"] [--no-wait] [--json]
    python -m mtl_core map check-show CHECK_ID [--json]

Launching submits the map's runs to the background backend (--backend local|ray) and waits for them,
printing progress on standard error; --no-wait returns at once with the experiment id. With --json
the last line of standard output is one JSON object (the `relatedness_map` dict, which holds
experiment_id; for `check` / `check-show`, the `grouping_check_result` dict). Exit code 0 when every
run completed, 1 when some failed (the map is printed from the others); every mistake is one line on
stderr and exit code 2.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from mtl_core.errors import UserError

ACTIONS = ("show", "export", "check", "check-show")
POLL_SECONDS = 1.0
# Affinity is a small relative loss change per step (not divided by the learning rate): 3 significant digits.
CELL_FORMATS = {"transfer_gain": "{:+.1f}", "conflict_rate": "{:.2f}", "mean_cos": "{:+.3f}", "cka": "{:.3f}"}


def add_parsers(subparsers) -> None:
    from mtl_core.commands.train import add_run_options, add_store_option

    p = subparsers.add_parser(
        "map", help="relatedness map of 2-8 tasks: transfer gain, affinity, gradient cosine, CKA, grouping",
        description="Launch: map --tasks A,B,C [options]. Stored maps: map show ID | map export ID --out DIR | "
                    "map check ID [--groups 'a,b;c'] | map check-show ID.")
    p.add_argument("words", nargs="*", metavar="ACTION ID", help=f"one of {', '.join(ACTIONS)} and an experiment id")
    add_run_options(p)
    add_store_option(p)
    p.add_argument("--backend", choices=("local", "ray"), default=None,
                   help="where runs train (default: $MTL_EXPLORER_BACKEND or local)")
    p.add_argument("--cheap", action="store_true",
                   help="only the all-task run: affinity and gradient cosine (proxies), no transfer gain or CKA")
    p.add_argument("--no-all", dest="include_all", action="store_false",
                   help="skip the all-task run (affinity then comes from the pair runs)")
    p.add_argument("--max-groups", type=int, default=None, help="at most B groups in the suggested grouping (default 2)")
    p.add_argument("--groups", default=None, help="check: groups to test, e.g. \"a,b;c\" (default: the map's)")
    p.add_argument("--out", default=None, help="export: the folder for the CSV files")
    p.add_argument("--no-wait", action="store_true", help="return once the runs are queued")
    p.add_argument("--json", action="store_true", help="the last line of output is one JSON object")
    p.set_defaults(func=cmd_map)


def cmd_map(args) -> int:
    if not args.words:
        return _launch(args)
    action, *rest = args.words
    if action not in ACTIONS:
        raise UserError(f"map: '{action}' is not one of {', '.join(ACTIONS)}; to launch a map give --tasks instead")
    if len(rest) != 1:
        raise UserError(f"map {action}: give exactly one experiment id, e.g. `python -m mtl_core map {action} "
                        f"exp-...`")
    if args.tasks:
        raise UserError(f"map {action}: --tasks is for launching a map; {action} reads a stored one")
    return {"show": _show, "export": _export, "check": _check, "check-show": _check_show}[action](args, rest[0])


# ---- launch ------------------------------------------------------------------------------------
def _launch(args) -> int:
    from mtl_core.commands.train import open_store, spec_from_args
    from mtl_core.jobs import get_backend
    from mtl_core.relmap import DEFAULT_MAX_GROUPS, estimate_map_seconds, submit_map

    spec = spec_from_args(args)
    max_groups = DEFAULT_MAX_GROUPS if args.max_groups is None else args.max_groups
    estimate = estimate_map_seconds(spec, args.include_all, args.cheap)  # also checks the map's input
    store = open_store(args)
    backend = get_backend(args.backend, store)
    experiment_id, run_ids = submit_map(backend, spec, include_all=args.include_all, cheap=args.cheap,
                                        max_groups=max_groups)
    print(f"map {experiment_id}: {len(run_ids)} run(s) queued on the {backend.name} backend, about "
          f"{_duration(estimate)} (watch with `python -m mtl_core status {experiment_id}`)", file=sys.stderr)
    if args.no_wait:
        if args.json:
            print(json.dumps({"experiment_id": experiment_id, "runs": run_ids, "estimate_seconds": estimate}))
        else:
            print(experiment_id)
        return 0
    _wait(backend, experiment_id)
    return _print_map(store, experiment_id, args.max_groups, args.json)


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def _wait(backend, experiment_id: str) -> list[dict]:
    """Poll until every run has finished, reporting progress on stderr whenever it changes."""
    from mtl_core.store import FINISHED_STATUSES

    last = None
    while True:
        runs = backend.status(experiment_id)
        finished = sum(r["status"] in FINISHED_STATUSES for r in runs)
        running = [r for r in runs if r["status"] == "running"]
        labels = ", ".join(f"{'+'.join(r['tasks'])} seed {r['seed']}" for r in running)
        line = f"{finished}/{len(runs)} runs finished" + (f"; running: {labels}" if running else "")
        if line != last:
            print(line, file=sys.stderr, flush=True)
            last = line
        if finished == len(runs):
            return runs
        time.sleep(POLL_SECONDS)


# ---- stored maps -------------------------------------------------------------------------------
def _show(args, experiment_id: str) -> int:
    from mtl_core.commands.train import open_store

    return _print_map(open_store(args), experiment_id, args.max_groups, args.json)


def _print_map(store, experiment_id: str, max_groups, as_json: bool) -> int:
    from mtl_core.relmap import relatedness_map

    relmap = relatedness_map(store, experiment_id, max_groups=max_groups)
    status = 0 if relmap["progress"]["completed"] == relmap["progress"]["total"] else 1
    if as_json:
        print(json.dumps(relmap))
        return status
    tasks = relmap["tasks"]
    progress = relmap["progress"]
    print(f"relatedness map {experiment_id}  ({progress['completed']}/{progress['total']} runs completed, "
          f"seeds {','.join(map(str, relmap['seeds']))}{', cheap' if relmap['cheap'] else ''})")
    titles = {
        "transfer_gain": f"transfer gain G_i→j, % ({relmap['sign_convention']})",
        "affinity": f"lookahead affinity Z_i→j (mean over steps; from the {relmap['sources']['affinity']}; rows = "
                    "step taken on i, columns = loss of j)",
        "linear_affinity": "linearised lookahead affinity lr·<g_i, ∇L_j>/L_j (first-order Z_i→j, at every conflict "
                           "step; same runs as the affinity)",
        "mean_cos": f"mean gradient cosine on the shared trunk (from the {relmap['sources']['conflict']})",
        "conflict_rate": "conflict rate: share of measured steps with cos < 0",
        "cka": "linear CKA between the single-task encoders (probe inputs)",
    }
    for name, title in titles.items():
        if all(v is None for row in relmap[name] for v in row):
            continue
        print(f"\n{title}")
        _print_matrix(relmap[name], tasks, CELL_FORMATS.get(name, "{:+.3g}"))
    rho = {k: v for k, v in relmap["proxy_rank_correlation"].items() if v is not None}
    if rho:
        print("\nSpearman rank correlation of each proxy with the transfer gain (off-diagonal entries): "
              + ", ".join(f"{k} {v:+.2f}" for k, v in rho.items()))
    _print_proxy_scores(relmap)
    if relmap["groups"]:
        print(f"\nsuggested grouping (at most {relmap['max_groups']} groups, TAG): "
              + " | ".join("+".join(g) for g in relmap["groups"]))
    for note in relmap["notes"]:
        print(f"note: {note}")
    return status


def _print_proxy_scores(relmap: dict) -> None:
    """Per proxy: ρ and regret@k over the map, then per target column (only what could be computed)."""
    scores = {name: entry for name, entry in relmap.get("proxy_scores", {}).items()
              if any(v is not None for v in entry["overall"]["regret"].values()) or entry["overall"]["rho"] is not None}
    if not scores:
        return
    ks = relmap["regret_ks"]
    print("\nproxy scores against the measured gain (ρ: Spearman; regret@k: points of gain lost per chosen helper "
          "by taking the proxy's top k instead of the k best measured)")
    for name, entry in scores.items():
        print(f"  {name}: " + _score_line(entry["overall"], ks) + " over all targets")
        for target, column in entry["per_target"].items():
            if column["candidates"]:
                print(f"    target {target}: " + _score_line(column, ks))


def _score_line(entry: dict, ks) -> str:
    rho = "ρ —" if entry["rho"] is None else f"ρ {entry['rho']:+.2f}"
    regrets = ", ".join(f"regret@{k} {'—' if entry['regret'][str(k)] is None else format(entry['regret'][str(k)], '.2f')}"
                        for k in ks)
    return f"{rho}, {regrets}"


def _print_matrix(matrix, tasks, cell_format: str) -> None:
    width = max(10, *(len(t) + 1 for t in tasks))
    print(" " * width + "".join(f"{t[:width - 1]:>{width}}" for t in tasks))
    for task, row in zip(tasks, matrix):
        cells = "".join(f"{'—' if v is None else cell_format.format(v):>{width}}" for v in row)
        print(f"{task[:width - 1]:<{width}}{cells}")


def _export(args, experiment_id: str) -> int:
    from mtl_core.commands.train import open_store
    from mtl_core.relmap import relatedness_frames, relatedness_map

    if not args.out:
        raise UserError("map export: --out DIR is required (one CSV per matrix is written there)")
    relmap = relatedness_map(open_store(args), experiment_id, max_groups=args.max_groups)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, frame in relatedness_frames(relmap).items():
        frame.to_csv(out / f"{name}.csv")
    (out / "map.json").write_text(json.dumps(relmap, indent=1), encoding="utf-8")
    print(f"wrote {len(relatedness_frames(relmap))} CSV files and map.json to {out}")
    return 0


def _check(args, experiment_id: str) -> int:
    from mtl_core.commands.train import open_store
    from mtl_core.jobs import backend_for_id
    from mtl_core.relmap import relatedness_map, submit_grouping_check
    from mtl_core.spec import ExperimentSpec

    store = open_store(args)
    relmap = relatedness_map(store, experiment_id, max_groups=args.max_groups)
    if args.groups:
        groups = [[t.strip() for t in chunk.split(",") if t.strip()] for chunk in args.groups.split(";") if chunk.strip()]
    elif relmap["groups"]:
        groups = relmap["groups"]
    else:
        raise UserError(f"map check: map {experiment_id} has no suggested grouping yet; give --groups \"a,b;c\"")
    spec = ExperimentSpec.from_json(store.experiment(experiment_id)["spec_json"])
    backend = backend_for_id(store, experiment_id, default=args.backend)
    check_id = submit_grouping_check(backend, spec, groups)
    print(f"grouping check {check_id}: {' | '.join('+'.join(g) for g in groups)} vs all together vs all separate",
          file=sys.stderr)
    if args.no_wait:
        print(json.dumps({"experiment_id": check_id}) if args.json else check_id)
        return 0
    _wait(backend, check_id)
    return _check_show(args, check_id)


def _check_show(args, experiment_id: str) -> int:
    from mtl_core.commands.train import open_store
    from mtl_core.relmap import grouping_check_result

    result = grouping_check_result(open_store(args), experiment_id)
    status = 0 if result["progress"]["completed"] == result["progress"]["total"] else 1
    if args.json:
        print(json.dumps(result))
        return status
    print(f"grouping check {experiment_id} ({result['sign_convention']})")
    print(f"  {'arm':10} {'groups':40} {'mean Δ%':>9}")
    for arm, entry in result["arms"].items():
        delta = entry["mean_delta_pct"]
        groups = " | ".join("+".join(g) for g in entry["groups"])
        print(f"  {arm:10} {groups[:40]:40} {'—' if delta is None else f'{delta:+.2f}':>9}")
    for task in result["tasks"]:
        metric = result["metrics"][task]["metric"]
        cells = []
        for arm, entry in result["arms"].items():
            value = entry["per_task"][task]["value"]
            cells.append(f"{arm} {'—' if value is None else f'{value:.4f}'}")
        print(f"  {task} ({metric}): " + ", ".join(cells))
    if result["best_arm"]:
        print(f"best arm by mean Δ: {result['best_arm']}")
    for note in result["notes"]:
        print(f"note: {note}")
    return status
