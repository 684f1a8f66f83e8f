"""The relatedness map: which of T tasks help which, measured (transfer gain) beside its proxies.

    run_specs = map_run_specs(spec)                      # STL per task, MTL per pair, the all-task run; × seeds
    experiment_id, run_ids = submit_map(backend, spec)   # one experiment of kind "map", in the background
    relatedness_map(store, experiment_id)                # matrices from the completed runs (JSON-ready)
    check_id = submit_grouping_check(backend, spec, [["a", "b"], ["c"]])
    grouping_check_result(store, check_id)               # suggested grouping vs all-together vs all-separate

What each matrix is (rows = source / helper task i, columns = target task j; SCIENCE.md):
- transfer_gain G_{i→j}: target j's test metric in the pair run (i, j) against j's single-task run,
  % with the sign making positive = the pair helped j; the mean of per-seed gains, seeds paired.
- affinity Z_{i→j}: TAG lookahead affinity averaged over the recorded steps (and seeds) of the
  all-task run; without an all-task run (two tasks, --no-all) it comes from the pair runs, where each
  Z_{i→j} is measured with only i and j in training.
- linear_affinity: the same Z to first order, lr·⟨g_i, ∇L_j⟩ / L_j from the Gram of the per-task gradients
  at every conflict step (Grad-TAG's idea: no lookahead forward passes), from the same runs as affinity.
- mean_cos / conflict_rate: gradient cosine on the whole shared trunk (layer 'all') and the share of
  measured steps with cos < 0, from the pair runs (each pair trained alone); from the all-task run
  when no pair run has them (cheap maps). Symmetric.
- cka: linear CKA between the single-task encoders' pooled representations of one probe set (the
  first `probe_examples` validation inputs of every task), per seed, then averaged. Symmetric. Empty
  with a frozen MiniLM, whose single-task encoders are all the same (`cka_note` says so).
- proxy_scores: per proxy (affinity, linear_affinity, mean_cos, cka), how well it predicts the gain
  (mtl_core/analysis/proxies.py): per target column and overall, Spearman ρ and regret@1 / regret@3
  (percentage points of gain lost per chosen helper by taking the proxy's top k helpers of a target
  instead of its k best measured ones). proxy_rank_correlation keeps each proxy's overall ρ.
Diagonals are undefined (None). Only completed runs count; while runs are still going the map is
partial and `progress` says how far it is.

The cheap map trains only the all-task run: affinity and gradient cosine, no transfer gain, no CKA.
Those are proxies; the grouping check (`submit_grouping_check`) tests a grouping by training it.
"""
from __future__ import annotations

import itertools
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mtl_core.errors import UserError
from mtl_core.jsonable import finite_or_none
from mtl_core.spec import ExperimentSpec, RunSpec
from mtl_core.store import FINISHED_STATUSES, Store

if TYPE_CHECKING:
    from mtl_core.jobs import Backend

MIN_TASKS = 2
MAX_TASKS = 8  # T·(T−1)/2 pair runs per seed: 28 at eight tasks
DEFAULT_PROBE_EXAMPLES = 64  # per task; CKA on 64 × T inputs is stable enough to rank pairs
DEFAULT_MEASURE_EVERY = 10  # conflict / affinity every k steps when the spec says 0 (TAG's k)
DEFAULT_MAX_GROUPS = 2
PROXIES = ("affinity", "linear_affinity", "mean_cos", "cka")  # higher = expected to help more
REGRET_KS = (1, 3)
MATRICES = ("transfer_gain", "transfer_gain_std", "affinity", "linear_affinity", "mean_cos", "conflict_rate", "cka")
SIGN_CONVENTION = ("transfer gain G_{i→j} in %: positive = training j together with i improved j's test metric "
                   "over j's single-task run (lower-is-better metrics are sign-flipped); rows = helper i, "
                   "columns = target j")

# ---- which runs a map needs ---------------------------------------------------------------------
def map_spec(spec: ExperimentSpec) -> ExperimentSpec:
    """The spec every run of a map shares: baselines on, conflict and affinity measured, probe inputs kept.

    conflict_every = the spec's or 10; affinity_every = the spec's, else conflict_every; probe_examples =
    the spec's or 64. Measuring does not change training (the update is the sum of the per-task
    gradients; the lookahead is undone), so single-task baselines stay matched to the pair runs.
    """
    spec = spec.validated()
    conflict_every = spec.conflict_every or DEFAULT_MEASURE_EVERY
    return replace(spec, baselines=True, conflict_every=conflict_every,
                   affinity_every=spec.affinity_every or conflict_every,
                   probe_examples=spec.probe_examples or DEFAULT_PROBE_EXAMPLES).validated()


def map_run_specs(spec: ExperimentSpec, *, include_all: bool = True, cheap: bool = False) -> list[RunSpec]:
    """Runs of a relatedness map, seed by seed: the all-task run first (its proxies arrive first),
    then one single-task run per task, then one multi-task run per pair.

    Cheap: only the all-task run per seed. With two tasks the all-task run is the pair run.
    """
    spec = map_spec(spec)
    count = len(spec.tasks)
    if not MIN_TASKS <= count <= MAX_TASKS:
        raise UserError(f"tasks: a relatedness map needs {MIN_TASKS} to {MAX_TASKS} tasks, got {count}",
                        field="tasks")
    if cheap and not spec.affinity_possible():
        raise UserError(f"cheap: the cheap map is the all-task run's lookahead affinity, which needs sampling 'all' "
                        f"and hard or hierarchical sharing (got sampling '{spec.sampling}', sharing "
                        f"'{spec.sharing}')", field="cheap")
    runs = []
    for seed in spec.seeds:
        if cheap or (include_all and count > 2):
            runs.append(RunSpec(kind="mtl", tasks=list(spec.tasks), seed=seed, experiment=spec))
        if cheap:
            continue
        runs.extend(RunSpec(kind="stl", tasks=[task], seed=seed, experiment=spec) for task in spec.tasks)
        runs.extend(RunSpec(kind="mtl", tasks=list(pair), seed=seed, experiment=spec)
                    for pair in itertools.combinations(spec.tasks, 2))
    return runs


def _check_max_groups(max_groups: Any) -> int:
    if isinstance(max_groups, bool) or not isinstance(max_groups, (int, np.integer)) or max_groups < 1:
        raise UserError(f"max_groups: must be a whole number ≥ 1, got {max_groups!r}", field="max_groups")
    return int(max_groups)


def submit_map(backend: "Backend", spec: ExperimentSpec, *, include_all: bool = True, cheap: bool = False,
               max_groups: int = DEFAULT_MAX_GROUPS) -> tuple[str, list[str]]:
    """Queue a map as one experiment of kind "map" on any backend; its options are stored with it."""
    max_groups = _check_max_groups(max_groups)
    run_specs = map_run_specs(spec, include_all=include_all, cheap=cheap)
    shared = run_specs[0].experiment
    if not shared.name:
        shared = replace(shared, name=f"relatedness map: {', '.join(shared.tasks)}")
        run_specs = [replace(r, experiment=shared) for r in run_specs]
    experiment_id, run_ids = backend.submit(shared, run_specs=run_specs, kind="map")
    backend.store.set_experiment_options(experiment_id, {"include_all": bool(include_all), "cheap": bool(cheap),
                                                         "max_groups": max_groups})
    return experiment_id, run_ids


def estimate_map_seconds(spec: ExperimentSpec, include_all: bool = True, cheap: bool = False,
                         workers: int | None = None) -> float:
    """Rough wall-clock seconds of a map before it is launched (mtl_core.estimate's cost model)."""
    from mtl_core import estimate

    run_specs = map_run_specs(spec, include_all=include_all, cheap=cheap)
    return estimate.estimate_seconds(run_specs, estimate.budget_steps(run_specs[0].experiment), workers)


# ---- reading a map back -------------------------------------------------------------------------
def _metric_cards(tasks: list[str]) -> dict[str, Any]:
    from mtl_core.tasks import get_task

    return {task: get_task(task).card for task in tasks}


def _experiment(store: Store, experiment_id: str, kind: str) -> tuple[dict, ExperimentSpec]:
    experiment = store.experiment(experiment_id)
    if experiment is None:
        raise UserError(f"experiment: no experiment '{experiment_id}' in {store.path}")
    if experiment["kind"] != kind:
        what = {"map": "a relatedness map", "grouping": "a grouping check"}[kind]
        raise UserError(f"experiment: '{experiment_id}' is not {what} (it is a {experiment['kind']})")
    return experiment, ExperimentSpec.from_json(experiment["spec_json"])


def _progress(runs: list[dict]) -> dict[str, int]:
    return {"completed": sum(r["status"] == "completed" for r in runs), "total": len(runs),
            "finished": sum(r["status"] in FINISHED_STATUSES for r in runs),
            "failed": sum(r["status"] in ("failed", "diverged") for r in runs)}


def _stl_representation(reps: dict, run: dict):
    """The single-task encoder's probe representation: 'shared', else the task's own encoder, else the only one."""
    own = {name: matrix for (run_id, name), matrix in reps.items() if run_id == run["id"]}
    for name in ("shared", run["tasks"][0]):
        if name in own:
            return own[name]
    return next(iter(own.values()), None)


def _mean_over_seeds(per_seed: list[np.ndarray], size: int) -> tuple[np.ndarray, np.ndarray]:
    """Entry-wise mean and std (ddof 1) over seeds, ignoring seeds where the entry is missing."""
    if not per_seed:
        empty = np.full((size, size), np.nan)
        return empty, empty.copy()
    stack = np.stack(per_seed)
    counts = np.isfinite(stack).sum(axis=0)
    total = np.where(np.isfinite(stack), stack, 0.0).sum(axis=0)
    mean = np.where(counts > 0, total / np.maximum(counts, 1), np.nan)
    squares = np.where(np.isfinite(stack), (stack - mean) ** 2, 0.0).sum(axis=0)
    std = np.where(counts > 1, np.sqrt(squares / np.maximum(counts - 1, 1)), np.nan)
    return mean, std


def relatedness_map(store: Store, experiment_id: str, max_groups: int | None = None) -> dict[str, Any]:
    """The map of a "map" experiment from its completed runs (see the module docstring for each matrix).

    T×T matrices are nested lists in `tasks` order with None where undefined (diagonal, not yet run).
    """
    from mtl_core.analysis.conflict_stats import pair_matrix, summarise_conflict
    from mtl_core.analysis.relatedness import (
        affinity_dendrogram,
        affinity_matrix,
        best_grouping,
        linear_cka,
        matrix_to_json,
        rank_correlation,
    )
    from mtl_core.analysis.configurations import compare_configurations
    from mtl_core.analysis.convergence import suggested_steps
    from mtl_core.analysis.proxies import score_matrix
    from mtl_core.analysis.summary import validation_rows

    experiment, spec = _experiment(store, experiment_id, "map")
    options = {"include_all": True, "cheap": False, "max_groups": DEFAULT_MAX_GROUPS,
               **store.experiment_options(experiment_id)}
    max_groups = _check_max_groups(options["max_groups"] if max_groups is None else max_groups)
    tasks, size = list(spec.tasks), len(spec.tasks)
    cards = _metric_cards(tasks)
    runs = store.runs(experiment_id)
    done = [r for r in runs if r["status"] == "completed"]
    stl = [r for r in done if r["kind"] == "stl"]
    pairs = [r for r in done if len(r["tasks"]) == 2]
    all_task = [r for r in done if len(r["tasks"]) == size and size > 2]
    notes: list[str] = []

    # transfer gain: each pair configuration against its matched baselines, the comparison `show` makes
    configurations = compare_configurations(runs, cards, validation_rows(store, runs, cards))
    index = {task: position for position, task in enumerate(tasks)}
    gain, gain_std = np.full((size, size), np.nan), np.full((size, size), np.nan)
    gain_seeds, still_improving = 0, []
    for entry in configurations:
        if len(entry["configuration"]["tasks"]) != 2:
            continue
        first, second = entry["configuration"]["tasks"]
        for helper, target in ((first, second), (second, first)):
            compared = entry["tasks"][target]
            if compared["delta_pct"] is None:
                continue
            gain[index[helper], index[target]] = compared["delta_pct"]
            gain_std[index[helper], index[target]] = compared.get("delta_std", np.nan)
            gain_seeds = max(gain_seeds, compared["n_seeds"])
            if compared.get("note"):
                still_improving.append(f"{helper}→{target}")

    # lookahead affinity: the all-task run, else the pair runs
    affinity_source = None
    affinity = np.full((size, size), np.nan)
    for source, candidates in (("all-task run", all_task), ("pair runs", pairs)):
        records = store.affinity([r["id"] for r in candidates])
        records = records[records["z"].notna()] if len(records) else records
        if len(records):
            affinity, affinity_source = affinity_matrix(records, tasks), source
            break
    linear_affinity = np.full((size, size), np.nan)
    for candidates in (all_task, pairs):
        records = store.linear_affinity([r["id"] for r in candidates])
        records = records[records["z"].notna()] if len(records) else records
        if len(records):
            linear_affinity = affinity_matrix(records, tasks)
            break

    # gradient conflict on the whole shared trunk: the pair runs, else the all-task run
    conflict_source = None
    mean_cos = np.full((size, size), np.nan)
    conflict_rate = np.full((size, size), np.nan)
    for source, candidates in (("pair runs", pairs), ("all-task run", all_task)):
        rows = store.conflict([r["id"] for r in candidates], layers=["all"])
        rows = rows[rows["task_a"] != rows["task_b"]] if len(rows) else rows  # the noise floor is not a pair
        if len(rows):
            summary = summarise_conflict(rows)
            mean_cos = pair_matrix(summary, tasks, "mean_cos")
            conflict_rate = pair_matrix(summary, tasks, "conflict_rate")
            conflict_source = source
            break

    # linear CKA between single-task encoders, per seed; a frozen encoder is the same in every run: no CKA
    frozen = spec.encoder == "minilm" and spec.freeze_encoder
    cka_note = "frozen encoder: every single-task encoder is the same, CKA is uninformative" if frozen else None
    reps = {} if frozen else store.representations([r["id"] for r in stl])
    per_seed_cka = []
    for seed in spec.seeds:
        by_task = {r["tasks"][0]: _stl_representation(reps, r) for r in stl if r["seed"] == seed}
        matrix = np.full((size, size), np.nan)
        for (i, a), (j, b) in itertools.combinations(enumerate(tasks), 2):
            if by_task.get(a) is not None and by_task.get(b) is not None:
                matrix[i, j] = matrix[j, i] = linear_cka(by_task[a], by_task[b])
        if np.isfinite(matrix).any():
            per_seed_cka.append(matrix)
    cka, _ = _mean_over_seeds(per_seed_cka, size)

    for matrix in (gain, gain_std, affinity, linear_affinity, mean_cos, conflict_rate, cka):
        np.fill_diagonal(matrix, np.nan)

    def correlation(proxy: np.ndarray) -> float | None:
        return finite_or_none(rank_correlation(proxy, gain))

    off_diagonal = ~np.eye(size, dtype=bool)
    groups = dendrogram = None
    if np.isfinite(affinity[off_diagonal]).all():
        groups = best_grouping(affinity, tasks, max_groups)
        linkage, leaves = affinity_dendrogram(affinity, tasks)
        dendrogram = {"linkage": linkage.tolist(), "leaves": leaves}

    proxies = {"affinity": affinity, "linear_affinity": linear_affinity, "mean_cos": mean_cos, "cka": cka}
    progress = _progress(runs)
    cheap = bool(options["cheap"])
    notes += _notes(cheap, progress, affinity_source, conflict_source, spec, gain_seeds, groups, max_groups)
    if cka_note:
        notes.append(f"No CKA: {cka_note}.")
    if still_improving:
        budget = suggested_steps(spec.steps or runs[0]["total_steps"] or 0)
        notes.append(f"Still improving at the end of training ({', '.join(still_improving)}): those gains reflect "
                     f"learning speed, not transfer; train longer (at least {budget} steps) before reading them.")
    return {
        "experiment_id": experiment_id,
        "name": experiment["name"],
        "tasks": tasks,
        "metrics": {t: {"metric": cards[t].metric, "higher_is_better": cards[t].higher_is_better} for t in tasks},
        "seeds": list(spec.seeds),
        "transfer_gain": matrix_to_json(gain),
        "transfer_gain_std": matrix_to_json(gain_std),
        "transfer_gain_seeds": gain_seeds,
        "affinity": matrix_to_json(affinity),
        "linear_affinity": matrix_to_json(linear_affinity),
        "mean_cos": matrix_to_json(mean_cos),
        "conflict_rate": matrix_to_json(conflict_rate),
        "cka": matrix_to_json(cka),
        "cka_note": cka_note,
        "proxy_rank_correlation": {name: correlation(proxy) for name, proxy in proxies.items()},
        "proxy_scores": {name: score_matrix(proxy, gain, tasks, REGRET_KS) for name, proxy in proxies.items()},
        "regret_ks": list(REGRET_KS),
        "groups": groups,
        "max_groups": max_groups,
        "dendrogram": dendrogram,
        "sources": {"affinity": affinity_source, "conflict": conflict_source},
        "cheap": cheap,
        "include_all": bool(options["include_all"]),
        "sign_convention": SIGN_CONVENTION,
        "progress": progress,
        "runs": [{"id": r["id"], "kind": r["kind"], "tasks": r["tasks"], "seed": r["seed"], "status": r["status"],
                  "error": r["error"]} for r in runs],
        "notes": notes,
    }


def _notes(cheap, progress, affinity_source, conflict_source, spec, gain_seeds, groups, max_groups) -> list[str]:
    notes = []
    if progress["completed"] < progress["total"]:
        notes.append(f"Partial map: {progress['completed']} of {progress['total']} runs have completed; entries "
                     "whose runs have not finished are empty.")
    if progress["failed"]:
        notes.append(f"{progress['failed']} run(s) failed or diverged; their entries stay empty (see the runs list).")
    if cheap:
        notes.append("Cheap map: only the all-task run was trained, so there is no transfer gain and no CKA. "
                     "Affinity and gradient cosine are proxies for transfer, which they often rank poorly; "
                     "test a grouping before trusting it.")
    else:
        notes.append("Transfer gain is measured (pair runs against single-task runs, same budget and seeds); "
                     "affinity, mean cosine and CKA are proxies, and their rank correlation with the gain says "
                     "how far to trust them here.")
        if gain_seeds < 3:
            notes.append(f"Transfer gain rests on {gain_seeds} seed(s); use 3 or more before drawing "
                         "conclusions.")
    if affinity_source == "pair runs":
        notes.append("Affinity comes from the pair runs (no all-task run): each Z_{i→j} was measured with only "
                     "i and j in training.")
    elif affinity_source is None and progress["completed"]:
        if not spec.affinity_possible():
            notes.append(f"No lookahead affinity: it needs sampling 'all' and a shared trunk (this map has sampling "
                         f"'{spec.sampling}', sharing '{spec.sharing}').")
        else:
            notes.append("No lookahead affinity recorded yet.")
    if conflict_source == "all-task run":
        notes.append("Gradient cosine comes from the all-task run, where every pair is measured with all tasks "
                     "training.")
    if groups is None and affinity_source is not None:
        notes.append("No grouping: some affinity entries are missing.")
    elif groups is not None:
        notes.append(f"Groups are TAG's best grouping into at most {max_groups} group(s) by lookahead affinity: a "
                     "suggestion to test with the grouping check, not a result.")
    return notes


def relatedness_frames(relmap: dict[str, Any]) -> dict[str, pd.DataFrame]:
    """Each matrix of a `relatedness_map` as a DataFrame (index 'source' = helper, columns 'target') for CSV."""
    from mtl_core.analysis.relatedness import matrix_frame

    tasks = relmap["tasks"]
    return {name: matrix_frame(np.array([[np.nan if v is None else v for v in row] for row in relmap[name]],
                                        dtype=float), tasks)
            for name in MATRICES}


def proxy_points(relmap: dict[str, Any], proxy: str) -> pd.DataFrame:
    """One row per ordered pair helper → target with both the proxy's value and the measured gain
    (columns helper, target, proxy, gain): the points of a proxy-against-gain scatter."""
    tasks = relmap["tasks"]
    rows = [{"helper": helper, "target": target, "proxy": relmap[proxy][i][j], "gain": relmap["transfer_gain"][i][j]}
            for i, helper in enumerate(tasks) for j, target in enumerate(tasks)
            if i != j and relmap[proxy][i][j] is not None and relmap["transfer_gain"][i][j] is not None]
    return pd.DataFrame(rows, columns=["helper", "target", "proxy", "gain"])


# ---- testing a grouping -------------------------------------------------------------------------
ARMS = ("suggested", "together", "separate")


def _canonical_groups(spec: ExperimentSpec, groups: list[list[str]]) -> list[list[str]]:
    if not groups or isinstance(groups, str):
        raise UserError("groups: give a list of task groups, e.g. [[\"a\", \"b\"], [\"c\"]]", field="groups")
    out = []
    for group in groups:
        group = [str(t) for t in group]
        unknown = [t for t in group if t not in spec.tasks]
        if unknown:
            raise UserError(f"groups: {', '.join(unknown)} not among the tasks ({', '.join(spec.tasks)})",
                            field="groups")
        if not group or len(set(group)) != len(group):
            raise UserError(f"groups: each group needs distinct tasks, got {group}", field="groups")
        ordered = [t for t in spec.tasks if t in group]
        if ordered not in out:
            out.append(ordered)
    missing = [t for t in spec.tasks if not any(t in g for g in out)]
    if missing:
        raise UserError(f"groups: {', '.join(missing)} in no group; every task needs one", field="groups")
    return out


def grouping_arms(spec: ExperimentSpec, groups: list[list[str]]) -> dict[str, list[list[str]]]:
    """The task sets each arm trains: the suggested groups, all tasks together, every task alone."""
    spec = spec.validated()
    return {"suggested": _canonical_groups(spec, groups), "together": [list(spec.tasks)],
            "separate": [[t] for t in spec.tasks]}


def submit_grouping_check(backend: "Backend", spec: ExperimentSpec, groups: list[list[str]]) -> str:
    """Train the suggested grouping against all-together and all-separate, same seeds and budget, as one
    experiment of kind "grouping". A task set shared by two arms (a singleton group and its single-task
    run; a group of all tasks) is trained once and serves both."""
    from mtl_core.jobs.sweep import expand_grid

    spec = replace(spec.validated(), baselines=True)
    if len(spec.tasks) < 2:
        raise UserError(f"tasks: a grouping check needs at least 2 tasks, got {len(spec.tasks)}", field="tasks")
    arms = grouping_arms(spec, groups)
    subsets = []
    for sets in arms.values():
        subsets += [s for s in sets if s not in subsets]
    run_specs = expand_grid(spec, subsets=subsets)
    experiment_id, _ = backend.submit(spec, run_specs=run_specs, kind="grouping")
    backend.store.set_experiment_options(experiment_id, {"groups": arms["suggested"], "arms": arms})
    return experiment_id


def grouping_check_result(store: Store, experiment_id: str) -> dict[str, Any]:
    """Per task, its test metric under each arm (mean over seeds) and Δ% against all-separate, seeds paired;
    per arm the mean Δ over tasks (Δm). A task in several suggested groups counts the mean of its groups."""
    from mtl_core.analysis.compare import SIGN_CONVENTION as DELTA_CONVENTION
    from mtl_core.analysis.compare import delta_pct
    from mtl_core.analysis.configurations import test_value

    _, spec = _experiment(store, experiment_id, "grouping")
    arms = store.experiment_options(experiment_id).get("arms") or grouping_arms(spec, [list(spec.tasks)])
    cards = _metric_cards(spec.tasks)
    runs = store.runs(experiment_id)
    value = {}  # (task set, seed, task) -> test metric
    for r in runs:
        if r["status"] == "completed":
            for task in r["tasks"]:
                measured = test_value(r, task, cards[task].metric)
                if measured is not None:
                    value[(tuple(r["tasks"]), r["seed"], task)] = measured

    def arm_value(arm: str, seed: int, task: str) -> float | None:
        found = [value.get((tuple(s), seed, task)) for s in arms[arm] if task in s]
        return None if not found or None in found else float(np.mean(found))

    out_arms = {}
    for arm in ARMS:
        per_task = {}
        for task in spec.tasks:
            values, deltas = [], []
            for seed in spec.seeds:
                mine, alone = arm_value(arm, seed, task), arm_value("separate", seed, task)
                if mine is not None:
                    values.append(mine)
                    if alone is not None:
                        deltas.append(delta_pct(mine, alone, cards[task].higher_is_better))
            per_task[task] = {"value": float(np.mean(values)) if values else None,
                              "std": float(np.std(values, ddof=1)) if len(values) > 1 else None,
                              "delta_pct": float(np.mean(deltas)) if deltas else None, "seeds": len(deltas)}
        known = [entry["delta_pct"] for entry in per_task.values() if entry["delta_pct"] is not None]
        out_arms[arm] = {"groups": arms[arm], "per_task": per_task,
                         "mean_delta_pct": float(np.mean(known)) if len(known) == len(spec.tasks) else None}
    ranked = [a for a in ARMS if out_arms[a]["mean_delta_pct"] is not None]
    shared = [t for t in spec.tasks if sum(t in g for g in arms["suggested"]) > 1]
    notes = [f"{', '.join(shared)} sit(s) in several suggested groups; the suggested arm counts the mean of "
             "those groups' runs."] if shared else []
    if len(spec.seeds) < 3:
        notes.append(f"{len(spec.seeds)} seed(s): use 3 or more before trusting a difference between arms.")
    return {
        "experiment_id": experiment_id,
        "tasks": list(spec.tasks),
        "seeds": list(spec.seeds),
        "metrics": {t: {"metric": cards[t].metric, "higher_is_better": cards[t].higher_is_better}
                    for t in spec.tasks},
        "arms": out_arms,
        "best_arm": max(ranked, key=lambda a: out_arms[a]["mean_delta_pct"]) if len(ranked) == len(ARMS) else None,
        "sign_convention": f"Δ% against all-separate; {DELTA_CONVENTION}",
        "progress": _progress(runs),
        "notes": notes,
    }
