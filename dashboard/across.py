"""Runs and configurations across experiments as plain tables: the runs table, its filters and group-by,
the fields that vary between configurations, and the Pareto front of their Δ_t. No Streamlit, no plotly.

    table = runs_table(store.runs(), store.experiments(), cards)
    shown = filter_runs(table, tasks=["synth_1"], sharing=["hard"], weighting=[], status=["completed"])
    groups = group_runs(shown, "lr")

    frame = configurations_frame([(row, experiment_summary(store, row["id"])) for row in ...])
    points = front_frame(frame, ["synth_1", "synth_2"])   # Δ for both tasks, ON_FRONT: the Pareto front
    fields = varying_fields(points)

A run's settings are read through `mtl_core.analysis.configurations.configuration`, the description
Compare and `show` use; Δ_t and Δm are copied from `experiment_summary(...)["configurations"]` (the
one comparison of a multi-task configuration with its matched baselines), never recomputed here.
"""
from __future__ import annotations

import io
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from mtl_core.analysis.configurations import configuration, test_value
from mtl_core.weighting import label as weighting_label

# Fields of a run that are not settings: who it is and how far it got.
IDENTITY_COLUMNS = ["run", "experiment", "experiment name", "kind", "tasks", "seed", "status", "step", "total steps"]
# Settings a single-task baseline does not have (it shares nothing and trains one loss).
MULTI_TASK_ONLY = ("sharing", "weighting", "weights", "soft_lambda", "experts")
FILTERS = ("tasks", "sharing", "weighting", "status")
NONE_TEXT = "—"


def lambda_column(task: str) -> str:
    return f"λ {task}"


def layer_column(task: str) -> str:
    return f"layer {task}"


def test_column(task: str, metric: str) -> str:
    return f"test {task} {metric}"


def delta_column(task: str) -> str:
    return f"Δ {task} %"


DELTA_M = "Δm %"
ON_FRONT = "on the front"


def delta_columns(tasks: Iterable[str]) -> list[str]:
    return [delta_column(task) for task in tasks]


def flat_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    """A configuration as one flat row: the weighting method as its label ("cagrad (c=0.5)"), λ and head
    layers one column per task ("λ synth_1", "layer synth_1"), the tasks as "a+b"; other fields as they are."""
    row: dict[str, Any] = {}
    for key, value in config.items():
        if key == "tasks":
            row["tasks"] = "+".join(value)
        elif key == "weighting":
            row["weighting"] = weighting_label(value) if value else None
        elif key == "weights":
            row.update({lambda_column(task): weight for task, weight in (value or {}).items()})
        elif key == "layers":
            row.update({layer_column(task): layer for task, layer in (value or {}).items()})
        elif isinstance(value, (dict, list)):
            row[key] = json.dumps(value, sort_keys=True)
        else:
            row[key] = value
    return row


def _ordered(columns: Iterable[str], first: Sequence[str]) -> list[str]:
    columns = list(dict.fromkeys(columns))
    head = [c for c in first if c in columns]
    per_task = sorted(c for c in columns if c.startswith(("λ ", "layer ")) and c not in head)
    rest = sorted(c for c in columns if c not in head and c not in per_task)
    return head + per_task + rest


def runs_table(runs: Sequence[Mapping[str, Any]], experiments: pd.DataFrame,
               cards: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """One row per run of every experiment, in the store's order (oldest first).

    Columns: IDENTITY_COLUMNS (tasks as "a+b"), then the run's settings (`flat_settings` of its
    configuration; a single-task run's sharing, weighting, λ, λ_soft and experts are empty), then the
    test value of each task's primary metric, "test <task> <metric>" (empty until the run completed, and for
    tasks the run did not train). `cards`: task id -> card dict with "metric".
    """
    names = dict(zip(experiments["id"], experiments["name"])) if len(experiments) else {}
    rows, setting_columns, tests = [], [], []
    for run in runs:
        settings = flat_settings(configuration(run))
        if run["kind"] != "mtl":
            for key in list(settings):
                if key in MULTI_TASK_ONLY or key.startswith("λ "):
                    settings[key] = None
        row = {"run": run["id"], "experiment": run["experiment_id"], "experiment name": names.get(run["experiment_id"]),
               "kind": run["kind"], "tasks": "+".join(run["tasks"]), "seed": run["seed"], "status": run["status"],
               "step": run["step"], "total steps": run.get("total_steps")}
        settings.pop("tasks", None)
        row.update(settings)
        setting_columns += list(settings)
        for task in run["tasks"]:
            metric = (cards.get(task) or {}).get("metric")
            if metric:
                column = test_column(task, metric)
                tests.append(column)
                row[column] = test_value(run, task, metric)
        rows.append(row)
    columns = IDENTITY_COLUMNS + _ordered(setting_columns, ["sharing", "weighting"]) + sorted(set(tests))
    table = pd.DataFrame(rows, columns=columns)
    for column in set(tests):
        table[column] = pd.to_numeric(table[column], errors="coerce")
    return table


def filter_options(table: pd.DataFrame) -> dict[str, list[str]]:
    """The values each filter offers: every task that appears in a run, and the sharing modes, weighting
    methods and statuses present in the table (sorted; empty values left out)."""
    tasks = sorted({task for value in table["tasks"] for task in str(value).split("+")})
    options = {"tasks": tasks}
    for column in FILTERS[1:]:
        options[column] = sorted(str(v) for v in table[column].dropna().unique())
    return options


def filter_runs(table: pd.DataFrame, *, tasks: Iterable[str] = (), sharing: Iterable[str] = (),
                weighting: Iterable[str] = (), status: Iterable[str] = ()) -> pd.DataFrame:
    """The rows that pass every filter; an empty filter passes everything.

    tasks: a run passes when it trained at least one of them; sharing / weighting / status: its value is
    one of those given (a single-task run has no sharing or weighting, so either filter leaves it out).
    """
    keep = pd.Series(True, index=table.index)
    tasks = set(tasks)
    if tasks:
        keep &= table["tasks"].map(lambda value: bool(tasks & set(str(value).split("+"))))
    for column, allowed in (("sharing", sharing), ("weighting", weighting), ("status", status)):
        allowed = set(allowed)
        if allowed:
            keep &= table[column].isin(allowed)
    return table[keep].reset_index(drop=True)


def test_columns(table: pd.DataFrame) -> list[str]:
    return [c for c in table.columns if c.startswith("test ")]


def group_fields(table: pd.DataFrame) -> list[str]:
    """The columns a table can be grouped by: every identity and setting column except the run's own id,
    its step and its test values."""
    return [c for c in table.columns if c not in ("run", "step", "total steps") and not c.startswith("test ")]


def group_runs(table: pd.DataFrame, field: str) -> pd.DataFrame:
    """One row per value of `field` (empty values form their own group, shown as "—"), sorted by it.

    Columns: field, "runs" (how many), "completed" (how many completed), then for each test column its
    mean and sample standard deviation over the group's runs that have it ("<column> mean", "<column> std";
    the std is empty for fewer than two values).
    """
    if field not in table.columns:
        raise KeyError(f"group by: no column '{field}'; choose one of {', '.join(group_fields(table))}")
    tests = test_columns(table)
    keys = table[field].map(lambda value: NONE_TEXT if _missing(value) else value)
    rows = []
    for value, part in table.groupby(keys, sort=False, dropna=False):
        row = {field: value, "runs": len(part), "completed": int((part["status"] == "completed").sum())}
        for column in tests:
            values = part[column].dropna().to_numpy(dtype=float)
            row[f"{column} mean"] = float(values.mean()) if len(values) else None
            row[f"{column} std"] = float(values.std(ddof=1)) if len(values) > 1 else None
        rows.append(row)
    out = pd.DataFrame(rows, columns=[field, "runs", "completed",
                                      *(f"{c} {stat}" for c in tests for stat in ("mean", "std"))])
    order = sorted(range(len(out)), key=lambda i: _sort_key(out[field].iloc[i]))
    out = out.iloc[order].reset_index(drop=True)
    for column in out.columns[3:]:
        out[column] = pd.to_numeric(out[column], errors="coerce")
    return out


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


def _sort_key(value: Any) -> tuple:
    """Numbers in numeric order, then text, then the empty group."""
    if isinstance(value, str):
        return (2, 0.0, "") if value == NONE_TEXT else (1, 0.0, value)
    if isinstance(value, (bool, np.bool_)):
        return (1, 0.0, str(value))
    return (0, float(value), "")


# ---- configurations across experiments -----------------------------------------------------------
CONFIGURATION_IDENTITY = ["name", "experiment", "experiment name", "configuration", "label", "tasks"]


def experiment_name(experiment: Mapping[str, Any]) -> str:
    """An experiments() row's name, or its id when it has none."""
    name = experiment["name"]
    return experiment["id"] if _missing(name) or name == "" else str(name)


def configurations_frame(summaries: Iterable[tuple[Mapping[str, Any], Mapping[str, Any]]]) -> pd.DataFrame:
    """One row per multi-task configuration of the given experiments.

    `summaries`: (experiments() row, experiment_summary(store, id)) pairs. Columns:
    CONFIGURATION_IDENTITY ("name": "<experiment name or id> · <label>", "configuration": its id, "label": its
    label in that experiment, "tasks": "a+b"),
    the configuration's settings (`flat_settings`), "Δ <task> %" for each task it trained and "Δm %" as
    experiment_summary has them (empty until a multi-task run and its baselines completed), "seeds" (the
    fewest paired seeds of its tasks), and "test <task> <metric>": the multi-task runs' test value of each
    task's primary metric, mean over seeds (experiment_summary's "mtl").
    """
    rows, setting_columns, tasks, tests = [], [], [], []
    for experiment, summary in summaries:
        for entry in summary.get("configurations", []):
            settings = flat_settings(entry["configuration"])
            row = {"name": f"{experiment_name(experiment)} · {entry['label']}",
                   "experiment": experiment["id"], "experiment name": experiment["name"],
                   "configuration": entry["id"], "label": entry["label"], "tasks": settings.pop("tasks")}
            row.update(settings)
            setting_columns += list(settings)
            for task, values in entry["tasks"].items():
                tasks.append(task)
                row[delta_column(task)] = values.get("delta_pct")
            row[DELTA_M] = entry.get("delta_m_pct")
            row["seeds"] = min((values.get("n_seeds", 0) for values in entry["tasks"].values()), default=0)
            for task, values in entry["tasks"].items():
                column = test_column(task, values["metric"])
                tests.append(column)
                row[column] = values.get("mtl")
            rows.append(row)
    deltas = delta_columns(dict.fromkeys(tasks))
    tests = list(dict.fromkeys(tests))
    columns = (CONFIGURATION_IDENTITY + _ordered(setting_columns, ["sharing", "weighting"]) + deltas
               + [DELTA_M, "seeds"] + tests)
    frame = pd.DataFrame(rows, columns=columns)
    for column in [*deltas, DELTA_M, *tests]:
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    return frame


def task_set(tasks: str) -> str:
    """One name for a set of tasks whatever their order: "b+a" and "a+b" are both "a+b"."""
    return "+".join(sorted(str(tasks).split("+")))


def multi_task_sets(table: pd.DataFrame) -> list[str]:
    """The task sets (`task_set`) the multi-task runs of a runs_table trained, the most runs first (ties: the
    first to appear first)."""
    sets = [task_set(tasks) for kind, tasks in zip(table["kind"], table["tasks"]) if kind == "mtl" and "+" in tasks]
    return sorted(dict.fromkeys(sets), key=lambda value: (-sets.count(value), sets.index(value)))


def experiments_on(table: pd.DataFrame, tasks: str) -> list[str]:
    """The experiments of a runs_table with a multi-task run on this task set, in the table's order."""
    rows = table[(table["kind"] == "mtl") & (table["tasks"].map(task_set) == task_set(tasks))]
    return list(dict.fromkeys(rows["experiment"]))


def setting_columns(frame: pd.DataFrame) -> list[str]:
    """The settings columns of a configurations_frame (neither identity, Δ, test values, seeds nor front
    membership)."""
    return [c for c in frame.columns if c not in CONFIGURATION_IDENTITY and not c.startswith(("Δ", "test "))
            and c not in ("seeds", ON_FRONT)]


def varying_fields(frame: pd.DataFrame) -> list[str]:
    """The settings whose value is not the same in every row (an empty value counts as a value of its own)."""
    out = []
    for column in setting_columns(frame):
        values = {NONE_TEXT if _missing(v) else json.dumps(v, sort_keys=True, default=str) for v in frame[column]}
        if len(values) > 1:
            out.append(column)
    return out


def pareto_front(values: np.ndarray) -> list[bool]:
    """Per row of `values` (configurations × tasks, higher is better on every column): True when no other
    row dominates it, i.e. is at least as good on every task and better on one. Equal rows do not dominate
    each other, so ties are on the front together."""
    values = np.asarray(values, dtype=float)
    out = []
    for i in range(len(values)):
        others = np.delete(values, i, axis=0)
        dominated = ((others >= values[i]).all(axis=1) & (others > values[i]).any(axis=1)).any()
        out.append(not bool(dominated))
    return out


def front_frame(frame: pd.DataFrame, tasks: Sequence[str], columns: Sequence[str] | None = None,
                higher_is_better: Sequence[bool] | None = None) -> pd.DataFrame:
    """The configurations of `frame` on exactly `tasks` (in any order) that have a value in every one of
    `columns` (default: Δ of each task), with ON_FRONT, the Pareto front over those columns (`pareto_front`;
    `higher_is_better` per column, default all True as for Δ, so a test metric such as mse can be given with
    False). Rows still waiting for a value are left out."""
    columns = list(columns or delta_columns(tasks))
    signs = np.array([1.0 if better else -1.0 for better in (higher_is_better or [True] * len(columns))])
    same = frame["tasks"].map(task_set) == task_set("+".join(tasks))
    rows = frame[same & frame[columns].notna().all(axis=1)].reset_index(drop=True)
    rows[ON_FRONT] = pareto_front(rows[columns].to_numpy(dtype=float) * signs) if len(rows) else \
        pd.Series(dtype=bool)
    return rows


def csv_text(frame: pd.DataFrame) -> str:
    """A table exactly as the page shows it, as CSV (empty cells for missing values)."""
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return buffer.getvalue()
