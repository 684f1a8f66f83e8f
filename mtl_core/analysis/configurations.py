"""Comparison by configuration: every multi-task configuration of an experiment against its matched
single-task baselines. `show`, Compare, the relatedness map and the teaching lab all read this.

An experiment may hold many multi-task configurations (a sweep's λ grid × task subsets, a map's
pairs and all-task run, a grouping check's groups, a lesson's front). A configuration is what a
multi-task run trained apart from its seed: its tasks, their λ, the sharing mode (with λ_soft for
soft sharing, the layers for hierarchical sharing, the number of experts for MMoE) and every other
training setting. Settings that
only say how a run is measured (conflict / affinity / noise-floor intervals, probe inputs) or that
describe the experiment (seeds, name, baselines, device) are not part of it: measuring never
changes a run. A setting added after runs were stored (the decoder type) is part of the configuration and
the baseline identity only where it differs from its default, the value those runs trained with, so their ids
and matches stay as they were.

A task's baseline is the single-task run of that task with the same seed and the same training
settings (encoder, budget, optimiser, data), whose head reads the same encoder layer: in a
hierarchical experiment a token task's baseline is a tagger on the same lower layer.
"""
from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

from mtl_core.analysis.compare import RESULT_COLUMNS, compare_runs
from mtl_core.analysis.convergence import STILL_IMPROVING_NOTE, suggested_steps, task_convergence
from mtl_core.spec import DEFAULT_EXPERTS, ExperimentSpec
from mtl_core.weighting import label as weighting_label

# Say how a run is measured, where it runs, or what the experiment holds; never how a run trains.
NOT_TRAINING_FIELDS = frozenset({"conflict_every", "noise_floor", "affinity_every", "probe_examples",
                                 "seeds", "name", "baselines", "device", "gradient_route"})
# What a multi-task configuration sets beyond the training settings its baselines share.
MULTI_TASK_FIELDS = ("tasks", "weights", "weighting", "sharing", "soft_lambda", "layers", "experts")
# Training settings added after runs were stored, with the value every run stored without them trained with.
LATER_DEFAULTS = {"decoder_type": "gru"}


def _identity(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Settings as they enter an identity: a LATER_DEFAULTS field at its default is left out."""
    return {key: value for key, value in settings.items()
            if not (key in LATER_DEFAULTS and value == LATER_DEFAULTS[key])}


def run_settings(run: Mapping[str, Any]) -> dict[str, Any]:
    """The experiment settings a stored run was trained with."""
    return json.loads(run["spec_json"])["experiment"]


def head_layer(settings: Mapping[str, Any], task: str) -> int:
    """The encoder layer (1-based) that `task`'s head reads under these settings."""
    depth = ExperimentSpec.depth_for(settings["encoder"], settings["encoder_layers"])
    if settings["sharing"] == "hierarchical":
        return int(settings.get("layers", {}).get(task, depth))
    return depth


def configuration(run: Mapping[str, Any]) -> dict[str, Any]:
    """What a run trained, apart from its seed (see the module docstring)."""
    settings = run_settings(run)
    tasks = list(run["tasks"])
    config = {key: value for key, value in settings.items() if key not in NOT_TRAINING_FIELDS}
    for key, default in LATER_DEFAULTS.items():  # shown for every run; its id leaves the default out
        config[key] = settings.get(key, default)
    config["tasks"] = tasks
    config["weights"] = {t: float(settings.get("weights", {}).get(t, 1.0)) for t in tasks}
    config["weighting"] = weighting_of(settings)
    config["soft_lambda"] = settings["soft_lambda"] if settings["sharing"] == "soft" and len(tasks) > 1 else None
    config["layers"] = ({t: head_layer(settings, t) for t in tasks}
                        if settings["sharing"] == "hierarchical" else {})
    # MMoE's number of experts; other modes' configurations do not carry the field (their ids stay as they were).
    config.pop("experts", None)
    if settings["sharing"] == "mmoe" and len(tasks) > 1:
        config["experts"] = int(settings.get("experts", DEFAULT_EXPERTS))
    return config


def weighting_of(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The weighting method of stored settings ({"name", "options"}); static λ for runs stored before methods."""
    value = settings.get("weighting") or "static"
    if isinstance(value, str):
        value = {"name": value, "options": {}}
    return {"name": value.get("name", "static"), "options": dict(value.get("options") or {})}


def lambda_role(name: str | None) -> str | None:
    """How the named weighting method treats λ ('weights', 'start', 'ignored'); None for a name not registered."""
    from mtl_core.weighting import methods

    cls = methods().get(name or "static")
    return cls.lambdas if cls else None


def configuration_id(config: Mapping[str, Any]) -> str:
    """A short, stable name for a configuration (the Compare page keeps it in its link)."""
    digest = hashlib.sha1(json.dumps(_identity(config), sort_keys=True).encode()).hexdigest()
    return f"c{digest[:8]}"


def baseline_key(settings_or_config: Mapping[str, Any], task: str) -> str:
    """Runs with equal keys trained `task` alone or together under the same training settings and read it
    from the same layer: the identity a baseline must share with the multi-task run it is compared with."""
    training = {key: value for key, value in _identity(settings_or_config).items()
                if key not in NOT_TRAINING_FIELDS and key not in MULTI_TASK_FIELDS}
    training["task"] = task
    training["head_layer"] = head_layer({**settings_or_config, "layers": settings_or_config.get("layers") or {}},
                                        task)
    return json.dumps(training, sort_keys=True)


def _label(config: Mapping[str, Any], varying: list[str]) -> str:
    parts = ["+".join(config["tasks"])]
    if "weights" in varying and lambda_role(config.get("weighting", {}).get("name")) != "ignored":
        parts.append("λ " + ", ".join(f"{t}={config['weights'][t]:g}" for t in config["tasks"]))
    if "weighting" in varying:
        parts.append(weighting_label(config["weighting"]))
    if "sharing" in varying:
        parts.append(config["sharing"])
    if "soft_lambda" in varying and config["soft_lambda"] is not None:
        parts.append(f"λ_soft={config['soft_lambda']:g}")
    if "experts" in varying and config.get("experts") is not None:
        parts.append(f"E={config['experts']}")
    if "layers" in varying and config["layers"]:
        parts.append("layers " + ", ".join(f"{t}={config['layers'][t]}" for t in config["tasks"]))
    parts += [f"{key}={config.get(key)}" for key in varying if key not in MULTI_TASK_FIELDS]
    return " · ".join(parts)


def _varying(configs: list[dict]) -> list[str]:
    """Settings whose value differs between the configurations; λ and layers differ when one task gets
    different values in two configurations (a pair and the all-task run with λ = 1 each do not differ)."""
    varying = []
    for key in sorted({key for config in configs for key in config} - {"tasks"}):
        values = [config.get(key) for config in configs]
        if all(isinstance(value, dict) for value in values):
            per_task: dict[str, set] = {}
            for value in values:
                for task, item in value.items():
                    per_task.setdefault(task, set()).add(json.dumps(item))
            differs = any(len(seen) > 1 for seen in per_task.values())
        else:
            differs = len({json.dumps(value, sort_keys=True, default=str) for value in values}) > 1
        if differs:
            varying.append(key)
    return varying


def compare_configurations(runs: list[dict], cards: Mapping[str, Any],
                           validation: pd.DataFrame | None = None) -> list[dict]:
    """One entry per multi-task configuration, in the order of the experiment's runs.

    `cards`: task -> TaskCard (metric, higher_is_better). `validation`: the runs' validation rows
    (run_id, step, task, name, value) for the convergence check; None skips it.

    Each entry: {"id", "label", "configuration", "run_ids", "baseline_run_ids", and the `compare_runs`
    fields "tasks" (per task: mtl, stl, delta_pct, ..., "seed_deltas", "convergence"), "delta_m_pct",
    "delta_m_std", "delta_m_tasks", "sign_convention", plus "still_improving" (tasks whose curves
    were still rising), "suggested_steps" and "notes"}.
    """
    groups: dict[str, dict] = {}
    for run in runs:
        if run["kind"] != "mtl" or len(run["tasks"]) < 2:  # an experiment of one task trains it alone
            continue
        config = configuration(run)
        entry = groups.setdefault(configuration_id(config), {"configuration": config, "runs": []})
        entry["runs"].append(run)
    baselines: dict[tuple[str, int], dict] = {}
    for run in runs:
        if run["kind"] == "stl":
            key = (baseline_key(run_settings(run), run["tasks"][0]), run["seed"])
            if key not in baselines or run["status"] == "completed":
                baselines[key] = run
    varying = _varying([group["configuration"] for group in groups.values()])
    return [_compare_configuration(config_id, group["configuration"], group["runs"], baselines, cards,
                                   validation, varying)
            for config_id, group in groups.items()]


def _compare_configuration(config_id, config, mtl_runs, baselines, cards, validation, varying) -> dict:
    rows, baseline_runs, missing = [], {}, []
    for run in mtl_runs:
        for task in config["tasks"]:
            baseline = baselines.get((baseline_key(config, task), run["seed"]))
            if baseline is None:
                missing.append(task)
            else:
                baseline_runs[(task, run["seed"])] = baseline
            for kind, source in (("mtl", run), ("stl", baseline)):
                value = test_value(source, task, cards[task].metric)
                if value is not None:
                    rows.append({"task": task, "seed": run["seed"], "kind": kind, "value": value,
                                 "higher_is_better": cards[task].higher_is_better, "metric": cards[task].metric})
    compared = compare_runs(pd.DataFrame(rows, columns=list(RESULT_COLUMNS)))
    for task, others in _other_metrics(config["tasks"], mtl_runs, baseline_runs, cards).items():
        compared["tasks"][task]["other_metrics"] = others
    for task in config["tasks"]:  # a task with no completed run yet still has its row
        compared["tasks"].setdefault(task, {"metric": cards[task].metric,
                                            "higher_is_better": cards[task].higher_is_better, "mtl": None,
                                            "stl": None, "delta_pct": None, "n_seeds": 0, "seeds": [],
                                            "seed_deltas": []})
    notes = []
    if missing:
        notes.append(f"no single-task baseline with the same seed and training settings for "
                     f"{', '.join(sorted(set(missing)))}: no Δ for it here")
    still = []
    if validation is not None:
        for task, entry in compared["tasks"].items():
            curves = {"mtl": _curves(validation, [r["id"] for r in mtl_runs if r["status"] == "completed"],
                                     task, cards[task].metric),
                      "stl": _curves(validation, [b["id"] for (t, _), b in baseline_runs.items()
                                                  if t == task and b["status"] == "completed"],
                                     task, cards[task].metric)}
            entry["convergence"] = task_convergence(curves, cards[task].higher_is_better)
            if entry["convergence"]["still_improving"]:
                entry["note"] = STILL_IMPROVING_NOTE
                still.append(task)
    budget = config.get("steps") or max((r.get("total_steps") or 0 for r in mtl_runs), default=0)
    if still:
        notes.append(f"{', '.join(still)}: {STILL_IMPROVING_NOTE}; train longer (at least {suggested_steps(budget)} "
                     "steps) before reading Δ as transfer")
    return {
        "id": config_id,
        "label": _label(config, varying),
        "configuration": config,
        "run_ids": [r["id"] for r in mtl_runs],
        "baseline_run_ids": sorted({b["id"] for b in baseline_runs.values()}),
        **compared,
        "still_improving": still,
        "suggested_steps": suggested_steps(budget) if still else None,
        "notes": notes,
    }


# Reported beside a generation task's primary metric (its card's, used for Δ_t and Δm), as papers report both.
GENERATION_METRICS = ("bleu", "chrf")


def _other_metrics(tasks, mtl_runs, baseline_runs, cards) -> dict[str, dict[str, dict]]:
    """Per generation task, BLEU and chrF besides its primary metric: {metric: {mtl, stl, delta_pct, n_seeds}}
    from the same paired runs as the primary comparison (informational: Δm uses the primary metric only)."""
    out: dict[str, dict[str, dict]] = {}
    for task in tasks:
        if str(getattr(cards[task].kind, "value", cards[task].kind)) != "seq2seq":
            continue
        for metric in GENERATION_METRICS:
            if metric == cards[task].metric:
                continue
            rows = []
            for run in mtl_runs:
                for kind, source in (("mtl", run), ("stl", baseline_runs.get((task, run["seed"])))):
                    value = test_value(source, task, metric)
                    if value is not None:
                        rows.append({"task": task, "seed": run["seed"], "kind": kind, "value": value,
                                     "higher_is_better": True, "metric": metric})
            if rows:
                entry = compare_runs(pd.DataFrame(rows, columns=list(RESULT_COLUMNS)))["tasks"][task]
                out.setdefault(task, {})[metric] = {key: entry.get(key) for key in ("mtl", "stl", "delta_pct", "n_seeds")}
    return out


def test_value(run: Mapping[str, Any] | None, task: str, metric: str) -> float | None:
    """A completed run's test value of `task`'s metric; None when it has none (not finished, not finite)."""
    if run is None or run["status"] != "completed" or not run.get("result"):
        return None
    value = run["result"].get("test", {}).get(task, {}).get(metric)
    return None if value is None or not math.isfinite(value) else float(value)


def _curves(validation: pd.DataFrame, run_ids: list[str], task: str, metric: str) -> list[tuple]:
    """Per run, (steps, values) of the task's primary validation metric."""
    if not run_ids or validation.empty:
        return []
    rows = validation[(validation["task"] == task) & (validation["name"] == metric)
                      & validation["run_id"].isin(run_ids)]
    return [(part["step"].to_numpy(), part["value"].to_numpy(dtype=float))
            for _, part in rows.sort_values("step").groupby("run_id")]
