"""An experiment's summary, read from the store: runs, each multi-task configuration against its matched
single-task baselines (Δ_t, Δm, convergence), and gradient conflict.

The CLI's `run --json` / `show --json` print exactly this object; the dashboard shows the same numbers.
With exactly one multi-task configuration (or none: single-task runs only) the configuration's
fields also sit at the top level ("tasks", "delta_m_pct", ...), the shape of a plain experiment.
"""
from __future__ import annotations

import json

import pandas as pd

from mtl_core.analysis.compare import RESULT_COLUMNS, SIGN_CONVENTION, compare_runs
from mtl_core.analysis.configurations import compare_configurations, test_value
from mtl_core.analysis.conflict_stats import summarise_conflict
from mtl_core.errors import UserError
from mtl_core.jsonable import finite_or_none
from mtl_core.store import Store

TOP_LEVEL_FIELDS = ("tasks", "delta_m_pct", "delta_m_std", "still_improving", "suggested_steps")


def task_card(task: str):
    from mtl_core.tasks import get_task

    return get_task(task).card


def results_frame(runs: list[dict]) -> pd.DataFrame:
    """Test value of each task's primary metric in every completed run (long format for compare_runs)."""
    rows = []
    for run in runs:
        for task in run["tasks"]:
            card = task_card(task)
            value = test_value(run, task, card.metric)
            if value is not None:
                rows.append({"task": task, "seed": run["seed"], "kind": run["kind"], "value": value,
                             "higher_is_better": card.higher_is_better, "metric": card.metric})
    return pd.DataFrame(rows, columns=list(RESULT_COLUMNS))


def conflict_summary(store: Store, run_ids: list[str], layer: str = "all") -> pd.DataFrame:
    frame = store.conflict(run_ids, layers=[layer])
    if frame.empty:
        return pd.DataFrame(columns=["layer", "task_a", "task_b", "mean_cos", "conflict_rate",
                                     "mean_magnitude_sim", "n"])
    return summarise_conflict(frame)


def conflict_entries(store: Store, run_ids: list[str]) -> dict[str, dict]:
    """{"A|B": {mean_cos, conflict_rate, mean_magnitude_sim, n[, noise_floor]}} over the given runs;
    empty when nothing was measured (never a 0 that would read as "no conflict")."""
    conflict = {}
    for row in conflict_summary(store, run_ids).itertuples():
        key = f"{row.task_a}|{row.task_b}"
        conflict[key] = {"mean_cos": finite_or_none(row.mean_cos), "conflict_rate": finite_or_none(row.conflict_rate),
                         "mean_magnitude_sim": finite_or_none(row.mean_magnitude_sim), "n": int(row.n)}
        if row.task_a == row.task_b:
            conflict[key]["noise_floor"] = True
    return conflict


def validation_rows(store: Store, runs: list[dict], cards: dict) -> pd.DataFrame:
    """The completed runs' validation rows of every task's primary metric (for the convergence check)."""
    rows = store.metrics([r["id"] for r in runs if r["status"] == "completed"],
                         names=sorted({card.metric for card in cards.values()}))
    return rows[rows["split"] == "validation"] if len(rows) else rows


def configuration_summaries(store: Store, runs: list[dict]) -> list[dict]:
    """`compare_configurations` over an experiment's runs, with each configuration's conflict summary."""
    cards = {task: task_card(task) for task in sorted({task for run in runs for task in run["tasks"]})}
    configurations = compare_configurations(runs, cards, validation_rows(store, runs, cards))
    for entry in configurations:
        entry["conflict"] = conflict_entries(store, entry["run_ids"])
    return configurations


def experiment_summary(store: Store, experiment_id: str) -> dict:
    experiment = store.experiment(experiment_id)
    if experiment is None:
        raise UserError(f"experiment: no experiment '{experiment_id}' in {store.path}")
    runs = store.runs(experiment_id)
    configurations = configuration_summaries(store, runs)
    spec = json.loads(experiment["spec_json"])
    configuration_of = {run_id: entry["id"] for entry in configurations for run_id in entry["run_ids"]}
    summary = {
        "experiment_id": experiment_id,
        "name": experiment["name"],
        "kind": experiment["kind"],
        "sharing": spec.get("sharing"),
        "runs": [{"id": r["id"], "kind": r["kind"], "tasks": r["tasks"], "seed": r["seed"], "status": r["status"],
                  "device": r["device"], "error": r["error"], "configuration": configuration_of.get(r["id"])}
                 for r in runs],
        "configurations": configurations,
        "sign_convention": SIGN_CONVENTION,
    }
    if len(configurations) == 1:
        only = configurations[0]
        summary.update(tasks=only["tasks"], delta_m_pct=only["delta_m_pct"])
        summary.update({key: only[key] for key in TOP_LEVEL_FIELDS[2:] if only.get(key)})
        summary["notes"] = only["notes"]
        summary["conflict"] = only["conflict"]
    elif not configurations:  # single-task runs only: their metrics, nothing to compare with
        compared = compare_runs(results_frame(runs))
        summary.update(tasks=compared["tasks"], delta_m_pct=None, notes=[], conflict={})
    return summary
