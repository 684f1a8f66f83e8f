"""New experiment: pick tasks, a sharing mode and a budget, see the loss formula and an estimate, launch.

The form lives in the URL (dashboard.state): a link reproduces a setup. Launch submits to the
background backend and moves to the run view at once; this page never waits for training.
"""
from __future__ import annotations

import streamlit as st

from dashboard import data, state, text
from mtl_core.errors import UserError
from mtl_core.spec import ExperimentSpec

PREFIX = "new_"
SCALARS = [field.name for field in state.FIELDS]
KIND_NAMES = {"sentence_classification": "sentence classification", "document_classification":
              "document classification", "token_tagging": "token tagging (one label per word)",
              "sentence_regression": "sentence regression", "vector_regression": "vector regression (synthetic)"}
UPLOAD_KINDS = ("sentence_classification", "sentence_regression", "token_tagging")


def key(name: str) -> str:
    return PREFIX + name


FORM_KEYS = {key(name) for name in SCALARS} | {key("tasks")}


def is_form_key(name: str) -> bool:
    return name in FORM_KEYS or name.startswith((key("w_"), key("layer_")))


def load_form(form: dict) -> None:
    """Put a form's values into the widgets' session state (drops per-task values of other tasks)."""
    for name in [k for k in st.session_state if k.startswith((key("w_"), key("layer_")))]:
        del st.session_state[name]
    for name in SCALARS:
        st.session_state[key(name)] = form[name]
    st.session_state[key("tasks")] = list(form["tasks"])
    for task, weight in form["weights"].items():
        st.session_state[key(f"w_{task}")] = float(weight)
    for task, layer in form["layers"].items():
        st.session_state[key(f"layer_{task}")] = int(layer)


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
        st.info("Choose at least one task (two or more to learn them together), or start from a preset.",
                icon=":material/arrow_forward:")
    else:
        st.error(str(error), icon=":material/warning:")


# ---- form state: URL -> widgets (a link, a preset, the first visit), or the form left on this page ----
cards = data.cards()
available = [task for task, card in cards.items() if card["available"]]
kinds = {task: cards[task]["kind"] for task in available}
query = st.query_params.to_dict()
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

st.title("New experiment")
st.caption("Pick tasks, choose how they share a model, and launch. Every setting is in the page's URL: "
           "copy the address to share this exact setup.")
if st.session_state.get(key("url_notes")):
    st.warning("Some values in the link could not be used and fell back to defaults:\n\n"
               + "\n".join(f"- {note}" for note in st.session_state[key("url_notes")]), icon=":material/link:")


def apply_preset(name: str) -> None:
    preset_form, _ = state.parse_query(state.PRESETS[name], available)
    load_form(preset_form)
    st.session_state[key("url_notes")] = []


st.markdown("**Presets**")
for column, name in zip(st.columns(len(state.PRESETS)), state.PRESETS):
    column.button(name, key=f"newui_preset_{name}", on_click=apply_preset, args=(name,), width="stretch")

# ---- 1. tasks ------------------------------------------------------------------------------------
st.header("1 · Tasks")
st.multiselect("Tasks to learn together", options=available, key=key("tasks"),
               format_func=lambda t: f"{cards[t]['name']} ({t})",
               placeholder="Choose two or more tasks (one task = a single-task run)",
               help="Tasks that share inputs or labels tend to help each other; the cards say which the "
                    "catalog expects to be related.")
field_error(error, "tasks")


def task_card(card: dict, chosen: list[str]) -> None:
    arrow = "↑ higher is better" if card["higher_is_better"] else "↓ lower is better"
    sizes = card.get("sizes") or {}
    st.markdown(f"**{card['name']}** `{card['id']}`")
    st.caption(card["description"])
    st.markdown(f"- kind: {KIND_NAMES.get(card['kind'], card['kind'])}\n"
                f"- metric: {card['metric']} ({arrow})\n"
                f"- examples: " + ", ".join(f"{split} {n:,}" for split, n in sizes.items()) + "\n"
                f"- source: {card['source']} · licence: {card['licence']}")
    related = [t + (" ✓" if t in chosen else "") for t in card.get("related", [])]
    if related:
        st.markdown("expected related: " + ", ".join(related))
    if card.get("unrelated"):
        st.markdown("expected unrelated (controls): " + ", ".join(card["unrelated"]))


if form["tasks"]:
    for start in range(0, len(form["tasks"]), 3):
        for column, task in zip(st.columns(3), form["tasks"][start:start + 3]):
            with column.container(border=True):
                task_card(cards[task], form["tasks"])

unavailable = [card for card in cards.values() if not card["available"]]
if unavailable:
    with st.expander(f"Unavailable tasks ({len(unavailable)}): why, and how to fix"):
        for card in unavailable:
            st.markdown(f"**{card['name']}** `{card['id']}`: {card['reason']}")
            if card.get("fix"):
                st.code(card["fix"], language="bash")

with st.expander("Upload your own task (CSV or JSONL)"):
    st.markdown("Columns: `text` + `label` (sentence classification), `text` + `score` (sentence regression), "
                "`tokens` + `tags` (token tagging; space-separated in CSV). At most 20 MB; the file is checked "
                "completely before it is added.")
    upload = st.file_uploader("Task file", type=["csv", "jsonl"], key="newui_upload_file")
    upload_name = st.text_input("Task name (lowercase letters, digits, _)", key="newui_upload_name")
    upload_kind = st.selectbox("Kind", UPLOAD_KINDS, format_func=KIND_NAMES.get, key="newui_upload_kind")
    if st.button("Add task", key="newui_upload_add"):
        from mtl_core.tasks.user import add_user_task_from_bytes

        if upload is None:
            st.error("file: choose a CSV or JSONL file first", icon=":material/warning:")
        else:
            try:
                with st.spinner(f"Checking {upload.name}…"):
                    card = add_user_task_from_bytes(upload.getvalue(), upload.name, upload_name, upload_kind)
            except UserError as exc:
                st.error(str(exc), icon=":material/warning:")
            else:
                data.clear_catalog()
                st.session_state[key("upload_done")] = f"Added task `{card.id}`: it is now in the task picker."
                st.rerun()
    if st.session_state.get(key("upload_done")):
        st.success(st.session_state.pop(key("upload_done")))

# ---- 2. sharing ----------------------------------------------------------------------------------
st.header("2 · How the tasks share a model")
st.radio("Sharing mode", state.SHARING, key=key("sharing"), horizontal=True, format_func=text.SHARING_LABELS.get)
field_error(error, "sharing")
explain, draw = st.columns([3, 2])
with explain:
    st.markdown(text.SHARING_EXPLANATIONS[form["sharing"]])
    st.latex(text.loss_formula(form["sharing"], form["tasks"], form["weights"], float(form["soft_lambda"]),
                               form["layers"]))
    st.caption(text.FORMULA_NOTES[form["sharing"]])
with draw:
    st.graphviz_chart(text.sharing_diagram(form["sharing"], form["tasks"], depth, form["layers"]))

if form["tasks"]:
    st.markdown("**Loss weights λ_t** (0 switches a task's loss off)")
    for column, task in zip(st.columns(min(len(form["tasks"]), 4)) * 2, form["tasks"]):
        column.slider(f"λ {task}", 0.0, state.WEIGHT_MAX, step=0.05, key=key(f"w_{task}"))
    field_error(error, "weights")
if form["sharing"] == "soft":
    st.number_input("λ_soft: strength of the pull towards the mean encoder θ_s", min_value=0.0, max_value=100.0,
                    step=0.01, format="%.4f", key=key("soft_lambda"),
                    help="0 = independent encoders; large values approach hard sharing.")
    field_error(error, "soft_lambda")
if form["sharing"] == "hierarchical" and form["tasks"]:
    st.markdown(f"**Layer each task's head reads** (1 = closest to the input, {depth} = top)")
    for column, task in zip(st.columns(min(len(form["tasks"]), 4)) * 2, form["tasks"]):
        column.selectbox(f"layer for {task}", list(range(1, depth + 1)), key=key(f"layer_{task}"))
    field_error(error, "layers")

# ---- 3. model, budget, measurements --------------------------------------------------------------
st.header("3 · Model, budget and measurements")
left, middle, right = st.columns(3)
with left:
    st.selectbox("Encoder", state.ENCODERS, key=key("encoder"),
                 format_func=lambda e: "automatic (bilstm for text, mlp for synthetic)" if e == "auto" else e)
    field_error(error, "encoder")
    st.number_input("Encoder layers", min_value=1, max_value=12, step=1, key=key("depth"),
                    disabled=form["encoder"] == "minilm", help="MiniLM always has 6 layers.")
    field_error(error, "encoder_layers")
    st.number_input("Hidden size", min_value=2, max_value=4096, step=16, key=key("hidden"))
    field_error(error, "hidden_size")
    if form["encoder"] == "minilm":
        st.checkbox("Freeze MiniLM (train the heads only; fast on CPU)", key=key("freeze"))
with middle:
    st.radio("Budget", state.BUDGETS, key=key("budget"), horizontal=True,
             format_func=lambda b: "steps per task" if b == "steps" else "epochs (largest task)")
    if form["budget"] == "steps":
        st.number_input("Steps per task", min_value=1, max_value=1_000_000, step=50, key=key("steps"))
    else:
        st.number_input("Epochs over the largest training set", min_value=0.01, max_value=1000.0, step=0.5,
                        key=key("epochs"))
    field_error(error, "steps", "epochs")
    st.text_input("Seeds (comma-separated)", key=key("seeds"),
                  help="Use 3 or more seeds before trusting a difference: results are reported as mean ± std.")
    field_error(error, "seeds")
    st.checkbox("Also train single-task baselines (needed for Δ on Compare)", key=key("baselines"))
with right:
    st.number_input("Measure gradient conflict every k steps (0 = never)", min_value=0, max_value=1_000_000,
                    step=5, key=key("conflict_every"))
    field_error(error, "conflict_every")
    st.checkbox("Also measure the noise floor (same task, two batches)", key=key("noise_floor"))
    st.number_input("Max training examples per task (0 = all)", min_value=0, max_value=100_000_000, step=500,
                    key=key("max_train"))
    field_error(error, "max_train_examples")
    if any(kinds.get(t) == "vector_regression" for t in form["tasks"]):
        st.slider("Synthetic task correlation p (1 = same task, 0 = unrelated)", -1.0, 1.0, step=0.05,
                  key=key("p"))
        field_error(error, "synthetic_correlation")
with st.expander("More settings: learning rate, batch size, name"):
    st.number_input("Learning rate (0 = the encoder's default)", min_value=0.0, max_value=10.0, step=0.0001,
                    format="%.5f", key=key("lr"))
    field_error(error, "lr")
    st.number_input("Batch size (examples per task per step)", min_value=1, max_value=4096, step=8, key=key("batch"))
    field_error(error, "batch_size")
    st.text_input("Experiment name (optional)", key=key("name"))

# ---- 4. launch -----------------------------------------------------------------------------------
st.header("4 · Launch")
device, estimate = st.columns(2)
device.metric("Device (auto)", data.device_description())
if spec is not None:
    sizes = {t: (cards[t].get("sizes") or {}).get("train", 0) for t in spec.tasks}
    seconds = state.estimate_seconds(spec, sizes, data.worker_slots())
    estimate.metric("Estimated time", f"≈ {state.format_duration(seconds)}")
    runs = spec.runs()
    estimate.caption(f"An estimate: {len(runs)} run(s) ({sum(r.kind == 'stl' for r in runs)} single-task "
                     f"baselines) on {data.worker_slots()} worker(s), {state.budget_steps(spec, sizes)} steps per "
                     "task, from CPU timings per encoder plus ~8 s to start each run.")
else:
    estimate.metric("Estimated time", "—")
    if error is not None:
        estimate.caption("Fix the marked field to see an estimate.")
if error is not None and error.field not in (
        "tasks", "weights", "soft_lambda", "layers", "sharing", "encoder", "encoder_layers", "hidden_size", "steps",
        "epochs", "seeds", "conflict_every", "max_train_examples", "synthetic_correlation", "lr", "batch_size", "task",
        None):
    st.error(str(error), icon=":material/warning:")
if st.button("Launch", type="primary", key="newui_launch", width="stretch"):
    if error is not None:
        st.error(f"Not launched: {error}", icon=":material/warning:")
    else:
        try:
            experiment_id, _ = data.backend().submit(spec)
        except UserError as exc:
            st.error(f"Not launched: {exc}", icon=":material/warning:")
        else:
            st.session_state["runs_experiment"] = experiment_id
            st.switch_page("views/runs.py", query_params={"exp": experiment_id})

# ---- form -> URL (only what differs from the defaults) -------------------------------------------
form = read_form(kinds)
written = state.to_query(form, kinds)
st.session_state[key("saved_form")] = form
if st.query_params.to_dict() != written:
    st.query_params.from_dict(written)
st.session_state[key("written_query")] = written
