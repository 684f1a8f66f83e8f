"""Loss-weighting methods on screen: the front of static λ against adaptive methods, and weights over training.

Pure functions (no Streamlit, no translation: every title and label is an argument, as in
dashboard/charts_relatedness.py). Compare and the Teaching lab's "methods" lesson draw the same front:

    points = front_points(summary["configurations"], ("synth_1", "synth_2"))
    fig = method_front(points, title=..., x_title=..., y_title=..., names=..., cost_text=...)

Each point is one multi-task configuration of `experiment_summary(...)["configurations"]` (the same
comparison `show` prints): x = Δ_t of the first task, y = Δ_t of the second task, in % against the
matched single-task baselines (positive = the shared model is better, so upper-right is better and the
separate models sit at the origin). Static-λ configurations form the front; each adaptive method is
classified against it (`classify`).
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dashboard.charts import NOISE_COLOUR, TASK_PALETTE, _layout, empty_figure

STATIC_COLOUR = "#1f5fbf"
METHOD_COLOURS = ("#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22")
DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")
POINT_COLUMNS = ["id", "label", "name", "method", "family", "static", "weights", "x", "y", "delta_m", "cost"]
# Where an adaptive method landed relative to the static-λ front (higher Δ is better on both axes).
DOMINATED, ON, BEYOND = "dominated", "on", "beyond"


def method_rows() -> dict[str, dict[str, Any]]:
    """weighting.describe() by method name."""
    from mtl_core import weighting

    return {row["name"]: row for row in weighting.describe()}


def step_cost(row: Mapping[str, Any] | None, setup: str = "medium") -> float | None:
    """A method's measured step-time ratio to a static-λ step (None: not measured yet)."""
    value = ((row or {}).get("cost") or {}).get(setup)
    return float(value) if value is not None else None


def front_points(configurations: Sequence[Mapping[str, Any]], tasks: Sequence[str],
                 rows: Mapping[str, Mapping[str, Any]] | None = None) -> pd.DataFrame:
    """One row per multi-task configuration that has Δ_t for both `tasks` (x: tasks[0], y: tasks[1]).

    Columns: id, label (the configuration's label), name (short: "λ = (1, 0.3)" for static λ, else the
    method's label, e.g. "cagrad (c=0.5)"), method (weighting name), family, static (a static-λ configuration),
    weights ({task: λ}), x, y (Δ_t in %), delta_m (Δm in %, None when missing), cost (the method's step-time
    ratio on the medium trunk from describe(), nan when not measured).
    """
    from mtl_core.weighting import label as weighting_label

    rows = method_rows() if rows is None else rows
    x_task, y_task = tasks[0], tasks[1]
    out = []
    for entry in configurations:
        config = entry.get("configuration") or {}
        compared = entry.get("tasks") or {}
        if len(config.get("tasks") or []) < 2:
            continue
        dx = (compared.get(x_task) or {}).get("delta_pct")
        dy = (compared.get(y_task) or {}).get("delta_pct")
        if dx is None or dy is None:
            continue
        weighting = config.get("weighting") or {"name": "static", "options": {}}
        name = weighting.get("name", "static")
        row = rows.get(name) or {}
        family = row.get("family", "static" if name == "static" else "")
        cost = step_cost(row)
        weights = dict(config.get("weights") or {})
        short = ("λ = (" + ", ".join(f"{weights.get(t, 1.0):g}" for t in config["tasks"]) + ")"
                 if family == "static" else weighting_label(weighting))
        out.append({"id": entry.get("id", ""), "label": entry.get("label", name), "name": short, "method": name,
                    "family": family,
                    "static": family == "static", "weights": weights,
                    "x": float(dx), "y": float(dy), "delta_m": entry.get("delta_m_pct"),
                    "cost": float("nan") if cost is None else cost})
    return pd.DataFrame(out, columns=POINT_COLUMNS)


def _dominates(a: np.ndarray, b: np.ndarray) -> bool:
    """a at least as good as b on both axes and better on one (higher is better)."""
    return bool((a >= b).all() and (a > b).any())


def static_front(points: pd.DataFrame) -> list[bool]:
    """Per row: a static point that no other static point dominates (False for adaptive rows)."""
    xy = points[["x", "y"]].to_numpy(dtype=float)
    static = points["static"].to_numpy(dtype=bool)
    return [bool(static[i]) and not any(static[j] and _dominates(xy[j], xy[i]) for j in range(len(xy)) if j != i)
            for i in range(len(xy))]


def classify(points: pd.DataFrame) -> list[dict[str, Any]]:
    """Where each adaptive (non-static) point landed relative to the static-λ front, in row order.

    "dominated": some static λ is at least as good on both tasks and better on one ("by": the names of those
    λ); "beyond": no static λ dominates it and it dominates at least one point of the front ("beats": their
    names), so it pushes the front outwards; "on": neither, a trade-off like the front's own (beating a λ
    that is itself off the front does not count). "where" is None when there is no static point.
    """
    xy = points[["x", "y"]].to_numpy(dtype=float)
    static = [i for i, flag in enumerate(points["static"]) if flag]
    front = [i for i, flag in enumerate(static_front(points)) if flag]
    out = []
    for i, row in enumerate(points.itertuples()):
        if row.static:
            continue
        by = [points.iloc[j]["name"] for j in static if _dominates(xy[j], xy[i])]
        beats = [points.iloc[j]["name"] for j in front if _dominates(xy[i], xy[j])]
        where = None if not static else DOMINATED if by else BEYOND if beats else ON
        out.append({"id": row.id, "label": row.label, "name": row.name, "method": row.method, "x": row.x,
                    "y": row.y, "cost": row.cost, "where": where, "by": by, "beats": beats})
    return out


def method_front(points: pd.DataFrame, *, title: str, x_title: str, y_title: str, names: Mapping[str, str],
                 cost_text: Callable[[float | None], str], static_names: Sequence[str] | None = None,
                 baseline: bool = True) -> go.Figure:
    """Static λ configurations as one series with their front joined by a line, each adaptive method a
    labelled point ("pcgrad · 1.8× step" via `cost_text(ratio or None)`), the separate models at (0, 0).

    `points`: front_points(). `names`: legend names for "static", "front", "baseline". `static_names`:
    the text beside each static point (default: its short name), in the order of the static rows.
    """
    if points.empty:
        return empty_figure(title)
    static = points[points["static"]]
    adaptive = points[~points["static"]]
    fig = go.Figure()
    if len(static):
        front = np.array(static_front(points), dtype=bool)[points["static"].to_numpy(dtype=bool)]
        line = static[front].sort_values("x")
        fig.add_trace(go.Scatter(x=line["x"], y=line["y"], mode="lines", name=names["front"],
                                 line=dict(color=STATIC_COLOUR, width=3)))
        text = list(static_names) if static_names is not None else list(static["name"])
        fig.add_trace(go.Scatter(x=static["x"], y=static["y"], mode="markers+text", name=names["static"], text=text,
                                 textposition="bottom center", textfont=dict(size=12, color=STATIC_COLOUR),
                                 marker=dict(size=11, color=STATIC_COLOUR, line=dict(color="white", width=1))))
    for i, row in enumerate(adaptive.itertuples()):
        cost = None if pd.isna(row.cost) else float(row.cost)
        label = f"{row.name} · {cost_text(cost)}"
        fig.add_trace(go.Scatter(x=[row.x], y=[row.y], mode="markers+text", name=label, text=[row.name],
                                 textposition="top center", textfont=dict(size=13),
                                 marker=dict(size=15, symbol="diamond", color=METHOD_COLOURS[i % len(METHOD_COLOURS)],
                                             line=dict(color="white", width=1))))
    if baseline:
        fig.add_trace(go.Scatter(x=[0.0], y=[0.0], mode="markers", name=names["baseline"],
                                 marker=dict(symbol="star", size=16, color=NOISE_COLOUR)))
    fig.add_hline(y=0, line=dict(color=NOISE_COLOUR, width=1, dash="dot"))
    fig.add_vline(x=0, line=dict(color=NOISE_COLOUR, width=1, dash="dot"))
    fig.update_xaxes(title_text=x_title)
    fig.update_yaxes(title_text=y_title)
    fig = _layout(fig, title, height=520)
    fig.update_layout(legend=dict(orientation="v", yanchor="top", y=1.0, x=1.02))
    return fig


def weight_curves(frame: pd.DataFrame, run_names: Mapping[str, str], *, title: str, x_title: str, y_title: str,
                  colours: Mapping[str, str] | None = None) -> go.Figure:
    """The effective per-task weight of each multi-task run over training (metric rows name "weight").

    `frame`: run_id, step, task, name, value (other rows are ignored). One line per (run, task): colour by
    task, dash by run, named "<task> · <run name>" (just the task when there is one run).
    """
    data = frame[(frame["name"] == "weight") & frame["run_id"].isin(list(run_names))] if not frame.empty else frame
    if data.empty:
        return empty_figure(title)
    tasks = list(dict.fromkeys(data["task"]))
    colours = dict(colours or {task: TASK_PALETTE[i % len(TASK_PALETTE)] for i, task in enumerate(tasks)})
    runs = [run for run in run_names if run in set(data["run_id"])]
    fig = go.Figure()
    for r, run in enumerate(runs):
        part = data[data["run_id"] == run]
        for task in tasks:
            curve = part[part["task"] == task].sort_values("step")
            if curve.empty:
                continue
            name = task if len(runs) == 1 else f"{task} · {run_names[run]}"
            fig.add_trace(go.Scatter(x=curve["step"], y=curve["value"], mode="lines", name=name,
                                     line=dict(color=colours.get(task, NOISE_COLOUR), dash=DASHES[r % len(DASHES)],
                                               width=2.5)))
    fig.update_xaxes(title_text=x_title)
    fig.update_yaxes(title_text=y_title, rangemode="tozero")
    return _layout(fig, title, height=420)
