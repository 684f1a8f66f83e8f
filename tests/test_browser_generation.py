"""A real browser on generation tasks: the languages lesson from its link, and the Runs page's live sample
translations of the same runs (the multi-task run's outputs beside its baselines').

Same launch conventions as tests/test_browser.py (its server fixture, Chromium flags and chart locator).
"""
from __future__ import annotations

import time

import pytest

from tests.dashboard_helpers import wait_until_finished
from tests.test_browser import CHROMIUM_ARGS, plotly_chart, server, snapshot  # noqa: F401 (server: a fixture)

pytestmark = pytest.mark.browser


def test_the_languages_lesson_runs_and_the_runs_page_shows_its_sample_translations(server):
    from playwright.sync_api import sync_playwright

    from mtl_core.store import Store

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=server["chromium"], args=CHROMIUM_ARGS)
        try:
            lab = browser.new_page(viewport={"width": 1400, "height": 2600})
            lab.goto(f"{server['url']}/lab?lesson=languages&steps=50")
            lab.get_by_text("Do languages help each other?").first.wait_for(timeout=60_000)
            lab.get_by_role("button", name="Run", exact=True).click()
            store = Store(server["store"])
            deadline = time.monotonic() + 60
            while store.experiments().empty and time.monotonic() < deadline:
                time.sleep(0.2)
            experiment_id = store.experiments()["id"][0]

            runs_page = browser.new_page(viewport={"width": 1400, "height": 2600})
            runs_page.goto(f"{server['url']}/runs?exp={experiment_id}")
            runs_page.get_by_text("Sample outputs").wait_for(timeout=300_000)  # after the first evaluation
            runs_page.get_by_text("emoji_en_es", exact=True).first.wait_for(timeout=60_000)
            runs_page.get_by_text("emoji_en_ja", exact=True).first.wait_for(timeout=60_000)

            runs = wait_until_finished(server["store"], experiment_id, timeout=600)
            assert [r["status"] for r in runs] == ["completed"] * 5, [r["error"] for r in runs]
            samples = store.generation_samples([r["id"] for r in runs])
            assert set(samples["task"]) == {"emoji_en_es", "emoji_en_fr", "emoji_en_ja"}
            runs_page.close()

            lab.get_by_text("with French (related): Δ on emoji_en_es").wait_for(timeout=240_000)
            lab.get_by_text("with Japanese (distant): Δ on emoji_en_es").wait_for(timeout=60_000)
            plotly_chart(lab, "emoji_en_es: validation chrF").wait_for(timeout=60_000)
            plotly_chart(lab, "Gradient cosine of each pair on the shared encoder").wait_for(timeout=60_000)
            lab.wait_for_timeout(1500)
            snapshot(lab, "browser-lab-languages.png", full_page=True)
        finally:
            browser.close()
