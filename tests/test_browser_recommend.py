"""A real browser on the map page's "Recommend helpers for a target" mode: a link picks a target and four
candidates, Stage 1 ranks them, Stage 2 measures them, and the page shows the measured gains, each proxy's
ρ and regret@k, the scatter and the recommendation with its evidence.

Same launch conventions as tests/test_browser.py (its server fixture, Chromium flags and chart locator
are imported from there). The tasks are five small user tasks of tests/test_recommend.py (two labelled by
the target's rule, two by another) on a tiny budget. With MTL_SCREENSHOTS=1, screenshots land in test-artifacts/ (gitignored).
Skips without a chromium on PATH, except under CI, where a missing browser is a failure.
"""
from __future__ import annotations

import pytest

from tests.dashboard_helpers import dashboard_env, wait_until_finished
from tests.test_browser import CHROMIUM_ARGS, plotly_chart, screenshot, server  # noqa: F401 (a fixture)
from tests.test_recommend import RELATED, UNRELATED, add_rule_tasks

pytestmark = pytest.mark.browser


def test_a_target_with_four_candidates_goes_through_both_stages(server, monkeypatch):
    from playwright.sync_api import sync_playwright

    from mtl_core.store import Store

    for name, value in dashboard_env(server["store"].parent / "home", server["store"]).items():
        monkeypatch.setenv(name, value)  # the server's data home: the tasks land where its workers read them
    add_rule_tasks()
    link = (f"{server['url']}/map?mode=recommend&target=target_rule&candidates={','.join(RELATED + UNRELATED)}"
            "&rec_steps=30&rec_max_train=60&rec_hidden=16&rec_seeds=0,1")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=server["chromium"], args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1400})
            page.goto(link)
            stage1 = page.get_by_role("button", name="Stage 1: rank the candidates")
            stage1.wait_for(timeout=180_000)  # the first page run imports the engine and reads the catalog
            page.get_by_text("Stage 1: 1 run(s), estimated").wait_for(timeout=30_000)  # the link's selection is valid
            stage1.click()
            page.get_by_text("Stage 1: candidates ranked by each proxy toward target_rule").wait_for(timeout=60_000)
            store = Store(server["store"])
            (rec,) = store.experiments().query("kind == 'recommend'")["id"]
            runs = wait_until_finished(server["store"], rec, timeout=240)
            assert [r["status"] for r in runs] == ["completed"]
            page.locator("table").filter(has_text="lookahead affinity (%)").first.wait_for(timeout=60_000)
            page.get_by_text("proxy only").first.wait_for(timeout=30_000)  # stage 1 alone: the text says so
            screenshot(page, "browser-recommend-stage1.png")

            stage2 = page.get_by_role("button", name="Stage 2: measure the top k")
            stage2.wait_for(timeout=30_000)
            page.wait_for_function("() => [...document.querySelectorAll('button')].some(b => "
                                   "b.innerText.includes('Stage 2: measure the top k') && !b.disabled)", timeout=60_000)
            stage2.click()
            page.wait_for_timeout(2000)
            truth = store.experiment_options(rec)["truth"]
            assert truth and store.experiment(truth)["kind"] == "recommend-truth"
            runs = wait_until_finished(server["store"], truth, timeout=400)
            assert [r["status"] for r in runs] == ["completed"] * 10  # 2 seeds × (target alone + 4 pairs)

            page.get_by_text("How well each proxy predicted the measured gains").wait_for(timeout=120_000)
            scores = page.locator("table").filter(has_text="regret@1").first
            scores.wait_for(timeout=30_000)
            assert "lookahead affinity" in scores.inner_text() and "ρ" in scores.inner_text()
            page.get_by_text("measured on 2 seeds").first.wait_for(timeout=30_000)
            page.get_by_text("Recommendation: ").first.wait_for(timeout=30_000)
            plotly_chart(page, "against the measured transfer gain").wait_for(timeout=30_000)
            gains = page.locator("table").filter(has_text="gain, %").first.inner_text()
            assert all(candidate in gains for candidate in RELATED + UNRELATED)
            assert "python -m mtl_core recommend --target target_rule" in page.locator("code").last.inner_text()
            assert "rec=" + rec in page.url and "target=target_rule" in page.url
            screenshot(page, "browser-recommend-stage2.png")
        finally:
            browser.close()
