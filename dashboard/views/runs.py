"""Runs: every experiment, and the run view of one: progress, cancel/resume, logs, live curves and conflict.

The run view polls the store every 2 s (st.fragment(run_every=2)) while any run is queued or
running, and stops polling once every run has finished.
"""
from __future__ import annotations

import json
import time

import pandas as pd
import streamlit as st

from dashboard import charts, data, state
from dashboard import charts_weighting as cw
from dashboard.i18n import language_switch, localise_figure, t
from dashboard.widgets import experiment_picker
from mtl_core.analysis.conflict_stats import cosine_histogram, pair_matrix, summarise_conflict
from mtl_core.errors import UserError

POLL_SECONDS = 2
LOG_CHARS = 6000
LOG_EVENTS = 50
STATUS_ICONS = {"queued": ":gray[:material/schedule:]", "running": ":blue[:material/play_circle:]",
                "completed": ":green[:material/check_circle:]", "cancelled": ":gray[:material/stop_circle:]",
                "interrupted": ":orange[:material/warning:]", "diverged": ":red[:material/error:]",
                "failed": ":red[:material/cancel:]"}

language_switch()
st.title(t("runs.title"))
experiments = data.experiments()
if experiments.empty:
    st.info(t("runs.none"), icon=":material/info:")
    st.page_link("views/new_experiment.py", label=t("page.go_new"), icon=":material/science:")
    st.stop()

specs = {row.id: json.loads(row.spec_json) for row in experiments.itertuples()}

# ---- which experiment: ?exp=… (a link, or Launch on New experiment), else the newest ---------------
experiment_id = experiment_picker(experiments, prefix="runs", label=t("page.experiment"),
                                  unknown_key="page.unknown_exp", fallback=st.session_state.get("runs_experiment"))
spec = specs[experiment_id]
st.caption(t("runs.caption", sharing=spec.get("sharing"), tasks=", ".join(spec.get("tasks", [])),
             length=t("runs.steps_per_task", steps=spec["steps"]) if spec.get("steps") else
             t("runs.epochs", epochs=spec.get("epochs")),
             seeds=", ".join(map(str, spec.get("seeds", []))), store=data.store_path()))


def act(verb: str, target: str) -> None:
    """Cancel or resume a run or a whole experiment through the backend; the outcome as a toast."""
    try:
        backend = data.backend()
        outcome = backend.cancel(target) if verb == "cancel" else backend.resume(target)
    except UserError as exc:
        st.toast(str(exc), icon=":material/warning:")
        return
    if verb == "cancel":
        st.toast(t("runs.cancelled", outcome=", ".join(f"{run} {result}" for run, result in outcome)
                   or t("runs.nothing_to_cancel")))
    else:
        st.toast(t("runs.resumed", n=len(outcome)) if outcome else t("runs.nothing_to_resume"))


def run_label(run: dict) -> str:
    kind = t(f"chart.f.{'multi' if run['kind'] == 'mtl' else 'single'}") if run["kind"] in charts.KIND_NAMES \
        else run["kind"]
    return t("runs.run_label", kind=kind, tasks=" + ".join(run["tasks"]), seed=run["seed"])


def runs_panel(runs: list[dict], now: float) -> None:
    active = [r for r in runs if r["status"] in data.ACTIVE_STATUSES]
    resumable = [r for r in runs if r["status"] in ("cancelled", "interrupted")]
    left, middle, _ = st.columns([1, 1, 3])
    left.button(t("runs.cancel_all"), key=f"cancel_{experiment_id}", disabled=not active, on_click=act,
                args=("cancel", experiment_id), help=t("runs.cancel_all_help"))
    middle.button(t("runs.resume_all"), key=f"resume_{experiment_id}", disabled=not resumable, on_click=act,
                  args=("resume", experiment_id), help=t("runs.resume_all_help"))
    for run in runs:
        fraction, seconds_left = state.run_progress(run, now)
        name, bar, buttons = st.columns([3, 5, 1])
        name.markdown(f"{STATUS_ICONS.get(run['status'], '')} **{run_label(run)}**  \n`{t('status.' + run['status'])}`"
                      + (t("runs.on_device", device=run["device"]) if run.get("device") else ""))
        step_text = t("runs.step", step=run["step"], total=run.get("total_steps") or "?")
        if run["status"] == "running":
            step_text += t("runs.eta", duration=state.format_duration(seconds_left)) if seconds_left is not None else \
                t("runs.eta_later")
        elif run["status"] == "queued":
            step_text += t("runs.waiting")
        bar.progress(fraction, text=step_text)
        if run["status"] in data.ACTIVE_STATUSES:
            buttons.button(t("runs.cancel"), key=f"cancel_{run['id']}", on_click=act, args=("cancel", run["id"]))
        elif run["status"] in ("cancelled", "interrupted"):
            buttons.button(t("runs.resume"), key=f"resume_{run['id']}", on_click=act, args=("resume", run["id"]))
        if run.get("error"):
            st.error(run["error"], icon=":material/warning:")
        # Tracked, so the log is read only while its expander is open, and then only its end.
        log_box = st.expander(t("runs.logs", id=run["id"]), key=f"log_{run['id']}", on_change="rerun")
        if log_box.open:
            try:
                log = data.run_log(run["id"], tail_bytes=LOG_CHARS, tail_events=LOG_EVENTS)
            except UserError as exc:
                log = str(exc)
            log_box.code(log, language="text")


def curves_section(frame: pd.DataFrame, tasks: list[str], colours: dict[str, str]) -> None:
    st.subheader(t("runs.curves"))
    if frame.empty:
        st.info(t("runs.no_metrics"), icon=":material/hourglass_top:")
        return
    st.plotly_chart(localise_figure(charts.training_curves(frame, "loss", colours), "chart.t.curves", name="loss"),
                    key="curve_loss")
    primary = dict.fromkeys(data.cards()[task]["metric"] for task in tasks if task in data.cards())
    for metric in primary:
        st.plotly_chart(localise_figure(charts.training_curves(frame, metric, colours), "chart.t.curves", name=metric),
                        key=f"curve_{metric}")


def conflict_section(conflict: pd.DataFrame, tasks: list[str]) -> None:
    st.subheader(t("runs.conflict"))
    st.caption(t("text.conflict"))
    if len(tasks) < 2:
        st.info(t("runs.one_task"), icon=":material/info:")
        return
    if not spec.get("conflict_every"):
        st.info(t("runs.no_conflict"), icon=":material/info:")
        return
    if conflict.empty:
        st.info(t("runs.conflict_first", step=spec["conflict_every"]), icon=":material/hourglass_top:")
        return
    span = st.slider(t("runs.span"), 1, 20, 5, key="runs_span")
    st.plotly_chart(localise_figure(charts.cosine_over_time(conflict, "all", span), "chart.t.cosine", layer="all",
                                    span=span), key="conflict_cosine")
    overall = conflict[conflict["layer"] == "all"]
    if not (overall["task_a"] == overall["task_b"]).any():
        st.caption(t("runs.no_noise_floor"))
    summary = summarise_conflict(overall)
    cos_col, rate_col = st.columns(2)
    cos_col.plotly_chart(localise_figure(charts.pair_heatmap(pair_matrix(summary, tasks, "mean_cos"), tasks,
                                                             t("runs.matrix_cos"), t("runs.matrix_cos_bar"))),
                         key="conflict_matrix_cos")
    rate_col.plotly_chart(localise_figure(charts.pair_heatmap(pair_matrix(summary, tasks, "conflict_rate"), tasks,
                                                              t("runs.matrix_rate"), t("runs.matrix_rate_bar"),
                                                              diverging=False)), key="conflict_matrix_rate")
    st.plotly_chart(localise_figure(charts.magnitude_similarity_over_time(conflict, "all", span), "chart.t.magnitude",
                                    layer="all", span=span), key="conflict_magnitude")
    pairs = [f"{a} × {b}" for i, a in enumerate(tasks) for b in tasks[i + 1:]]
    pair = st.selectbox(t("runs.pair"), pairs, key="runs_pair")
    task_a, task_b = pair.split(" × ")
    layer_col, hist_col = st.columns([3, 2])
    layer_col.plotly_chart(localise_figure(charts.layer_heatmap(conflict, task_a, task_b), "chart.t.layers", pair=pair),
                           key="conflict_layers")
    chosen = overall[((overall["task_a"] == task_a) & (overall["task_b"] == task_b))
                     | ((overall["task_a"] == task_b) & (overall["task_b"] == task_a))]
    hist_col.plotly_chart(localise_figure(charts.cosine_histogram_chart(cosine_histogram(chosen["cos"]), pair),
                                          "chart.t.histogram", pair=pair),
                          key="conflict_histogram")


def weights_section(frame: pd.DataFrame, runs: list[dict], colours: dict[str, str]) -> None:
    """The effective weight of each task's loss over training, per multi-task run, and the method that set it."""
    from mtl_core.analysis.configurations import run_settings, weighting_of
    from mtl_core.weighting import label as weighting_label

    mtl = [r for r in runs if r["kind"] == "mtl"]
    if not mtl:
        return
    st.subheader(t("runs.weights"))
    settings = {r["id"]: run_settings(r) for r in mtl}
    methods = {r["id"]: weighting_of(settings[r["id"]]) for r in mtl}
    rows = cw.method_rows()
    several = len({json.dumps([methods[i], settings[i].get("weights")], sort_keys=True) for i in methods}) > 1
    names = {}
    for run in mtl:
        name = weighting_label(methods[run["id"]])
        if several and methods[run["id"]]["name"] == "static":
            name += " λ = (" + ", ".join(f"{settings[run['id']].get('weights', {}).get(task, 1.0):g}"
                                         for task in run["tasks"]) + ")"
        names[run["id"]] = f"{name} · seed {run['seed']}"
    titles = [f"{rows[m['name']]['title']} ({weighting_label(m)})" if m["name"] in rows else weighting_label(m)
              for m in {json.dumps(m, sort_keys=True): m for m in methods.values()}.values()]
    st.caption(t("runs.weights_caption", methods=", ".join(titles)))
    weights = frame[(frame["name"] == "weight") & (frame["split"] == "train")] if not frame.empty else frame
    if weights.empty:
        st.info(t("runs.weights_none"), icon=":material/hourglass_top:")
        return
    st.plotly_chart(cw.weight_curves(weights, names, title=t("runs.weights_title"), x_title=t("step"),
                                     y_title=t("runs.weights_axis"), colours=colours), key="weight_curves")


def _mib(size: int) -> str:
    return f"{size / 2**20:.1f} MiB"


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
    with st.expander(t("runs.all_experiments", n=len(table)), expanded=len(table) > 1):
        usage = data.store().disk_usage()
        st.caption(t("runs.disk_usage", total=_mib(usage["total"]), database=_mib(usage["database"]),
                     checkpoints=_mib(usage["checkpoints"])))
        st.dataframe(table, hide_index=True, width="stretch", column_config={
            **{column: t(f"runs.col.{column}") for column in table.columns if column not in ("done", "created")},
            "done": st.column_config.ProgressColumn(t("runs.col.done"), min_value=0.0, max_value=1.0,
                                                    format="percent"),
            "created": st.column_config.DatetimeColumn(t("runs.col.created_utc"), format="YYYY-MM-DD HH:mm:ss"),
        })


def run_view(poll: bool) -> None:
    overview_table()
    runs = data.runs(experiment_id)
    runs_panel(runs, time.time())
    tasks = spec.get("tasks", [])
    colours = charts.task_colours(tasks)
    frame = charts.with_run_info(data.metrics([r["id"] for r in runs]), runs)
    curves_section(frame, tasks, colours)
    mtl_ids = [r["id"] for r in runs if r["kind"] == "mtl"]
    conflict_section(data.conflict(mtl_ids), tasks)
    if spec.get("sharing") == "soft":
        st.subheader(t("runs.soft"))
        st.caption(t("runs.soft_caption"))
        st.plotly_chart(localise_figure(charts.soft_distance_curves(frame[frame["run_id"].isin(mtl_ids)], colours),
                                        "chart.t.soft"),
                        key="soft_distance")
    for sharing, prefix in (("mmoe", "gate_expert_"), ("cross_stitch", "stitch_")):
        if spec.get("sharing") == sharing:
            st.subheader(t(f"runs.mix.{sharing}"))
            st.caption(t(f"runs.mix.{sharing}_caption"))
            st.plotly_chart(charts.mixing_curves(frame[frame["run_id"].isin(mtl_ids)], prefix,
                                                 title=t(f"runs.mix.{sharing}"), x_title=t("step"),
                                                 y_title=t(f"runs.mix.{sharing}_axis"), colours=colours),
                            key=f"mixing_{sharing}")
    weights_section(frame, runs, colours)
    if poll and data.is_finished(runs):
        st.rerun()  # a full rerun redraws the view without polling
    if poll:
        st.caption(t("runs.polling", seconds=POLL_SECONDS))


polling = not data.is_finished(data.runs(experiment_id))
st.fragment(run_view, run_every=POLL_SECONDS if polling else None)(polling)
