"""New experiment: pick tasks, a sharing mode and a budget, see the loss formula and an estimate, launch.

The form lives in the URL (dashboard.state): a link reproduces a setup. Launch submits to the
background backend and moves to the run view at once; this page never waits for training.
"""
from __future__ import annotations

import math

import streamlit as st

from dashboard import data, state, text, widgets
from dashboard.i18n import DEFAULT_LANGUAGE, STRINGS, language_switch, t
from mtl_core import weighting
from mtl_core.errors import UserError
from mtl_core.spec import ExperimentSpec
from mtl_core.tasks.synthetic import realised_label_correlation

PREFIX = "new_"
SCALARS = [field.name for field in state.FIELDS]
UPLOAD_KINDS = ("sentence_classification", "sentence_regression", "token_tagging")


def kind_name(kind: str) -> str:
    return t(f"new.kind.{kind}") if f"new.kind.{kind}" in STRINGS else kind


def preset_label(name: str) -> str:
    return t(f"new.preset.{name}") if f"new.preset.{name}" in STRINGS else name


def diagram_text(dot: str) -> str:
    """The sharing diagram's words in the page's language (node names change everywhere alike)."""
    words = sorted((key for key in STRINGS if key.startswith("diagram.")), key=lambda k: -len(STRINGS[k]["en"]))
    for word in words:
        dot = dot.replace(STRINGS[word]["en"], t(word))
    return dot


def key(name: str) -> str:
    return PREFIX + name


FORM_KEYS = {key(name) for name in SCALARS} | {key("tasks")}


def is_form_key(name: str) -> bool:
    return name in FORM_KEYS or name.startswith((key("w_"), key("layer_"), key("wo_")))


def option_key(method: str, option: str) -> str:
    """The widget key of one option of a weighting method (methods keep their own values)."""
    return key(f"wo_{method}_{option}")


def option_value(spec, value) -> float | int:
    return int(value) if spec.integer and float(value).is_integer() else float(value)


def load_form(form: dict) -> None:
    """Put a form's values into the widgets' session state (drops per-task values of other tasks)."""
    for name in [k for k in st.session_state if k.startswith((key("w_"), key("layer_"), key("wo_")))]:
        del st.session_state[name]
    for name in SCALARS:
        st.session_state[key(name)] = form[name]
    st.session_state[key("tasks")] = list(form["tasks"])
    for task, weight in form["weights"].items():
        st.session_state[key(f"w_{task}")] = float(weight)
    for task, layer in form["layers"].items():
        st.session_state[key(f"layer_{task}")] = int(layer)
    for option, spec in state.weighting_option_specs(form["weighting"]).items():
        given = form.get("weighting_options", {}).get(option, spec.default)
        st.session_state[option_key(form["weighting"], option)] = option_value(spec, given)


def read_form(kinds: dict[str, str]) -> dict:
    """The form as state.py knows it, from the widgets' session state (filling per-task defaults)."""
    form = {name: st.session_state[key(name)] for name in SCALARS}
    form["tasks"] = [t for t in st.session_state[key("tasks")] if t in kinds]
    depth = encoder_depth(form)
    form["weights"], form["layers"] = {}, {}
    for task in form["tasks"]:
        form["weights"][task] = float(st.session_state.setdefault(key(f"w_{task}"), 1.0))
        layer = st.session_state.setdefault(key(f"layer_{task}"), state.default_layer(kinds[task], depth))
        if layer > depth:
            layer = st.session_state[key(f"layer_{task}")] = depth
        form["layers"][task] = int(layer)
    form["weighting_options"] = {
        option: option_value(spec, st.session_state.setdefault(option_key(form["weighting"], option),
                                                               option_value(spec, spec.default)))
        for option, spec in state.weighting_option_specs(form["weighting"]).items()}
    return form


def encoder_depth(form: dict) -> int:
    return ExperimentSpec.depth_for(form["encoder"], int(form["depth"])) if form["encoder"] != "auto" \
        else int(form["depth"])


def validate(form: dict) -> tuple[ExperimentSpec | None, UserError | None]:
    try:
        return ExperimentSpec.from_dict(state.spec_dict(form)), None
    except UserError as exc:
        return None, exc


def field_error(error: UserError | None, *fields: str) -> None:
    """Show the validation message next to the widget of the field at fault."""
    if error is None or not (error.field in fields or (error.field in (None, "task") and "tasks" in fields)):
        return
    if error.field == "tasks" and not form["tasks"] and not st.session_state.get("newui_launch"):
        st.info(t("new.choose_tasks"), icon=":material/arrow_forward:")
    else:
        st.error(str(error), icon=":material/warning:")


# ---- form state: URL -> widgets (a link, a preset, the first visit), or the form left on this page ----
lang = language_switch()  # ?lang= is the language's, not the form's
cards = data.cards()
available = [task for task, card in cards.items() if card["available"]]
kinds = {task: cards[task]["kind"] for task in available}
query = {name: value for name, value in st.query_params.to_dict().items() if name != "lang"}
if st.session_state.get(key("written_query")) != query:
    if query or key("saved_form") not in st.session_state:
        form, notes = state.parse_query(query, available)
    else:  # back from another page: navigation dropped the query, the form is remembered
        form, notes = st.session_state[key("saved_form")], []
    load_form(form)
    st.session_state[key("url_notes")] = notes
for name in [k for k in st.session_state if is_form_key(k)]:
    st.session_state[name] = st.session_state[name]  # keep values of widgets hidden in this run
for name in SCALARS:
    st.session_state.setdefault(key(name), state.DEFAULTS[name])
st.session_state.setdefault(key("tasks"), [])

form = read_form(kinds)
spec, error = validate(form)
depth = encoder_depth(form)

st.title(t("new.title"))
st.caption(t("new.intro"))
if st.session_state.get(key("url_notes")):
    st.warning(t("new.url_notes") + "\n\n"
               + "\n".join(f"- {note}" for note in st.session_state[key("url_notes")]), icon=":material/link:")


def apply_preset(name: str) -> None:
    preset_form, _ = state.parse_query(state.PRESETS[name], available)
    load_form(preset_form)
    st.session_state[key("url_notes")] = []


st.markdown(t("new.presets"))
for column, name in zip(st.columns(len(state.PRESETS)), state.PRESETS):
    column.button(preset_label(name), key=f"newui_preset_{name}", on_click=apply_preset, args=(name,), width="stretch")

# ---- 1. tasks ------------------------------------------------------------------------------------
st.header(t("new.tasks_header"))
st.multiselect(t("new.tasks"), options=available, key=key("tasks"),
               format_func=lambda task: f"{cards[task]['name']} ({task})",
               placeholder=t("new.tasks_placeholder"), help=t("new.tasks_help"))
field_error(error, "tasks")


def task_card(card: dict, chosen: list[str]) -> None:
    arrow = t("new.higher_better") if card["higher_is_better"] else t("new.lower_better")
    sizes = card.get("sizes") or {}
    st.markdown(f"**{card['name']}** `{card['id']}`")
    st.caption(card["description"])
    st.markdown(t("new.card", kind=kind_name(card["kind"]), metric=card["metric"], arrow=arrow,
                  sizes=", ".join(f"{split} {n:,}" for split, n in sizes.items()), source=card["source"],
                  licence=card["licence"]))
    related = [task + (" ✓" if task in chosen else "") for task in card.get("related", [])]
    if related:
        st.markdown(t("new.related", tasks=", ".join(related)))
    if card.get("unrelated"):
        st.markdown(t("new.unrelated", tasks=", ".join(card["unrelated"])))


if form["tasks"]:
    for start in range(0, len(form["tasks"]), 3):
        for column, task in zip(st.columns(3), form["tasks"][start:start + 3]):
            with column.container(border=True):
                task_card(cards[task], form["tasks"])

unavailable = [card for card in cards.values() if not card["available"]]
if unavailable:
    with st.expander(t("new.unavailable", n=len(unavailable))):
        for card in unavailable:
            st.markdown(f"**{card['name']}** `{card['id']}`: {card['reason']}")
            if card.get("fix"):
                st.code(card["fix"], language="bash")

with st.expander(t("new.upload")):
    st.markdown(t("new.upload_help"))
    upload = st.file_uploader(t("new.upload_file"), type=["csv", "jsonl"], key="newui_upload_file")
    upload_name = st.text_input(t("new.upload_name"), key="newui_upload_name")
    if "newui_upload_kind" in st.session_state:  # keep the choice when the language (the labels) changes
        st.session_state["newui_upload_kind"] = st.session_state["newui_upload_kind"]
    upload_kind = st.selectbox(t("new.upload_kind"), UPLOAD_KINDS, format_func=kind_name, key="newui_upload_kind")
    if st.button(t("new.upload_add"), key="newui_upload_add"):
        from mtl_core.tasks.user import add_user_task_from_bytes

        if upload is None:
            st.error(t("new.upload_no_file"), icon=":material/warning:")
        else:
            try:
                with st.spinner(t("new.upload_checking", name=upload.name)):
                    card = add_user_task_from_bytes(upload.getvalue(), upload.name, upload_name, upload_kind)
            except UserError as exc:
                st.error(str(exc), icon=":material/warning:")
            else:
                data.clear_catalog()
                st.session_state[key("upload_done")] = t("new.upload_done", id=card.id)
                st.rerun()
    if st.session_state.get(key("upload_done")):
        st.success(st.session_state.pop(key("upload_done")))

# ---- 2. sharing ----------------------------------------------------------------------------------
st.header(t("new.sharing_header"))
st.radio(t("new.sharing"), state.SHARING_MODES, key=key("sharing"), horizontal=True,
         format_func=lambda mode: t(f"text.sharing.{mode}"))
field_error(error, "sharing")
explain, draw = st.columns([3, 2])
with explain:
    st.markdown(t(f"text.explain.{form['sharing']}"))
    st.latex(text.loss_formula(form["sharing"], form["tasks"], form["weights"], float(form["soft_lambda"]),
                               form["layers"], experts=int(form["experts"])))
    st.caption(t(f"text.note.{form['sharing']}"))
with draw:
    dot = text.sharing_diagram(form["sharing"], form["tasks"], depth, form["layers"], experts=int(form["experts"]))
    st.graphviz_chart(dot if lang == DEFAULT_LANGUAGE else diagram_text(dot))

# the loss-weighting method, next to the λ it uses as weights, as a starting point, or not at all
methods = {row["name"]: row for row in weighting.describe()}
method = methods.get(form["weighting"], methods["static"])
pick_column, about_column = st.columns([2, 3])
with pick_column:
    st.selectbox(t("new.weighting"), list(methods), key=key("weighting"), help=t("new.weighting_help"),
                 format_func=lambda name: f"{methods[name]['title']} · {t('new.family.' + methods[name]['family'])}")
    for option, option_spec in state.weighting_option_specs(method["name"]).items():
        integer = option_spec.integer
        default = option_spec.default
        step = 1 if integer else 10 ** (math.floor(math.log10(abs(default))) - 1) if default else 0.01
        st.number_input(t("new.weighting_option", method=method["name"], option=option),
                        key=option_key(method["name"], option), step=step, format=None if integer else "%g",
                        help=f"{option_spec.help} ({option_spec.allowed()})")
    field_error(error, "weighting")
with about_column:
    st.markdown(widgets.method_explanation(method))
    st.latex(method["formula"])
    st.caption(t("new.weighting_reference", reference=method["reference"]))
    ratio = (method.get("cost") or {}).get("medium")
    st.caption(t("new.weighting_cost_unmeasured") if ratio is None else t("new.weighting_cost", ratio=ratio))
if form["tasks"]:
    if method["lambdas"] == "ignored":
        st.caption(t("new.weights_ignored", method=method["title"]))
    else:
        st.markdown(t("new.weights") if method["lambdas"] == "weights"
                    else t("new.weights_start", method=method["title"]))
        for column, task in zip(st.columns(min(len(form["tasks"]), 4)) * 2, form["tasks"]):
            column.slider(f"λ {task}", 0.0, state.WEIGHT_MAX, step=0.05, key=key(f"w_{task}"))
    field_error(error, "weights")
if form["sharing"] == "soft":
    st.number_input(t("new.soft_lambda"), min_value=0.0, max_value=100.0,
                    step=0.01, format="%.4f", key=key("soft_lambda"),
                    help=t("new.soft_lambda_help"))
    field_error(error, "soft_lambda")
if form["sharing"] == "mmoe":
    st.number_input(t("new.experts"), min_value=1, max_value=state.MAX_EXPERTS, step=1, key=key("experts"),
                    help=t("new.experts_help"))
    field_error(error, "experts")
if form["sharing"] == "hierarchical" and form["tasks"]:
    st.markdown(t("new.layers", depth=depth))
    for column, task in zip(st.columns(min(len(form["tasks"]), 4)) * 2, form["tasks"]):
        column.selectbox(t("new.layer_for", task=task), list(range(1, depth + 1)), key=key(f"layer_{task}"))
    field_error(error, "layers")

# ---- 3. model, budget, measurements --------------------------------------------------------------
st.header(t("new.model_header"))
left, middle, right = st.columns(3)
with left:
    st.selectbox(t("new.encoder"), state.ENCODERS, key=key("encoder"),
                 format_func=lambda e: t("new.encoder_auto") if e == "auto" else e)
    field_error(error, "encoder")
    st.number_input(t("new.depth"), min_value=1, max_value=12, step=1, key=key("depth"),
                    disabled=form["encoder"] == "minilm", help=t("new.depth_help"))
    field_error(error, "encoder_layers")
    st.number_input(t("new.hidden"), min_value=2, max_value=4096, step=16, key=key("hidden"))
    field_error(error, "hidden_size")
    if form["encoder"] == "minilm":
        st.checkbox(t("new.freeze"), key=key("freeze"))
with middle:
    st.radio(t("new.budget"), state.BUDGETS, key=key("budget"), horizontal=True,
             format_func=lambda b: t("new.budget.steps") if b == "steps" else t("new.budget.epochs"))
    if form["budget"] == "steps":
        st.number_input(t("new.steps"), min_value=1, max_value=1_000_000, step=50, key=key("steps"))
    else:
        st.number_input(t("new.epochs"), min_value=0.01, max_value=1000.0, step=0.5,
                        key=key("epochs"))
    field_error(error, "steps", "epochs")
    st.text_input(t("new.seeds"), key=key("seeds"),
                  help=t("new.seeds_help"))
    field_error(error, "seeds")
    st.checkbox(t("new.baselines"), key=key("baselines"))
with right:
    st.number_input(t("new.conflict_every"), min_value=0, max_value=1_000_000,
                    step=5, key=key("conflict_every"))
    field_error(error, "conflict_every")
    st.checkbox(t("new.noise_floor"), key=key("noise_floor"))
    st.number_input(t("new.max_train"), min_value=0, max_value=100_000_000, step=500,
                    key=key("max_train"))
    field_error(error, "max_train_examples")
    if any(kinds.get(task) == "vector_regression" for task in form["tasks"]):
        st.slider(t("new.p"), -1.0, 1.0, step=0.05,
                  key=key("p"))
        st.caption(t("label_correlation", p=form["p"], r=realised_label_correlation(form["p"], form["data_seed"]),
                     draw=form["data_seed"]))
        field_error(error, "synthetic_correlation")
with st.expander(t("new.more")):
    st.number_input(t("new.lr"), min_value=0.0, max_value=10.0, step=0.0001,
                    format="%.5f", key=key("lr"))
    field_error(error, "lr")
    st.number_input(t("new.batch"), min_value=1, max_value=4096, step=8, key=key("batch"))
    field_error(error, "batch_size")
    st.text_input(t("new.name"), key=key("name"))

# ---- 4. launch -----------------------------------------------------------------------------------
st.header(t("new.launch_header"))
device, estimate = st.columns(2)
device.metric(t("new.device"), data.device_description())
if spec is not None:
    sizes = {task: (cards[task].get("sizes") or {}).get("train", 0) for task in spec.tasks}
    seconds = state.estimate_seconds(spec, sizes, data.worker_slots())
    estimate.metric(t("new.estimate"), f"≈ {state.format_duration(seconds)}")
    runs = spec.runs()
    estimate.caption(t("new.estimate_caption", runs=len(runs), baselines=sum(r.kind == "stl" for r in runs),
                       workers=data.worker_slots(), steps=state.budget_steps(spec, sizes)))
else:
    estimate.metric(t("new.estimate"), "—")
    if error is not None:
        estimate.caption(t("new.fix_field"))
if error is not None and error.field not in (
        "tasks", "weights", "weighting", "soft_lambda", "experts", "layers", "sharing", "encoder", "encoder_layers",
        "hidden_size", "steps", "epochs", "seeds", "conflict_every", "max_train_examples", "synthetic_correlation", "lr", "batch_size", "task",
        None):
    st.error(str(error), icon=":material/warning:")
if st.button(t("new.launch"), type="primary", key="newui_launch", width="stretch"):
    if error is not None:
        st.error(t("new.not_launched", error=error), icon=":material/warning:")
    else:
        try:
            experiment_id, _ = data.backend().submit(spec)
        except UserError as exc:
            st.error(t("new.not_launched", error=exc), icon=":material/warning:")
        else:
            st.session_state["runs_experiment"] = experiment_id
            st.switch_page("views/runs.py", query_params={"exp": experiment_id,
                                                         **({} if lang == DEFAULT_LANGUAGE else {"lang": lang})})

# ---- form -> URL (only what differs from the defaults) -------------------------------------------
form = read_form(kinds)
written = state.to_query(form, kinds)
st.session_state[key("saved_form")] = form
if {name: value for name, value in st.query_params.to_dict().items() if name != "lang"} != written:
    st.query_params.from_dict({**written, **({} if lang == DEFAULT_LANGUAGE else {"lang": lang})})
st.session_state[key("written_query")] = written
