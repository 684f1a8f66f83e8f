"""Charts of the Relatedness map and Teaching lab pages: pure functions from arrays / DataFrames to plotly Figures.

No Streamlit and no translation here: every title and axis label is an argument, so the pages pass
text in the reader's language. Conventions follow dashboard/charts.py (its palette, fonts and layout
are reused): task × task matrices on a red–blue scale centred on 0 with the values written in the
cells, rows = helper task i, columns = target task j; multi-task solid, single-task dashed.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dashboard.charts import DIVERGING_SCALE, NOISE_COLOUR, TASK_PALETTE, _layout, empty_figure, task_colours

FRONT_COLOUR = "#1f5fbf"
CHOSEN_COLOUR = "#d62728"


def _matrix(values: Sequence[Sequence[float | None]]) -> np.ndarray:
    """Nested lists with None (as relatedness_map returns them) -> a float array with nan."""
    return np.array([[np.nan if v is None else float(v) for v in row] for row in values], dtype=float)


def relatedness_heatmap(matrix: Sequence[Sequence[float | None]], tasks: Sequence[str], *, title: str,
                        x_title: str, y_title: str, colorbar_title: str = "%", decimals: int | None = None,
                        higher_is_worse: bool = False) -> go.Figure:
    """A T × T matrix (rows: helper task i, columns: target task j) with its values written in the cells.

    The scale is diverging and centred on 0 (red below, blue above), symmetric around the largest
    |value|; `higher_is_worse` (a conflict rate) flips it so that red always means trouble. A missing
    value (None / nan, e.g. the diagonal of a pairwise matrix) is an empty cell "—".
    z is exactly the input (no rescaling: convert to % before calling). `decimals` None: enough for
    two significant digits of the largest |value| (0.02 % of affinity must not print as +0.0).
    """
    z = _matrix(matrix)
    finite = np.abs(z[np.isfinite(z)])
    bound = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
    if decimals is None:
        decimals = int(min(4, max(0, 1 - np.floor(np.log10(bound)))))
    text = [["—" if not np.isfinite(v) else f"{v:+.{decimals}f}" for v in row] for row in z]
    fig = go.Figure(go.Heatmap(
        z=[[None if not np.isfinite(v) else float(v) for v in row] for row in z], x=list(tasks), y=list(tasks),
        text=text, texttemplate="%{text}", textfont=dict(size=15), colorscale=DIVERGING_SCALE, zmid=0.0,
        reversescale=higher_is_worse,
        zmin=-bound, zmax=bound, colorbar=dict(title=dict(text=colorbar_title)), xgap=2, ygap=2,
        hovertemplate=f"{y_title}: %{{y}}<br>{x_title}: %{{x}}<br>%{{z:.{decimals}f}}<extra></extra>"))
    fig.update_xaxes(title_text=x_title, side="bottom", tickangle=-30)
    fig.update_yaxes(title_text=y_title, autorange="reversed")
    return _layout(fig, title, height=max(360, 70 * len(tasks) + 160))


def proxy_gain_scatter(points: pd.DataFrame, *, title: str, x_title: str, y_title: str) -> go.Figure:
    """A proxy's score (x) against the measured transfer gain (y), one point per helper → target pair.

    `points`: proxy, gain, label (written next to the point, e.g. the helper), group (one colour and legend
    entry each, e.g. the target). Rows missing either value are left out; a dotted line marks gain 0.
    """
    points = points.dropna(subset=["proxy", "gain"]) if not points.empty else points
    if points.empty:
        return empty_figure(title)
    groups = list(dict.fromkeys(points["group"]))
    colours = task_colours(groups)
    fig = go.Figure()
    for group in groups:
        part = points[points["group"] == group]
        fig.add_trace(go.Scatter(x=part["proxy"].astype(float).tolist(), y=part["gain"].astype(float).tolist(),
                                 mode="markers+text",
                                 name=str(group), text=list(part["label"]), textposition="top center",
                                 marker=dict(size=13, color=colours[group], line=dict(color="white", width=1)),
                                 hovertemplate=f"%{{text}}<br>{x_title}: %{{x:.4g}}<br>{y_title}: %{{y:+.2f}}"
                                               "<extra>%{fullData.name}</extra>"))
    fig.add_hline(y=0, line=dict(color=NOISE_COLOUR, dash="dot", width=1.5))
    fig.update_xaxes(title_text=x_title)
    fig.update_yaxes(title_text=y_title)
    return _layout(fig, title, height=440)


def dendrogram_figure(linkage: Sequence[Sequence[float]], labels: Sequence[str], *, title: str,
                      axis_title: str) -> go.Figure:
    """The dendrogram of a scipy linkage matrix, leaves along x in scipy's order, merge height up."""
    from scipy.cluster.hierarchy import dendrogram

    matrix = np.asarray(linkage, dtype=float)
    if matrix.size == 0:
        return empty_figure(title)
    tree = dendrogram(matrix, labels=list(labels), no_plot=True)
    fig = go.Figure()
    for xs, ys in zip(tree["icoord"], tree["dcoord"]):
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line=dict(color=FRONT_COLOUR, width=2.5),
                                 hoverinfo="skip", showlegend=False))
    leaves = list(tree["ivl"])
    fig.update_xaxes(tickvals=[5 + 10 * i for i in range(len(leaves))], ticktext=leaves, tickangle=-30,
                     range=[0, 10 * len(leaves)], showgrid=False)
    fig.update_yaxes(title_text=axis_title, rangemode="tozero")
    return _layout(fig, title, height=380)


def dendrogram_leaves(fig: go.Figure) -> list[str]:
    """The leaf labels of a dendrogram_figure, left to right."""
    return list(fig.layout.xaxis.ticktext)


def gap_curves(curves: pd.DataFrame, *, title: str, x_title: str, y_title: str, mtl_name: str,
               stl_name: str) -> go.Figure:
    """Validation curves per task, multi-task solid and single-task dashed, the area between them shaded.

    `curves`: step, task, kind (mtl/stl), value; seeds are averaged. Trace names "<task> · <mtl_name>"
    and "<task> · <stl_name>"; the fill is drawn from the single-task curve to the multi-task one.
    """
    if curves.empty:
        return empty_figure(title)
    colours = task_colours(sorted(curves["task"].unique()))
    mean = curves.groupby(["task", "kind", "step"], as_index=False)["value"].mean()
    fig = go.Figure()
    for task in sorted(mean["task"].unique()):
        colour = colours[task]
        stl = mean[(mean["task"] == task) & (mean["kind"] == "stl")]
        mtl = mean[(mean["task"] == task) & (mean["kind"] == "mtl")]
        if not stl.empty:
            fig.add_trace(go.Scatter(x=stl["step"], y=stl["value"], mode="lines", name=f"{task} · {stl_name}",
                                     line=dict(color=colour, dash="dash", width=2), legendgroup=task))
        if not mtl.empty:
            fig.add_trace(go.Scatter(x=mtl["step"], y=mtl["value"], mode="lines+markers", name=f"{task} · {mtl_name}",
                                     line=dict(color=colour, width=3), legendgroup=task,
                                     fill="tonexty" if not stl.empty else None, fillcolor=_faint(colour)))
    fig.update_xaxes(title_text=x_title)
    fig.update_yaxes(title_text=y_title)
    return _layout(fig, title, height=440)


def _faint(hex_colour: str, alpha: float = 0.18) -> str:
    r, g, b = (int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def weighting_front(points: pd.DataFrame, *, title: str, x_title: str, y_title: str, point_names: Sequence[str],
                    front: Sequence[bool], chosen: Sequence[bool], baseline: tuple[float, float] | None,
                    names: Mapping[str, str]) -> go.Figure:
    """One point per static weighting (x: task 1 test metric, y: task 2), the front joined by a line.

    `points`: x, y; `point_names` label each point; `front` marks the non-dominated ones; `chosen` the
    user's weighting (drawn red). `baseline`: the single-task pair, a grey star. `names`: legend names
    for keys "weightings", "front", "yours", "baseline".
    """
    if points.empty:
        return empty_figure(title)
    x, y = points["x"].to_numpy(float), points["y"].to_numpy(float)
    colours = [CHOSEN_COLOUR if c else FRONT_COLOUR for c in chosen]
    fig = go.Figure()
    on_front = np.array(front, dtype=bool)
    order = np.argsort(x[on_front])
    fig.add_trace(go.Scatter(x=x[on_front][order], y=y[on_front][order], mode="lines", name=names["front"],
                             line=dict(color=FRONT_COLOUR, width=2, dash="dot")))
    fig.add_trace(go.Scatter(x=x, y=y, mode="markers+text", name=names["weightings"], text=list(point_names),
                             textposition="top center", marker=dict(size=13, color=colours,
                                                                    line=dict(color="white", width=1))))
    if any(chosen):
        index = list(chosen).index(True)
        fig.add_trace(go.Scatter(x=[x[index]], y=[y[index]], mode="markers", name=names["yours"],
                                 marker=dict(size=20, color="rgba(0,0,0,0)", line=dict(color=CHOSEN_COLOUR, width=3))))
    if baseline is not None:
        fig.add_trace(go.Scatter(x=[baseline[0]], y=[baseline[1]], mode="markers", name=names["baseline"],
                                 marker=dict(symbol="star", size=18, color=NOISE_COLOUR)))
    fig.update_xaxes(title_text=x_title)
    fig.update_yaxes(title_text=y_title)
    return _layout(fig, title, height=480)


def series_over_steps(frame: pd.DataFrame, *, series: str, title: str, x_title: str, y_title: str,
                      order: Sequence[str] | None = None) -> go.Figure:
    """One line per value of column `series` (e.g. λ_soft), y = mean `value` over the other rows at each step.

    Lines (and legend entries) follow `order` when given, else their first appearance in `frame`.
    """
    if frame.empty:
        return empty_figure(title)
    mean = frame.groupby([series, "step"], as_index=False, sort=False)["value"].mean()
    names = [name for name in (order or mean[series].unique()) if name in set(mean[series])]
    fig = go.Figure()
    for i, name in enumerate(names):
        part = mean[mean[series] == name]
        fig.add_trace(go.Scatter(x=part["step"], y=part["value"], mode="lines", name=str(name),
                                 line=dict(color=TASK_PALETTE[i % len(TASK_PALETTE)], width=2.5)))
    fig.update_xaxes(title_text=x_title)
    fig.update_yaxes(title_text=y_title, rangemode="tozero")
    return _layout(fig, title, height=420)


def grouped_bars(table: pd.DataFrame, *, title: str, y_title: str, decimals: int = 3) -> go.Figure:
    """Bars grouped by the table's index (x), one bar series per column, each value written on its bar."""
    if table.empty:
        return empty_figure(title)
    fig = go.Figure()
    for i, column in enumerate(table.columns):
        values = table[column].to_numpy(float)
        fig.add_trace(go.Bar(x=[str(v) for v in table.index], y=values, name=str(column),
                             marker_color=TASK_PALETTE[i % len(TASK_PALETTE)],
                             text=["" if not np.isfinite(v) else f"{v:.{decimals}f}" for v in values],
                             textposition="outside"))
    fig.update_layout(barmode="group")
    fig.update_yaxes(title_text=y_title)
    return _layout(fig, title, height=420)


def translate_figure(fig: go.Figure, replacements: Mapping[str, str]) -> go.Figure:
    """Replace English fragments in a figure's title, axis titles, trace names and annotations.

    For charts shared with the English-only pages (dashboard/charts.py): the page passes
    {english fragment: translation}; longer fragments are replaced first.
    """
    pairs = sorted(replacements.items(), key=lambda kv: -len(kv[0]))

    def swap(text):
        if not text:
            return text
        for old, new in pairs:
            text = text.replace(old, new)
        return text

    fig.update_layout(title_text=swap(fig.layout.title.text))
    fig.for_each_xaxis(lambda axis: axis.update(title_text=swap(axis.title.text)))
    fig.for_each_yaxis(lambda axis: axis.update(title_text=swap(axis.title.text)))
    fig.for_each_trace(lambda trace: trace.update(name=swap(trace.name)))
    for annotation in fig.layout.annotations:
        annotation.text = swap(annotation.text)
    return fig
