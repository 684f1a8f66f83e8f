"""Widgets several pages share: the experiment picker bound to the page's link (`?exp=`), a weighting method's words."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import data
from dashboard.i18n import t


def experiment_picker(experiments: pd.DataFrame, *, prefix: str, label: str, unknown_key: str,
                      fallback: str | None = None) -> str:
    """A selectbox over `experiments` (newest first) that follows `?exp=` and writes the choice back.

    A link's experiment is selected once (a later choice in the box wins until the link changes);
    otherwise `fallback` when it is listed, else the newest. The widget state lives under
    `{prefix}_pick`, the last link seen under `{prefix}_url_exp`.
    """
    pick, seen = f"{prefix}_pick", f"{prefix}_url_exp"
    ids = list(experiments["id"])
    wanted = st.query_params.get("exp")
    if wanted and wanted not in ids:
        st.warning(t(unknown_key, id=wanted), icon=":material/link:")
    if wanted in ids and st.session_state.get(seen) != wanted:
        st.session_state[pick] = wanted
    if st.session_state.get(pick) not in ids:
        st.session_state[pick] = fallback if fallback in ids else ids[0]
    labels = {row["id"]: data.experiment_label(row) for _, row in experiments.iterrows()}
    experiment_id = st.selectbox(label, ids, key=pick, format_func=labels.get)
    st.query_params["exp"] = st.session_state[seen] = experiment_id
    return experiment_id


# ---- loss-weighting methods: their words in the page's language --------------------------------
def method_explanation(row: dict) -> str:
    """A method's one line for students (describe()["explanation"]; translated where i18n has it)."""
    from dashboard.i18n import DEFAULT_LANGUAGE, STRINGS, current_language

    key = f"weighting.explain.{row['name']}"
    return t(key) if current_language() != DEFAULT_LANGUAGE and key in STRINGS else row["explanation"]


def cost_text(ratio: float | None) -> str:
    """'1.8× a static-λ step' or 'cost not measured yet'."""
    return t("lab.m.cost_unmeasured") if ratio is None else t("lab.m.cost", ratio=ratio)
