"""A real browser on the Runs page's "All experiments" tab over three experiments: filter, group, overlay, and the
parallel coordinates and Pareto front of their configurations, every choice surviving a reload of the link.

Three small synthetic experiments are trained into a fresh store with the CLI: hard sharing, soft sharing at
another learning rate, and a sweep of two weighting methods (static λ and PCGrad) sharing its baselines, 30
steps each: 10 runs, 4 multi-task configurations. Same launch conventions as tests/test_browser.py (its
server fixture, Chromium flags and chart locator). With MTL_SCREENSHOTS=1, screenshots land in test-artifacts/ (gitignored).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd
import pytest

from dashboard import across
from tests.dashboard_helpers import ROOT, SYNTH, dashboard_env, run_cli_experiment
from tests.test_browser import ARTIFACTS, CHROMIUM_ARGS, plotly_chart, screenshot, server  # noqa: F401 (a fixture)

pytestmark = pytest.mark.browser
STEPS = "30"


def train_three(store, env) -> dict[str, str]:
    hard = run_cli_experiment(store, env, "--steps", STEPS, "--name", "hard")
    soft = run_cli_experiment(store, env, "--steps", STEPS, "--sharing", "soft", "--lr", "0.01", "--name", "soft")
    command = [sys.executable, "-m", "mtl_core", "submit", "--tasks", ",".join(SYNTH), "--max-train-examples", "200",
               "--store", str(store), "--steps", STEPS, "--weighting-grid", "static,pcgrad", "--name", "sweep",
               "--backend", "local", "--wait", "--json"]
    done = subprocess.run(command, cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    sweep = json.loads(done.stdout.strip().splitlines()[-1])["experiment_id"]
    return {"hard": hard, "soft": soft, "sweep": sweep}


def idle(page) -> None:
    """Until the page's script run has finished (Streamlit shows its status widget while it runs)."""
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="hidden", timeout=120_000)


def pick(page, key: str, option: str | None = None, containing: str | None = None) -> None:
    """Choose an option (named `option`, or the one whose text contains `containing`) in the multiselect or
    selectbox keyed `key`, and wait for the rerun it starts to finish. On a loaded machine a click can land
    while the page is still redrawing and be lost: the widget is checked to show the choice, else chosen again."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for attempt in range(3):
        idle(page)
        page.locator(f".st-key-{key}").get_by_role("combobox").click()
        options = page.get_by_role("option")
        choice = options.filter(has_text=containing) if containing else page.get_by_role("option", name=option,
                                                                                           exact=True)
        choice.click()
        page.keyboard.press("Escape")
        idle(page)
        try:  # a multiselect shows its choices as text, a selectbox in its input's value
            page.wait_for_function("""([key, text]) => [...document.querySelectorAll(`.st-key-${key}`)].some(w =>
                w.textContent.includes(text) || [...w.querySelectorAll('input')].some(i => (i.value || '').includes(text)))""",
                                   arg=[key, containing or option], timeout=15_000)
            return
        except PlaywrightTimeout:
            if attempt == 2:
                raise


def downloaded(page, label: str) -> pd.DataFrame:
    with page.expect_download(timeout=60_000) as download:
        page.get_by_role("button", name=label).click()
    return pd.read_csv(download.value.path())


def chart_data(page, title: str) -> list[dict]:
    """The traces a chart was drawn with, as the browser holds them (per trace: type, name, points/lines)."""
    return plotly_chart(page, title).evaluate("""gd => gd.data.map(d => ({type: d.type, name: d.name,
        n: d.dimensions ? d.dimensions[0].values.length : d.x.length,
        labels: d.dimensions ? d.dimensions.map(x => x.label) : null}))""")


def wait_for_traces(page, title: str, count: int) -> None:
    """Until the chart titled `title` is drawn with `count` traces (a chart redraws after the rerun a choice starts)."""
    page.wait_for_function("""([title, count]) => [...document.querySelectorAll('.js-plotly-plot')].some(gd =>
        gd.layout && gd.layout.title && (gd.layout.title.text || "").includes(title) && gd.data.length === count)""",
                           arg=[title, count], timeout=120_000)


def test_runs_table_parallel_coordinates_and_front_over_three_experiments(server, tmp_path):
    from playwright.sync_api import sync_playwright

    from mtl_core.analysis.summary import experiment_summary
    from mtl_core.store import Store

    ids = train_three(server["store"], dashboard_env(tmp_path / "home", server["store"]))
    store = Store(server["store"], readonly=True)
    runs = store.runs()
    assert len(runs) == 10 and {r["status"] for r in runs} == {"completed"}
    # What the page must show, from the one comparison Compare and `show` read.
    # (hard's configuration is the sweep's static one: the same id in two experiments, each with its own Δ)
    deltas = {(ids[name], entry["id"]): [entry["tasks"][task]["delta_pct"] for task in SYNTH]
              for name in ("hard", "soft", "sweep") for entry in experiment_summary(store, ids[name])["configurations"]}
    assert len(deltas) == 4
    front = dict(zip(deltas, across.pareto_front(list(deltas.values()))))

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=server["chromium"], args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1400}, accept_downloads=True)
            page.goto(f"{server['url']}/runs")
            page.get_by_text("Per-task curves").wait_for(timeout=60_000)  # the newest experiment's run view
            page.get_by_role("tab", name="All experiments").click(timeout=120_000)
            page.wait_for_url("**view=All*", timeout=60_000)  # the tab is in the link
            page.get_by_text("10 of 10 runs").wait_for(timeout=60_000)

            # filter: runs that train synth_2, then hard sharing only (the baselines drop out)
            pick(page, "all_tasks", "synth_2")
            page.get_by_text("7 of 10 runs").wait_for(timeout=60_000)
            pick(page, "all_sharing", "hard")
            page.get_by_text("3 of 10 runs").wait_for(timeout=60_000)
            shown = downloaded(page, "Download the runs (CSV)")
            assert sorted(shown["experiment name"]) == ["hard", "sweep", "sweep"]
            assert set(shown["kind"]) == {"mtl"}

            # group by weighting method: static λ twice (hard, and the sweep's static), PCGrad once
            pick(page, "all_group", "weighting")
            page.get_by_text("The shown runs grouped by").wait_for(timeout=60_000)
            groups = downloaded(page, "Download the groups (CSV)").set_index("weighting")
            assert groups["runs"].to_dict() == {"pcgrad": 1, "static": 2}
            runs_by_id = {r["id"]: r for r in runs}
            static_mse = [runs_by_id[run]["result"]["test"]["synth_1"]["mse"]
                          for run in shown.loc[shown["weighting"] == "static", "run"]]
            assert groups.loc["static", "test synth_1 mse mean"] == pytest.approx(sum(static_mse) / 2, rel=1e-9)

            # overlay the curves of two of the filtered runs, from two experiments
            for run in shown["run"].iloc[:2]:
                pick(page, "all_overlay", containing=run[-6:])
            wait_for_traces(page, "loss on the validation set across runs", 4)  # two runs × two tasks
            overlay = plotly_chart(page, "loss on the validation set across runs")
            traces = chart_data(page, "loss on the validation set across runs")
            assert {trace["name"].split(" · ")[0] for trace in traces} == {"hard", "sweep"}
            assert overlay.locator("g.trace.scatter").count() == 4

            # the configurations of the three experiments on synth_1 + synth_2
            parcoords = plotly_chart(page, "Settings against Δ_t and Δm")
            parcoords.wait_for(timeout=60_000)
            (lines,) = chart_data(page, "Settings against Δ_t and Δm")
            assert lines["type"] == "parcoords" and lines["n"] == 4  # one line per configuration
            assert lines["labels"] == ["sharing", "weighting", "lr", "soft_lambda", "Δ synth_1 (%)", "Δ synth_2 (%)",
                                       "Δm (%)"]
            assert parcoords.locator(".y-axis").count() == 7  # every axis drawn
            pareto = plotly_chart(page, "Pareto front of Δ_t over synth_1, synth_2")
            pareto.wait_for(timeout=60_000)
            points = {trace["name"]: trace["n"] for trace in chart_data(page, "Pareto front of Δ_t")}
            assert points.get("on the Pareto front", 0) == sum(front.values())
            assert points.get("dominated", 0) == 4 - sum(front.values())
            assert pareto.locator("path.point").count() == 4
            table = downloaded(page, "Download the configurations (CSV)")
            keys = list(zip(table["experiment"], table["configuration"]))
            assert sorted(keys) == sorted(deltas)
            for key, (_, row) in zip(keys, table.iterrows()):
                assert [row["Δ synth_1 %"], row["Δ synth_2 %"]] == pytest.approx(deltas[key])
                assert bool(row["on the front"]) == front[key]
            idle(page)
            screenshot(page, "browser-runs-across.png")

            # the link keeps every choice: open it again in a fresh page
            link = page.url
            for part in ("view=All", "all_tasks=synth_2", "all_sharing=hard", "all_group=weighting", "all_overlay="):
                assert part in link, part
            again = browser.new_page(viewport={"width": 1400, "height": 1400})
            again.goto(link)
            again.get_by_text("3 of 10 runs").wait_for(timeout=60_000)
            plotly_chart(again, "loss on the validation set across runs").wait_for(timeout=60_000)
            assert len(chart_data(again, "loss on the validation set across runs")) == 4
            plotly_chart(again, "Pareto front of Δ_t").wait_for(timeout=60_000)
            assert plotly_chart(again, "Pareto front of Δ_t").locator("path.point").count() == 4
        except Exception:
            ARTIFACTS.mkdir(exist_ok=True)  # a failure's picture is kept always
            page.screenshot(path=str(ARTIFACTS / "browser-runs-across-failed.png"), timeout=120_000)
            raise
        finally:
            browser.close()

