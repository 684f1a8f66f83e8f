"""Compare: multi-task against single-task per task (Δ_t, Δm, negative transfer), curves across runs, exports.

Every number here comes from mtl_core.analysis.summary.experiment_summary, the same object the CLI's
`show --json` prints; the page adds the table, the downloads and the CLI line that reproduces the run.
"""
from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from dashboard import charts, data, state, text
from mtl_core.analysis.summary import experiment_summary
from mtl_core.errors import UserError

MIN_SEEDS = 3

st.title("Compare")
experiments = data.experiments()
if experiments.empty:
    st.info("Nothing to compare yet: start an experiment on **New experiment** (keep *single-task baselines* on).",
            icon=":material/info:")
    st.page_link("views/new_experiment.py", label="Go to New experiment", icon=":material/science:")
    st.stop()

ids = list(experiments["id"])
wanted = st.query_params.get("exp")
if wanted and wanted not in ids:
    st.warning(f"No experiment '{wanted}' in this store; showing the newest.", icon=":material/link:")
if wanted in ids and st.session_state.get("compare_url_exp") != wanted:
    st.session_state["compare_pick"] = wanted
if st.session_state.get("compare_pick") not in ids:
    st.session_state["compare_pick"] = ids[0]
labels = {row["id"]: data.experiment_label(row) for _, row in experiments.iterrows()}
experiment_id = st.selectbox("Experiment", ids, key="compare_pick", format_func=labels.get)
st.query_params["exp"] = experiment_id
st.session_state["compare_url_exp"] = experiment_id

try:
    summary = experiment_summary(data.store(), experiment_id)
except UserError as exc:
    st.error(str(exc), icon=":material/warning:")
    st.stop()
spec = json.loads(data.store().experiment(experiment_id)["spec_json"])
table = charts.comparison_table(summary["tasks"])
compared = table[table["delta_pct"].notna()]  # tasks with both a multi-task and a single-task result

# ---- multi-task vs single-task -------------------------------------------------------------------
st.header("Multi-task vs single-task")
st.markdown(text.DELTA_EXPLANATION)
if compared.empty:
    unfinished = [r for r in summary["runs"] if r["status"] != "completed"]
    if not spec.get("baselines", True) or len(spec.get("tasks", [])) < 2:
        st.info("This experiment has no single-task baselines to compare with. Launch it again with *Also train "
                "single-task baselines* on (CLI: `--baselines`).", icon=":material/info:")
    elif unfinished:
        st.info(f"Waiting for {len(unfinished)} run(s) to complete: the comparison appears when a multi-task run "
                "and its baselines have finished. Follow them on **Runs**.", icon=":material/hourglass_top:")
    else:
        st.info("No completed multi-task / single-task pairs in this experiment.", icon=":material/info:")
else:
    negative = compared[compared["delta_pct"] < 0]
    delta_m = summary.get("delta_m_pct")
    metric_col, seeds_col = st.columns(2)
    metric_col.metric("Δm (mean Δ_t over tasks)", "n/a" if delta_m is None else f"{delta_m:+.2f} %",
                      help=summary["sign_convention"])
    seeds = int(compared["n_seeds"].min())
    seeds_col.metric("Seeds compared (paired)", seeds)
    if not negative.empty:
        st.error("Negative transfer on " + ", ".join(f"**{row.task}** (Δ = {row.delta_pct:+.2f} %)"
                                                     for row in negative.itertuples())
                 + (": multi-task hurt this task even though Δm is positive." if delta_m and delta_m > 0 else
                    ": multi-task did worse than single-task here."), icon=":material/trending_down:")
    if seeds < MIN_SEEDS:
        st.warning(f"{seeds} seed(s): differences this small can be seed noise. Use {MIN_SEEDS} or more seeds "
                   "before drawing conclusions.", icon=":material/casino:")
    st.plotly_chart(charts.delta_chart(compared, delta_m, summary.get("delta_m_std")), key="compare_delta")
    st.plotly_chart(charts.mtl_vs_stl_bars(compared), key="compare_bars")

# ---- curves across runs --------------------------------------------------------------------------
st.header("Curves across runs")
all_runs = data.all_runs()
run_labels = {r["id"]: f"{labels[r['experiment_id']].rsplit(' · ', 1)[0]} · {charts.KIND_NAMES[r['kind']]} "
                       f"{'+'.join(r['tasks'])} seed {r['seed']} ({r['status']})"
              for r in all_runs if r["experiment_id"] in labels}
this_experiment = [r["id"] for r in all_runs if r["experiment_id"] == experiment_id]
chosen = st.multiselect("Runs to overlay (any experiment)", list(run_labels), default=this_experiment,
                        format_func=run_labels.get, key="compare_runs")
name_col, split_col = st.columns(2)
names = ["loss", "accuracy", "macro_f1", "span_f1", "pearson", "mse"]
metric_name = name_col.selectbox("Metric", names, key="compare_metric")
split = split_col.radio("Split", ["validation", "train"], horizontal=True, key="compare_split")
if chosen:
    runs_by_id = {r["id"]: r for r in all_runs}
    frame = charts.with_run_info(data.metrics(chosen), [runs_by_id[i] for i in chosen])
    st.plotly_chart(charts.runs_overlay(frame, metric_name, split), key="compare_overlay")
else:
    st.info("Pick one or more runs to overlay their curves.", icon=":material/info:")

# ---- every number, downloads, the CLI line -------------------------------------------------------
st.header("Every number")
per_run = pd.DataFrame([
    {"run": r["id"], "kind": r["kind"], "tasks": "+".join(r["tasks"]), "seed": r["seed"], "status": r["status"],
     "task": task, "metric": name, "test value": value}
    for r in data.runs(experiment_id) if r.get("result")
    for task, values in r["result"].get("test", {}).items() for name, value in values.items()])
st.markdown("**Per task** (test set; Δ in %, positive = multi-task better)")
st.dataframe(table, hide_index=True, width="stretch")
st.markdown("**Per run** (every test metric)")
st.dataframe(per_run, hide_index=True, width="stretch")
csv_col, json_col, runs_col = st.columns(3)
csv_col.download_button("Per-task table (CSV)", table.to_csv(index=False), f"{experiment_id}-tasks.csv",
                        mime="text/csv", key="download_tasks")
runs_col.download_button("Per-run test metrics (CSV)", per_run.to_csv(index=False), f"{experiment_id}-runs.csv",
                         mime="text/csv", key="download_runs")
json_col.download_button("Summary (JSON)", json.dumps(summary, indent=2), f"{experiment_id}-summary.json",
                         mime="application/json", key="download_summary")

st.header("Reproduce it")
st.caption("The same experiment from the command line (it trains in the foreground and prints this summary):")
st.code(state.cli_command(spec), language="bash", wrap_lines=True)
with st.expander("The experiment's full spec (JSON; `python -m mtl_core run --spec FILE`)"):
    st.json(spec)
