"""A real browser on the loss-weighting lesson: a link to "Does a clever weighting method beat tuned weights?", Run,
the summary and the front with the methods on it; then the same experiment's front on Compare and its weights on Runs.

Same launch conventions as tests/test_browser.py (its server fixture, Chromium flags and chart locator are
imported from there). 50-step runs of the five static λ, PCGrad, UW and the two baselines (9 small runs).
With MTL_SCREENSHOTS=1, screenshots land in test-artifacts/ (gitignored).
"""
from __future__ import annotations

import pytest

from tests.dashboard_helpers import wait_until_finished
from tests.test_browser import CHROMIUM_ARGS, plotly_chart, server, snapshot  # noqa: F401 (server: a fixture)

pytestmark = pytest.mark.browser


def test_the_methods_lesson_puts_each_method_on_the_static_front(server):
    from playwright.sync_api import sync_playwright

    from mtl_core.store import Store

    lesson = f"{server['url']}/lab?lesson=methods&steps=50&methods=pcgrad,uw"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=server["chromium"], args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 2600})
            page.goto(lesson)
            page.get_by_text("Does a clever weighting method beat tuned weights?").first.wait_for(timeout=60_000)
            page.get_by_role("button", name="Run", exact=True).click()
            # The summary's own lines: drawn when the runs finish, and again by the page's closing rerun.
            page.get_by_text("Static λ:").wait_for(timeout=240_000)
            page.get_by_text("What just happened").wait_for(timeout=60_000)
            front = plotly_chart(page, "Static λ front vs adaptive weighting methods")
            front.wait_for(timeout=60_000)
            for name in ("pcgrad", "uw"):  # each method's legend entry carries its cost (or "cost not measured yet")
                entry = front.get_by_text(f"{name} · ", exact=False)
                assert entry.count() == 1, name
                assert any(word in entry.text_content() for word in ("× a static-λ step", "cost not measured yet"))
            assert front.get_by_text("static-λ front").count() == 1
            summary = page.locator(".st-key-lab_summary")
            for name in ("pcgrad", "uw"):
                assert summary.get_by_text(f"{name} (Δ", exact=False).count() == 1, name
            assert page.get_by_text("Static λ:").count() == 1
            page.wait_for_timeout(1500)
            snapshot(page, "browser-lab-methods.png", full_page=True)

            experiments = Store(server["store"]).experiments()
            assert len(experiments) == 1
            experiment_id = experiments.iloc[0]["id"]
            runs = wait_until_finished(server["store"], experiment_id, timeout=60)
            assert len(runs) == 9 and {r["status"] for r in runs} == {"completed"}
            page.goto(f"{server['url']}/compare?exp={experiment_id}")
            compare_front = plotly_chart(page, "Δ per task: static λ front vs adaptive methods")
            compare_front.wait_for(timeout=60_000)
            assert compare_front.get_by_text("pcgrad · ", exact=False).count() == 1
            page.get_by_text("Where each method landed").wait_for(timeout=30_000)
            page.goto(f"{server['url']}/runs?exp={experiment_id}")
            plotly_chart(page, "Effective task weights over training").wait_for(timeout=60_000)
            page.get_by_text("as set by the weighting method").first.wait_for(timeout=30_000)
        finally:
            browser.close()
