"""Which of these candidate tasks will help my target, and how sure is that? A two-stage recommendation.

    rec_id = submit_stage1(backend, spec, "atis_slots", ["atis_intent", "wnut_ner", "brown_pos"])
    recommendation(store, rec_id)                  # rankings per proxy, and once stage 2 ran, the truth
    truth_id = submit_stage2(backend, rec_id, top_k=2, seeds=[0, 1, 2])

Stage 1 (cheap, an experiment of kind "recommend"): one run of the target with every candidate (the
spec's first seed, conflict and lookahead affinity measured as in a relatedness map). Each proxy ranks
the candidates by its value toward the target:
- affinity: Z_{c→target}, the target's loss change after a step on candidate c (TAG, mean over steps);
- linear_affinity: the same Z to first order from the Gram of the per-task gradients (Grad-TAG's idea), at
  every conflict step, with no lookahead forward passes;
- mean_cos: the mean gradient cosine of c and the target on the shared trunk;
- cka: linear CKA of the single-task encoders of c and the target on the same probe inputs; only with
  `cka=True`, which also trains one single-task run per task (T + 1 more runs), as CKA needs them.
Higher is "expected to help more" for all four.

Stage 2 (truth on demand, kind "recommend-truth"): the first k candidates of one proxy's ranking (k = None:
all of them) trained as real pairs (target, c) against the target's single-task run, with seeds. The
measured gain G_{c→target} is the comparison `show` and the map make (analysis.configurations): Δ% of
the target's test metric, positive = the pair helped, the mean of per-seed Δ with seeds paired. Each
proxy is then scored on the measured candidates (analysis.proxies: Spearman ρ, regret@1, regret@3).

The recommendation names what it rests on: "measured on 3 seeds" once stage 2 has completed, else
"proxy only" with the proxy's ρ on the newest relatedness map in the store that has one (the target's
own column where that map has it, else over the whole map), or that there is no such map yet.
Nothing here depends on what kind of tasks they are: any catalog ids that can train together work.
"""
from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from mtl_core.analysis.proxies import DEFAULT_KS, ranking, score_column
from mtl_core.errors import UserError
from mtl_core.recommend_text import render_message
from mtl_core.relmap import PROXIES, _metric_cards, _progress, _stl_representation, map_spec
from mtl_core.spec import MAX_TASKS, ExperimentSpec, RunSpec
from mtl_core.store import Store

if TYPE_CHECKING:
    from mtl_core.jobs import Backend

KIND = "recommend"
TRUTH_KIND = "recommend-truth"
MIN_CANDIDATES = 2
MAX_CANDIDATES = MAX_TASKS - 1  # stage 1 trains the target with every candidate in one run
DEFAULT_SEEDS = (0, 1, 2)
MAPS_SEARCHED = 5  # newest maps looked at for a proxy's ρ
SIGN_CONVENTION = ("gain in %: positive = training the target together with the candidate improved the target's "
                   "test metric over its single-task run (lower-is-better metrics are sign-flipped)")


# ---- stage 1 ------------------------------------------------------------------------------------
def check_selection(target: Any, candidates: Any) -> tuple[str, list[str]]:
    """The target and the candidates as given, or a UserError naming the field, the value and what is allowed."""
    if not isinstance(target, str) or not target.strip():
        raise UserError(f"target: give one task id, got {target!r}", field="target")
    if isinstance(candidates, str) or not isinstance(candidates, (list, tuple)):
        raise UserError(f"candidates: give a list of task ids, got {candidates!r}", field="candidates")
    target = target.strip()
    candidates = [str(c).strip() for c in candidates]
    if target in candidates:
        raise UserError(f"candidates: '{target}' is the target; candidates are the other tasks", field="candidates")
    repeated = sorted({c for c in candidates if candidates.count(c) > 1})
    if repeated:
        raise UserError(f"candidates: {', '.join(repeated)} given twice; each candidate once", field="candidates")
    if not MIN_CANDIDATES <= len(candidates) <= MAX_CANDIDATES:
        raise UserError(f"candidates: {MIN_CANDIDATES} to {MAX_CANDIDATES} candidates (one run holds the target and "
                        f"every candidate, at most {MAX_TASKS} tasks), got {len(candidates)}", field="candidates")
    from mtl_core.tasks import get_task

    for name, ids in (("target", [target]), ("candidates", candidates)):
        for task in ids:
            try:
                get_task(task)
            except UserError as exc:
                raise UserError(f"{name}: {exc}", field=name) from None
    return target, candidates


def check_stage2_options(top_k: Any, candidates: int, rank_by: str) -> None:
    """top_k None (all) or 1..candidates, rank_by a proxy; a UserError naming the field otherwise."""
    if rank_by not in PROXIES:
        raise UserError(f"rank_by: '{rank_by}' is not a proxy; choose from {', '.join(PROXIES)}", field="rank_by")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer))
                              or not 1 <= top_k <= candidates):
        raise UserError(f"top_k: a whole number from 1 to {candidates} (the candidates), or all; got {top_k!r}",
                        field="top_k")


def stage1_run_specs(spec: ExperimentSpec, target: str, candidates: list[str], *, cka: bool = False) -> list[RunSpec]:
    """The target with every candidate in one run (the spec's first seed), and with `cka` one single-task run each."""
    target, candidates = check_selection(target, candidates)
    shared = map_spec(replace(spec, tasks=[target, *candidates], seeds=list(spec.seeds)[:1] or [0]))
    if not shared.affinity_possible():
        raise UserError(f"sharing: stage 1 measures lookahead affinity, which needs sampling 'all' and a sharing mode "
                        f"with one shared trunk (got sampling '{shared.sampling}', sharing '{shared.sharing}')",
                        field="sharing")
    seed = shared.seeds[0]
    runs = [RunSpec(kind="mtl", tasks=list(shared.tasks), seed=seed, experiment=shared)]
    if cka:
        runs += [RunSpec(kind="stl", tasks=[task], seed=seed, experiment=shared) for task in shared.tasks]
    return runs


def submit_stage1(backend: "Backend", spec: ExperimentSpec, target: str, candidates: list[str], *,
                  cka: bool = False) -> str:
    """Queue stage 1 as one experiment of kind "recommend"; its id is the recommendation's."""
    run_specs = stage1_run_specs(spec, target, candidates, cka=cka)
    shared = run_specs[0].experiment
    target, candidates = shared.tasks[0], list(shared.tasks[1:])
    if not shared.name:
        shared = replace(shared, name=f"helpers for {target}: {', '.join(candidates)}")
        run_specs = [replace(r, experiment=shared) for r in run_specs]
    experiment_id, _ = backend.submit(shared, run_specs=run_specs, kind=KIND)
    backend.store.set_experiment_options(experiment_id, {"target": target, "candidates": candidates,
                                                         "cka": bool(cka), "truth": None})
    return experiment_id


def _stage1(store: Store, recommendation_id: str) -> tuple[dict, ExperimentSpec, dict]:
    experiment = store.experiment(recommendation_id)
    if experiment is None:
        raise UserError(f"recommendation: no recommendation '{recommendation_id}' in {store.path}")
    if experiment["kind"] != KIND:
        raise UserError(f"recommendation: '{recommendation_id}' is not a recommendation (it is a {experiment['kind']})")
    return experiment, ExperimentSpec.from_json(experiment["spec_json"]), store.experiment_options(recommendation_id)


def stage1_proxies(store: Store, recommendation_id: str) -> dict[str, dict[str, float | None]]:
    """Each proxy's value for each candidate toward the target, from the completed stage-1 runs (None: not measured)."""
    from mtl_core.analysis.conflict_stats import pair_matrix, summarise_conflict
    from mtl_core.analysis.relatedness import affinity_matrix, linear_cka
    from mtl_core.jsonable import finite_or_none

    _, spec, options = _stage1(store, recommendation_id)
    tasks = list(spec.tasks)
    target, candidates = options["target"], options["candidates"]
    done = [r for r in store.runs(recommendation_id) if r["status"] == "completed"]
    together = [r["id"] for r in done if r["kind"] == "mtl"]
    size = len(tasks)
    matrices = {}
    for name, read in (("affinity", store.affinity), ("linear_affinity", store.linear_affinity)):
        matrices[name] = np.full((size, size), np.nan)
        records = read(together)
        records = records[records["z"].notna()] if len(records) else records
        if len(records):
            matrices[name] = affinity_matrix(records, tasks)
    mean_cos = np.full((size, size), np.nan)
    rows = store.conflict(together, layers=["all"])
    rows = rows[rows["task_a"] != rows["task_b"]] if len(rows) else rows
    if len(rows):
        mean_cos = pair_matrix(summarise_conflict(rows), tasks, "mean_cos")
    stl = [r for r in done if r["kind"] == "stl"]
    reps = store.representations([r["id"] for r in stl]) if stl else {}
    encoders = {r["tasks"][0]: _stl_representation(reps, r) for r in stl}
    frozen = spec.encoder == "minilm" and spec.freeze_encoder
    t = tasks.index(target)
    out = {name: {} for name in PROXIES}
    for candidate in candidates:
        c = tasks.index(candidate)
        for name, matrix in matrices.items():
            out[name][candidate] = finite_or_none(matrix[c, t])
        out["mean_cos"][candidate] = finite_or_none(mean_cos[c, t])
        pair = encoders.get(target), encoders.get(candidate)
        out["cka"][candidate] = (finite_or_none(linear_cka(*pair))
                                 if not frozen and pair[0] is not None and pair[1] is not None else None)
    return out


# ---- stage 2 ------------------------------------------------------------------------------------
def _check_seeds(seeds: Any) -> list[int]:
    if isinstance(seeds, (str, bytes)) or not isinstance(seeds, (list, tuple)) or not seeds or any(
            isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 0 for s in seeds):
        raise UserError(f"seeds: give one or more whole numbers ≥ 0, got {seeds!r}", field="seeds")
    if len(set(seeds)) != len(seeds):
        raise UserError(f"seeds: each seed once, got {list(seeds)}", field="seeds")
    return [int(s) for s in seeds]


def stage2_selection(store: Store, recommendation_id: str, top_k: int | None, rank_by: str) -> list[str]:
    """The candidates stage 2 trains: the first `top_k` of `rank_by`'s ranking, or every candidate (None)."""
    _, _, options = _stage1(store, recommendation_id)
    candidates = options["candidates"]
    check_stage2_options(top_k, len(candidates), rank_by)
    if top_k is None or top_k == len(candidates):
        return list(candidates)
    scores = stage1_proxies(store, recommendation_id)[rank_by]
    if all(v is None for v in scores.values()):
        raise UserError(f"top_k: stage 1 has no {rank_by} yet to rank the candidates by; wait for it to complete, "
                        "rank by another proxy, or train all candidates", field="top_k")
    return ranking(scores)[:top_k]


def submit_stage2(backend: "Backend", recommendation_id: str, *, top_k: int | None = None,
                  seeds: list[int] | tuple[int, ...] = DEFAULT_SEEDS, rank_by: str = "affinity") -> str:
    """Queue stage 2 (kind "recommend-truth"): per seed, the target alone and one pair run per chosen candidate,
    all with stage 1's training settings. The newest stage 2 is the one the recommendation reads."""
    store = backend.store
    _, spec, options = _stage1(store, recommendation_id)
    seeds = _check_seeds(list(seeds))
    chosen = stage2_selection(store, recommendation_id, top_k, rank_by)
    target = options["target"]
    # measuring conflict or affinity does not change training; stage 2 only needs the test metrics
    tasks = [target, *chosen]
    truth = replace(spec, tasks=tasks, seeds=seeds, baselines=True, conflict_every=0, affinity_every=0,
                    weights={t: w for t, w in spec.weights.items() if t in tasks},
                    layers={t: layer for t, layer in spec.layers.items() if t in tasks},
                    probe_examples=0, noise_floor=False,
                    name=f"measured helpers for {target}: {', '.join(chosen)}").validated()
    run_specs = []
    for seed in seeds:
        run_specs.append(RunSpec(kind="stl", tasks=[target], seed=seed, experiment=truth))
        run_specs += [RunSpec(kind="mtl", tasks=[target, c], seed=seed, experiment=truth) for c in chosen]
    truth_id, _ = backend.submit(truth, run_specs=run_specs, kind=TRUTH_KIND)
    store.set_experiment_options(truth_id, {"recommendation": recommendation_id, "target": target, "chosen": chosen,
                                            "rank_by": rank_by, "top_k": top_k})
    store.set_experiment_options(recommendation_id, {**options, "truth": truth_id})
    return truth_id


def measured_gains(store: Store, truth_id: str) -> dict[str, dict[str, Any]]:
    """Per trained candidate: the target's Δ% in the pair against its single-task run (mean over paired seeds)."""
    from mtl_core.analysis.configurations import compare_configurations
    from mtl_core.analysis.summary import validation_rows

    options = store.experiment_options(truth_id)
    target = options["target"]
    runs = store.runs(truth_id)
    cards = _metric_cards(sorted({task for run in runs for task in run["tasks"]}))
    out = {}
    for entry in compare_configurations(runs, cards, validation_rows(store, runs, cards)):
        tasks = entry["configuration"]["tasks"]
        if len(tasks) != 2 or target not in tasks:
            continue
        (candidate,) = [task for task in tasks if task != target]
        compared = entry["tasks"][target]
        out[candidate] = {"gain": compared["delta_pct"], "std": compared.get("delta_std"),
                          "seeds": compared.get("n_seeds", 0), "seed_gains": compared.get("seed_deltas"),
                          "note": compared.get("note")}
    return out


# ---- reading a recommendation back --------------------------------------------------------------
def map_rho(store: Store, proxy: str, target: str) -> dict[str, Any] | None:
    """The proxy's ρ on the newest completed-enough relatedness map that has one: the target's own column when
    the map has it, else over the whole map. {"rho", "map_id", "scope": "target"|"map"}, or None."""
    from mtl_core.relmap import relatedness_map

    experiments = store.experiments()
    if experiments.empty:
        return None
    for map_id in list(experiments[experiments["kind"] == "map"]["id"])[:MAPS_SEARCHED]:
        scores = relatedness_map(store, map_id).get("proxy_scores", {}).get(proxy)
        if not scores:
            continue
        column = scores["per_target"].get(target)
        if column and column["rho"] is not None:
            return {"rho": column["rho"], "map_id": map_id, "scope": "target"}
        if scores["overall"]["rho"] is not None:
            return {"rho": scores["overall"]["rho"], "map_id": map_id, "scope": "map"}
    return None


def recommendation(store: Store, recommendation_id: str, proxy: str | None = None,
                   ks: tuple[int, ...] = DEFAULT_KS) -> dict[str, Any]:
    """Everything a user reads about one recommendation (JSON-ready).

    {"recommendation_id", "target", "candidates", "metric", "higher_is_better", "stage1": {"experiment_id",
    "progress", "proxies": {proxy: {candidate: value}}, "rankings": {proxy: [candidates, best first]}, "cka"},
    "stage2": None or {"experiment_id", "progress", "chosen", "rank_by", "top_k", "seeds", "gains": {candidate:
    {"gain", "std", "seeds", "seed_gains", "note"}}, "ranking": measured candidates, best first},
    "scores": {proxy: {"rho", "rho_reason", "regret": {k: ...}, "candidates"}} (None before stage 2),
    "regret_ks", "text", "message" (the text as keys and values: render_message), "evidence": "measured"|"proxy",
    "evidence_detail", "sign_convention", "notes"}.
    `proxy` names the proxy the proxy-only text rests on (default: stage 2's rank_by, else affinity).
    """
    experiment, spec, options = _stage1(store, recommendation_id)
    target, candidates = options["target"], options["candidates"]
    card = _metric_cards([target])[target]
    proxies = stage1_proxies(store, recommendation_id)
    runs = store.runs(recommendation_id)
    stage1 = {"experiment_id": recommendation_id, "progress": _progress(runs), "proxies": proxies,
              "rankings": {name: ranking(values) for name, values in proxies.items()
                           if any(v is not None for v in values.values())},
              "cka": bool(options.get("cka"))}
    stage2, scores, notes = None, None, []
    truth_id = options.get("truth")
    if truth_id and store.experiment(truth_id):
        truth_options = store.experiment_options(truth_id)
        truth_runs = store.runs(truth_id)
        gains = measured_gains(store, truth_id)
        measured = {c: g for c, g in gains.items() if g["gain"] is not None}
        stage2 = {"experiment_id": truth_id, "progress": _progress(truth_runs), "chosen": truth_options["chosen"],
                  "rank_by": truth_options["rank_by"], "top_k": truth_options["top_k"],
                  "seeds": sorted({r["seed"] for r in truth_runs}), "gains": gains,
                  "ranking": sorted(measured, key=lambda c: -measured[c]["gain"])}
        if measured:
            names = list(measured)
            scores = {name: score_column([proxies[name].get(c) for c in names],
                                         [measured[c]["gain"] for c in names], ks) for name in PROXIES}
        if len(measured) < len(candidates):
            notes.append(f"Stage 2 measured {len(measured)} of the {len(candidates)} candidates (the first "
                         f"{len(truth_options['chosen'])} by {truth_options['rank_by']}); ρ and regret are over "
                         "those only, so a proxy is scored only where its ranking was checked.")
        still = [c for c, g in measured.items() if g["note"]]
        if still:
            notes.append(f"Still improving at the end of training ({', '.join(still)}): those gains reflect learning "
                         "speed, not transfer; train longer before trusting them.")
    text, evidence, detail, message = _recommendation_text(store, target, candidates, stage1, stage2, proxy)
    if stage1["progress"]["failed"]:
        notes.append("A stage-1 run failed or diverged; see `python -m mtl_core status "
                     f"{recommendation_id}`.")
    return {
        "recommendation_id": recommendation_id,
        "name": experiment["name"],
        "target": target,
        "candidates": candidates,
        "metric": card.metric,
        "higher_is_better": card.higher_is_better,
        "stage1": stage1,
        "stage2": stage2,
        "scores": scores,
        "regret_ks": list(ks),
        "text": text,
        "message": message,
        "evidence": evidence,
        "evidence_detail": detail,
        "sign_convention": SIGN_CONVENTION,
        "notes": notes,
        "spec": spec.to_dict(),
    }


def _recommendation_text(store, target, candidates, stage1, stage2, proxy) -> tuple[str, str | None, dict, dict]:
    """(text, evidence, detail, message): measured once stage 2 has completed, else the proxy's ranking with its
    record; `message` is the text as a key and values (render_message)."""
    if stage2 is not None and stage2["progress"]["completed"] == stage2["progress"]["total"] and stage2["ranking"]:
        gains = stage2["gains"]
        seeds = min(gains[c]["seeds"] for c in stage2["ranking"])
        evidence = {"key": "evidence_measured_one" if seeds == 1 else "evidence_measured", "values": {"seeds": seeds}}
        helpers = [c for c in stage2["ranking"] if gains[c]["gain"] > 0]
        if helpers:
            message = {"key": "measured_helpers", "evidence": evidence, "values": {
                "target": target, "first": helpers[0], "listed": [f"{c} ({gains[c]['gain']:+.1f} %)" for c in helpers]}}
        else:
            best = stage2["ranking"][0]
            message = {"key": "measured_none", "evidence": evidence,
                       "values": {"target": target, "best": best, "gain": f"{gains[best]['gain']:+.1f} %"}}
        return render_message(message), "measured", {"seeds": seeds, "helpers": helpers}, message
    proxy = proxy or (stage2 or {}).get("rank_by") or next(iter(stage1["rankings"]), "affinity")
    order = stage1["rankings"].get(proxy)
    if not order:
        message = {"key": "waiting", "values": {"proxy": proxy, "target": target}}
        return render_message(message), None, {"proxy": proxy}, message
    record = map_rho(store, proxy, target)
    if record is None:
        evidence = {"key": "evidence_no_map"}
    else:
        evidence = {"key": "evidence_map_target" if record["scope"] == "target" else "evidence_map_whole",
                    "values": {"rho": f"{record['rho']:.2f}"}}
    scored = [c for c in order if stage1["proxies"][proxy][c] is not None]
    message = {"key": "proxy", "evidence": evidence,
               "values": {"first": scored[0], "proxy": proxy, "target": target, "rest": scored[1:]}}
    if stage2 is not None:
        message["suffix"] = {"key": "stage2_training", "values": {"done": stage2["progress"]["finished"],
                                                                   "total": stage2["progress"]["total"]}}
    return render_message(message), "proxy", {"proxy": proxy, "map": record}, message
