"""MTL Explorer dashboard: page wiring only. Start it with `make run` or `python -m dashboard` (both
listen on 127.0.0.1 only, from any folder; see dashboard/__main__.py).

The pages live in views/ (not pages/, which Streamlit would serve on its own, bypassing this
navigation for a shared link). Page titles follow the language chosen on the Lab or Map page.
"""
import sys
from pathlib import Path

import streamlit as st

# `streamlit run dashboard/app.py` puts dashboard/ on sys.path, not the repository root.
ROOT = str(Path(__file__).resolve().parents[1])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from dashboard.i18n import t  # noqa: E402

st.set_page_config(page_title="MTL Explorer", page_icon="🧪", layout="wide")
pages = [
    # The default page is served at "/": links to a setup look like /?tasks=synth_1,synth_2&p=0.9
    st.Page("views/new_experiment.py", title=t("nav.new"), icon=":material/science:", default=True),
    st.Page("views/runs.py", title=t("nav.runs"), icon=":material/monitoring:", url_path="runs"),
    st.Page("views/compare.py", title=t("nav.compare"), icon=":material/compare_arrows:", url_path="compare"),
    st.Page("views/relatedness_map.py", title=t("nav.map"), icon=":material/grid_on:", url_path="map"),
    st.Page("views/lab.py", title=t("nav.lab"), icon=":material/school:", url_path="lab"),
]
st.navigation(pages, position="top").run()
