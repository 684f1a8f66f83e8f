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
from dashboard.i18n import DEFAULT_LANGUAGE, current_language, language_switch, t
from dashboard.widgets import experiment_picker
from mtl_core.errors import UserError
from mtl_core.relmap import PROXIES

POLL_SECONDS = 2
# matrix key -> the factor that turns the stored value into %
MATRICES = {"transfer_gain": 1.0, "affinity": 100.0, "linear_affinity": 100.0, "mean_cos": 100.0,
            "conflict_rate": 100.0, "cka": 100.0}

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


# ---- helpers for one target: stage 1 ranks by proxies, stage 2 measures the top k ----------------
# widget key -> (URL parameter, default); the selection lives in the link
REC_FIELDS = {"rec_target": ("target", ""), "rec_candidates": ("candidates", ""), "rec_steps": ("rec_steps", 200),
              "rec_max_train": ("rec_max_train", 0), "rec_hidden": ("rec_hidden", 128), "rec_k": ("rec_k", "all"),
              "rec_seeds": ("rec_seeds", "0,1,2"), "rec_rank_by": ("rec_rank_by", "affinity"),
              "rec_cka": ("rec_cka", False)}


def recommend_state_from_url(available: list[str]) -> None:
    """Once per session (or when the link changes): the widgets take the link's values where they are valid."""
    link = {name: st.query_params.get(name) for name, _ in REC_FIELDS.values()}
    if st.session_state.get("rec_url_seen") == link:
        return
    st.session_state["rec_url_seen"] = link
    for key, (name, default) in REC_FIELDS.items():
        raw = link[name]
        if key == "rec_candidates":
            st.session_state[key] = [c for c in (raw or "").split(",") if c in available]
        elif isinstance(default, bool):
            st.session_state[key] = raw == "1" if raw is not None else st.session_state.get(key, default)
        elif key == "rec_target":
            st.session_state[key] = raw if raw in available else st.session_state.get(key)
        elif isinstance(default, int):
            try:
                st.session_state[key] = int(raw) if raw is not None else st.session_state.get(key, default)
            except ValueError:
                st.session_state[key] = default
        elif key == "rec_rank_by":
            st.session_state[key] = raw if raw in PROXIES else st.session_state.get(key, default)
        else:
            st.session_state[key] = raw if raw is not None else st.session_state.get(key, default)


def recommend_state_to_url() -> None:
    for key, (name, _) in REC_FIELDS.items():
        value = st.session_state.get(key)
        if isinstance(value, bool):
            value = "1" if value else None
        text = ",".join(value) if isinstance(value, list) else ("" if value is None else str(value))
        if text:
            st.query_params[name] = text
        else:
            st.query_params.pop(name, None)
    st.session_state["rec_url_seen"] = {name: st.query_params.get(name) for name, _ in REC_FIELDS.values()}


def start_stage1(spec, target: str, candidates: list[str], cka: bool) -> None:
    from mtl_core import recommend

    try:
        rec_id = recommend.submit_stage1(data.backend(), spec, target, candidates, cka=cka)
    except UserError as exc:
        st.session_state["rec_error"] = str(exc)
        return
    st.session_state["rec_pick"] = rec_id


def start_stage2(rec_id: str, top_k, seeds_text: str, rank_by: str) -> None:
    from mtl_core import recommend

    try:
        seeds = state.parse_seeds(seeds_text)
        recommend.submit_stage2(data.backend(), rec_id, top_k=top_k, seeds=seeds, rank_by=rank_by)
    except UserError as exc:
        st.session_state["rec_error"] = str(exc)


def recommendations():
    experiments = data.experiments()
    return experiments[experiments["kind"] == "recommend"] if not experiments.empty else experiments


def recommend_form(cards: dict, available: list[str]):
    """The target, its candidates and the budget; returns (spec, target, candidates) or Nones."""
    from mtl_core import recommend
    from mtl_core.spec import ExperimentSpec

    left, right = st.columns([1, 2])
    target = left.selectbox(t("rec.target"), available, key="rec_target", index=None,
                            format_func=lambda task: f"{task} · {cards[task].get('name', task)}")
    options = [task for task in available if task != target]
    st.session_state["rec_candidates"] = [c for c in st.session_state.get("rec_candidates", []) if c in options]
    candidates = right.multiselect(t("rec.candidates", most=recommend.MAX_CANDIDATES), options, key="rec_candidates",
                                   max_selections=recommend.MAX_CANDIDATES,
                                   format_func=lambda task: f"{task} · {cards[task].get('name', task)}")
    left, middle, right = st.columns(3)
    steps = left.number_input(t("map.steps"), 10, 100_000, step=50, key="rec_steps")
    max_train = middle.number_input(t("map.max_train"), 0, 10_000_000, step=500, key="rec_max_train")
    hidden = right.number_input(t("rec.hidden"), 4, 1024, step=16, key="rec_hidden")
    cka = st.toggle(t("rec.cka"), key="rec_cka")
    if target is None or not recommend.MIN_CANDIDATES <= len(candidates) <= recommend.MAX_CANDIDATES:
        st.info(t("rec.pick", most=recommend.MAX_CANDIDATES), icon="ℹ️")
        return None, target, candidates
    try:
        form = {**state.default_form(), "tasks": [target, *candidates], "steps": int(steps), "seeds": "0",
                "max_train": int(max_train), "hidden": int(hidden)}
        spec = ExperimentSpec.from_dict(state.spec_dict(form))
        runs = recommend.stage1_run_specs(spec, target, candidates, cka=cka)
        from mtl_core import estimate

        seconds = estimate.estimate_seconds(runs, estimate.budget_steps(runs[0].experiment))
        st.caption(t("rec.stage1_estimate", runs=len(runs), duration=state.format_duration(seconds)))
    except UserError as exc:
        st.error(str(exc), icon="⚠️")
        return None, target, candidates
    return spec, target, candidates


def recommend_page() -> None:
    cards = data.cards()
    available = [task for task, card in cards.items() if card.get("available", True)]
    recommend_state_from_url(available)
    st.subheader(t("rec.title"))
    st.caption(t("rec.intro"))
    spec, target, candidates = recommend_form(cards, available)
    st.button(t("rec.stage1"), type="primary", key="rec_stage1", disabled=spec is None, on_click=start_stage1,
              args=(spec, target, candidates, bool(st.session_state.get("rec_cka"))))
    if st.session_state.get("rec_error"):
        st.error(st.session_state.pop("rec_error"), icon="⚠️")
    recommend_state_to_url()
    stored = recommendations()
    if stored.empty:
        st.query_params.pop("rec", None)
        return
    ids = list(stored["id"])
    wanted = st.query_params.get("rec")
    if wanted in ids and st.session_state.get("rec_url_rec") != wanted:
        st.session_state["rec_pick"] = wanted
    if st.session_state.get("rec_pick") not in ids:
        st.session_state["rec_pick"] = ids[0]
    labels = {row["id"]: data.experiment_label(row) for _, row in stored.iterrows()}
    rec_id = st.selectbox(t("rec.pick_stored"), ids, key="rec_pick", format_func=labels.get)
    st.query_params["rec"] = st.session_state["rec_url_rec"] = rec_id
    stage2_controls(rec_id)
    active = any(not data.is_finished(data.runs(experiment)) for experiment in [rec_id, truth_of(rec_id)] if experiment)
    st.fragment(recommendation_view, run_every=POLL_SECONDS if active else None)(rec_id, active)


def truth_of(rec_id: str) -> str | None:
    return (data.store().experiment_options(rec_id) or {}).get("truth")


def recommendation_view(rec_id: str, polling: bool) -> None:
    from mtl_core import recommend

    result = recommend.recommendation(data.store(), rec_id)
    stage1 = result["stage1"]
    progress = stage1["progress"]
    if progress["completed"] < progress["total"]:
        st.progress(progress["finished"] / max(progress["total"], 1),
                    text=t("rec.stage1_running", done=progress["finished"], total=progress["total"]))
    st.markdown(f"**{t('rec.rankings', target=result['target'])}**")
    if stage1["rankings"]:
        st.table(ranking_table(result))
    else:
        st.info(t("rec.no_ranking"), icon="⏳")
    stage2 = result["stage2"]
    if stage2:
        done = stage2["progress"]
        if done["completed"] < done["total"]:
            st.progress(done["finished"] / max(done["total"], 1),
                        text=t("rec.stage2_running", done=done["finished"], total=done["total"]))
        if stage2["ranking"]:
            st.markdown(f"**{t('rec.measured', target=result['target'], seeds=','.join(map(str, stage2['seeds'])))}**")
            st.table(gain_table(result))
        if result["scores"]:
            st.markdown(f"**{t('rec.scores')}**")
            st.table(score_table(result))
            st.caption(t("map.regret_explain"))
            recommend_scatter(result)
    box = st.success if result["evidence"] == "measured" else st.info
    box(t("rec.recommendation_line", text=recommendation_text(result)), icon="🧭")
    if result["notes"]:
        with st.expander(t("map.notes")):
            st.markdown("\n".join(f"- {note}" for note in result["notes"]))
    st.markdown(t("rec.cli"))
    st.code(recommend_cli_line(result), language="bash", wrap_lines=True)
    if polling and all(data.is_finished(data.runs(e)) for e in [rec_id, truth_of(rec_id)] if e):
        st.rerun()


def recommendation_text(result: dict) -> str:
    """The recommendation in the page's language; in English the CLI's own text, word for word."""
    from mtl_core.recommend_text import TEXTS, render_message

    if current_language() == DEFAULT_LANGUAGE:
        return result["text"]
    return render_message(result["message"], {key: t(f"rec.text.{key}") for key in TEXTS},
                          proxy_name=lambda proxy: t(f"map.proxy.{proxy}"), join=t("rec.text.join").join)


def ranking_table(result: dict) -> pd.DataFrame:
    """Rows: place 1, 2, …; per proxy the candidate at that place with its value."""
    rows = {}
    for proxy, order in result["stage1"]["rankings"].items():
        values = result["stage1"]["proxies"][proxy]
        for place, candidate in enumerate(order, 1):
            value = values[candidate]
            shown = "—" if value is None else f"{value * MATRICES[proxy]:+.3g}"
            rows.setdefault(place, {})[t(f"map.proxy.{proxy}") + " (%)"] = f"{candidate} ({shown})"
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis(t("rec.place"))


def gain_table(result: dict) -> pd.DataFrame:
    gains = result["stage2"]["gains"]
    rows = []
    for candidate in result["stage2"]["ranking"]:
        entry = gains[candidate]
        rows.append({t("rec.candidate"): candidate, t("rec.gain"): f"{entry['gain']:+.2f}",
                     t("rec.gain_std"): "—" if entry["std"] is None else f"{entry['std']:.2f}",
                     t("rec.seeds"): entry["seeds"]})
    return pd.DataFrame(rows).set_index(t("rec.candidate"))


def score_table(result: dict) -> pd.DataFrame:
    rows = {}
    for proxy, entry in result["scores"].items():
        row = {"ρ": "—" if entry["rho"] is None else f"{entry['rho']:+.2f}"}
        row.update({f"regret@{k}": "—" if v is None else f"{v:.2f}" for k, v in entry["regret"].items()})
        row[t("rec.measured_candidates")] = entry["candidates"]
        rows[t(f"map.proxy.{proxy}")] = row
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis(t("rec.proxy"))


def recommend_scatter(result: dict) -> None:
    gains = result["stage2"]["gains"]
    measured = [proxy for proxy in PROXIES
                if any(result["stage1"]["proxies"][proxy].get(c) is not None for c in result["stage2"]["ranking"])]
    if not measured:
        return
    proxy = st.selectbox(t("map.scatter_proxy"), measured, key="rec_scatter_proxy",
                         format_func=lambda name: t(f"map.proxy.{name}"))
    values = result["stage1"]["proxies"][proxy]
    points = pd.DataFrame([{"proxy": None if values.get(c) is None else values[c] * MATRICES[proxy],
                            "gain": gains[c]["gain"], "label": c, "group": result["target"]}
                           for c in result["stage2"]["ranking"]])
    st.plotly_chart(rc.proxy_gain_scatter(points, title=t("map.scatter_title", proxy=t(f"map.proxy.{proxy}")),
                                          x_title=t("map.scatter_x", proxy=t(f"map.proxy.{proxy}")),
                                          y_title=t("map.scatter_y")), key="rec_scatter")


def stage2_controls(rec_id: str) -> None:
    """k, seeds and the ranking stage 2 follows, and its button (outside the polling fragment: pressing it
    reruns the whole page, which then polls the new runs). Enabled once stage 1 has completed."""
    count = len((data.store().experiment_options(rec_id) or {}).get("candidates") or [])
    choices = ["all", *[str(k) for k in range(1, count)]]
    if st.session_state.get("rec_k") not in choices:
        st.session_state["rec_k"] = "all"
    left, middle, right = st.columns(3)
    k = left.selectbox(t("rec.k"), choices, key="rec_k", format_func=lambda v: t("rec.k_all") if v == "all" else v)
    seeds_text = middle.text_input(t("rec.seeds_input"), key="rec_seeds")
    rank_by = right.selectbox(t("rec.rank_by"), list(PROXIES), key="rec_rank_by",
                              format_func=lambda name: t(f"map.proxy.{name}"))
    stage1_done = all(r["status"] == "completed" for r in data.runs(rec_id))
    st.button(t("rec.stage2"), key="rec_stage2", disabled=not stage1_done, on_click=start_stage2,
              args=(rec_id, None if k == "all" else int(k), seeds_text, rank_by))
    recommend_state_to_url()


def recommend_cli_line(result: dict) -> str:
    """`python -m mtl_core recommend …` with the stored run options, and stage 2's k and seeds when it ran."""
    parts = shlex.split(state.cli_command(result["spec"]).split("  #")[0])
    parts[3] = "recommend"
    at = parts.index("--tasks")
    parts[at:at + 2] = ["--target", result["target"], "--candidates", ",".join(result["candidates"])]
    for flag in ("--seeds", "--conflict-every", "--affinity-every", "--probe-examples", "--name"):
        if flag in parts:  # stage 1's seed, a map's measurements and the automatic name are the command's own
            at = parts.index(flag)
            del parts[at:at + 2]
    if result["spec"].get("sharing") == "hard" and "--sharing" in parts:
        at = parts.index("--sharing")
        del parts[at:at + 2]
    parts += ["--cka"] if result["stage1"]["cka"] else []
    stage2 = result["stage2"]
    if stage2:
        parts += ["--seeds", ",".join(map(str, stage2["seeds"]))]
        if stage2["top_k"] is not None:
            parts += ["--top-k", str(stage2["top_k"]), "--rank-by", stage2["rank_by"]]
    else:
        parts += ["--proxy-only"]
    return " ".join(shlex.quote(p) for p in parts + ["--json"])


# ---- mode: the all-pairs map, or helpers for one target (?mode=recommend) ---------------------------
MODES = ("map", "recommend")
if "map_mode" not in st.session_state:
    st.session_state["map_mode"] = "recommend" if st.query_params.get("mode") == "recommend" else "map"
mode = st.radio(t("map.mode"), MODES, key="map_mode", horizontal=True, format_func=lambda m: t(f"map.mode.{m}"))
if mode == "recommend":
    st.query_params["mode"] = "recommend"
    recommend_page()
    st.stop()
st.query_params.pop("mode", None)
for key in list(st.query_params):
    if key.startswith("rec_") or key == "rec":
        st.query_params.pop(key, None)


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
