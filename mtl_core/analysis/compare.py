"""Multi-task versus single-task: the relative change Δ_t per task and its mean Δm over tasks.

Sign convention everywhere: positive = multi-task better than single-task, whatever the metric's
direction (SCIENCE.md, "Comparing with single-task baselines"). The denominator is |M_stl|, not
M_stl: for a metric that can be negative (Pearson r) dividing by a negative baseline would flip the
sign, and positive must keep meaning "multi-task helps". A zero or non-finite baseline gives nan.

Seeds are paired: the MTL and STL runs that share a seed are compared with each other, and a task's
Δ is the mean of its per-seed Δs (not Δ of the mean metrics), so its std is the seed-to-seed spread
of the comparison itself.
"""
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from mtl_core.errors import UserError
from mtl_core.jsonable import finite_or_none

SIGN_CONVENTION = "positive = multi-task better than single-task"

RESULT_COLUMNS = ("task", "seed", "kind", "value", "higher_is_better", "metric")


def delta_pct(mtl: float, stl: float, higher_is_better: bool) -> float:
    """Δ_t = s_t (M_mtl − M_stl) / |M_stl| × 100, s_t = +1 if higher is better else −1.

    nan when the baseline is 0 or either value is not finite.
    """
    mtl, stl = float(mtl), float(stl)
    if stl == 0 or not (np.isfinite(mtl) and np.isfinite(stl)):
        return float("nan")
    sign = 1.0 if higher_is_better else -1.0
    return sign * (mtl - stl) / abs(stl) * 100.0


def paired_deltas(
    mtl: float | Sequence[float], stl: float | Sequence[float], higher_is_better: bool
) -> np.ndarray:
    """Per-seed Δ_t of MTL values against STL values paired by position.

    A single STL value serves as the baseline of every MTL seed (and vice versa).
    """
    mtl_values = np.atleast_1d(np.asarray(mtl, dtype=float))
    stl_values = np.atleast_1d(np.asarray(stl, dtype=float))
    if len(mtl_values) != len(stl_values) and 1 not in (len(mtl_values), len(stl_values)):
        raise UserError(
            f"seeds: cannot pair {len(mtl_values)} multi-task values with "
            f"{len(stl_values)} single-task values; give one baseline or one per seed",
            field="seeds",
        )
    mtl_values, stl_values = np.broadcast_arrays(mtl_values, stl_values)
    return np.array([delta_pct(m, s, higher_is_better) for m, s in zip(mtl_values, stl_values)])


def delta_m(deltas: Mapping[str, float | Sequence[float]]) -> float:
    """Δm = mean over tasks of Δ_t; a task with several metrics is averaged first (as LibMTL does).

    nan if any task's Δ is nan: a missing comparison must not quietly drop out of the mean.
    """
    if not deltas:
        raise UserError("deltas: need at least one task, got none", field="deltas")
    per_task = [float(np.mean(np.atleast_1d(np.asarray(value, dtype=float)))) for value in deltas.values()]
    return float(np.mean(per_task))


def compare_runs(results: pd.DataFrame) -> dict:
    """Compare multi-task with single-task runs, task by task, seeds paired.

    `results` is a long table with columns task, seed, kind ('mtl' or 'stl'), value,
    higher_is_better, metric: one row per (task, seed, kind), one metric per task.

    Returns a JSON-ready dict:
      {"tasks": {task: {"metric", "higher_is_better", "mtl", "stl", "delta_pct", "n_seeds", "seeds",
                        "seed_deltas" (Δ per paired seed, in the order of "seeds"),
                        and with ≥ 2 paired seeds "mtl_std", "stl_std", "delta_std"}},
       "delta_m_pct", "delta_m_tasks", "delta_m_std" (with ≥ 2 seeds paired on every compared task),
       "sign_convention"}
    mtl/stl are means over the paired seeds; a task with no single-task partner has delta_pct None,
    mtl the mean over its multi-task seeds, and is left out of Δm (delta_m_tasks lists who is in).
    Stds use ddof=1.
    """
    table = _validated_results(results)
    tasks: dict[str, dict] = {}
    per_seed_deltas: dict[str, pd.Series] = {}
    for task, rows in table.groupby("task", sort=True):
        tasks[task], paired = _compare_task(task, rows)
        if paired is not None:
            per_seed_deltas[task] = paired

    summary: dict = {"tasks": tasks, "sign_convention": SIGN_CONVENTION}
    compared = sorted(per_seed_deltas)
    summary["delta_m_tasks"] = compared
    summary["delta_m_pct"] = finite_or_none(delta_m({t: tasks[t]["delta_pct"] for t in compared})) if compared else None
    # Per-seed Δm needs every compared task measured on that seed.
    per_seed = pd.DataFrame(per_seed_deltas).dropna() if compared else pd.DataFrame()
    if len(per_seed) >= 2:
        summary["delta_m_std"] = finite_or_none(per_seed.mean(axis=1).std(ddof=1))
    return summary


def negative_transfer(summary: dict) -> list[str]:
    """Tasks of a `compare_runs` summary whose Δ_t < 0: multi-task training hurt them."""
    return [
        task
        for task, entry in summary["tasks"].items()
        if entry["delta_pct"] is not None and entry["delta_pct"] < 0
    ]


def _validated_results(results: pd.DataFrame) -> pd.DataFrame:
    missing = [column for column in RESULT_COLUMNS if column not in results.columns]
    if missing:
        raise UserError(f"results: missing columns {missing}; need {list(RESULT_COLUMNS)}", field="results")
    bad_kinds = sorted(set(results["kind"]) - {"mtl", "stl"})
    if bad_kinds:
        raise UserError(f"results: kind must be 'mtl' or 'stl', got {bad_kinds}", field="kind")
    duplicated = results.duplicated(["task", "seed", "kind"])
    if duplicated.any():
        first = results[duplicated].iloc[0]
        raise UserError(
            f"results: more than one row for task {first['task']!r}, seed {_json_scalar(first['seed'])!r}, "
            f"kind {first['kind']!r}",
            field="results",
        )
    for column in ("metric", "higher_is_better"):
        per_task = results.groupby("task")[column].nunique()
        if (per_task > 1).any():
            raise UserError(
                f"results: task {per_task[per_task > 1].index[0]!r} has more than one {column}; "
                "compare one metric per task",
                field=column,
            )
    return results


def _compare_task(task: str, rows: pd.DataFrame) -> tuple[dict, pd.Series | None]:
    """One task's entry, and its per-seed Δ indexed by seed (None without a baseline)."""
    higher_is_better = bool(rows["higher_is_better"].iloc[0])
    by_kind = {kind: part.set_index("seed")["value"].astype(float) for kind, part in rows.groupby("kind")}
    mtl = by_kind.get("mtl", pd.Series(dtype=float))
    stl = by_kind.get("stl", pd.Series(dtype=float))
    seeds = sorted(set(mtl.index) & set(stl.index))
    entry: dict = {"metric": rows["metric"].iloc[0], "higher_is_better": higher_is_better}
    if not seeds:
        entry.update(
            mtl=finite_or_none(mtl.mean()) if len(mtl) else None,
            stl=finite_or_none(stl.mean()) if len(stl) else None,
            delta_pct=None,
            n_seeds=0,
            seeds=[],
            seed_deltas=[],
        )
        return entry, None

    mtl, stl = mtl.loc[seeds], stl.loc[seeds]
    deltas = pd.Series(paired_deltas(mtl.to_numpy(), stl.to_numpy(), higher_is_better), index=seeds)
    entry.update(
        mtl=finite_or_none(mtl.mean()),
        stl=finite_or_none(stl.mean()),
        delta_pct=finite_or_none(deltas.mean()),
        n_seeds=len(seeds),
        seeds=[_json_scalar(seed) for seed in seeds],
        seed_deltas=[finite_or_none(value) for value in deltas],
    )
    if len(seeds) >= 2:
        entry.update(
            mtl_std=finite_or_none(mtl.std(ddof=1)),
            stl_std=finite_or_none(stl.std(ddof=1)),
            delta_std=finite_or_none(deltas.std(ddof=1)),
        )
    return entry, deltas


def _json_scalar(value):
    return value.item() if isinstance(value, np.generic) else value
