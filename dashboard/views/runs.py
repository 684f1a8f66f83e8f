"""Runs: every experiment, and the run view of one: progress, cancel/resume, logs, live curves and conflict.

The run view polls the store while any run is queued or running (st.fragment(run_every=...)): every 0.5 s
until the experiment's first point is recorded (Launch answers at once), then every 2 s; it stops polling
once every run has finished. The poll that finds the first point draws the charts with it; the next one
reruns the view at its new pace.
"""
from __future__ import annotations

import json
import time

import pandas as pd
import streamlit as st

from dashboard import across, charts, charts_across, data, samples, state
from dashboard import charts_weighting as cw
from dashboard.i18n import current_language, language_switch, localise_figure, t
from dashboard.widgets import experiment_picker
from mtl_core.analysis.conflict_stats import cosine_histogram, pair_matrix, summarise_conflict
from mtl_core.errors import UserError

POLL_SECONDS = 2
FIRST_POINT_POLL_SECONDS = 0.5
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
    cards = data.task_cards(tasks)
    primary = dict.fromkeys(cards[task]["metric"] for task in tasks if task in cards)
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


def poll_seconds(runs: list[dict], recorded: bool | None = None) -> float | None:
    """How often the run view polls: None once every run has finished; quickly until a first point is recorded
    (`recorded`: whether the runs have any metric row, looked up here when not given)."""
    if data.is_finished(runs):
        return None
    if recorded is None:
        recorded = data.has_metrics([r["id"] for r in runs])
    return POLL_SECONDS if recorded else FIRST_POINT_POLL_SECONDS


def run_view(poll: float | None) -> None:
    overview_table()
    runs = data.runs(experiment_id)
    runs_panel(runs, time.time())
    tasks = spec.get("tasks", [])
    colours = charts.task_colours(tasks)
    frame = charts.with_run_info(data.metrics([r["id"] for r in runs]), runs)
    pace = poll_seconds(runs, not frame.empty)
    drawn_key = f"runs_first_point_drawn_{experiment_id}"
    action = data.poll_action(poll, pace, FIRST_POINT_POLL_SECONDS, st.session_state.get(drawn_key, False))
    if action == "rerun":
        st.rerun()  # the whole view once more at its new pace (or without polling, once all have finished)
    st.session_state[drawn_key] = action == "draw_first"
    if action == "wait":
        # Nothing recorded yet: the charts would be empty, and drawing them twice a second takes the CPU the
        # runs need to record their first point. The view polls quickly and draws them with that point.
        st.info(t("runs.first_point"), icon=":material/hourglass_top:")
        st.caption(t("runs.polling", seconds=f"{poll:g}"))
        return
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
    samples.samples_section(runs)  # generation tasks: sample outputs beside the baselines'
    if poll:  # the first point is drawn at once; the next quick poll reruns the view at its new pace
        st.caption(t("runs.polling", seconds=f"{pace if action == 'draw_first' else poll:g}"))


# ---- across experiments: every run in one table, and the configurations on the same tasks ---------------------
# Words of this view, English and 简体中文 (a key missing in a language falls back to English, as in i18n.t).
TEXT = {
    "tab.one": {"en": "One experiment", "zh": "单个实验"},
    "tab.all": {"en": "All experiments", "zh": "全部实验"},
    "runs": {"en": "Every run of every experiment", "zh": "所有实验的所有运行"},
    "runs_help": {"en": "Filter, group by any setting, and pick runs to overlay their curves. Test values are the "
                        "primary metric of each task on its test set (empty until the run completed). Every "
                        "choice is kept in the page's link.",
                  "zh": "可筛选、按任意设置分组，并选择运行以叠加其曲线。测试值是每个任务在测试集上的主要指标（运行完成前为空）。"
                        "所有选择都保存在页面链接中。"},
    "filter.tasks": {"en": "Task (a run training any of them)", "zh": "任务（训练其中任一任务的运行）"},
    "filter.sharing": {"en": "Sharing mode", "zh": "共享方式"},
    "filter.weighting": {"en": "Weighting method", "zh": "加权方法"},
    "filter.status": {"en": "Status", "zh": "状态"},
    "filter.multi_only": {"en": "Single-task baselines have no sharing mode or weighting method: a filter on "
                                "either shows multi-task runs only.",
                          "zh": "单任务基线没有共享方式和加权方法：按其中任一项筛选时只显示多任务运行。"},
    "shown": {"en": "{n} of {total} runs", "zh": "{total} 个运行中的 {n} 个"},
    "none_shown": {"en": "No run passes these filters.", "zh": "没有运行符合这些筛选条件。"},
    "group_by": {"en": "Group by", "zh": "分组依据"},
    "no_group": {"en": "(no grouping)", "zh": "（不分组）"},
    "groups": {"en": "The shown runs grouped by **{field}**: how many, how many completed, and the mean and "
                     "standard deviation of each test value.",
               "zh": "按 **{field}** 分组的所显示运行：数量、已完成数量，以及每个测试值的均值和标准差。"},
    "overlay": {"en": "Overlay the curves of", "zh": "叠加以下运行的曲线"},
    "overlay_pick": {"en": "Pick runs above to overlay their curves.", "zh": "请在上方选择要叠加曲线的运行。"},
    "metric": {"en": "Metric", "zh": "指标"},
    "split": {"en": "Split", "zh": "数据集"},
    "split.validation": {"en": "validation set", "zh": "验证集"},
    "split.train": {"en": "training batches", "zh": "训练批次"},
    "download.runs": {"en": "Download the runs (CSV)", "zh": "下载运行表（CSV）"},
    "download.groups": {"en": "Download the groups (CSV)", "zh": "下载分组表（CSV）"},
    "download.configurations": {"en": "Download the configurations (CSV)", "zh": "下载配置表（CSV）"},
    "configs": {"en": "Configurations on the same tasks", "zh": "相同任务上的配置"},
    "configs_help": {
        "en": "Every multi-task configuration of the chosen experiments on these tasks, each against its own "
              "experiment's matched single-task baselines (the Δ_t and Δm Compare shows; positive = the shared "
              "model is better). One line per configuration over the settings that vary between them.",
        "zh": "所选实验在这些任务上的每个多任务配置，各自与本实验中匹配的单任务基线比较（即“比较”页显示的 Δ_t 和 Δm；"
              "正值表示共享模型更好）。每个配置一条线，轴为它们之间不同的设置。"},
    "configs_none": {"en": "No multi-task run yet: configurations appear here once an experiment trains tasks "
                           "together.", "zh": "还没有多任务运行：实验一起训练多个任务后，配置会显示在这里。"},
    "task_set": {"en": "Tasks", "zh": "任务"},
    "experiments": {"en": "Experiments", "zh": "实验"},
    "experiments_none": {"en": "Pick at least one experiment.", "zh": "请至少选择一个实验。"},
    "waiting": {"en": "{n} configuration(s) have no Δ yet (their runs or baselines have not completed) and are "
                      "not drawn.", "zh": "{n} 个配置还没有 Δ（其运行或基线尚未完成），未绘出。"},
    "no_delta": {"en": "No configuration has Δ for every task yet.", "zh": "还没有配置在每个任务上都有 Δ。"},
    "varying": {"en": "Settings that vary: {fields}.", "zh": "不同的设置：{fields}。"},
    "varying_none": {"en": "Every setting is the same in these configurations: only Δ differs.",
                     "zh": "这些配置的所有设置都相同：只有 Δ 不同。"},
    "parcoords": {"en": "Settings against Δ_t and Δm, one line per configuration",
                  "zh": "设置与 Δ_t、Δm 的对应关系（每个配置一条线）"},
    "delta_axis": {"en": "Δ {task} (%)", "zh": "Δ {task}（%）"},
    "delta_m_axis": {"en": "Δm (%)", "zh": "Δm（%）"},
    "pareto": {"en": "Pareto front of Δ_t over {tasks}", "zh": "{tasks} 上 Δ_t 的帕累托前沿"},
    "pareto_help": {"en": "A configuration is on the front when no other one is at least as good on every task "
                          "and better on one; equal configurations are on it together.",
                    "zh": "若没有其他配置在每个任务上都至少一样好且在某个任务上更好，则该配置位于前沿；相同的配置一起位于前沿。"},
    "pareto_metric": {"en": "Pareto front of the multi-task test metrics over {tasks}",
                      "zh": "{tasks} 上多任务测试指标的帕累托前沿"},
    "front_over": {"en": "Front over", "zh": "前沿依据"},
    "front_over.delta": {"en": "Δ_t against each experiment's own baselines", "zh": "相对各实验自身基线的 Δ_t"},
    "front_over.metric": {"en": "the multi-task test metric (mean over seeds)", "zh": "多任务测试指标（各种子的均值）"},
    "metric_axis": {"en": "{task} {metric} ({better})", "zh": "{task} {metric}（{better}）"},
    "better.higher": {"en": "higher is better", "zh": "越高越好"},
    "better.lower": {"en": "lower is better", "zh": "越低越好"},
    "pareto_x": {"en": "Horizontal axis", "zh": "横轴"},
    "pareto_y": {"en": "Vertical axis", "zh": "纵轴"},
    "front": {"en": "on the Pareto front", "zh": "位于帕累托前沿"},
    "dominated": {"en": "dominated", "zh": "被支配"},
    "on_front": {"en": "On the front: {names}.", "zh": "位于前沿：{names}。"},
}


def tx(key: str, **values) -> str:
    entry = TEXT[key]
    text = entry.get(current_language()) or entry["en"]
    return text.format(**values) if values else text


def from_link(key: str, options: list[str], multi: bool) -> bool:
    """Before the widget keyed `key`: the link's ?key= (ids joined by commas for a multiselect) chooses its value
    once; a later choice in the widget wins until the link changes (as Compare's ?config=). Values that are not
    options are dropped. For widgets whose labels are not their values (run ids, translated words).
    True when the link set the value now."""
    wanted = st.query_params.get(key)
    if wanted is None or wanted == st.session_state.get(f"{key}_url"):
        return False
    if multi:
        st.session_state[key] = [value for value in wanted.split(",") if value in options]
    elif wanted in options:
        st.session_state[key] = wanted
    return True


def to_link(key: str, value: str | list[str]) -> None:
    text = ",".join(value) if isinstance(value, list) else value
    if text:
        st.query_params[key] = text
    else:
        st.query_params.pop(key, None)
    st.session_state[f"{key}_url"] = text or None


def experiment_names(table: pd.DataFrame) -> dict[str, str]:
    return {row["experiment"]: across.experiment_name({"id": row["experiment"], "name": row["experiment name"]})
            for _, row in table.drop_duplicates("experiment").iterrows()}


def across_runs(table: pd.DataFrame, runs: list[dict]) -> None:
    """The runs table with its filters, the group-by table and the curve overlay (every choice in the link)."""
    st.subheader(tx("runs"))
    st.caption(tx("runs_help"))
    options = across.filter_options(table)
    columns = st.columns(4)
    chosen = {}
    for column, name in zip(columns, across.FILTERS):
        if name == "status":  # translated labels: the link keeps the store's words
            from_link("all_status", options["status"], multi=True)
            chosen[name] = column.multiselect(tx("filter.status"), options["status"], key="all_status",
                                              format_func=lambda s: t(f"status.{s}"))
            to_link("all_status", chosen[name])
        else:
            chosen[name] = column.multiselect(tx(f"filter.{name}"), options[name], key=f"all_{name}",
                                              bind="query-params")
    if chosen["sharing"] or chosen["weighting"]:
        st.caption(tx("filter.multi_only"))
    shown = across.filter_runs(table, **chosen)
    st.caption(tx("shown", n=len(shown), total=len(table)))
    if shown.empty:
        st.info(tx("none_shown"), icon=":material/filter_alt_off:")
    st.dataframe(shown, hide_index=True, width="stretch", key="all_runs_table")
    st.download_button(tx("download.runs"), across.csv_text(shown), "runs.csv", mime="text/csv",
                       key="download_all_runs")

    fields = across.group_fields(table)
    field = st.selectbox(tx("group_by"), ["", *fields], key="all_group", bind="query-params",
                         format_func=lambda value: value or tx("no_group"))
    if field:
        groups = across.group_runs(shown, field)
        st.markdown(tx("groups", field=field))
        st.dataframe(groups, hide_index=True, width="stretch", key="all_groups_table")
        st.download_button(tx("download.groups"), across.csv_text(groups), f"runs-by-{field}.csv", mime="text/csv",
                           key="download_all_groups")

    names = experiment_names(table)
    # Unique across experiments (two runs of a sweep can share tasks and seed): the run id's end is in the label.
    labels = {r["id"]: f"{names.get(r['experiment_id'], r['experiment_id'])} · {run_label(r)} · {r['id'][-6:]}"
              for r in runs}
    # The filtered runs, and the runs already picked (so that a narrower filter does not drop them).
    linked = (st.query_params.get("all_overlay") or "").split(",")
    kept = [run for run in [*st.session_state.get("all_overlay", []), *linked] if run in labels]
    overlay_options = list(dict.fromkeys([*shown["run"], *kept]))
    from_link("all_overlay", overlay_options, multi=True)
    picked = st.multiselect(tx("overlay"), overlay_options, key="all_overlay", format_func=labels.get)
    to_link("all_overlay", picked)
    metric_col, split_col = st.columns(2)
    cards = data.task_cards(options["tasks"])
    metrics = list(dict.fromkeys(["loss", *(card["metric"] for card in cards.values())]))
    metric = metric_col.selectbox(tx("metric"), metrics, key="all_metric", bind="query-params")
    from_link("all_split", ["validation", "train"], multi=False)
    split = split_col.radio(tx("split"), ["validation", "train"], horizontal=True, key="all_split",
                            format_func=lambda value: tx(f"split.{value}"))
    to_link("all_split", "" if split == "validation" else split)
    if not picked:
        st.info(tx("overlay_pick"), icon=":material/info:")
        return
    runs_by_id = {r["id"]: r for r in runs}
    frame = charts.with_run_info(data.metrics(picked), [runs_by_id[i] for i in picked if i in runs_by_id])
    frame["run_label"] = frame["run_id"].map(labels)
    split_name = t("chart.f.validation_set" if split == "validation" else "chart.f.training_batches")
    st.plotly_chart(localise_figure(charts.runs_overlay(frame, metric, split), "chart.t.overlay", name=metric,
                                    split=split_name), key="all_overlay_chart")


def across_configurations(table: pd.DataFrame) -> None:
    """Parallel coordinates and the Pareto front of the configurations of the chosen experiments on one task set."""
    st.subheader(tx("configs"))
    st.caption(tx("configs_help"))
    sets = across.multi_task_sets(table)
    if not sets:
        st.info(tx("configs_none"), icon=":material/info:")
        return
    set_col, experiments_col = st.columns([1, 2])
    task_set = set_col.selectbox(tx("task_set"), sets, key="all_taskset", bind="query-params")
    tasks = task_set.split("+")
    names = experiment_names(table)
    candidates = across.experiments_on(table, task_set)
    linked = from_link("all_exps", candidates, multi=True)  # no ?all_exps=: every experiment on these tasks
    if st.session_state.get("all_exps_tasks") != task_set:
        st.session_state["all_exps_tasks"] = task_set
        if not linked:
            st.session_state["all_exps"] = candidates
    st.session_state["all_exps"] = [e for e in st.session_state["all_exps"] if e in candidates]
    chosen = experiments_col.multiselect(tx("experiments"), candidates, key="all_exps",
                                         format_func=lambda e: f"{names[e]} · {e}")
    to_link("all_exps", [] if chosen == candidates else chosen)
    if not chosen:
        st.info(tx("experiments_none"), icon=":material/info:")
        return
    rows = {row["id"]: row for _, row in experiments.iterrows()}
    frame = across.configurations_frame([(rows[e], data.experiment_summary(e)) for e in chosen if e in rows])
    points = across.front_frame(frame, tasks)
    waiting = int((frame["tasks"].map(across.task_set) == task_set).sum()) - len(points)
    if waiting:
        st.caption(tx("waiting", n=waiting))
    if points.empty:
        st.info(tx("no_delta"), icon=":material/hourglass_top:")
        return
    fields = across.varying_fields(points)
    st.caption(tx("varying", fields=", ".join(fields)) if fields else tx("varying_none"))
    delta_labels = {task: tx("delta_axis", task=task) for task in tasks}
    st.plotly_chart(charts_across.parallel_coordinates(points, fields, tasks, title=tx("parcoords"),
                                                       delta_labels=delta_labels, delta_m_label=tx("delta_m_axis")),
                    key="all_parcoords")

    st.caption(tx("pareto_help"))
    cards = data.task_cards(tasks)
    bases = ["delta", "metric"] if all(task in cards for task in tasks) else ["delta"]
    from_link("all_front", bases, multi=False)
    basis = st.radio(tx("front_over"), bases, horizontal=True, key="all_front",
                     format_func=lambda value: tx(f"front_over.{value}"))
    to_link("all_front", "" if basis == "delta" else basis)
    if basis == "delta":
        columns, labels, better = across.delta_columns(tasks), delta_labels, None
    else:
        columns = [across.test_column(task, cards[task]["metric"]) for task in tasks]
        labels = {task: tx("metric_axis", task=task, metric=cards[task]["metric"],
                           better=tx("better.higher" if cards[task]["higher_is_better"] else "better.lower"))
                  for task in tasks}
        better = [bool(cards[task]["higher_is_better"]) for task in tasks]
    front = across.front_frame(frame, tasks, columns, better)
    if len(tasks) > 2:
        x_col, y_col = st.columns(2)
        x_task = x_col.selectbox(tx("pareto_x"), tasks, index=0, key="all_x", bind="query-params")
        y_task = y_col.selectbox(tx("pareto_y"), tasks, index=1, key="all_y", bind="query-params")
    else:
        x_task, y_task = tasks
    title = tx("pareto" if basis == "delta" else "pareto_metric", tasks=", ".join(tasks))
    st.plotly_chart(charts_across.pareto_chart(front, columns[tasks.index(x_task)], columns[tasks.index(y_task)],
                                               join=len(tasks) == 2, title=title, x_title=labels[x_task],
                                               y_title=labels[y_task], number="+.2f" if basis == "delta" else ".4g",
                                               origin=basis == "delta",
                                               names={"front": tx("front"), "dominated": tx("dominated")}),
                    key="all_pareto")
    st.caption(tx("on_front", names="; ".join(front.loc[front[across.ON_FRONT], "name"])))
    tests = [c for c in front.columns if c.startswith("test ")]
    shown = front[[*across.CONFIGURATION_IDENTITY, *fields, *across.delta_columns(tasks), across.DELTA_M, *tests,
                   "seeds", across.ON_FRONT]]
    st.dataframe(shown, hide_index=True, width="stretch", key="all_configurations_table")
    st.download_button(tx("download.configurations"), across.csv_text(shown), f"configurations-{task_set}.csv",
                       mime="text/csv", key="download_all_configurations")


def across_view() -> None:
    runs = data.all_runs()
    table = across.runs_table(runs, experiments, data.task_cards(sorted({t for r in runs for t in r["tasks"]})))
    across_runs(table, runs)
    across_configurations(table)


# ---- one experiment (?exp=…, a link or Launch on New experiment, else the newest) | all of them (?view=) ------
one_tab, all_tab = st.tabs([tx("tab.one"), tx("tab.all")], key="view", bind="query-params")
if one_tab.open:
    with one_tab:
        experiment_id = experiment_picker(experiments, prefix="runs", label=t("page.experiment"),
                                          unknown_key="page.unknown_exp",
                                          fallback=st.session_state.get("runs_experiment"))
        spec = specs[experiment_id]
        st.caption(t("runs.caption", sharing=spec.get("sharing"), tasks=", ".join(spec.get("tasks", [])),
                     length=t("runs.steps_per_task", steps=spec["steps"]) if spec.get("steps") else
                     t("runs.epochs", epochs=spec.get("epochs")),
                     seeds=", ".join(map(str, spec.get("seeds", []))), store=data.store_path()))
        polling = poll_seconds(data.runs(experiment_id))
        st.fragment(run_view, run_every=polling)(polling)
if all_tab.open:
    with all_tab:
        across_view()
