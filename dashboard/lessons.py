"""The Teaching lab's lessons as plain data: settings ⇄ URL, the runs each lesson submits, the numbers it reports.

Six lessons, each a few small runs through the background backend (the page never trains):

    relatedness  synth_1 + synth_2 at correlation p: shared model vs separate models, gradient cosine
    weights      a sweep of static loss weightings λ: the trade-off front of the two tasks' test MSE
    soft         soft sharing at several λ_soft (plus hard sharing): ‖θ_t − θ_s‖ and per-task results
    attach       hierarchical sharing on ATIS: slots low / intent high, and the reverse
    methods      adaptive loss-weighting methods (uw, pcgrad, famo, mgda, ...) against a grid of static λ
    languages    translation: English → Spanish trained with French (related) or with Japanese (distant)

Every setting lives in the URL (`?lesson=relatedness&p=0.2`), so a link reproduces a lesson. An
experiment's name is the lesson's signature (`lab relatedness p=0.2 steps=400 …`): the page finds
earlier runs of the same settings in the store and shows them at once instead of training again.
No Streamlit in this module.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd

from mtl_core.spec import ExperimentSpec, RunSpec

LESSONS = ("relatedness", "weights", "soft", "attach", "methods", "languages")
SYNTH = ("synth_1", "synth_2")
ATIS = ("atis_slots", "atis_intent")
NAME_PREFIX = "lab"

# Synthetic budget chosen by measurement (see the lab's report in the commit message): an 8-unit
# shared bottom, learning rate 0.01, 400 steps on all 2000 training rows, 3 runs in ≈ 10 s on a
# laptop CPU. With p = 1 the shared model beat separate models (Δm ≈ +5 %) and the gradient cosine
# was ≈ 0.5; with p = 0 it lost (Δm ≈ −16 %) and the cosine sat at the noise floor (≈ 0).
SYNTH_HIDDEN = 8
SYNTH_LR = 0.01
SYNTH_TRAIN = 2000
CONFLICT_EVERY = 5
# Static weightings of the "Loss weights" sweep: (λ_synth_1, λ_synth_2), from task 1 only-ish to task 2.
WEIGHT_GRID = ((1.0, 0.1), (1.0, 0.3), (1.0, 1.0), (0.3, 1.0), (0.1, 1.0))
SOFT_CHOICES = (0.0, 0.001, 0.01, 0.1, 1.0, 10.0)
# "Does a clever weighting method beat tuned weights?": the adaptive methods a user may add to the static grid
# (every registered method but static λ), and the ones picked by default.
METHOD_DEFAULT = ("famo", "mgda", "pcgrad", "uw")
# Its static front: λ that keep λ₁ + λ₂ = 2, as the methods' λ = 1 for both does, so the total step size is the
# same for every point. Measured at p = 0, 400 steps: with the weights lesson's grid λ = 0.1 left its task at
# Δ ≈ −700 % and flattened the chart; with this grid the far end (0.4 on synth_1) still lags (Δ ≈ −380 %, the
# page's still-improving note says so) while the methods and the middle of the front sit at Δ ≈ −15 … −65 %.
METHOD_GRID = ((1.6, 0.4), (1.3, 0.7), (1.0, 1.0), (0.7, 1.3), (0.4, 1.6))
# "Where to attach a task": the two placements compared, as (atis_slots layer, atis_intent layer).
PLACEMENTS = {"slots_low": (1, 2), "slots_high": (2, 1)}
# "Do languages help each other?": the target direction, a related and a distant partner (emoji names, whose
# catalog cards list French as related to Spanish and Japanese as distant), and the small model that trains the
# five runs (two pairs, three baselines) in about two and a half minutes on a loaded 2-core machine at 200 steps.
# At that budget the curves are still rising (the summary says so): the lesson shows the gradient cosine, which
# is measured from the first steps, beside a gain that is still mostly about learning speed.
TARGET, RELATED, DISTANT = "emoji_en_es", "emoji_en_fr", "emoji_en_ja"
LANGUAGE_PAIRS = {"related": (TARGET, RELATED), "distant": (TARGET, DISTANT)}
LANGUAGE_MODEL = dict(hidden_size=32, encoder_layers=1, max_decode_examples=32, max_eval_examples=200,
                      conflict_every=5)


@dataclass(frozen=True)
class Setting:
    """One lesson setting: its URL name, default and allowed range (a ValueError outside it)."""

    name: str
    default: Any
    low: float
    high: float
    step: float = 1
    kind: type = int

    def parse(self, raw: Any) -> Any:
        value = self.kind(float(raw)) if self.kind is int else float(raw)
        if not (math.isfinite(value) and self.low <= value <= self.high):
            raise ValueError(raw)
        return value


def _soft_list(raw: Any) -> tuple[float, ...]:
    values = sorted({float(v) for v in str(raw).split(",") if v.strip()})
    if not values or any(v not in SOFT_CHOICES for v in values):
        raise ValueError(raw)
    return tuple(values)


def method_choices() -> tuple[str, ...]:
    """The adaptive weighting methods of the registry (registry order: loss-based, then gradient-based)."""
    from mtl_core import weighting

    return tuple(name for name, cls in weighting.methods().items() if cls.family != "static")


def _method_list(raw: Any) -> tuple[str, ...]:
    """'uw,pcgrad' -> ('pcgrad', 'uw'): sorted, so a link's order does not change the experiment."""
    wanted = {v.strip() for v in str(raw).split(",") if v.strip()}
    if not wanted or not wanted <= set(method_choices()):
        raise ValueError(raw)
    return tuple(sorted(wanted))


SETTINGS: dict[str, tuple[Setting, ...]] = {
    "relatedness": (Setting("p", 1.0, -1.0, 1.0, 0.1, float), Setting("steps", 400, 50, 2000, 50),
                    Setting("seeds", 1, 1, 3)),
    "weights": (Setting("w1", 1.0, 0.0, 2.0, 0.1, float), Setting("w2", 0.3, 0.0, 2.0, 0.1, float),
                Setting("p", 0.5, -1.0, 1.0, 0.1, float), Setting("steps", 400, 50, 2000, 50)),
    "soft": (Setting("p", 0.5, -1.0, 1.0, 0.1, float), Setting("steps", 400, 50, 2000, 50)),
    "attach": (Setting("steps", 150, 20, 1000, 10), Setting("max_train", 600, 100, 4000, 100)),
    "methods": (Setting("p", 0.0, -1.0, 1.0, 0.1, float), Setting("steps", 400, 50, 2000, 50),
                Setting("seeds", 1, 1, 3)),
    "languages": (Setting("steps", 200, 50, 3000, 50), Setting("seeds", 1, 1, 3)),
}
SOFT_DEFAULT = (0.0, 0.01, 0.1, 1.0)
# Lists (not sliders) that a lesson keeps in the URL, with their parser, default and allowed values.
LIST_SETTINGS: dict[str, dict[str, tuple[Callable[[Any], Any], Any, Callable[[], tuple]]]] = {
    "soft": {"soft": (_soft_list, SOFT_DEFAULT, lambda: SOFT_CHOICES)},
    "methods": {"methods": (_method_list, METHOD_DEFAULT, method_choices)},
}


def defaults(lesson: str) -> dict[str, Any]:
    values = {s.name: s.default for s in SETTINGS[lesson]}
    values.update({name: default for name, (_, default, _) in LIST_SETTINGS.get(lesson, {}).items()})
    return values


def _format(value: Any) -> str:
    if isinstance(value, (tuple, list)):
        return ",".join(_format(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def parse_query(params: Mapping[str, Any]) -> tuple[str, dict[str, Any], list[str]]:
    """(lesson, its settings, notes on ignored values) from URL query parameters; never fails."""
    params = {k: (v[-1] if isinstance(v, (list, tuple)) and v else v) for k, v in params.items()}
    notes = []
    lesson = params.get("lesson", LESSONS[0])
    if lesson not in LESSONS:
        notes.append(f"lesson={lesson!r} ignored: one of {', '.join(LESSONS)}")
        lesson = LESSONS[0]
    values = defaults(lesson)
    for setting in SETTINGS[lesson]:
        if setting.name in params:
            try:
                values[setting.name] = setting.parse(params[setting.name])
            except (TypeError, ValueError):
                notes.append(f"{setting.name}={params[setting.name]!r} ignored: a number from {setting.low:g} "
                             f"to {setting.high:g}")
    for name, (parse, _, choices) in LIST_SETTINGS.get(lesson, {}).items():
        if name in params:
            try:
                values[name] = parse(params[name])
            except (TypeError, ValueError):
                notes.append(f"{name}={params[name]!r} ignored: comma-separated values from "
                             f"{', '.join(_format(v) for v in choices())}")
    return lesson, values, notes


def to_query(lesson: str, values: Mapping[str, Any]) -> dict[str, str]:
    """The lesson's URL parameters: the lesson, then only the settings that differ from the defaults."""
    query = {"lesson": lesson}
    for name, default in defaults(lesson).items():
        if name in values and values[name] != default:
            query[name] = _format(values[name])
    return query


def experiment_name(lesson: str, values: Mapping[str, Any]) -> str:
    """The signature of a lesson's settings; experiments with this name hold its runs."""
    settings = " ".join(f"{name}={_format(values[name])}" for name in defaults(lesson))
    return f"{NAME_PREFIX} {lesson} {settings}"


# ---- what a lesson submits -------------------------------------------------------------------
def _synthetic_spec(values: Mapping[str, Any], **fields: Any) -> ExperimentSpec:
    return ExperimentSpec(tasks=list(SYNTH), encoder="mlp", hidden_size=SYNTH_HIDDEN, lr=SYNTH_LR,
                          max_train_examples=SYNTH_TRAIN, steps=int(values["steps"]),
                          synthetic_correlation=float(values["p"]), conflict_every=CONFLICT_EVERY, **fields)


def lesson_runs(lesson: str, values: Mapping[str, Any]) -> tuple[ExperimentSpec, list[RunSpec] | None]:
    """The experiment spec and (for sweeps) the explicit runs that a lesson submits; None: spec.runs()."""
    name = experiment_name(lesson, values)
    if lesson == "relatedness":
        spec = _synthetic_spec(values, seeds=list(range(int(values["seeds"]))), noise_floor=True, name=name)
        return spec.validated(), None
    if lesson == "weights":
        from mtl_core.jobs.sweep import expand_grid

        spec = _synthetic_spec(values, weights={SYNTH[0]: values["w1"], SYNTH[1]: values["w2"]}, name=name)
        grid = [dict(zip(SYNTH, pair)) for pair in WEIGHT_GRID]
        chosen = {SYNTH[0]: float(values["w1"]), SYNTH[1]: float(values["w2"])}
        if chosen not in grid and any(chosen.values()):
            grid.append(chosen)
        return spec.validated(), expand_grid(spec, weights_grid=grid)
    if lesson == "soft":
        spec = _synthetic_spec(values, sharing="soft", baselines=False, name=name).validated()
        runs = [RunSpec("mtl", list(SYNTH), 0, replace(spec, soft_lambda=float(v))) for v in values["soft"]]
        runs.append(RunSpec("mtl", list(SYNTH), 0, replace(spec, sharing="hard")))
        return spec, runs
    if lesson == "attach":
        spec = ExperimentSpec(tasks=list(ATIS), sharing="hierarchical", encoder="bilstm", encoder_layers=2,
                              hidden_size=64, steps=int(values["steps"]),
                              max_train_examples=int(values["max_train"]), baselines=False, conflict_every=0,
                              layers=dict(zip(ATIS, PLACEMENTS["slots_low"])), name=name).validated()
        runs = [RunSpec("mtl", list(ATIS), 0, replace(spec, layers=dict(zip(ATIS, layers))))
                for layers in PLACEMENTS.values()]
        return spec, runs
    if lesson == "methods":
        from mtl_core.jobs.sweep import expand_grid

        spec = _synthetic_spec(values, seeds=list(range(int(values["seeds"]))), name=name)
        grid = [dict(zip(SYNTH, pair)) for pair in METHOD_GRID]
        return spec.validated(), expand_grid(spec, weights_grid=grid,
                                             weighting_grid=["static", *values["methods"]])
    if lesson == "languages":
        from mtl_core.jobs.sweep import expand_grid

        spec = ExperimentSpec(tasks=[TARGET, RELATED, DISTANT], steps=int(values["steps"]),
                              seeds=list(range(int(values["seeds"]))), name=name, **LANGUAGE_MODEL).validated()
        return spec, expand_grid(spec, subsets=[list(pair) for pair in LANGUAGE_PAIRS.values()])
    raise ValueError(f"unknown lesson {lesson!r}")


# ---- the numbers each lesson reports ----------------------------------------------------------
def run_spec(run: Mapping[str, Any]) -> dict[str, Any]:
    """The experiment settings a run was trained with (its own λ, λ_soft, sharing, layers)."""
    return json.loads(run["spec_json"])["experiment"]


def test_results(runs: list[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per completed run and task: run_id, kind, seed, task, metric, value (test split)."""
    from mtl_core.analysis.summary import task_card

    rows = []
    for run in runs:
        if run["status"] != "completed" or not run.get("result"):
            continue
        for task, metrics in run["result"]["test"].items():
            metric = task_card(task).metric
            rows.append({"run_id": run["id"], "kind": run["kind"], "seed": run["seed"], "task": task,
                         "metric": metric, "value": float(metrics[metric])})
    return pd.DataFrame(rows, columns=["run_id", "kind", "seed", "task", "metric", "value"])


def curve_gap(curves: pd.DataFrame) -> dict[str, float]:
    """Per task, the mean gap between the single-task and multi-task validation MSE curves.

    `curves`: step, task, kind (mtl/stl), value (seeds already averaged or not). The area between the
    curves (trapezoids over steps) divided by the steps covered: positive = the shared model's loss
    was lower on average (multi-task better), in MSE units.
    """
    out = {}
    mean = curves.groupby(["task", "kind", "step"], as_index=False)["value"].mean()
    for task, part in mean.groupby("task"):
        table = part.pivot(index="step", columns="kind", values="value").dropna()
        if not {"mtl", "stl"} <= set(table.columns) or len(table) < 2:
            continue
        steps = table.index.to_numpy(dtype=float)
        gap = (table["stl"] - table["mtl"]).to_numpy()
        out[task] = float(np.trapezoid(gap, steps) / (steps[-1] - steps[0]))
    return out


def relatedness_numbers(summary: Mapping[str, Any]) -> dict[str, Any]:
    """From experiment_summary: Δ_t per task (positive = shared better), cross-task cosine, noise floor."""
    conflict = summary.get("conflict", {})
    cross = conflict.get(f"{SYNTH[0]}|{SYNTH[1]}") or conflict.get(f"{SYNTH[1]}|{SYNTH[0]}") or {}
    floors = [v["mean_cos"] for k, v in conflict.items() if v.get("noise_floor") and v.get("mean_cos") is not None]
    return {
        "tasks": {t: summary["tasks"][t] for t in SYNTH if t in summary.get("tasks", {})},
        "delta_m": summary.get("delta_m_pct"),
        "suggested_steps": summary.get("suggested_steps"),
        "mean_cos": cross.get("mean_cos"),
        "conflict_rate": cross.get("conflict_rate"),
        "noise_floor": float(np.mean(floors)) if floors else None,
    }


def weighting_points(configurations: list[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per multi-task weighting of `experiment_summary(...)["configurations"]`: w1, w2, and each
    synthetic task's test MSE (mean over seeds), from the same comparison `show` prints."""
    rows = []
    for entry in configurations:
        weights, compared = entry["configuration"]["weights"], entry["tasks"]
        if set(SYNTH) <= set(weights) and all(compared[t]["mtl"] is not None for t in SYNTH):
            rows.append({"w1": weights[SYNTH[0]], "w2": weights[SYNTH[1]], "x": compared[SYNTH[0]]["mtl"],
                         "y": compared[SYNTH[1]]["mtl"]})
    return pd.DataFrame(rows, columns=["w1", "w2", "x", "y"])


def baseline_point(configurations: list[Mapping[str, Any]]) -> tuple[float, float] | None:
    """(synth_1 STL test MSE, synth_2 STL test MSE), seeds averaged; None until both have finished."""
    for entry in configurations:
        stl = [entry["tasks"].get(t, {}).get("stl") for t in SYNTH]
        if None not in stl:
            return float(stl[0]), float(stl[1])
    return None


def on_front(points: pd.DataFrame) -> list[bool]:
    """Per row, whether no other point is at least as good on both x and y and better on one (lower is better)."""
    xy = points[["x", "y"]].to_numpy(dtype=float)
    return [not any((o <= p).all() and (o < p).any() for o in xy) for p in xy]


def method_outcomes(configurations: list[Mapping[str, Any]],
                    rows: Mapping[str, Mapping[str, Any]] | None = None) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """The "methods" lesson's numbers from `experiment_summary(...)["configurations"]`: one front point per
    multi-task configuration (x = Δ_synth_1, y = Δ_synth_2 in %, see dashboard.charts_weighting.front_points)
    and, per adaptive method, where it landed relative to the static-λ front (charts_weighting.classify)."""
    from dashboard.charts_weighting import classify, front_points

    points = front_points(configurations, SYNTH, rows)
    return points, classify(points)


def soft_outcomes(runs: list[Mapping[str, Any]], metrics: pd.DataFrame) -> pd.DataFrame:
    """One row per soft-sharing lesson run: setting ('hard' or the λ_soft value), sharing, soft_lambda,
    final ‖θ_t − θ_s‖ averaged over tasks (nan for hard sharing), and each task's test MSE."""
    results = test_results(runs)
    rows = []
    for run in runs:
        spec = run_spec(run)
        row = {"run_id": run["id"], "sharing": spec["sharing"], "soft_lambda": float(spec["soft_lambda"]),
               "setting": "hard" if spec["sharing"] == "hard" else _format(float(spec["soft_lambda"])),
               "distance": float("nan")}
        distances = metrics[(metrics["run_id"] == run["id"]) & (metrics["name"] == "soft_distance")]
        if not distances.empty:
            last = distances[distances["step"] == distances["step"].max()]
            row["distance"] = float(last["value"].mean())
        for task in SYNTH:
            found = results[(results["run_id"] == run["id"]) & (results["task"] == task)]["value"]
            row[task] = float(found.iloc[0]) if len(found) else float("nan")
        rows.append(row)
    return pd.DataFrame(rows, columns=["run_id", "sharing", "soft_lambda", "setting", "distance", *SYNTH])


def placement_outcomes(runs: list[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per placement run: placement key, the layers, each ATIS task's test metric (nan until done)."""
    results = test_results(runs)
    rows = []
    for run in runs:
        layers = run_spec(run)["layers"]
        key = next((k for k, v in PLACEMENTS.items() if tuple(layers[t] for t in ATIS) == v), "other")
        row = {"run_id": run["id"], "placement": key, **{f"layer_{t}": layers[t] for t in ATIS}}
        for task in ATIS:
            found = results[(results["run_id"] == run["id"]) & (results["task"] == task)]["value"]
            row[task] = float(found.iloc[0]) if len(found) else float("nan")
        rows.append(row)
    return pd.DataFrame(rows)


def language_outcomes(summary: Mapping[str, Any]) -> pd.DataFrame:
    """One row per pair of the "languages" lesson ('related', 'distant'), from experiment_summary's
    configurations (the numbers `show` prints): the partner, Δ on the target direction and on the partner (%,
    positive = the pair beat the single-task baseline on chrF), each run's chrF, the mean gradient cosine of
    the pair on the shared encoder and its conflict rate, and whether a curve was still improving."""
    rows = []
    for key, (target, partner) in LANGUAGE_PAIRS.items():
        entry = next((c for c in summary.get("configurations", []) if set(c["tasks"]) == {target, partner}), None)
        if entry is None:
            continue
        pair = entry["conflict"].get(f"{target}|{partner}") or entry["conflict"].get(f"{partner}|{target}") or {}
        tasks = entry["tasks"]
        rows.append({"pair": key, "partner": partner,
                     "delta_target": tasks[target].get("delta_pct"), "delta_partner": tasks[partner].get("delta_pct"),
                     "mtl_target": tasks[target].get("mtl"), "stl_target": tasks[target].get("stl"),
                     "mean_cos": pair.get("mean_cos"), "conflict_rate": pair.get("conflict_rate"),
                     "still_improving": any(tasks[t].get("note") for t in (target, partner))})
    return pd.DataFrame(rows, columns=["pair", "partner", "delta_target", "delta_partner", "mtl_target", "stl_target",
                                       "mean_cos", "conflict_rate", "still_improving"])
