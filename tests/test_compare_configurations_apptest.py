"""Compare on an experiment with many multi-task configurations (a --pairs --weight-grid sweep): a table of
all of them with Δ_t and Δm, a picker bound to the link, and the charts of the chosen one."""
from __future__ import annotations

import base64
import json

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from mtl_core.analysis.summary import experiment_summary
from mtl_core.train.runner import run_rows
from mtl_core.jobs.sweep import expand_grid, parse_weight_grid
from mtl_core.spec import ExperimentSpec
from mtl_core.store import Store
from mtl_core.train.runner import execute_run
from tests.dashboard_helpers import APP, dashboard_env

# Its module fixture trains once per pytest-xdist worker: the module's tests stay on one worker.
pytestmark = pytest.mark.xdist_group("test_compare_configurations_apptest")

TASKS3 = ["synth_1", "synth_2", "synth_3"]


@pytest.fixture(scope="module")
def sweep_env(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    store_path = home / "runs.sqlite"
    with pytest.MonkeyPatch.context() as patch:
        for name, value in dashboard_env(home, store_path).items():
            patch.setenv(name, value)
        spec = ExperimentSpec(tasks=TASKS3, steps=20, hidden_size=8, max_train_examples=200, max_eval_examples=50,
                              name="pairs sweep").validated()
        grid = parse_weight_grid("synth_1=1,synth_2=0.5;synth_1=0.5,synth_2=1", spec.tasks)
        store = Store(store_path)
        run_specs = expand_grid(spec, weights_grid=grid, subsets="pairs")
        experiment_id, run_ids = store.create_experiment(spec.to_json(), run_rows(run_specs), kind="sweep",
                                                         name=spec.name)
        for run_id in run_ids:
            assert execute_run(store, run_id, threads=1) == "completed"
        yield {"store": store, "experiment": experiment_id}


def compare(**query: str) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=90)
    for name, value in query.items():
        at.query_params[name] = value
    at.switch_page("views/compare.py")
    return at.run()


def plotly_values(values) -> list[float]:
    """Plotly's JSON holds numeric arrays as base64 typed arrays ({"dtype", "bdata"}) or as plain lists."""
    if isinstance(values, dict):
        return np.frombuffer(base64.b64decode(values["bdata"]), dtype=values["dtype"]).tolist()
    return list(values)


def delta_bars(at: AppTest) -> dict[str, float]:
    for chart in at.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        if (spec["layout"].get("title") or {}).get("text", "").startswith("Δ_t per task"):
            trace = spec["data"][0]
            return dict(zip(trace["y"], plotly_values(trace["x"])))
    raise AssertionError("no Δ chart on the page")


def test_compare_lists_every_configuration_and_charts_the_chosen_one(sweep_env):
    summary = experiment_summary(sweep_env["store"], sweep_env["experiment"])
    configs = summary["configurations"]
    at = compare(exp=sweep_env["experiment"])
    assert not at.exception, [e.value for e in at.exception]
    overview = at.dataframe[0].value
    assert list(overview["configuration"]) == [c["label"] for c in configs]
    assert list(overview["Δm %"]) == pytest.approx([c["delta_m_pct"] for c in configs], abs=0.005)  # 2 decimals
    picker = at.selectbox(key="compare_config")
    assert picker.value == configs[0]["id"] and at.query_params["config"] == configs[0]["id"]

    last = configs[-1]
    at = compare(exp=sweep_env["experiment"], config=last["id"])  # a shared link opens that configuration
    assert at.selectbox(key="compare_config").value == last["id"]
    bars = delta_bars(at)
    for task in last["configuration"]["tasks"]:
        assert bars[task] == pytest.approx(last["tasks"][task]["delta_pct"])
    assert "Every configuration (CSV)" in [d.proto.label for d in at.get("download_button")]
