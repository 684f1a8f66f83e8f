"""A real browser on the Teaching lab and the Relatedness map: a lesson link, Run, the summary; a finished map.

Same launch conventions as tests/test_browser.py (its server fixture, Chromium flags and chart
locator are imported from there): headless Chromium through Playwright against `streamlit run
dashboard/app.py` with a temporary store. With MTL_SCREENSHOTS=1, screenshots land in test-artifacts/ (gitignored). Skips
without a chromium on PATH, except under CI, where a missing browser is a failure.
"""
from __future__ import annotations

import pytest

from tests.dashboard_helpers import dashboard_env, wait_until_finished
from tests.test_browser import CHROMIUM_ARGS, plotly_chart, server, snapshot  # noqa: F401 (server: a fixture)

pytestmark = pytest.mark.browser


def submit_small_map(store, monkeypatch) -> str:
    """A 3-task synthetic map of 10-step runs, queued in the server's store (its workers see the same home)."""
    from mtl_core import relmap
    from mtl_core.jobs import get_backend
    from mtl_core.spec import ExperimentSpec
    from mtl_core.store import Store

    for name, value in dashboard_env(store.parent / "home", store).items():
        monkeypatch.setenv(name, value)
    spec = ExperimentSpec(tasks=["synth_1", "synth_2", "synth_3"], steps=10, max_train_examples=200, hidden_size=8,
                          synthetic_correlation=0.5)
    experiment_id, _ = relmap.submit_map(get_backend("local", Store(store)), spec, max_groups=2)
    return experiment_id


def test_a_lesson_link_runs_and_explains_then_the_map_shows_its_matrices(server, monkeypatch):
    from playwright.sync_api import sync_playwright

    map_id = submit_small_map(server["store"], monkeypatch)
    lesson = f"{server['url']}/lab?lesson=relatedness&p=0&steps=50"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=server["chromium"], args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 2600})
            # A teacher's link opened first on a fresh server must get the whole app, navigation included.
            page.goto(lesson)
            page.get_by_role("link", name="Relatedness map").wait_for(timeout=60_000)
            page.get_by_text("How related are these tasks?").first.wait_for(timeout=60_000)
            page.get_by_role("button", name="Run", exact=True).click()
            # The summary is drawn when the runs finish, then once more by the page's closing rerun (which stops
            # its polling); on a loaded machine that rerun can take a while, so wait for the summary's own lines.
            page.get_by_text("With p = 0:").wait_for(timeout=240_000)
            page.get_by_text("What just happened").wait_for(timeout=60_000)
            plotly_chart(page, "Validation MSE: shared (solid)").wait_for(timeout=60_000)
            plotly_chart(page, "Gradient cosine between synth_1 and synth_2").wait_for(timeout=60_000)
            assert page.get_by_text("With p = 0:").count() == 1
            page.wait_for_timeout(1500)
            snapshot(page, "browser-lab-relatedness.png", full_page=True)

            page.goto(lesson + "&lang=zh")  # the same link in Chinese: the earlier runs are shown at once
            page.get_by_text("刚才发生了什么").wait_for(timeout=60_000)
            page.get_by_text("当 p = 0 时：").wait_for(timeout=30_000)
            assert page.get_by_text("当 p = 0 时：").count() == 1
            page.get_by_role("link", name="教学实验室").wait_for(timeout=30_000)  # the navigation too
            plotly_chart(page, "验证集 MSE").wait_for(timeout=30_000)
            page.wait_for_timeout(1500)
            snapshot(page, "browser-lab-relatedness-zh.png", full_page=True)

            runs = wait_until_finished(server["store"], map_id, timeout=240)
            assert {r["status"] for r in runs} == {"completed"}
            page.goto(f"{server['url']}/map?exp={map_id}")
            plotly_chart(page, "Transfer gain G(i→j)").wait_for(timeout=60_000)
            plotly_chart(page, "Tasks clustered by lookahead affinity").wait_for(timeout=30_000)
            page.wait_for_timeout(1500)
            snapshot(page, "browser-relatedness-map.png", full_page=True)
            page.get_by_text("helper task i").first.wait_for(timeout=30_000)
            cli_line = page.locator("code").filter(has_text="python -m mtl_core map --tasks synth_1,synth_2,synth_3")
            cli_line.first.wait_for(timeout=30_000)
            assert cli_line.count() == 1
        finally:
            browser.close()
