"""`recommend`: which candidate tasks help a target, ranked by cheap proxies, then checked by training.

    python -m mtl_core recommend --target T --candidates A,B[,...] [run options] [--seeds 0,1,2] [--top-k K|all]
                                 [--rank-by affinity|linear_affinity|mean_cos|cka] [--cka] [--proxy-only] [--no-wait] [--json]
    python -m mtl_core recommend truth REC_ID [--top-k K|all] [--seeds 0,1,2] [--rank-by P] [--no-wait] [--json]
    python -m mtl_core recommend show REC_ID [--json]

Launching trains stage 1 (the target with every candidate in one run, the first seed; with --cka also one
single-task run per task), prints each proxy's ranking, then trains stage 2 (the first K candidates of
--rank-by's ranking, default all, as pairs against the target's single-task run, on every seed of
--seeds, default 0,1,2) and prints the measured gains, each proxy's ρ and regret@k, and the
recommendation. --proxy-only stops after stage 1; `truth` runs stage 2 of a stored recommendation.
With --json the last line of standard output is the `recommendation` dict. Exit code 0 when every run
completed, 1 when some failed; every mistake is one line on stderr and exit code 2.
"""
from __future__ import annotations

import json
import sys

from mtl_core.errors import UserError

ACTIONS = ("show", "truth")


def add_parsers(subparsers) -> None:
    from mtl_core.commands.train import add_run_options, add_store_option

    p = subparsers.add_parser(
        "recommend", help="which candidate tasks help a target: proxies ranked in one run, then the top k measured",
        description="Launch: recommend --target T --candidates A,B,C [options]. Stored: recommend show ID | "
                    "recommend truth ID [--top-k K].")
    p.add_argument("words", nargs="*", metavar="ACTION ID", help=f"one of {', '.join(ACTIONS)} and a recommendation id")
    p.add_argument("--target", default=None, help="the task you care about")
    p.add_argument("--candidates", default=None, help="comma-separated candidate helper tasks (2 to 7)")
    add_run_options(p)
    add_store_option(p)
    p.add_argument("--backend", choices=("local", "ray"), default=None,
                   help="where runs train (default: $MTL_EXPLORER_BACKEND or local)")
    p.add_argument("--top-k", default=None,
                   help="stage 2 trains the first K candidates of the ranking, or 'all' (default all)")
    p.add_argument("--rank-by", default="affinity", help="the proxy whose ranking stage 2 follows (default affinity)")
    p.add_argument("--cka", action="store_true",
                   help="stage 1 also trains one single-task run per task, for CKA between their encoders")
    p.add_argument("--proxy-only", action="store_true", help="stop after stage 1 (no pair runs)")
    p.add_argument("--no-wait", action="store_true", help="return once the runs are queued")
    p.add_argument("--json", action="store_true", help="the last line of output is one JSON object")
    p.set_defaults(func=cmd_recommend)


def cmd_recommend(args) -> int:
    if args.tasks:
        raise UserError("recommend: give --target and --candidates instead of --tasks")
    if not args.words:
        return _launch(args)
    action, *rest = args.words
    if action not in ACTIONS:
        raise UserError(f"recommend: '{action}' is not one of {', '.join(ACTIONS)}; to launch give --target and "
                        "--candidates instead")
    if len(rest) != 1:
        raise UserError(f"recommend {action}: give exactly one recommendation id, e.g. `python -m mtl_core recommend "
                        f"{action} exp-...`")
    if args.target or args.candidates:
        raise UserError(f"recommend {action}: --target and --candidates are for launching; {action} reads a stored one")
    return {"show": _show, "truth": _truth}[action](args, rest[0])


def parse_top_k(value: str | None) -> int | None:
    """'all' or nothing -> None (every candidate); a whole number -> itself (the recommendation checks its range)."""
    if value is None or str(value).strip().lower() == "all":
        return None
    try:
        return int(str(value).strip())
    except ValueError:
        raise UserError(f"--top-k: a whole number or 'all', got {value!r}", field="top_k") from None


def _stage2_seeds(args) -> list[int]:
    from mtl_core.recommend import DEFAULT_SEEDS

    if args.seeds is None:
        return list(DEFAULT_SEEDS)
    try:
        return [int(s) for s in str(args.seeds).split(",") if s.strip()]
    except ValueError:
        raise UserError(f"--seeds: comma-separated whole numbers, e.g. 0,1,2, got {args.seeds!r}", field="seeds") from None


def _launch(args) -> int:
    from mtl_core.commands.relmap import _duration, _wait
    from mtl_core.commands.train import open_store, spec_from_args
    from mtl_core.estimate import budget_steps, estimate_seconds
    from mtl_core.jobs import get_backend
    from mtl_core.recommend import _check_seeds, check_selection, check_stage2_options, stage1_run_specs, submit_stage1

    if not args.target:
        raise UserError("--target: required, e.g. --target atis_slots (list the tasks with `tasks`)")
    if not args.candidates:
        raise UserError("--candidates: required, e.g. --candidates atis_intent,wnut_ner")
    target, candidates = check_selection(args.target, [c for c in args.candidates.split(",") if c.strip()])
    top_k = parse_top_k(args.top_k)
    check_stage2_options(top_k, len(candidates), args.rank_by)  # before stage 1 trains, not after
    seeds = _check_seeds(_stage2_seeds(args))
    args.tasks = ",".join([target, *candidates])
    spec = spec_from_args(args)  # the run options, checked like `run`'s
    run_specs = stage1_run_specs(spec, target, candidates, cka=args.cka)
    store = open_store(args)
    backend = get_backend(args.backend, store)
    recommendation_id = submit_stage1(backend, spec, target, candidates, cka=args.cka)
    seconds = estimate_seconds(run_specs, budget_steps(run_specs[0].experiment), None)
    print(f"recommendation {recommendation_id}: stage 1, {len(run_specs)} run(s) queued on the {backend.name} "
          f"backend, about {_duration(seconds)}", file=sys.stderr)
    if args.no_wait:
        print(json.dumps({"recommendation_id": recommendation_id}) if args.json else recommendation_id)
        return 0
    _wait(backend, recommendation_id)
    if args.proxy_only:
        return _print(store, recommendation_id, args.json)
    if not args.json:
        _print(store, recommendation_id, False)
    return _run_stage2(backend, recommendation_id, top_k, seeds, args)


def _run_stage2(backend, recommendation_id: str, top_k, seeds, args) -> int:
    from mtl_core.commands.relmap import _wait
    from mtl_core.recommend import submit_stage2

    truth_id = submit_stage2(backend, recommendation_id, top_k=top_k, seeds=seeds, rank_by=args.rank_by)
    total = len(backend.store.runs(truth_id))
    print(f"recommendation {recommendation_id}: stage 2 ({truth_id}), {total} run(s) queued", file=sys.stderr)
    if args.no_wait:
        print(json.dumps({"recommendation_id": recommendation_id, "truth_id": truth_id}) if args.json else truth_id)
        return 0
    _wait(backend, truth_id)
    return _print(backend.store, recommendation_id, args.json)


def _truth(args, recommendation_id: str) -> int:
    from mtl_core.commands.train import open_store
    from mtl_core.jobs import backend_for_id

    store = open_store(args)
    backend = backend_for_id(store, recommendation_id, default=args.backend)
    return _run_stage2(backend, recommendation_id, parse_top_k(args.top_k), _stage2_seeds(args), args)


def _show(args, recommendation_id: str) -> int:
    from mtl_core.commands.train import open_store

    return _print(open_store(args), recommendation_id, args.json)


def _print(store, recommendation_id: str, as_json: bool) -> int:
    from mtl_core.recommend import recommendation

    result = recommendation(store, recommendation_id)
    stages = [result["stage1"]["progress"]] + ([result["stage2"]["progress"]] if result["stage2"] else [])
    status = 0 if all(p["completed"] == p["total"] for p in stages) else 1
    if as_json:
        print(json.dumps(result))
        return status
    target = result["target"]
    print(f"recommendation {recommendation_id}: helpers for {target} ({result['metric']})")
    for proxy, order in result["stage1"]["rankings"].items():
        values = result["stage1"]["proxies"][proxy]
        print(f"  stage 1, {proxy}: " + ", ".join(
            f"{c} {'—' if values[c] is None else format(values[c], '+.3g')}" for c in order))
    stage2 = result["stage2"]
    if stage2:
        gains = stage2["gains"]
        print(f"  stage 2, measured gain to {target} (%, seeds {','.join(map(str, stage2['seeds']))}; "
              f"{result['sign_convention']}):")
        for c in stage2["chosen"]:
            gain = gains.get(c, {})
            value = gain.get("gain")
            spread = f" ± {gain['std']:.1f}" if gain.get("std") is not None else ""
            print(f"    {c}: {'—' if value is None else f'{value:+.1f}{spread}'}")
    for proxy, entry in (result["scores"] or {}).items():
        rho = "—" if entry["rho"] is None else f"{entry['rho']:+.2f}"
        regrets = ", ".join(f"regret@{k} {'—' if v is None else f'{v:.2f}'}" for k, v in entry["regret"].items())
        reason = f" ({entry['rho_reason']})" if entry["rho"] is None and entry["rho_reason"] else ""
        print(f"  {proxy}: ρ {rho}{reason}, {regrets} over {entry['candidates']} measured candidate(s)")
    print(result["text"])
    for note in result["notes"]:
        print(f"note: {note}")
    return status
