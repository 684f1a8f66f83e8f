"""Sweeps: seeds x λ settings x task subsets, expanded into runs of one experiment.

    run_specs = expand_grid(spec, weights_grid=[{"a": 1, "b": .5}, {"a": .5, "b": 1}], subsets="pairs")
    experiment_id, run_ids = submit_runs(get_backend(store=store), spec, run_specs)

Each run keeps the whole experiment (so every run shares its settings and vocabulary) and names its
own tasks; a weight setting is carried in the run's experiment. Single-task baselines do not depend on
λ or on the subset, so there is one per task per seed, however many subsets contain the task.
"""
from __future__ import annotations

import itertools
import json
import math
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from mtl_core.errors import UserError
from mtl_core.spec import ExperimentSpec, RunSpec

if TYPE_CHECKING:
    from mtl_core.jobs import Backend


def parse_weight_grid(text: str, tasks: list[str]) -> list[dict[str, float]]:
    """'a=1,b=0.5;a=0.5,b=1' -> [{'a': 1.0, 'b': 0.5}, {'a': 0.5, 'b': 1.0}] (tasks not named get 1.0)."""
    grid = []
    for chunk in text.split(";"):
        if not chunk.strip():
            continue
        setting = {}
        for item in chunk.split(","):
            if not item.strip():
                continue
            if "=" not in item:
                raise UserError(f"weight-grid: expected task=value pairs like '{tasks[0]}=1', got '{item.strip()}'",
                                field="weights")
            key, raw = (s.strip() for s in item.split("=", 1))
            if key in setting:  # which of the two values was meant cannot be guessed
                raise UserError(f"weight-grid: '{key}' is given twice in the setting {chunk.strip()!r}; "
                                "give each task once per setting", field="weights")
            try:
                setting[key] = float(raw)
            except ValueError:
                raise UserError(f"weight-grid: '{key}' must be a number, got {raw!r}", field="weights") from None
        grid.append(setting)
    if not grid:
        raise UserError("weight-grid: give at least one setting, e.g. \"a=1,b=0.5;a=0.5,b=1\"", field="weights")
    return grid


def _check_weights(setting: dict[str, Any], tasks: list[str]) -> dict[str, float]:
    out = {}
    for key, value in setting.items():
        if key not in tasks:
            raise UserError(f"weight-grid: '{key}' is not one of this experiment's tasks ({', '.join(tasks)})",
                            field="weights")
        value = float(value)
        if not math.isfinite(value) or value < 0:
            raise UserError(f"weight-grid: '{key}' must be a finite number ≥ 0, got {value}", field="weights")
        out[key] = value
    return {t: out.get(t, 1.0) for t in tasks}


def _subsets(spec: ExperimentSpec, subsets) -> list[list[str]]:
    if subsets is None:
        return [list(spec.tasks)]
    if subsets == "pairs":
        if len(spec.tasks) < 2:
            raise UserError("pairs: needs at least two tasks", field="tasks")
        return [list(p) for p in itertools.combinations(spec.tasks, 2)]
    if isinstance(subsets, str):
        raise UserError(f"subsets: 'pairs' or a list of task lists, got {subsets!r}", field="tasks")
    out = []
    for subset in subsets:
        subset = [str(t) for t in subset]
        unknown = [t for t in subset if t not in spec.tasks]
        if unknown:
            raise UserError(f"subsets: {', '.join(unknown)} not among the experiment's tasks "
                            f"({', '.join(spec.tasks)})", field="tasks")
        if not subset or len(set(subset)) != len(subset):
            raise UserError(f"subsets: each subset needs distinct tasks, got {subset}", field="tasks")
        out.append([t for t in spec.tasks if t in subset])  # the experiment's order
    return out


def parse_weighting_grid(text: str) -> list[str]:
    """'static,pcgrad,famo' -> ['static', 'pcgrad', 'famo'] (each checked against the registry)."""
    from mtl_core.weighting import get_method

    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise UserError("weighting-grid: give at least one method, e.g. static,pcgrad,famo", field="weighting")
    for name in names:
        get_method(name)
    if len(set(names)) != len(names):
        raise UserError(f"weighting-grid: each method once, got {', '.join(names)}", field="weighting")
    return names


def _method_settings(spec: ExperimentSpec, weighting_grid, weight_settings: list[dict[str, float]]
                     ) -> list[tuple[Any, dict[str, float]]]:
    """(weighting, λ) pairs: a method that ignores λ runs once, with λ = 1, beside every λ setting of the others."""
    from mtl_core.weighting import get_method

    if not weighting_grid:
        return [(spec.weighting, weights) for weights in weight_settings]
    out = []
    for method in weighting_grid:
        name = method if isinstance(method, str) else method.get("name")
        if get_method(name).lambdas == "ignored":
            out.append((method, {t: 1.0 for t in spec.tasks}))
        else:
            out.extend((method, weights) for weights in weight_settings)
    return out


def expand_grid(spec: ExperimentSpec, *, weights_grid: list[dict[str, float]] | None = None,
                subsets: list[list[str]] | str | None = None, weighting_grid: list | None = None) -> list[RunSpec]:
    """seeds x (weighting method x λ settings) x subsets multi-task runs, then one single-task baseline per task
    and seed.

    A subset of one task is a single-task run. Identical runs (e.g. the same weights restricted to a
    pair) are kept once. Baselines follow spec.baselines; they train static λ whatever the methods swept.
    """
    spec = spec.validated()
    groups = _subsets(spec, subsets)
    settings = [_check_weights(w, spec.tasks) for w in weights_grid] if weights_grid else [dict(spec.weights)]
    configurations = []
    for method, weights in _method_settings(spec, weighting_grid, settings):
        try:  # each configuration is a whole spec, checked as one (a method refused with soft sharing, ...)
            configurations.append(replace(spec, weights=weights, weighting=method).validated())
        except UserError as exc:
            raise UserError(f"weighting-grid: {exc}", field=exc.field) from None
    runs: list[RunSpec] = []
    seen: set[tuple] = set()
    for seed in spec.seeds:
        for subset in groups:
            for configured in configurations:
                kind = "mtl" if len(subset) > 1 else "stl"
                weights = configured.weights
                relevant = {t: weights[t] for t in subset} if kind == "mtl" else {}
                method = json.dumps(configured.weighting, sort_keys=True) if kind == "mtl" else ""
                key = (kind, tuple(subset), seed, json.dumps(relevant, sort_keys=True), method)
                if key in seen:
                    continue
                if kind == "mtl" and all(relevant[t] == 0 for t in subset):
                    continue  # nothing would be trained
                seen.add(key)
                experiment = configured if kind == "mtl" else spec
                runs.append(RunSpec(kind=kind, tasks=list(subset), seed=seed, experiment=experiment))
        if spec.baselines:
            covered = [t for t in spec.tasks if any(t in g for g in groups)]
            for task in covered:
                key = ("stl", (task,), seed, "{}", "")
                if key not in seen:
                    seen.add(key)
                    runs.append(RunSpec(kind="stl", tasks=[task], seed=seed, experiment=spec))
    return runs


def submit_runs(backend: "Backend", spec: ExperimentSpec, run_specs: list[RunSpec], kind: str = "sweep"
                ) -> tuple[str, list[str]]:
    """Submit expanded runs as one experiment (one id groups them) through any backend."""
    if not run_specs:
        raise UserError("sweep: the grid expands to no runs")
    return backend.submit(spec, run_specs=run_specs, kind=kind)
