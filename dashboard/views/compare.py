"""Compare: multi-task against single-task per task (Δ_t, Δm, negative transfer), curves across runs, exports.

Every number here comes from mtl_core.analysis.summary.experiment_summary, the same object the CLI's
`show --json` prints; the page adds the table, the downloads and the CLI line that reproduces the run.
"""
from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from dashboard import charts, data, state, widgets
from dashboard import charts_weighting as cw
from dashboard.i18n import language_switch, localise_figure, t
from dashboard.widgets import experiment_picker
from mtl_core.analysis.summary import experiment_summary
from mtl_core.errors import UserError

MIN_SEEDS = 3

language_switch()
st.title(t("compare.title"))
experiments = data.experiments()
if experiments.empty:
    st.info(t("compare.none"), icon=":material/info:")
    st.page_link("views/new_experiment.py", label=t("page.go_new"), icon=":material/science:")
    st.stop()

experiment_id = experiment_picker(experiments, prefix="compare", label=t("page.experiment"),
                                  unknown_key="page.unknown_exp")

try:
    summary = experiment_summary(data.store(), experiment_id)
except UserError as exc:
    st.error(str(exc), icon=":material/warning:")
    st.stop()
spec = json.loads(data.store().experiment(experiment_id)["spec_json"])
configurations = summary["configurations"]
overview = charts.configurations_table(configurations)
if len(configurations) > 1:
    st.header(t("compare.configurations"))
    st.caption(t("compare.configurations_help", n=len(configurations)))
    st.dataframe(overview.drop(columns=["id"]).round(2), hide_index=True, width="stretch")
    ids = [entry["id"] for entry in configurations]
    wanted = st.query_params.get("config")
    if wanted in ids and st.session_state.get("compare_config_url") != wanted:
        st.session_state["compare_config"] = wanted
    if st.session_state.get("compare_config") not in ids:
        st.session_state["compare_config"] = ids[0]
    labels = {entry["id"]: entry["label"] for entry in configurations}
    chosen_id = st.selectbox(t("compare.configuration"), ids, key="compare_config", format_func=labels.get)
    st.query_params["config"] = st.session_state["compare_config_url"] = chosen_id
    chosen = next(entry for entry in configurations if entry["id"] == chosen_id)
else:
    st.query_params.pop("config", None)
    chosen = summary


# ---- static λ against adaptive weighting methods: the front, when configurations differ in weighting ----------
def front_section(configurations: list[dict], tasks: list[str]) -> None:
    if len(tasks) > 2:
        x_column, y_column = st.columns(2)
        x_task = x_column.selectbox(t("compare.front_x"), tasks, index=0, key="compare_front_x")
        y_task = y_column.selectbox(t("compare.front_y"), tasks, index=1, key="compare_front_y")
    else:
        x_task, y_task = tasks[0], tasks[1]
    st.caption(t("compare.front_help", x=x_task, y=y_task))
    points = cw.front_points(configurations, (x_task, y_task)) if x_task != y_task else pd.DataFrame()
    if points.empty:
        st.info(t("compare.front_waiting"), icon=":material/hourglass_top:")
        return
    st.plotly_chart(cw.method_front(points, title=t("compare.front_title"),
                                    x_title=t("compare.front_axis", task=x_task),
                                    y_title=t("compare.front_axis", task=y_task),
                                    names={"static": t("lab.m.static"), "front": t("lab.m.front"),
                                           "baseline": t("lab.m.baseline")}, cost_text=widgets.cost_text),
                    key="compare_front")
    verdicts = cw.classify(points)
    if not verdicts:
        return
    where = {cw.DOMINATED: lambda v: t("compare.where.dominated", by=", ".join(v["by"])),
             cw.BEYOND: lambda v: t("compare.where.beyond", beats=", ".join(v["beats"])),
             cw.ON: lambda v: t("compare.where.on"), None: lambda v: t("compare.where.none")}
    st.markdown(f"**{t('compare.front_where')}**")
    st.dataframe(pd.DataFrame([{
        t("compare.front_col.method"): v["name"], t("compare.front_col.x", task=x_task): round(v["x"], 2),
        t("compare.front_col.x", task=y_task): round(v["y"], 2),
        t("compare.front_col.cost"): widgets.cost_text(None if pd.isna(v["cost"]) else float(v["cost"])),
        t("compare.front_col.where"): where[v["where"]](v)} for v in verdicts]), hide_index=True, width="stretch")


weightings = {json.dumps((entry.get("configuration") or {}).get("weighting"), sort_keys=True)
              for entry in configurations}
if len(configurations) > 1 and len(weightings) > 1 and len(spec.get("tasks", [])) >= 2:
    st.header(t("compare.front"))
    front_section(configurations, list(spec["tasks"]))

sharing = chosen["configuration"]["sharing"] if "configuration" in chosen else spec.get("sharing")
table = charts.comparison_table(chosen["tasks"])
compared = table[table["delta_pct"].notna()]  # tasks with both a multi-task and a single-task result

# ---- multi-task vs single-task -------------------------------------------------------------------
st.header(t("compare.mtl_vs_stl"))
st.markdown(t("text.delta"))
if compared.empty:
    unfinished = [r for r in summary["runs"] if r["status"] != "completed"]
    if not spec.get("baselines", True) or len(spec.get("tasks", [])) < 2:
        st.info(t("compare.no_baselines"), icon=":material/info:")
    elif unfinished:
        st.info(t("compare.waiting", n=len(unfinished)), icon=":material/hourglass_top:")
    else:
        st.info(t("compare.no_pairs"), icon=":material/info:")
else:
    negative = compared[compared["delta_pct"] < 0]
    delta_m = chosen.get("delta_m_pct")
    metric_col, seeds_col = st.columns(2)
    metric_col.metric(t("compare.delta_m"), t("chart.f.na") if delta_m is None else f"{delta_m:+.2f} %",
                      help=summary["sign_convention"])
    seeds = int(compared["n_seeds"].min())
    seeds_col.metric(t("compare.seeds"), seeds)
    if not negative.empty:
        st.error(t("compare.negative", tasks=", ".join(f"**{row.task}** (Δ = {row.delta_pct:+.2f} %)"
                                                       for row in negative.itertuples()))
                 + (t("compare.negative_hidden") if delta_m and delta_m > 0 else
                    t("compare.negative_plain")), icon=":material/trending_down:")
    if seeds < MIN_SEEDS:
        st.warning(t("compare.few_seeds", seeds=seeds, min=MIN_SEEDS), icon=":material/casino:")
    if chosen.get("still_improving"):
        st.warning(t("compare.still_improving", tasks=", ".join(chosen["still_improving"]),
                     steps=chosen["suggested_steps"]), icon=":material/trending_up:")
    if sharing == "hierarchical":
        st.caption(t("compare.hierarchical_baseline"))
    st.plotly_chart(localise_figure(charts.delta_chart(compared, delta_m, chosen.get("delta_m_std")), "chart.t.delta"),
                    key="compare_delta")
    st.plotly_chart(localise_figure(charts.mtl_vs_stl_bars(compared), "chart.t.bars"), key="compare_bars")

# ---- curves across runs --------------------------------------------------------------------------
st.header(t("compare.curves"))
all_runs = data.all_runs()
labels = {row["id"]: data.experiment_label(row) for _, row in experiments.iterrows()}
run_labels = {r["id"]: t("compare.run_label", experiment=labels[r["experiment_id"]].rsplit(" · ", 1)[0],
                           kind=t(f"chart.f.{'multi' if r['kind'] == 'mtl' else 'single'}"), tasks="+".join(r["tasks"]),
                           seed=r["seed"], status=t(f"status.{r['status']}"))
              for r in all_runs if r["experiment_id"] in labels}
this_experiment = [r["id"] for r in all_runs if r["experiment_id"] == experiment_id]
chosen = st.multiselect(t("compare.overlay"), list(run_labels), default=this_experiment,
                        format_func=run_labels.get, key="compare_runs")
name_col, split_col = st.columns(2)
names = ["loss", "accuracy", "macro_f1", "span_f1", "pearson", "mse"]
metric_name = name_col.selectbox(t("compare.metric"), names, key="compare_metric")
if "compare_split" in st.session_state:  # keep the choice when the language (the option labels) changes
    st.session_state["compare_split"] = st.session_state["compare_split"]
split = split_col.radio(t("compare.split"), ["validation", "train"], horizontal=True, key="compare_split",
                        format_func=lambda value: t(f"compare.split.{value}"))
if chosen:
    runs_by_id = {r["id"]: r for r in all_runs}
    frame = charts.with_run_info(data.metrics(chosen), [runs_by_id[i] for i in chosen])
    split_name = t("chart.f.validation_set" if split == "validation" else "chart.f.training_batches")
    st.plotly_chart(localise_figure(charts.runs_overlay(frame, metric_name, split), "chart.t.overlay", name=metric_name,
                                    split=split_name), key="compare_overlay")
else:
    st.info(t("compare.pick_runs"), icon=":material/info:")

# ---- every number, downloads, the CLI line -------------------------------------------------------
st.header(t("compare.numbers"))
per_run = pd.DataFrame([
    {"run": r["id"], "kind": r["kind"], "tasks": "+".join(r["tasks"]), "seed": r["seed"], "status": r["status"],
     "task": task, "metric": name, "test value": value}
    for r in data.runs(experiment_id) if r.get("result")
    for task, values in r["result"].get("test", {}).items() for name, value in values.items()])
st.markdown(t("compare.per_task"))
st.dataframe(table, hide_index=True, width="stretch", column_config={c: t(f"compare.col.{c}") for c in table.columns})
st.markdown(t("compare.per_run"))
st.dataframe(per_run, hide_index=True, width="stretch",
             column_config={c: t(f"compare.col.{c}") for c in per_run.columns})
if len(configurations) > 1:
    st.download_button(t("compare.download_configurations"), overview.to_csv(index=False),
                       f"{experiment_id}-configurations.csv", mime="text/csv", key="download_configurations")
csv_col, json_col, runs_col = st.columns(3)
csv_col.download_button(t("compare.download_tasks"), table.to_csv(index=False), f"{experiment_id}-tasks.csv",
                        mime="text/csv", key="download_tasks")
runs_col.download_button(t("compare.download_runs"), per_run.to_csv(index=False), f"{experiment_id}-runs.csv",
                         mime="text/csv", key="download_runs")
json_col.download_button(t("compare.download_summary"), json.dumps(summary, indent=2), f"{experiment_id}-summary.json",
                         mime="application/json", key="download_summary")

# To the trackers researchers keep their runs in: written only when the user presses the button.
mlflow_col, board_col = st.columns(2)
if mlflow_col.button(t("compare.export_mlflow"), key="export_mlflow"):
    from mtl_core import trackers

    try:
        with st.spinner(t("compare.exporting")):
            result = trackers.export_mlflow(data.store(), experiment_id, log=lambda message: None)
        st.success(t("compare.exported_mlflow", exported=result["exported"], skipped=result["skipped"]),
                   icon=":material/check:")
        st.code(f"mlflow ui --backend-store-uri {result['uri']}", language="bash")
    except UserError as exc:
        st.error(str(exc), icon="⚠️")
if board_col.button(t("compare.export_tensorboard"), key="export_tensorboard"):
    from mtl_core import trackers
    from mtl_core.paths import data_home

    out = data_home() / "tensorboard" / experiment_id
    try:
        with st.spinner(t("compare.exporting")):
            folders = trackers.export_tensorboard(data.store(), experiment_id, out, log=lambda message: None)
        st.success(t("compare.exported_tensorboard", runs=len(folders)), icon=":material/check:")
        st.code(f"tensorboard --logdir {out}", language="bash")
    except UserError as exc:
        st.error(str(exc), icon="⚠️")

st.header(t("compare.reproduce"))
st.caption(t("compare.cli"))
st.code(state.cli_command(spec), language="bash", wrap_lines=True)
with st.expander(t("compare.spec")):
    st.json(spec)
