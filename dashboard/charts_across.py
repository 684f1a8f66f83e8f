"""Configurations across experiments on screen: parallel coordinates of the settings that vary against Δ_t and
Δm, and the Pareto front of Δ_t. Pure functions from dashboard/across.py frames to plotly figures; every title
and label is an argument (as in dashboard/charts_weighting.py), so the page passes them in its language.

    frame = across.front_frame(configurations, tasks)
    fig = parallel_coordinates(frame, across.varying_fields(frame), tasks, title=..., ...)
    fig = pareto_chart(frame, across.delta_column(x_task), across.delta_column(y_task), join=True, title=..., ...)
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dashboard import across
from dashboard.charts import NEGATIVE_COLOUR, NOISE_COLOUR, POSITIVE_COLOUR, _layout, empty_figure

DOMINATED_COLOUR = "#9a9a9a"
# Δm colours lines: red below 0 (the shared model is worse), grey around 0, blue above (a white middle would hide lines).
DELTA_SCALE = [[0.0, NEGATIVE_COLOUR], [0.5, DOMINATED_COLOUR], [1.0, POSITIVE_COLOUR]]


def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def dimension(values: pd.Series, label: str) -> dict:
    """One parallel-coordinates axis: numbers as they are when every value is a number, otherwise one tick
    per distinct value (sorted as text; an empty value is "—")."""
    if all(_is_number(v) and np.isfinite(v) for v in values):
        return dict(label=label, values=[float(v) for v in values])
    text = ["—" if across._missing(v) else str(v) for v in values]
    categories = sorted(set(text))
    return dict(label=label, values=[categories.index(v) for v in text], tickvals=list(range(len(categories))),
                ticktext=categories, range=[-0.25, len(categories) - 0.75] if len(categories) > 1 else [-1, 1])


def parallel_coordinates(frame: pd.DataFrame, fields: Sequence[str], tasks: Sequence[str], *, title: str,
                         delta_labels: Mapping[str, str], delta_m_label: str) -> go.Figure:
    """One line per configuration (row of `frame`): an axis per field in `fields`, then Δ_t of each task and Δm,
    each line coloured by its Δm (blue above 0, grey around it, red below). `frame`: across.front_frame (Δ for every task)."""
    if frame.empty:
        return empty_figure(title)
    dimensions = [dimension(frame[field], field) for field in fields]
    dimensions += [dimension(frame[across.delta_column(task)], delta_labels[task]) for task in tasks]
    dimensions.append(dimension(frame[across.DELTA_M], delta_m_label))
    delta_m = frame[across.DELTA_M].to_numpy(dtype=float)
    spread = (float(np.nanmax(np.abs(delta_m))) if np.isfinite(delta_m).any() else 0.0) or 1.0
    fig = go.Figure(go.Parcoords(
        dimensions=dimensions,
        line=dict(color=delta_m, colorscale=DELTA_SCALE, cmin=-spread, cmax=spread, showscale=True,
                  colorbar=dict(title=dict(text=delta_m_label))),
        labelangle=-20, labelfont=dict(size=14), tickfont=dict(size=12)))
    fig = _layout(fig, title, height=480)
    fig.update_layout(margin=dict(l=80, r=60, t=110, b=40))
    return fig


def pareto_chart(frame: pd.DataFrame, x: str, y: str, *, join: bool, title: str, x_title: str, y_title: str,
                 names: Mapping[str, str], number: str = "+.2f", origin: bool = True) -> go.Figure:
    """Each configuration a point at (its `x` column, its `y` column); the configurations on the front
    (across.ON_FRONT) in blue, named beside the point, the dominated ones in grey; `join`: the front joined by a
    line (a front over exactly these two columns). `frame`: across.front_frame; `names`: legend names for
    "front" and "dominated"; `number`: how hover text formats the values; `origin`: dotted lines through 0 (for
    Δ: the separate models sit where they cross)."""
    if frame.empty:
        return empty_figure(title)
    fig = go.Figure()
    for on_front, part in ((True, frame[frame[across.ON_FRONT]]), (False, frame[~frame[across.ON_FRONT]])):
        if part.empty:
            continue
        if on_front and join:
            part = part.sort_values(x)
        hover = [f"{row['name']}<br>{x_title}: {row[x]:{number}}<br>{y_title}: {row[y]:{number}}"
                 f"<br>Δm: {row[across.DELTA_M]:+.2f} %" for _, row in part.iterrows()]
        fig.add_trace(go.Scatter(
            x=part[x].tolist(), y=part[y].tolist(), name=names["front" if on_front else "dominated"],
            hovertext=hover, hoverinfo="text",
            mode=("lines+markers+text" if join else "markers+text") if on_front else "markers",
            text=list(part["name"]) if on_front else None, textposition="top center", textfont=dict(size=12),
            line=dict(color=POSITIVE_COLOUR, width=2),
            marker=dict(size=13 if on_front else 10, color=POSITIVE_COLOUR if on_front else DOMINATED_COLOUR,
                        line=dict(color="white", width=1))))
    if origin:
        fig.add_hline(y=0, line=dict(color=NOISE_COLOUR, width=1, dash="dot"))
        fig.add_vline(x=0, line=dict(color=NOISE_COLOUR, width=1, dash="dot"))
    fig.update_xaxes(title_text=x_title)
    fig.update_yaxes(title_text=y_title)
    return _layout(fig, title, height=520)
