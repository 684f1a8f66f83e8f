"""Relatedness map: launch a map of 2–8 tasks, then read transfer gain beside its proxies, the clustering and a grouping.

The map's runs train in the background (mtl_core.relmap.submit_map); the page polls the store every
2 s while any is active and draws each matrix as soon as its runs are in. URL: ?exp=<map experiment>
&groups=<B>&check=<grouping-check experiment>&lang=zh.
"""
from __future__ import annotations

import json
import shlex

import numpy as np
import pandas as pd
import streamlit as st

from dashboard import data, state
from dashboard import charts_relatedness as rc
from dashboard.i18n import language_switch, t
from dashboard.widgets import experiment_picker
from mtl_core.errors import UserError

POLL_SECONDS = 2
# matrix key -> the factor that turns the stored value into %
MATRICES = {"transfer_gain": 1.0, "affinity": 100.0, "mean_cos": 100.0, "conflict_rate": 100.0, "cka": 100.0}
PROXIES = ("affinity", "mean_cos", "cka")

language_switch()
st.title(t("map.title"))
st.caption(t("map.intro"))
try:
    from mtl_core import relmap
except ImportError:
    st.error(t("map.relmap_missing"), icon="⚠️")
    st.stop()


def map_experiments():
    experiments = data.experiments()
    return experiments[experiments["kind"] == "map"] if not experiments.empty else experiments


# ---- a new map --------------------------------------------------------------------------------
def launch(spec, cheap: bool, max_groups: int) -> None:
    try:
        experiment_id, _ = relmap.submit_map(data.backend(), spec, cheap=cheap, max_groups=max_groups)
    except UserError as exc:
        st.session_state["map_error"] = str(exc)
        return
    st.session_state["map_pick"] = experiment_id
    st.session_state["map_groups"] = max_groups
    st.query_params.pop("check", None)


maps = map_experiments()
with st.expander(t("map.new"), expanded=maps.empty):
    cards = data.cards()
    available = [task for task, card in cards.items() if card.get("available", True)]
    tasks = st.multiselect(t("map.tasks"), available, key="map_tasks", max_selections=8,
                           format_func=lambda task: f"{task} · {cards[task].get('name', task)}")
    left, middle, right = st.columns(3)
    steps = left.number_input(t("map.steps"), 10, 100_000, 200, step=50, key="map_steps")
    seeds_text = middle.text_input(t("map.seeds"), "0", key="map_seeds")
    encoder = right.selectbox(t("map.encoder"), state.ENCODERS, key="map_encoder")
    left, middle, right = st.columns(3)
    max_train = left.number_input(t("map.max_train"), 0, 10_000_000, 0, step=500, key="map_max_train")
    max_groups = middle.slider(t("map.max_groups"), 1, max(2, len(tasks) or 2), 2, key="map_new_groups")
    cheap = right.toggle(t("map.cheap"), key="map_cheap")
    spec = None
    if not 2 <= len(tasks) <= 8:
        st.info(t("map.pick_tasks"), icon="ℹ️")
    else:
        try:
            spec = state.spec_dict({**state.default_form(), "tasks": tasks, "steps": int(steps), "seeds": seeds_text,
                                    "encoder": encoder, "max_train": int(max_train)})
            from mtl_core.spec import ExperimentSpec

            spec = ExperimentSpec.from_dict(spec)
            runs = len(relmap.map_run_specs(spec, cheap=cheap))
            seconds = relmap.estimate_map_seconds(spec, True, cheap)
            st.caption(t("map.estimate", runs=runs, duration=state.format_duration(seconds)))
        except UserError as exc:
            st.error(str(exc), icon="⚠️")
            spec = None
    st.button(t("map.launch"), type="primary", key="map_launch", disabled=spec is None, on_click=launch,
              args=(spec, cheap, max_groups))
    if st.session_state.get("map_error"):
        st.error(st.session_state.pop("map_error"), icon="⚠️")

# ---- which map: ?exp=… else the newest ----------------------------------------------------------
maps = map_experiments()
if maps.empty:
    st.info(t("map.none"), icon="ℹ️")
    st.stop()
experiment_id = experiment_picker(maps, prefix="map", label=t("map.pick"), unknown_key="map.unknown_exp")
map_spec = json.loads(maps.set_index("id").loc[experiment_id, "spec_json"])
map_tasks = list(map_spec.get("tasks", []))
if st.session_state.get("map_groups_for") != experiment_id:  # a newly picked map: its own B
    options = data.store().experiment_options(experiment_id) or {}
    st.session_state["map_groups"] = int(options.get("max_groups") or 2)
    st.session_state["map_groups_for"] = experiment_id
if "groups" in st.query_params and st.session_state.get("map_url_groups") != st.query_params["groups"]:
    try:
        st.session_state["map_groups"] = min(max(1, int(st.query_params["groups"])), len(map_tasks))
    except ValueError:
        pass
st.session_state["map_groups"] = min(st.session_state["map_groups"], len(map_tasks))


def cli_line(spec: dict, result: dict, max_groups: int) -> str:
    """`python -m mtl_core map …`: the map's run options (the `run` flags), then its own."""
    parts = shlex.split(state.cli_command(spec).split("  #")[0])
    parts[3] = "map"
    if spec.get("sharing") == "hard":  # the default needs no flag
        at = parts.index("--sharing")
        del parts[at:at + 2]
    parts += ["--cheap"] if result.get("cheap") else []
    parts += [] if result.get("include_all", True) else ["--no-all"]
    return " ".join(shlex.quote(p) for p in parts + ["--max-groups", str(max_groups), "--json"])


def heatmaps(result: dict) -> None:
    tasks = result["tasks"]
    columns = st.columns(2)
    shown = 0
    for key, factor in MATRICES.items():
        matrix = result.get(key)
        if matrix is None or all(v is None for row in matrix for v in row):
            continue
        scaled = [[None if v is None else v * factor for v in row] for row in matrix]
        columns[shown % 2].plotly_chart(rc.relatedness_heatmap(
            scaled, tasks, title=t(f"map.matrix.{key}"), x_title=t("map.target_axis"), y_title=t("map.helper_axis"),
            colorbar_title=t("map.colorbar"), higher_is_worse=key == "conflict_rate"), key=f"map_heatmap_{key}")
        shown += 1
    if not shown:
        st.info(t("map.not_ready"), icon="⏳")


def regret_text(regret: dict, ks) -> str:
    return ", ".join(f"regret@{k} " + ("—" if regret.get(str(k)) is None else f"{regret[str(k)]:.2f}") for k in ks)


def proxies(result: dict) -> None:
    correlations = result.get("proxy_rank_correlation") or {}
    if result.get("cheap") or not correlations:
        return
    st.subheader(t("map.proxies"))
    scores, ks = result.get("proxy_scores") or {}, result.get("regret_ks") or []
    lines = []
    for proxy in PROXIES:
        rho = correlations.get(proxy)
        name = t(f"map.proxy.{proxy}")
        line = (t("map.proxy_missing", proxy=name) if rho is None or not np.isfinite(rho)
                else t("map.proxy_value", proxy=name, rho=rho))
        overall = (scores.get(proxy) or {}).get("overall") or {}
        if any(v is not None for v in (overall.get("regret") or {}).values()):
            line += t("map.proxy_regret", regrets=regret_text(overall["regret"], ks), targets=overall["targets"])
        lines.append(line)
    st.markdown("\n".join(f"- {line}" for line in lines))
    st.caption(t("map.proxies_explain"))
    st.caption(t("map.regret_explain"))
    per_target = proxy_table(scores, ks)
    if not per_target.empty:
        st.markdown(f"**{t('map.per_target')}**")
        st.table(per_target)
    measured = [proxy for proxy in PROXIES if not relmap.proxy_points(result, proxy).empty]
    if measured:
        proxy = st.selectbox(t("map.scatter_proxy"), measured, key="map_scatter_proxy",
                             format_func=lambda name: t(f"map.proxy.{name}"))
        points = relmap.proxy_points(result, proxy)
        points = points.assign(label=points["helper"], group=points["target"],
                               proxy=points["proxy"] * MATRICES[proxy])
        st.plotly_chart(rc.proxy_gain_scatter(points, title=t("map.scatter_title", proxy=t(f"map.proxy.{proxy}")),
                                              x_title=t("map.scatter_x", proxy=t(f"map.proxy.{proxy}")),
                                              y_title=t("map.scatter_y")), key="map_scatter")


def proxy_table(scores: dict, ks) -> pd.DataFrame:
    """Rows: target task; per proxy its ρ and regret@k over that target's helpers (text, — where undefined)."""
    rows = {}
    for proxy in PROXIES:
        name = t(f"map.proxy.{proxy}")
        for target, column in ((scores.get(proxy) or {}).get("per_target") or {}).items():
            if not column["candidates"]:
                continue
            row = rows.setdefault(target, {})
            row[f"{name}: ρ"] = "—" if column["rho"] is None else f"{column['rho']:+.2f}"
            for k in ks:
                value = column["regret"].get(str(k))
                row[f"{name}: regret@{k}"] = "—" if value is None else f"{value:.2f}"
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis(t("map.check.task")) if rows else pd.DataFrame()


def clustering(result: dict, max_groups: int) -> None:
    dendrogram = result.get("dendrogram") or {}
    left, right = st.columns([3, 2])
    if dendrogram.get("linkage"):
        left.plotly_chart(rc.dendrogram_figure(dendrogram["linkage"], result["tasks"], title=t("map.dendrogram_title"),
                                               axis_title=t("map.dendrogram_axis")), key="map_dendrogram")
    groups = result.get("groups") or []
    with right:
        st.slider(t("map.max_groups"), 1, max(2, len(result["tasks"])), key="map_groups")
        st.markdown(f"**{t('map.groups', b=max_groups)}**")
        st.markdown("\n".join(f"- {t('map.group', n=i, tasks=', '.join(group))}" for i, group in enumerate(groups, 1)))
        if groups:
            st.button(t("map.test_grouping"), key="map_test_grouping", on_click=test_grouping, args=(groups,))


def test_grouping(groups: list[list[str]]) -> None:
    from mtl_core.spec import ExperimentSpec

    try:
        check_id = relmap.submit_grouping_check(data.backend(), ExperimentSpec.from_dict(map_spec), groups)
    except UserError as exc:
        st.session_state["map_error"] = str(exc)
        return
    st.query_params["check"] = check_id


def grouping_check(check_id: str) -> None:
    runs = data.runs(check_id)
    if not runs:
        return
    st.subheader(t("map.grouping_result"))
    if not data.is_finished(runs):
        done = sum(r["status"] not in data.ACTIVE_STATUSES for r in runs)
        st.progress(done / len(runs), text=t("map.grouping_running", done=done, total=len(runs)))
        return
    result = relmap.grouping_check_result(data.store(), check_id)
    arms = result["arms"]
    table = pd.DataFrame(index=pd.Index(result["tasks"], name=t("map.check.task")))
    for arm in relmap.ARMS:
        name = t(f"map.arm.{arm}")
        table[name] = [arms[arm]["per_task"][task]["value"] for task in result["tasks"]]
        table[f"{name}: Δ %"] = [arms[arm]["per_task"][task]["delta_pct"] for task in result["tasks"]]
    table[t("map.check.metric")] = [result["metrics"][task]["metric"] for task in result["tasks"]]
    st.dataframe(table, width="stretch", column_config={
        column: st.column_config.NumberColumn(format="%+.1f" if "Δ" in column else "%.3f")
        for column in table.columns if column != t("map.check.metric")})
    lines = [t("map.check.arm_line", arm=t(f"map.arm.{arm}"), groups=" | ".join(", ".join(g) for g in arms[arm]["groups"]),
               delta="—" if arms[arm]["mean_delta_pct"] is None else f"{arms[arm]['mean_delta_pct']:+.1f}")
             for arm in relmap.ARMS]
    if result.get("best_arm"):
        lines.append(t("map.check.best", arm=t(f"map.arm.{result['best_arm']}")))
    st.markdown("\n".join(f"- {line}" for line in lines))
    st.caption(t("map.check.convention"))


def downloads(result: dict) -> None:
    st.markdown(f"**{t('map.downloads')}**")
    frames = relmap.relatedness_frames(result)
    columns = st.columns(3)
    for i, (key, frame) in enumerate(frames.items()):
        columns[i % 3].download_button(t("download_csv", name=key), frame.to_csv(), file_name=f"{experiment_id}-{key}.csv",
                                       mime="text/csv", key=f"map_csv_{key}", width="stretch")


def map_view(poll: bool) -> None:
    max_groups = int(st.session_state["map_groups"])
    result = relmap.relatedness_map(data.store(), experiment_id, max_groups=max_groups)
    progress = result.get("progress") or {}
    completed, total = progress.get("completed", 0), progress.get("total", 0)
    if total and completed < total:
        st.progress(completed / total, text=t("map.progress", completed=completed, total=total))
    if result.get("cheap"):
        st.warning(t("map.cheap_warning"), icon="🧭")
    heatmaps(result)
    proxies(result)
    clustering(result, max_groups)
    if st.query_params.get("check"):
        grouping_check(st.query_params["check"])
    downloads(result)
    if result.get("notes"):
        with st.expander(t("map.notes")):
            st.markdown("\n".join(f"- {note}" for note in result["notes"]))
    st.markdown(t("map.cli"))
    st.code(cli_line(map_spec, result, max_groups), language="bash", wrap_lines=True)
    st.query_params["groups"] = st.session_state["map_url_groups"] = str(max_groups)
    if poll and data.is_finished(data.runs(experiment_id)) and not checking_active():
        st.rerun()


def checking_active() -> bool:
    check_id = st.query_params.get("check")
    return bool(check_id) and not data.is_finished(data.runs(check_id))


polling = not data.is_finished(data.runs(experiment_id)) or checking_active()
st.fragment(map_view, run_every=POLL_SECONDS if polling else None)(polling)
