"""Teaching lab: six short lessons on multi-task learning, each a few small background runs explained by their numbers.

Settings live in the URL (dashboard/lessons.py has the parameters); the page finds earlier runs of
the same settings in the store and shows them at once, else Run (or a changed setting, with
auto-run on) submits them through the background backend. While runs are active a light progress
fragment polls the store every 0.5 s (a finished lesson is drawn at once: it reruns the page) and the
charts fragment redraws the live curves every 2 s (drawing them at every poll would take the CPU the
lesson's own runs train on).
"""
from __future__ import annotations

import datetime as dt

import pandas as pd
import plotly.express as px
import streamlit as st

from dashboard import charts, data, lessons, text, widgets
from dashboard import charts_relatedness as rc
from dashboard import charts_weighting as cw
from dashboard.i18n import STRINGS, language_switch, t
from mtl_core.analysis.summary import experiment_summary
from mtl_core.errors import UserError
from mtl_core.tasks.synthetic import DEFAULT_DATA_SEED, realised_label_correlation

POLL_SECONDS = 0.5  # lessons take seconds: a finished one is drawn within half a second
LIVE_CHART_SECONDS = 2.0
FAILED = ("failed", "diverged", "cancelled", "interrupted")

language_switch()
st.title(t("lab.title"))
st.caption(t("lab.intro"))


# ---- lesson and settings: the URL wins when it changed (a link), else the session's memory ------
def widget_key(lesson: str, name: str) -> str:
    return f"lab_{lesson}_{name}"


def apply_values(lesson: str, values: dict) -> None:
    st.session_state["lab_lesson"] = lesson
    for name, value in values.items():
        st.session_state[widget_key(lesson, name)] = list(value) if isinstance(value, tuple) else value


url = {key: st.query_params[key] for key in st.query_params if key != "lang"}
memory = st.session_state.setdefault("lab_memory", {})
if url != st.session_state.get("lab_written"):
    if url or not memory:
        lesson, values, notes = lessons.parse_query(url)
        apply_values(lesson, values)
        if notes:
            st.warning(t("notes_ignored", notes="; ".join(notes)), icon="🔗")
    elif "lab_lesson" not in st.session_state:  # back from another page: restore the last lesson
        apply_values(memory["lesson"], memory[memory["lesson"]])

lesson = st.segmented_control(t("lab.lesson"), lessons.LESSONS, key="lab_lesson", required=True,
                              format_func=lambda key: t(f"lab.lesson.{key}"))
if widget_key(lesson, "steps") not in st.session_state:  # first visit of this lesson in the session
    apply_values(lesson, memory.get(lesson) or lessons.defaults(lesson))
st.header(t(f"lab.lesson.{lesson}"))


def preset(lesson: str, values: dict) -> None:
    for name, value in values.items():
        st.session_state[widget_key(lesson, name)] = value


def setting_widget(lesson: str, setting: lessons.Setting, column) -> None:
    column.slider(t(f"lab.setting.{setting.name}"), setting.kind(setting.low), setting.kind(setting.high),
                  step=setting.kind(setting.step), key=widget_key(lesson, setting.name))


settings_column, info_column = st.columns([2, 3], gap="large")
with settings_column:
    if lesson == "relatedness":
        with st.container(horizontal=True, key="lab_presets"):
            for label, p in (("same", 1.0), ("half", 0.5), ("none", 0.0)):
                st.button(t(f"lab.rel.preset_{label}"), key=f"lab_preset_{label}", on_click=preset,
                          args=(lesson, {"p": p}))
    for setting in lessons.SETTINGS[lesson]:
        setting_widget(lesson, setting, st)
    if lesson == "relatedness":  # the lesson's runs train on the default data draw
        p = st.session_state[widget_key(lesson, "p")]
        st.caption(t("label_correlation", p=p, r=realised_label_correlation(p), draw=DEFAULT_DATA_SEED))
    if lesson == "soft":
        st.multiselect(t("lab.setting.soft"), list(lessons.SOFT_CHOICES), key=widget_key(lesson, "soft"),
                       format_func=lambda v: f"λ_soft = {v:g}")
    if lesson == "methods":
        rows = cw.method_rows()
        st.multiselect(t("lab.setting.methods"), list(lessons.method_choices()), key=widget_key(lesson, "methods"),
                       format_func=lambda name: f"{name} · {rows[name]['title']}")
        p = st.session_state[widget_key(lesson, "p")]
        st.caption(t("label_correlation", p=p, r=realised_label_correlation(p), draw=DEFAULT_DATA_SEED))
    fixed = {"relatedness": "synth_1 + synth_2, MLP 100→8→8, lr 0.01, 2000 training rows, k = 5",
             "weights": "synth_1 + synth_2, MLP 100→8→8, lr 0.01, 2000 training rows",
             "soft": "synth_1 + synth_2, MLP 100→8→8, lr 0.01, 2000 training rows, seed 0",
             "attach": "atis_slots + atis_intent, BiLSTM 2 × 64, seed 0",
             "methods": "synth_1 + synth_2, MLP 100→8→8, lr 0.01, 2000 training rows, static λ = "
                        + ", ".join(f"({a:g}, {b:g})" for a, b in lessons.METHOD_GRID),
             "languages": f"{lessons.TARGET} with {lessons.RELATED} or {lessons.DISTANT}, BiLSTM 1 × 32 and a GRU "
                          f"decoder per direction, chrF on 32 validation names, test on 200, k = 5"}[lesson]
    st.caption(t("lab.fixed", details=fixed))

values = {}
for name, default in lessons.defaults(lesson).items():
    value = st.session_state.get(widget_key(lesson, name), default)
    values[name] = tuple(sorted(value)) if isinstance(default, tuple) else value
memory["lesson"], memory[lesson] = lesson, values
query = lessons.to_query(lesson, values)
for key in [k for k in st.query_params if k != "lang" and k not in query]:
    del st.query_params[key]
for key, value in query.items():
    if st.query_params.get(key) != value:
        st.query_params[key] = value
st.session_state["lab_written"] = query

with info_column:
    st.subheader(t("what_to_look_for"))
    st.markdown(t({"relatedness": "lab.rel.look", "weights": "lab.w.look", "soft": "lab.soft.look",
                   "attach": "lab.att.look", "methods": "lab.m.look", "languages": "lab.lang.look"}[lesson]))
    st.markdown(f"**{t('formula')}**")
    if lesson == "relatedness":
        st.latex(r"y_k = w_k^\top x + \sum_{i=1}^{10} \sin(\alpha_i w_k^\top x + \beta_i) + \varepsilon_k")
        st.latex(r"\cos(w_1, w_2) = p = " + f"{values['p']:g}")
        st.latex(text.loss_formula("hard", list(lessons.SYNTH), {}, 0.0))
        st.latex(r"\cos(g_1, g_2) = \frac{g_1 \cdot g_2}{\lVert g_1 \rVert \, \lVert g_2 \rVert}")
    elif lesson == "weights":
        st.latex(text.loss_formula("hard", list(lessons.SYNTH),
                                   {lessons.SYNTH[0]: values["w1"], lessons.SYNTH[1]: values["w2"]}, 0.0))
    elif lesson == "methods":
        st.latex(r"\mathcal{L} = \lambda_1 \mathcal{L}_{" + text.latex_name(lessons.SYNTH[0]) + r"} + \lambda_2 "
                 r"\mathcal{L}_{" + text.latex_name(lessons.SYNTH[1]) + r"},\quad \lambda_1 + \lambda_2 = 2")
        rows = cw.method_rows()
        for name in values["methods"]:
            st.markdown(f"**{rows[name]['title']}** (`{name}`): {widgets.method_explanation(rows[name])}")
            st.latex(rows[name]["formula"])
    elif lesson == "soft":
        choices = ", ".join(f"{v:g}" for v in values["soft"]) or "…"
        st.latex(r"\begin{aligned} \mathcal{L} &= " + " + ".join(
            r"\mathcal{L}_{" + text.latex_name(task) + r"}(\theta_{" + text.latex_name(task) + "})"
            for task in lessons.SYNTH) + r" \\ &\quad + \lambda_{soft} \sum_t \lVert \theta_t - \theta_s \rVert^2,"
                 r"\quad \theta_s = \frac{1}{T} \sum_t \theta_t \end{aligned}")
        st.latex(r"\lambda_{soft} \in \{" + choices + r"\}")
    elif lesson == "languages":
        for target, partner in lessons.LANGUAGE_PAIRS.values():
            st.latex(text.loss_formula("hard", [target, partner], {}, 0.0))
        st.latex(r"\cos(g_{es}, g_{fr}) \;\text{vs}\; \cos(g_{es}, g_{ja})")
    else:
        for layers in lessons.PLACEMENTS.values():
            st.latex(text.loss_formula("hierarchical", list(lessons.ATIS), {}, 0.0,
                                       dict(zip(lessons.ATIS, layers))))


# ---- the experiment of these settings: an earlier one from the store, or a new submission --------
name = lessons.experiment_name(lesson, values)


def latest_experiment(name: str) -> dict | None:
    experiments = data.experiments()
    if experiments.empty:
        return None
    same = experiments[(experiments["name"] == name) & (experiments["stopped"].fillna(0) == 0)]
    return same.iloc[0].to_dict() if len(same) else None


def submit(lesson: str, values: dict) -> str | None:
    try:
        spec, run_specs = lessons.lesson_runs(lesson, values)
        backend = data.backend()
        if run_specs is None:
            experiment_id, _ = backend.submit(spec, kind="lab")
        else:
            from mtl_core.jobs.sweep import submit_runs

            experiment_id, _ = submit_runs(backend, spec, run_specs, kind="lab")
    except UserError as exc:
        st.error(str(exc), icon="⚠️")
        return None
    return experiment_id


nothing_to_train = lesson == "weights" and values["w1"] == 0 and values["w2"] == 0 or \
    lesson == "soft" and not values["soft"] or lesson == "methods" and not values["methods"]
previous = st.session_state.get("lab_previous_name")
changed_setting = previous is not None and previous != name and previous.split()[1] == lesson
st.session_state["lab_previous_name"] = name
existing = latest_experiment(name)

run_column, auto_column = st.columns([1, 4], vertical_alignment="center")
clicked = run_column.button(t("run"), type="primary", key="lab_run", disabled=nothing_to_train, width="stretch")
auto = auto_column.toggle(t("auto_run"), value=True, key="lab_auto")
if nothing_to_train and lesson == "weights":
    st.warning(t("lab.w.zero"), icon="⚠️")
if nothing_to_train and lesson == "methods":
    st.warning(t("lab.m.none"), icon="⚠️")
if clicked or (auto and changed_setting and existing is None and not nothing_to_train):
    submitted = submit(lesson, values)
    if submitted:
        st.session_state.setdefault("lab_submitted", set()).add(submitted)
        existing = {"id": submitted, "created_at": None}
st.caption(t("share_link") + f"  `?{'&'.join(f'{k}={v}' for k, v in query.items())}"
           + (f"&lang={st.query_params['lang']}" if "lang" in st.query_params else "") + "`")

if existing is None:
    st.info(t("not_run"), icon="▶️")
    st.stop()
if existing["id"] not in st.session_state.get("lab_submitted", set()) and existing.get("created_at"):
    when = dt.datetime.fromtimestamp(existing["created_at"]).strftime("%Y-%m-%d %H:%M")
    st.caption(t("reused", when=when))
experiment_id = existing["id"]


# ---- results of each lesson -----------------------------------------------------------------
def status_word(status: str) -> str:
    return t(f"status.{status}") if f"status.{status}" in STRINGS else status


def progress_panel(runs: list[dict]) -> None:
    done = sum(r["status"] in ("completed", *FAILED) for r in runs)
    st.progress(done / max(1, len(runs)), text=t("running", done=done, total=len(runs)))
    for run in runs:
        label = f"{charts.KIND_NAMES.get(run['kind'], run['kind'])} · {' + '.join(run['tasks'])}"
        total = run.get("total_steps") or 1
        st.progress(min(1.0, (run.get("step") or 0) / total),
                    text=t("run_progress", label=label, step=run.get("step") or 0, total=total,
                           status=status_word(run["status"])))


def curves_frame(runs: list[dict], name: str, split: str) -> pd.DataFrame:
    frame = charts.with_run_info(data.metrics([r["id"] for r in runs]), runs)
    return frame[(frame["name"] == name) & (frame["split"] == split)]


def cosine_chart(runs: list[dict], title: str, key: str) -> None:
    """The multi-task runs' gradient cosine per pair over training (charts.cosine_over_time), in the page's words."""
    cosine = charts.cosine_over_time(data.conflict([r["id"] for r in runs if r["kind"] == "mtl"]), "all", span=5)
    rc.translate_figure(cosine, {"training step": t("step"), "(raw)": f"({t('chart.raw')})",
                                 "(smoothed)": f"({t('chart.smoothed')})", "noise floor": t("chart.noise_floor"),
                                 "below 0 = conflict": t("chart.below_zero"),
                                 "gradient cosine (−1 to 1)": t("chart.cosine_axis")})
    cosine.update_layout(title_text=title)
    st.plotly_chart(cosine, key=key)


def relatedness_results(runs: list[dict], finished: bool) -> None:
    curves = curves_frame(runs, "mse", "validation")
    st.plotly_chart(rc.gap_curves(curves, title=t("lab.rel.curves_title"), x_title=t("step"),
                                  y_title=t("lab.rel.mse_axis"), mtl_name=t("multi_task"),
                                  stl_name=t("single_task")), key="lab_rel_curves")
    cosine_chart(runs, t("lab.rel.cos_title"), "lab_rel_cosine")
    if not finished:
        return
    numbers = lessons.relatedness_numbers(experiment_summary(data.store(), experiment_id))
    gaps = lessons.curve_gap(curves[["step", "task", "kind", "value"]])
    lines = [t("lab.rel.summary_head", p=values["p"])]
    for task, row in numbers["tasks"].items():
        if row.get("delta_pct") is None:
            continue
        lines.append(t("lab.rel.summary_task", task=task, delta=row["delta_pct"], mtl=row["mtl"], stl=row["stl"],
                       gap=gaps.get(task, float("nan"))))
        if row.get("note"):
            lines.append(t("lab.still_improving", task=task, steps=numbers["suggested_steps"]))
    if numbers["mean_cos"] is None:
        lines.append(t("lab.rel.summary_cos_unmeasured"))
    else:
        floor = "—" if numbers["noise_floor"] is None else f"{numbers['noise_floor']:+.2f}"
        lines.append(t("lab.rel.summary_cos", cos=numbers["mean_cos"], floor=floor,
                       rate=100 * numbers["conflict_rate"]))
    if numbers["delta_m"] is not None:
        verdict = "same" if abs(numbers["delta_m"]) < 1 else "help" if numbers["delta_m"] > 0 else "hurt"
        lines.append(t(f"lab.rel.summary_verdict_{verdict}", dm=numbers["delta_m"]))
    if values["seeds"] == 1:
        lines.append(t("lab.rel.one_seed"))
    summary_box(lines)


def summary_box(lines: list[str]) -> None:
    with st.container(border=True, key="lab_summary"):
        st.markdown(f"**{t('what_happened')}**")
        st.markdown("\n".join(f"- {line}" for line in lines))


def weights_results(runs: list[dict], finished: bool) -> None:
    configurations = experiment_summary(data.store(), experiment_id)["configurations"]
    points = lessons.weighting_points(configurations)
    if points.empty:
        return
    front = lessons.on_front(points)
    chosen = [(row.w1, row.w2) == (values["w1"], values["w2"]) for row in points.itertuples()]
    baseline = lessons.baseline_point(configurations)
    names = [t("lab.w.point", w1=row.w1, w2=row.w2) for row in points.itertuples()]
    st.plotly_chart(rc.weighting_front(
        points, title=t("lab.w.front_title"), x_title=t("lab.w.x_axis"), y_title=t("lab.w.y_axis"),
        point_names=names, front=front, chosen=chosen, baseline=baseline,
        names={"weightings": t("lab.w.weightings"), "front": t("lab.w.front"), "yours": t("lab.w.yours"),
               "baseline": t("lab.w.baseline")}), key="lab_w_front")
    if not finished:
        return
    lines = []
    if any(chosen):
        mine = points[chosen].iloc[0]
        lines.append(t("lab.w.summary_yours", w1=mine.w1, w2=mine.w2, x=mine.x, y=mine.y))
    best_x, best_y = points.loc[points["x"].idxmin()], points.loc[points["y"].idxmin()]
    lines.append(t("lab.w.summary_best", a1=best_x.w1, a2=best_x.w2, ax=best_x.x, b1=best_y.w1, b2=best_y.w2,
                   by=best_y.y, front=sum(front), n=len(points)))
    if baseline:
        lines.append(t("lab.w.summary_baseline", x=baseline[0], y=baseline[1]))
    summary_box(lines)


def front_chart(points: pd.DataFrame, title: str, x_title: str, y_title: str, chart_key: str) -> None:
    """The static-λ front and the adaptive methods (charts_weighting.method_front) in the page's words."""
    names = [t("lab.w.point", w1=row.weights[lessons.SYNTH[0]], w2=row.weights[lessons.SYNTH[1]])
             if set(lessons.SYNTH) <= set(row.weights) else row.name for row in points[points["static"]].itertuples()]
    st.plotly_chart(cw.method_front(points, title=title, x_title=x_title, y_title=y_title, static_names=names,
                                    names={"static": t("lab.m.static"), "front": t("lab.m.front"),
                                           "baseline": t("lab.m.baseline")}, cost_text=widgets.cost_text),
                    key=chart_key)


def methods_results(runs: list[dict], finished: bool) -> None:
    configurations = experiment_summary(data.store(), experiment_id)["configurations"]
    points, verdicts = lessons.method_outcomes(configurations)
    if points.empty:
        return
    front_chart(points, t("lab.m.front_title"), t("lab.m.x_axis"), t("lab.m.y_axis"), "lab_m_front")
    if not finished:
        return
    lines = []
    static = points[points["static"]]
    if len(static):
        best_x, best_y = static.loc[static["x"].idxmax()], static.loc[static["y"].idxmax()]
        s1, s2 = lessons.SYNTH
        lines.append(t("lab.m.summary_front", front=sum(cw.static_front(points)), n=len(static), ax=best_x.x,
                       a1=best_x.weights[s1], a2=best_x.weights[s2], by=best_y.y, b1=best_y.weights[s1],
                       b2=best_y.weights[s2]))
    for verdict in verdicts:
        cost = widgets.cost_text(None if pd.isna(verdict["cost"]) else float(verdict["cost"]))
        numbers = {"method": verdict["name"], "x": verdict["x"], "y": verdict["y"], "cost": cost}
        if verdict["where"] == cw.DOMINATED:
            lines.append(t("lab.m.summary_dominated", by=", ".join(verdict["by"]), **numbers))
        elif verdict["where"] == cw.BEYOND:
            lines.append(t("lab.m.summary_beyond", beats=", ".join(verdict["beats"]), **numbers))
        elif verdict["where"] == cw.ON:
            lines.append(t("lab.m.summary_on", **numbers))
    lines.append(t("lab.m.summary_cost"))
    improving = sorted({task for entry in configurations for task in entry.get("still_improving") or []})
    steps = max((entry.get("suggested_steps") or 0 for entry in configurations), default=0)
    for task in improving:
        lines.append(t("lab.still_improving", task=task, steps=steps))
    if values["seeds"] == 1:
        lines.append(t("lab.rel.one_seed"))
    summary_box(lines)


def soft_label(row) -> str:
    return t("lab.soft.hard") if row["sharing"] == "hard" else f"λ_soft = {row['soft_lambda']:g}"


def soft_results(runs: list[dict], finished: bool) -> None:
    metrics = data.metrics([r["id"] for r in runs])
    outcomes = lessons.soft_outcomes(runs, metrics)
    outcomes["label"] = [soft_label(row) for _, row in outcomes.iterrows()]
    labels = dict(zip(outcomes["run_id"], outcomes["label"]))
    distances = metrics[metrics["name"] == "soft_distance"].assign(setting=lambda f: f["run_id"].map(labels))
    st.plotly_chart(rc.series_over_steps(distances, series="setting", title=t("lab.soft.distance_title"),
                                         x_title=t("step"), y_title=t("lab.soft.distance_axis"),
                                         order=list(outcomes.sort_values("soft_lambda")["label"])),
                    key="lab_soft_distance")
    table = outcomes.set_index("label")[list(lessons.SYNTH)]
    st.plotly_chart(rc.grouped_bars(table, title=t("lab.soft.results_title"), y_title=t("lab.soft.results_axis")),
                    key="lab_soft_results")
    if not finished:
        return
    soft = outcomes[outcomes["sharing"] == "soft"].sort_values("soft_lambda")
    lines = []
    if len(soft) >= 2:
        low, high = soft.iloc[0], soft.iloc[-1]
        lines.append(t("lab.soft.summary_distance", d0=low["distance"], l0=f"{low['soft_lambda']:g}",
                       d1=high["distance"], l1=f"{high['soft_lambda']:g}",
                       ratio=low["distance"] / max(high["distance"], 1e-12)))
    means = outcomes.assign(mean=outcomes[list(lessons.SYNTH)].mean(axis=1))
    best = means.loc[means["mean"].idxmin()]
    hard = means[means["sharing"] == "hard"]["mean"]
    if len(soft):
        lines.append(t("lab.soft.summary_best", best=best["label"], value=best["mean"],
                       hard=float(hard.iloc[0]) if len(hard) else float("nan"), l0=f"{soft.iloc[0]['soft_lambda']:g}",
                       v0=float(means[means["run_id"] == soft.iloc[0]["run_id"]]["mean"].iloc[0])))
    summary_box(lines)


def attach_results(runs: list[dict], finished: bool) -> None:
    outcomes = lessons.placement_outcomes(runs)
    outcomes["label"] = [t(f"lab.att.{key}") if key in lessons.PLACEMENTS else key for key in outcomes["placement"]]
    table = outcomes.set_index("label")[list(lessons.ATIS)]
    table.columns = [t(f"lab.att.metric.{task}") for task in lessons.ATIS]
    st.plotly_chart(rc.grouped_bars(table, title=t("lab.att.results_title"), y_title=t("lab.att.score_axis")),
                    key="lab_att_results")
    if not finished or outcomes[list(lessons.ATIS)].isna().any().any():
        return
    lines = [t("lab.att.summary_line", placement=row["label"], slots=row["atis_slots"], intent=row["atis_intent"])
             for _, row in outcomes.iterrows()]
    by_key = outcomes.set_index("placement")
    if set(lessons.PLACEMENTS) <= set(by_key.index):
        diff = by_key.loc["slots_low", list(lessons.ATIS)] - by_key.loc["slots_high", list(lessons.ATIS)]
        lines.append(t("lab.att.summary_diff", slots=diff["atis_slots"], intent=diff["atis_intent"],
                       steps=values["steps"]))
    summary_box(lines)


def languages_results(runs: list[dict], finished: bool) -> None:
    curves = curves_frame(runs, "chrf", "validation")
    curves = curves[curves["task"] == lessons.TARGET].copy()
    partner_of = {tuple(sorted(pair)): key for key, pair in lessons.LANGUAGE_PAIRS.items()}
    label = {r["id"]: t(f"lab.lang.pair.{partner_of[tuple(sorted(r['tasks']))]}") if len(r["tasks"]) > 1
             else t("lab.lang.alone") for r in runs}
    curves["run"] = curves["run_id"].map(label)
    curves = curves.groupby(["run", "step"], as_index=False)["value"].mean()  # seeds averaged
    figure = charts.empty_figure(t("lab.lang.no_curve")) if curves.empty else px.line(
        curves.sort_values("step"), x="step", y="value", color="run", markers=True,
        labels={"step": t("step"), "value": t("lab.lang.chrf_axis"), "run": ""})
    figure.update_layout(title_text=t("lab.lang.curves_title", task=lessons.TARGET))
    st.plotly_chart(figure, key="lab_lang_curves")
    cosine_chart(runs, t("lab.lang.cos_title"), "lab_lang_cosine")
    if not finished:
        return
    summary = experiment_summary(data.store(), experiment_id)
    outcomes = lessons.language_outcomes(summary)
    lines = []
    for row in outcomes.itertuples():
        lines.append(t("lab.lang.summary_pair", pair=t(f"lab.lang.pair.{row.pair}"), target=lessons.TARGET,
                       partner=row.partner, delta=row.delta_target, other=row.delta_partner,
                       cos=row.mean_cos, rate=100 * (row.conflict_rate or 0.0)))
    by_pair = outcomes.set_index("pair")
    if {"related", "distant"} <= set(by_pair.index):
        related, distant = by_pair.loc["related"], by_pair.loc["distant"]
        closer = "related" if related.mean_cos > distant.mean_cos else "distant"
        lines.append(t(f"lab.lang.summary_cos_{closer}", related=related.mean_cos, distant=distant.mean_cos))
        if outcomes["still_improving"].any():
            lines.append(t("lab.lang.still_improving", steps=summary.get("suggested_steps") or 4 * values["steps"]))
    if values["seeds"] == 1:
        lines.append(t("lab.rel.one_seed"))
    summary_box(lines)


RESULTS = {"relatedness": relatedness_results, "weights": weights_results, "soft": soft_results,
           "attach": attach_results, "methods": methods_results, "languages": languages_results}


def progress_view(poll: bool) -> None:
    runs = data.runs(experiment_id)
    if not data.is_finished(runs):
        progress_panel(runs)
        st.caption(t("poll_note"))
    elif poll:
        st.rerun()  # all finished: the whole page once more, with the summary and without polling


def results_view() -> None:
    runs = data.runs(experiment_id)
    finished = data.is_finished(runs)
    errors = [f"{' + '.join(r['tasks'])}: {r.get('error') or r['status']}" for r in runs if r["status"] in FAILED]
    if errors:
        st.error(t("failed", errors="; ".join(errors)), icon="⚠️")
    RESULTS[lesson](runs, finished and not errors)


polling = not data.is_finished(data.runs(experiment_id))
st.fragment(progress_view, run_every=POLL_SECONDS if polling else None)(polling)
st.fragment(results_view, run_every=LIVE_CHART_SECONDS if polling else None)()
