"""Every chart of the dashboard: pure functions from DataFrames (as the store returns them) to plotly Figures.

No Streamlit here, so each chart is unit-tested on a hand-made frame. Conventions: one colour per
task (the same on every chart of a page), multi-task solid and single-task dashed, axis titles with
units, and every Δ chart carries its sign convention ("positive = multi-task better").
"""
from __future__ import annotations

import re
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from mtl_core.analysis.compare import SIGN_CONVENTION
from mtl_core.analysis.conflict_stats import smooth

# One colour per task of a run (at most 13); red is kept for conflict and negative transfer.
TASK_PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22",
                "#7f7f7f", "#aec7e8", "#ffbb78", "#98df8a", "#c5b0d5")
POSITIVE_COLOUR = "#1f5fbf"  # multi-task better
NEGATIVE_COLOUR = "#d62728"  # negative transfer: its own colour, never hidden
BASELINE_COLOUR = "#9a9a9a"  # single-task bars
NOISE_COLOUR = "#7f7f7f"
DIVERGING_SCALE = "RdBu"  # red = conflict (cos < 0), blue = agreement (cos > 0)
FONT = dict(size=15)

# Short enough to fit beside a 400-pixel-high chart; ↑/↓ say which direction is better.
METRIC_LABELS = {
    "loss": "loss (↓ better)",
    "accuracy": "accuracy (0–1, ↑ better)",
    "macro_f1": "macro F1 (0–1, ↑ better)",
    "span_f1": "span F1 (0–1, ↑ better)",
    "pearson": "Pearson r (−1…1, ↑ better)",
    "mse": "MSE (label units², ↓ better)",
    "grad_norm": "gradient norm ‖g_t‖ (L2)",
    "soft_distance": "‖θ_t − θ_s‖ (L2)",
}
KIND_NAMES = {"mtl": "multi-task", "stl": "single-task"}
KIND_DASH = {"mtl": "solid", "stl": "dash"}
SPLIT_NAMES = {"train": "training batches", "validation": "validation set"}


def metric_label(name: str) -> str:
    return METRIC_LABELS.get(name, name)


def task_colours(tasks: Iterable[str]) -> dict[str, str]:
    """A stable colour per task, in the order given."""
    return {task: TASK_PALETTE[i % len(TASK_PALETTE)] for i, task in enumerate(dict.fromkeys(tasks))}


def _layout(fig: go.Figure, title: str, height: int = 420) -> go.Figure:
    fig.update_layout(title=dict(text=title, x=0.0), font=FONT, height=height, margin=dict(l=60, r=20, t=70, b=60),
                      legend=dict(orientation="h", yanchor="top", y=-0.18, x=0.0), hovermode="closest")
    fig.update_xaxes(tickfont=dict(size=14), title_font=dict(size=15))
    fig.update_yaxes(tickfont=dict(size=14), title_font=dict(size=15))
    return fig


def empty_figure(message: str) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=message, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False, font=dict(size=16))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _layout(fig, "", height=200)


def with_run_info(frame: pd.DataFrame, runs: Sequence[Mapping]) -> pd.DataFrame:
    """Add kind (mtl/stl), seed, experiment_id and a readable run label to rows keyed by run_id."""
    info = pd.DataFrame([{"run_id": r["id"], "kind": r["kind"], "seed": r["seed"],
                          "experiment_id": r.get("experiment_id", ""),
                          "run_label": f"{KIND_NAMES.get(r['kind'], r['kind'])} {'+'.join(r['tasks'])} seed {r['seed']}"}
                         for r in runs], columns=["run_id", "kind", "seed", "experiment_id", "run_label"])
    return frame.merge(info, on="run_id", how="inner")


# ---- training curves ---------------------------------------------------------------------------
def training_curves(frame: pd.DataFrame, name: str, colours: Mapping[str, str] | None = None) -> go.Figure:
    """One metric (e.g. loss) vs step, training batches | validation set side by side.

    `frame`: step, task, split, name, value, kind (mtl/stl); seeds are averaged. Trace names are
    "<task> · multi-task" (solid) and "<task> · single-task" (dashed), one colour per task.
    """
    data = frame[(frame["name"] == name) & frame["split"].isin(list(SPLIT_NAMES))]
    if data.empty:
        return empty_figure(f"no {name} recorded yet")
    colours = dict(colours or task_colours(sorted(data["task"].unique())))
    data = data.groupby(["task", "kind", "split", "step"], as_index=False)["value"].mean()
    fig = make_subplots(rows=1, cols=2, subplot_titles=[SPLIT_NAMES["train"], SPLIT_NAMES["validation"]],
                        horizontal_spacing=0.08)
    shown = set()
    for (task, kind, split), part in data.groupby(["task", "kind", "split"], sort=True):
        label = f"{task} · {KIND_NAMES.get(kind, kind)}"
        fig.add_trace(go.Scatter(
            x=part["step"], y=part["value"], name=label, legendgroup=label, showlegend=label not in shown,
            mode="lines+markers" if split == "validation" else "lines",
            line=dict(color=colours.get(task, NOISE_COLOUR), dash=KIND_DASH.get(kind, "dot"),
                      width=2.5 if kind == "mtl" else 2),
            hovertemplate=f"{label}<br>step %{{x}}<br>{name} %{{y:.4g}}<extra>{SPLIT_NAMES[split]}</extra>",
        ), row=1, col=1 if split == "train" else 2)
        shown.add(label)
    fig.update_xaxes(title_text="training step")
    fig.update_yaxes(title_text=metric_label(name), col=1)
    return _layout(fig, f"{name} per task: multi-task (solid) vs single-task baselines (dashed)")


def runs_overlay(frame: pd.DataFrame, name: str, split: str) -> go.Figure:
    """Curves of one metric on one split across any runs: one trace per (run, task), named after both.

    `frame`: run_label, task, step, split, name, value.
    """
    data = frame[(frame["name"] == name) & (frame["split"] == split)]
    if data.empty:
        return empty_figure(f"the selected runs have no {split} {name}")
    fig = go.Figure()
    for i, ((label, task), part) in enumerate(data.groupby(["run_label", "task"], sort=True)):
        fig.add_trace(go.Scatter(x=part["step"], y=part["value"], mode="lines", name=f"{label} · {task}",
                                 line=dict(color=TASK_PALETTE[i % len(TASK_PALETTE)], width=2)))
    fig.update_xaxes(title_text="training step")
    fig.update_yaxes(title_text=metric_label(name))
    return _layout(fig, f"{name} on the {SPLIT_NAMES.get(split, split)} across runs", height=460)


def soft_distance_curves(frame: pd.DataFrame, colours: Mapping[str, str] | None = None) -> go.Figure:
    """Soft sharing: ‖θ_t − θ_s‖ per task over training (θ_s = mean of the task encoders)."""
    data = frame[frame["name"] == "soft_distance"]
    if data.empty:
        return empty_figure("no ‖θ_t − θ_s‖ recorded (only soft-sharing runs record it)")
    colours = dict(colours or task_colours(sorted(data["task"].unique())))
    data = data.groupby(["task", "step"], as_index=False)["value"].mean()
    fig = go.Figure()
    for task, part in data.groupby("task", sort=True):
        fig.add_trace(go.Scatter(x=part["step"], y=part["value"], mode="lines", name=f"‖θ_{task} − θ_s‖",
                                 line=dict(color=colours.get(task, NOISE_COLOUR), width=2.5)))
    fig.update_xaxes(title_text="training step")
    fig.update_yaxes(title_text=metric_label("soft_distance"), rangemode="tozero")
    return _layout(fig, "Soft sharing: distance of each task encoder from the mean encoder θ_s")


MIXING_DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")


def mixing_curves(frame: pd.DataFrame, prefix: str, *, title: str, x_title: str, y_title: str,
                  colours: Mapping[str, str] | None = None) -> go.Figure:
    """MMoE gates (prefix "gate_expert_") or cross-stitch weights ("stitch_"): one line per (task, weight),
    colour by task, dash by weight, named "<task> · <weight>" (the part after the prefix), seeds averaged."""
    data = frame[frame["name"].str.startswith(prefix)] if not frame.empty else frame
    if data.empty:
        return empty_figure(title)
    colours = dict(colours or task_colours(sorted(data["task"].unique())))
    data = data.groupby(["task", "name", "step"], as_index=False)["value"].mean()
    names = sorted(data["name"].unique(), key=lambda n: [int(p) if p.isdigit() else p for p in n.split("_")])
    fig = go.Figure()
    for task, part in data.groupby("task", sort=True):
        for i, name in enumerate(names):
            curve = part[part["name"] == name].sort_values("step")
            if curve.empty:
                continue
            fig.add_trace(go.Scatter(x=curve["step"], y=curve["value"], mode="lines",
                                     name=f"{task} · {name[len(prefix):]}",
                                     line=dict(color=colours.get(task, NOISE_COLOUR), dash=MIXING_DASHES[i % len(MIXING_DASHES)],
                                               width=2)))
    fig.update_xaxes(title_text=x_title)
    fig.update_yaxes(title_text=y_title, rangemode="tozero")
    return _layout(fig, title, height=420)


# ---- gradient conflict -------------------------------------------------------------------------
def _pair_means(conflict: pd.DataFrame, layer: str, column: str) -> pd.DataFrame:
    data = conflict[conflict["layer"] == layer]
    return data.groupby(["task_a", "task_b", "step"], as_index=False)[column].mean()


def cosine_over_time(conflict: pd.DataFrame, layer: str = "all", span: int = 5) -> go.Figure:
    """Pairwise gradient cosine vs step: raw (faint) and smoothed (EMA) per pair, the noise floor dotted.

    `conflict`: step, layer, task_a, task_b, cos (task_a == task_b rows: the same-task noise floor).
    Trace names: "<a> × <b> (raw)", "<a> × <b> (smoothed)", "noise floor: <a>".
    """
    data = _pair_means(conflict, layer, "cos")
    if data.empty:
        return empty_figure("no gradient cosines recorded yet (measured every k steps)")
    fig = go.Figure()
    cross = data[data["task_a"] != data["task_b"]]
    for i, ((a, b), part) in enumerate(cross.groupby(["task_a", "task_b"], sort=True)):
        colour = TASK_PALETTE[i % len(TASK_PALETTE)]
        pair = f"{a} × {b}"
        fig.add_trace(go.Scatter(x=part["step"], y=part["cos"], mode="lines", name=f"{pair} (raw)",
                                 line=dict(color=colour, width=1), opacity=0.35, legendgroup=pair))
        fig.add_trace(go.Scatter(x=part["step"], y=smooth(part["cos"].to_numpy(), span).to_numpy(), mode="lines",
                                 name=f"{pair} (smoothed)", line=dict(color=colour, width=3), legendgroup=pair))
    for task, part in data[data["task_a"] == data["task_b"]].groupby("task_a", sort=True):
        fig.add_trace(go.Scatter(x=part["step"], y=smooth(part["cos"].to_numpy(), span).to_numpy(), mode="lines",
                                 name=f"noise floor: {task}", line=dict(color=NOISE_COLOUR, width=2, dash="dot")))
    fig.add_hline(y=0, line=dict(color="black", width=1), annotation_text="below 0 = conflict",
                  annotation_position="bottom right")
    fig.update_xaxes(title_text="training step")
    fig.update_yaxes(title_text="gradient cosine (−1 to 1)", range=[-1.05, 1.05])
    return _layout(fig, f"Gradient cosine between tasks (layer: {layer}; smoothed: EMA span {span})", height=440)


def magnitude_similarity_over_time(conflict: pd.DataFrame, layer: str = "all", span: int = 5) -> go.Figure:
    """Magnitude similarity Φ = 2‖g_i‖‖g_j‖/(‖g_i‖²+‖g_j‖²) per task pair vs step (smoothed)."""
    data = _pair_means(conflict, layer, "magnitude_sim")
    data = data[(data["task_a"] != data["task_b"]) & data["magnitude_sim"].notna()]
    if data.empty:
        return empty_figure("no magnitude similarity recorded yet")
    fig = go.Figure()
    for i, ((a, b), part) in enumerate(data.groupby(["task_a", "task_b"], sort=True)):
        fig.add_trace(go.Scatter(x=part["step"], y=smooth(part["magnitude_sim"].to_numpy(), span).to_numpy(),
                                 mode="lines", name=f"{a} × {b}",
                                 line=dict(color=TASK_PALETTE[i % len(TASK_PALETTE)], width=2.5)))
    fig.update_xaxes(title_text="training step")
    fig.update_yaxes(title_text="Φ (0–1, 1 = equal norms)", range=[0, 1.05])
    return _layout(fig, f"Gradient magnitude similarity (layer: {layer}; EMA span {span})")


def pair_heatmap(matrix: np.ndarray, tasks: Sequence[str], title: str, colorbar_title: str,
                 diverging: bool = True) -> go.Figure:
    """Task × task matrix with the values written in the cells.

    diverging: a red–blue scale centred at 0 on −1..1 (cosines); else a 0..1 sequential scale (rates).
    """
    z = np.asarray(matrix, dtype=float)
    text = [["—" if not np.isfinite(v) else f"{v:+.2f}" if diverging else f"{v:.2f}" for v in row] for row in z]
    scale = dict(colorscale=DIVERGING_SCALE, zmid=0.0, zmin=-1.0, zmax=1.0) if diverging else \
        dict(colorscale="Reds", zmin=0.0, zmax=1.0)
    fig = go.Figure(go.Heatmap(z=z.tolist(), x=list(tasks), y=list(tasks), text=text, texttemplate="%{text}",
                               textfont=dict(size=16), colorbar=dict(title=dict(text=colorbar_title)),
                               hovertemplate="%{y} × %{x}: %{z:.3f}<extra></extra>", **scale))
    fig.update_xaxes(title_text="task", side="bottom")
    fig.update_yaxes(title_text="task", autorange="reversed")
    return _layout(fig, title, height=380)


def _layer_order(layer: str) -> tuple[int, int, str]:
    if layer == "embedding":
        return (0, 0, layer)
    match = re.search(r"(\d+)$", layer)
    return (1, int(match.group(1)) if match else 10**6, layer)


def layer_heatmap(conflict: pd.DataFrame, task_a: str, task_b: str) -> go.Figure:
    """Cosine of one task pair per shared layer (rows, bottom = closest to the input) and step (columns)."""
    pair = conflict[(conflict["layer"] != "all") & (
        ((conflict["task_a"] == task_a) & (conflict["task_b"] == task_b))
        | ((conflict["task_a"] == task_b) & (conflict["task_b"] == task_a)))]
    if pair.empty:
        return empty_figure(f"no per-layer cosines recorded for {task_a} × {task_b}")
    table = pair.groupby(["layer", "step"])["cos"].mean().unstack("step")
    table = table.loc[sorted(table.index, key=_layer_order)]
    fig = go.Figure(go.Heatmap(z=table.to_numpy().tolist(), x=[int(s) for s in table.columns], y=list(table.index),
                               colorscale=DIVERGING_SCALE, zmid=0.0, zmin=-1.0, zmax=1.0,
                               colorbar=dict(title=dict(text="cosine")),
                               hovertemplate="%{y}, step %{x}: cos %{z:.3f}<extra></extra>"))
    fig.update_xaxes(title_text="training step")
    fig.update_yaxes(title_text="shared layer (input at bottom)")
    return _layout(fig, f"Gradient cosine per layer: {task_a} × {task_b} (red = conflict)", height=360)


def cosine_histogram_chart(histogram: pd.DataFrame, pair: str) -> go.Figure:
    """Bars of the share of measured cosines per bin (conflict_stats.cosine_histogram output)."""
    colours = [NEGATIVE_COLOUR if upper <= 0 else POSITIVE_COLOUR for upper in histogram["upper"]]
    fig = go.Figure(go.Bar(x=histogram["bin"], y=histogram["fraction"] * 100, marker_color=colours,
                           text=[f"{c}" for c in histogram["count"]], textposition="outside", name=pair))
    fig.update_xaxes(title_text="cosine bin")
    fig.update_yaxes(title_text="share of measurements (%)")
    return _layout(fig, f"Distribution of gradient cosines: {pair}", height=360)


# ---- multi-task vs single-task -----------------------------------------------------------------
COMPARISON_COLUMNS = ("task", "metric", "higher_is_better", "mtl", "stl", "delta_pct", "n_seeds", "mtl_std",
                      "stl_std", "delta_std", "note")


def comparison_table(summary_tasks: Mapping[str, Mapping]) -> pd.DataFrame:
    """experiment_summary(...)["tasks"] as a frame, one row per task (std columns nan when one seed)."""
    rows = [{"task": task, **{k: values.get(k) for k in COMPARISON_COLUMNS if k != "task"}}
            for task, values in summary_tasks.items()]
    table = pd.DataFrame(rows, columns=list(COMPARISON_COLUMNS))
    for column in ("mtl", "stl", "delta_pct", "mtl_std", "stl_std", "delta_std"):
        table[column] = pd.to_numeric(table[column], errors="coerce")
    return table


def configurations_table(configurations: list[Mapping]) -> pd.DataFrame:
    """One row per multi-task configuration of `experiment_summary(...)["configurations"]`: its id and
    label, Δ_t of each task it trained (column "Δ <task> %", empty for tasks it did not train), Δm, the
    number of paired seeds and the tasks still improving at the end of training."""
    tasks = list(dict.fromkeys(task for entry in configurations for task in entry["configuration"]["tasks"]))
    rows = []
    for entry in configurations:
        row = {"id": entry["id"], "configuration": entry["label"]}
        for task in tasks:
            row[f"Δ {task} %"] = entry["tasks"].get(task, {}).get("delta_pct")
        row["Δm %"] = entry["delta_m_pct"]
        seeds = [value["n_seeds"] for value in entry["tasks"].values()]
        row["seeds"] = min(seeds) if seeds else 0
        row["still improving"] = ", ".join(entry["still_improving"])
        rows.append(row)
    table = pd.DataFrame(rows, columns=["id", "configuration", *(f"Δ {t} %" for t in tasks), "Δm %", "seeds",
                                        "still improving"])
    for column in [*(f"Δ {t} %" for t in tasks), "Δm %"]:
        table[column] = pd.to_numeric(table[column], errors="coerce")
    return table


def delta_colour(delta: float) -> str:
    return NEGATIVE_COLOUR if np.isfinite(delta) and delta < 0 else POSITIVE_COLOUR


def mtl_vs_stl_bars(table: pd.DataFrame) -> go.Figure:
    """Per task, the test metric of multi-task next to single-task, seed std as error bars, Δ_t annotated.

    One panel per task (metrics differ in scale). The multi-task bar is red where Δ_t < 0 (negative
    transfer), blue otherwise; the single-task bar is grey.
    """
    if table.empty:
        return empty_figure("no completed multi-task / single-task pairs yet")
    fig = make_subplots(rows=1, cols=len(table), subplot_titles=list(table["task"]), horizontal_spacing=0.12)
    for col, row in enumerate(table.itertuples(index=False), start=1):
        delta = float(row.delta_pct) if row.delta_pct is not None else float("nan")
        for kind, value, std, colour in (("mtl", row.mtl, row.mtl_std, delta_colour(delta)),
                                         ("stl", row.stl, row.stl_std, BASELINE_COLOUR)):
            fig.add_trace(go.Bar(
                x=[KIND_NAMES[kind]], y=[value], marker_color=colour, name=KIND_NAMES[kind], showlegend=False,
                error_y=dict(type="data", array=[std if std is not None and np.isfinite(std) else 0],
                             visible=std is not None and bool(np.isfinite(std))),
                text=[f"{value:.4g}"], textposition="inside",
                hovertemplate=f"{row.task} {KIND_NAMES[kind]}: %{{y:.4g}}<extra></extra>"), row=1, col=col)
        fig.update_yaxes(title_text=f"{row.metric} ({'↑' if row.higher_is_better else '↓'} better)", row=1, col=col)
        label = "n/a" if not np.isfinite(delta) else f"Δ = {delta:+.2f} %"
        if np.isfinite(delta) and delta < 0:
            label += " (negative transfer)"
        fig.add_annotation(text=f"<b>{label}</b>", x=0.5, y=1.0, xref=f"x{col if col > 1 else ''} domain",
                           yref=f"y{col if col > 1 else ''} domain", yanchor="bottom", yshift=22, showarrow=False,
                           font=dict(color=delta_colour(delta), size=15))
    fig.update_yaxes(rangemode="tozero")
    fig.update_layout(margin=dict(t=110))
    _layout(fig, f"Test metric per task, mean ± std over seeds ({SIGN_CONVENTION})", height=460)
    fig.update_layout(margin=dict(t=120))
    return fig


def delta_chart(table: pd.DataFrame, delta_m: float | None, delta_m_std: float | None = None) -> go.Figure:
    """Δ_t per task and Δm as horizontal bars; negative transfer in its own colour; sign convention on the chart.

    Bars are named "Δ_t" (tasks) and "Δm" (mean over tasks); a Δm > 0 never hides a red task bar.
    """
    if table.empty:
        return empty_figure("no Δ yet: needs a completed multi-task run and its single-task baselines")
    deltas = table["delta_pct"].astype(float).to_numpy()
    stds = table["delta_std"].astype(float).to_numpy() if "delta_std" in table else np.full(len(table), np.nan)
    fig = go.Figure()
    fig.add_trace(go.Bar(
        y=list(table["task"]), x=deltas, orientation="h", name="Δ_t", marker_color=[delta_colour(d) for d in deltas],
        error_x=dict(type="data", array=np.nan_to_num(stds), visible=bool(np.isfinite(stds).any())),
        text=[("n/a" if not np.isfinite(d) else f"{d:+.2f} %" + (" negative transfer" if d < 0 else ""))
              for d in deltas], textposition="outside",
        hovertemplate="%{y}: Δ = %{x:+.2f} %<extra></extra>"))
    dm = float(delta_m) if delta_m is not None else float("nan")
    fig.add_trace(go.Bar(
        y=["Δm (mean over tasks)"], x=[dm], orientation="h", name="Δm",
        marker=dict(color=delta_colour(dm), pattern=dict(shape="/")),
        error_x=dict(type="data", array=[delta_m_std or 0], visible=delta_m_std is not None),
        text=["n/a" if not np.isfinite(dm) else f"{dm:+.2f} %"], textposition="outside",
        hovertemplate="Δm = %{x:+.2f} %<extra></extra>"))
    fig.add_vline(x=0, line=dict(color="black", width=1))
    finite = np.abs(np.concatenate([deltas[np.isfinite(deltas)], [dm] if np.isfinite(dm) else []]))
    reach = max(1.0, float(finite.max()) if finite.size else 1.0) * 1.6
    fig.update_xaxes(title_text=f"Δ vs single-task (%): {SIGN_CONVENTION}", range=[-reach, reach], zeroline=True)
    fig.update_yaxes(title_text="task", autorange="reversed")
    fig.add_annotation(text=f"<b>{SIGN_CONVENTION}</b> · red = negative transfer", x=1.0, y=1.02, xref="paper",
                       yref="paper", xanchor="right", yanchor="bottom", showarrow=False, font=dict(size=14))
    _layout(fig, "Δ_t per task and Δm", height=160 + 60 * (len(table) + 1))
    fig.update_layout(showlegend=False)
    return fig
