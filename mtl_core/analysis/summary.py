"""An experiment's summary, read from the store: runs, per-task MTL vs STL, Δm and gradient conflict.

The CLI's `run --json` / `show --json` print exactly this object; the dashboard shows the same numbers.
"""
from __future__ import annotations

import json

import pandas as pd

from mtl_core.analysis.compare import SIGN_CONVENTION, compare_runs
from mtl_core.analysis.conflict_stats import summarise_conflict
from mtl_core.errors import UserError
from mtl_core.store import Store


def task_card(task: str):
    from mtl_core.tasks import get_task

    return get_task(task).card


def results_frame(runs: list[dict]) -> pd.DataFrame:
    """Test value of each task's primary metric in every completed run (long format for compare_runs)."""
    rows = []
    for run in runs:
        if run["status"] != "completed" or not run.get("result"):
            continue
        for task, metrics in run["result"]["test"].items():
            card = task_card(task)
            rows.append({"task": task, "seed": run["seed"], "kind": run["kind"], "value": metrics[card.metric],
                         "higher_is_better": card.higher_is_better, "metric": card.metric})
    return pd.DataFrame(rows, columns=["task", "seed", "kind", "value", "higher_is_better", "metric"])


def conflict_summary(store: Store, run_ids: list[str], layer: str = "all") -> pd.DataFrame:
    frame = store.conflict(run_ids, layers=[layer])
    if frame.empty:
        return pd.DataFrame(columns=["layer", "task_a", "task_b", "mean_cos", "conflict_rate",
                                     "mean_magnitude_sim", "n"])
    return summarise_conflict(frame)


def experiment_summary(store: Store, experiment_id: str) -> dict:
    experiment = store.experiment(experiment_id)
    if experiment is None:
        raise UserError(f"experiment: no experiment '{experiment_id}' in {store.path}")
    runs = store.runs(experiment_id)
    compared = compare_runs(results_frame(runs))
    mtl_runs = [r["id"] for r in runs if r["kind"] == "mtl"]
    conflict = {}
    for row in conflict_summary(store, mtl_runs).itertuples():
        key = f"{row.task_a}|{row.task_b}"
        conflict[key] = {"mean_cos": _clean(row.mean_cos), "conflict_rate": _clean(row.conflict_rate),
                         "mean_magnitude_sim": _clean(row.mean_magnitude_sim), "n": int(row.n)}
        if row.task_a == row.task_b:
            conflict[key]["noise_floor"] = True
    spec = json.loads(experiment["spec_json"])
    return {
        "experiment_id": experiment_id,
        "name": experiment["name"],
        "sharing": spec.get("sharing"),
        "runs": [{"id": r["id"], "kind": r["kind"], "tasks": r["tasks"], "seed": r["seed"], "status": r["status"],
                  "device": r["device"], "error": r["error"]} for r in runs],
        "tasks": compared.get("tasks", {}),
        "delta_m_pct": compared.get("delta_m_pct"),
        **({"delta_m_std": compared["delta_m_std"]} if compared.get("delta_m_std") is not None else {}),
        "sign_convention": SIGN_CONVENTION,
        "conflict": conflict,
    }


def _clean(value):
    value = float(value)
    return value if value == value else None
