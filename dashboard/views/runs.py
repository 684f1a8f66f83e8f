"""Runs: every experiment, and the run view of one: progress, cancel/resume, logs, live curves and conflict.

The run view polls the store every 2 s (st.fragment(run_every=2)) while any run is queued or
running, and stops polling once every run has finished.
"""
from __future__ import annotations

import json
import time

import pandas as pd
import streamlit as st

from dashboard import charts, data, state, text
from mtl_core.analysis.conflict_stats import cosine_histogram, pair_matrix, summarise_conflict
from mtl_core.errors import UserError

POLL_SECONDS = 2
LOG_CHARS = 6000
STATUS_ICONS = {"queued": ":gray[:material/schedule:]", "running": ":blue[:material/play_circle:]",
                "completed": ":green[:material/check_circle:]", "cancelled": ":gray[:material/stop_circle:]",
                "interrupted": ":orange[:material/warning:]", "diverged": ":red[:material/error:]",
                "failed": ":red[:material/cancel:]"}

st.title("Runs")
experiments = data.experiments()
if experiments.empty:
    st.info("No runs yet: start one on **New experiment**.", icon=":material/info:")
    st.page_link("views/new_experiment.py", label="Go to New experiment", icon=":material/science:")
    st.stop()

specs = {row.id: json.loads(row.spec_json) for row in experiments.itertuples()}

# ---- which experiment: ?exp=… (a link, or Launch on New experiment), else the newest ---------------
ids = list(experiments["id"])
wanted = st.query_params.get("exp")
if wanted and wanted not in ids:
    st.warning(f"No experiment '{wanted}' in this store; showing the newest.", icon=":material/link:")
if wanted in ids and st.session_state.get("runs_url_exp") != wanted:
    st.session_state["runs_pick"] = wanted
if st.session_state.get("runs_pick") not in ids:
    st.session_state["runs_pick"] = st.session_state.get("runs_experiment") if \
        st.session_state.get("runs_experiment") in ids else ids[0]
labels = {row["id"]: data.experiment_label(row) for _, row in experiments.iterrows()}
experiment_id = st.selectbox("Experiment", ids, key="runs_pick", format_func=labels.get)
st.query_params["exp"] = experiment_id
st.session_state["runs_url_exp"] = experiment_id
spec = specs[experiment_id]
st.caption(f"Sharing: **{spec.get('sharing')}** · tasks: {', '.join(spec.get('tasks', []))} · "
           f"{str(spec['steps']) + ' steps per task' if spec.get('steps') else str(spec.get('epochs')) + ' epochs'}"
           f" · seeds "
           f"{', '.join(map(str, spec.get('seeds', [])))} · store: `{data.store_path()}`")


def act(verb: str, target: str) -> None:
    """Cancel or resume a run or a whole experiment through the backend; the outcome as a toast."""
    try:
        backend = data.backend()
        outcome = backend.cancel(target) if verb == "cancel" else backend.resume(target)
    except UserError as exc:
        st.toast(str(exc), icon=":material/warning:")
        return
    if verb == "cancel":
        st.toast(f"Cancel: {', '.join(f'{run} {result}' for run, result in outcome) or 'nothing to cancel'}")
    else:
        st.toast(f"Resumed {len(outcome)} run(s)" if outcome else "Nothing to resume")


def run_label(run: dict) -> str:
    return f"{charts.KIND_NAMES.get(run['kind'], run['kind'])} · {' + '.join(run['tasks'])} · seed {run['seed']}"


def runs_panel(runs: list[dict], now: float) -> None:
    active = [r for r in runs if r["status"] in data.ACTIVE_STATUSES]
    resumable = [r for r in runs if r["status"] in ("cancelled", "interrupted")]
    left, middle, _ = st.columns([1, 1, 3])
    left.button("Cancel all", key=f"cancel_{experiment_id}", disabled=not active, on_click=act,
                args=("cancel", experiment_id), help="Queued runs never start; running ones stop at the next step.")
    middle.button("Resume all", key=f"resume_{experiment_id}", disabled=not resumable, on_click=act,
                  args=("resume", experiment_id), help="Interrupted or cancelled runs continue from their checkpoint.")
    for run in runs:
        fraction, seconds_left = state.run_progress(run, now)
        name, bar, buttons = st.columns([3, 5, 1])
        name.markdown(f"{STATUS_ICONS.get(run['status'], '')} **{run_label(run)}**  \n`{run['status']}`"
                      + (f" on {run['device']}" if run.get("device") else ""))
        step_text = f"step {run['step']} / {run.get('total_steps') or '?'}"
        if run["status"] == "running":
            step_text += f" · ETA {state.format_duration(seconds_left)}" if seconds_left is not None else \
                " · ETA after the first steps"
        elif run["status"] == "queued":
            step_text += " · waiting for a free worker"
        bar.progress(fraction, text=step_text)
        if run["status"] in data.ACTIVE_STATUSES:
            buttons.button("Cancel", key=f"cancel_{run['id']}", on_click=act, args=("cancel", run["id"]))
        elif run["status"] in ("cancelled", "interrupted"):
            buttons.button("Resume", key=f"resume_{run['id']}", on_click=act, args=("resume", run["id"]))
        if run.get("error"):
            st.error(run["error"], icon=":material/warning:")
        with st.expander(f"Logs: {run['id']}"):
            try:
                log = data.backend().logs(run["id"])
            except UserError as exc:
                log = str(exc)
            st.code(log[-LOG_CHARS:], language="text")


def curves_section(frame: pd.DataFrame, tasks: list[str], colours: dict[str, str]) -> None:
    st.subheader("Per-task curves")
    if frame.empty:
        st.info("No metrics yet: curves appear after the first training steps.", icon=":material/hourglass_top:")
        return
    st.plotly_chart(charts.training_curves(frame, "loss", colours), key="curve_loss")
    primary = dict.fromkeys(data.cards()[t]["metric"] for t in tasks if t in data.cards())
    for metric in primary:
        st.plotly_chart(charts.training_curves(frame, metric, colours), key=f"curve_{metric}")


def conflict_section(conflict: pd.DataFrame, tasks: list[str]) -> None:
    st.subheader("Gradient conflict between tasks")
    st.caption(text.CONFLICT_EXPLANATION)
    if len(tasks) < 2:
        st.info("One task only: gradient conflict needs two or more tasks.", icon=":material/info:")
        return
    if not spec.get("conflict_every"):
        st.info("Gradient conflict was not measured (k = 0). Set *Measure gradient conflict every k steps* on "
                "New experiment (CLI: `--conflict-every 10`).", icon=":material/info:")
        return
    if conflict.empty:
        st.info(f"No measurements yet: the first comes at step {spec['conflict_every']}.", icon=":material/hourglass_top:")
        return
    span = st.slider("Smoothing (EMA span, in measurements)", 1, 20, 5, key="runs_span")
    st.plotly_chart(charts.cosine_over_time(conflict, "all", span), key="conflict_cosine")
    overall = conflict[conflict["layer"] == "all"]
    if not (overall["task_a"] == overall["task_b"]).any():
        st.caption("Noise floor not recorded for this experiment: tick *Also measure the noise floor* on New "
                   "experiment (CLI: `--noise-floor`) to see how much cosine SGD noise alone gives.")
    summary = summarise_conflict(overall)
    cos_col, rate_col = st.columns(2)
    cos_col.plotly_chart(charts.pair_heatmap(pair_matrix(summary, tasks, "mean_cos"), tasks,
                                             "Mean gradient cosine (diagonal: noise floor)", "mean cos"),
                         key="conflict_matrix_cos")
    rate_col.plotly_chart(charts.pair_heatmap(pair_matrix(summary, tasks, "conflict_rate"), tasks,
                                              "Conflict rate: share of steps with cos < 0", "rate",
                                              diverging=False), key="conflict_matrix_rate")
    st.plotly_chart(charts.magnitude_similarity_over_time(conflict, "all", span), key="conflict_magnitude")
    pairs = [f"{a} × {b}" for i, a in enumerate(tasks) for b in tasks[i + 1:]]
    pair = st.selectbox("Task pair for the per-layer and histogram views", pairs, key="runs_pair")
    task_a, task_b = pair.split(" × ")
    layer_col, hist_col = st.columns([3, 2])
    layer_col.plotly_chart(charts.layer_heatmap(conflict, task_a, task_b), key="conflict_layers")
    chosen = overall[((overall["task_a"] == task_a) & (overall["task_b"] == task_b))
                     | ((overall["task_a"] == task_b) & (overall["task_b"] == task_a))]
    hist_col.plotly_chart(charts.cosine_histogram_chart(cosine_histogram(chosen["cos"]), pair),
                          key="conflict_histogram")


def overview_table() -> None:
    """Every experiment, newest first, with its run counts (read fresh on every poll)."""
    rows = data.experiments()
    tasks = [", ".join(json.loads(spec).get("tasks", [])) for spec in rows["spec_json"]]
    sharing = [json.loads(spec).get("sharing") for spec in rows["spec_json"]]
    table = pd.DataFrame({
        "experiment": rows["id"], "name": rows["name"], "tasks": tasks, "sharing": sharing,
        "created": pd.to_datetime(rows["created_at"], unit="s", utc=True).dt.tz_convert(None),
        "runs": rows["runs"],
        **{status: rows[status].fillna(0).astype(int) for status in ("completed", "running", "queued", "stopped")},
    })
    table["done"] = table["completed"] / table["runs"].clip(lower=1)
    with st.expander(f"All experiments ({len(table)}), newest first", expanded=len(table) > 1):
        st.dataframe(table, hide_index=True, width="stretch", column_config={
            "done": st.column_config.ProgressColumn("runs completed", min_value=0.0, max_value=1.0,
                                                    format="percent"),
            "created": st.column_config.DatetimeColumn("created (UTC)", format="YYYY-MM-DD HH:mm:ss"),
        })


def run_view(poll: bool) -> None:
    overview_table()
    runs = data.live_runs(experiment_id)
    runs_panel(runs, time.time())
    tasks = spec.get("tasks", [])
    colours = charts.task_colours(tasks)
    frame = charts.with_run_info(data.metrics([r["id"] for r in runs]), runs)
    curves_section(frame, tasks, colours)
    mtl_ids = [r["id"] for r in runs if r["kind"] == "mtl"]
    conflict_section(data.conflict(mtl_ids), tasks)
    if spec.get("sharing") == "soft":
        st.subheader("Soft sharing: ‖θ_t − θ_s‖ over training")
        st.caption("θ_s is the mean of the task encoders. λ_soft pulls each encoder towards it: a small distance "
                   "means the tasks effectively share one encoder.")
        st.plotly_chart(charts.soft_distance_curves(frame[frame["run_id"].isin(mtl_ids)], colours),
                        key="soft_distance")
    if poll and data.is_finished(runs):
        st.rerun()  # a full rerun redraws the view without polling
    if poll:
        st.caption(f"Updating every {POLL_SECONDS} s while runs are queued or running.")


polling = not data.is_finished(data.runs(experiment_id))
st.fragment(run_view, run_every=POLL_SECONDS if polling else None)(polling)
