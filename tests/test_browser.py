"""A real browser on the real app: open a link with two synthetic tasks, click Launch, watch the run view fill in.

Drives headless Chromium with Playwright against `streamlit run dashboard/app.py` on a free port, with
a temporary data home and store. With MTL_SCREENSHOTS=1, screenshots land in test-artifacts/ (gitignored) for a
human to look at.
Skips without a chromium on PATH, except under CI, where a missing browser is a failure.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys

import pytest

from tests.dashboard_helpers import ROOT, dashboard_env, stop_background, wait_until_finished, wait_until_serving

pytestmark = pytest.mark.browser
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def chromium_path() -> str:
    path = shutil.which("chromium")
    if path is None:
        message = "chromium not installed: apt-get install -y chromium"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def server(tmp_path):
    chromium = chromium_path()
    store = tmp_path / "runs.sqlite"
    env = {**os.environ, **dashboard_env(tmp_path / "home", store)}
    port = free_port()
    log = open(tmp_path / "streamlit.log", "wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "dashboard/app.py", "--server.port", str(port),
         "--server.headless", "true", "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        if not wait_until_serving(url, process, 60):
            raise AssertionError(f"streamlit did not start: {(tmp_path / 'streamlit.log').read_text()[-2000:]}")
        yield {"url": url, "store": store, "chromium": chromium}
    finally:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(process.pid, signal.SIGKILL)
        log.close()
        stop_background(store)


def screenshot(page, name: str) -> None:
    """The whole page, when MTL_SCREENSHOTS=1 (each takes a few seconds: `MTL_SCREENSHOTS=1 make test` to look
    at them): Streamlit scrolls inside its main container, so grow the viewport to its height."""
    if os.environ.get("MTL_SCREENSHOTS") != "1":
        return
    ARTIFACTS.mkdir(exist_ok=True)
    height = page.evaluate("""() => Math.max(...[...document.querySelectorAll(
        '[data-testid="stMain"], [data-testid="stAppViewContainer"], section.main')].map(e => e.scrollHeight), 1000)""")
    width = page.viewport_size["width"]
    page.set_viewport_size({"width": width, "height": min(int(height) + 50, 9000)})
    page.wait_for_timeout(1200)  # plotly charts re-layout to the new size
    page.screenshot(path=str(ARTIFACTS / name))
    page.set_viewport_size({"width": width, "height": 1000})


def snapshot(target, name: str, **options) -> None:
    """`target.screenshot` (a page or a locator, as it is) into test-artifacts/, when MTL_SCREENSHOTS=1."""
    if os.environ.get("MTL_SCREENSHOTS") == "1":
        ARTIFACTS.mkdir(exist_ok=True)
        target.screenshot(path=str(ARTIFACTS / name), **options)


def plotly_chart(page, title: str):
    return page.locator(".js-plotly-plot").filter(has_text=title).first


def test_launch_from_a_link_and_watch_the_run_view(server):
    from playwright.sync_api import sync_playwright

    link = (f"{server['url']}/?tasks=synth_1,synth_2&steps=40&max_train=200&conflict_every=5&noise_floor=1"
            "&p=0.9&hidden=16")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=server["chromium"], args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(link)
            launch = page.get_by_role("button", name="Launch")
            launch.wait_for(timeout=60_000)
            page.get_by_text("Synthetic task 1").first.wait_for(timeout=30_000)  # the task card
            page.wait_for_timeout(1500)  # let the formula and diagram finish drawing
            screenshot(page, "browser-new-experiment.png")

            launch.click()
            page.wait_for_url("**/runs?exp=*", timeout=60_000)
            experiment_id = page.url.split("exp=")[1].split("&")[0]
            plotly_chart(page, "loss per task").wait_for(timeout=180_000)
            plotly_chart(page, "Gradient cosine between tasks").wait_for(timeout=180_000)
            screenshot(page, "browser-run-view-live.png")

            runs = wait_until_finished(server["store"], experiment_id, timeout=240)
            assert [r["status"] for r in runs] == ["completed"] * 3
            page.get_by_text("step 40 / 40").first.wait_for(timeout=30_000)  # polling picked up the end
            page.get_by_text("Updating every").wait_for(state="detached", timeout=30_000)  # and then stopped
            screenshot(page, "browser-run-view-finished.png")

            page.goto(f"{server['url']}/compare?exp={experiment_id}")
            plotly_chart(page, "Δ_t per task").wait_for(timeout=60_000)
            screenshot(page, "browser-compare.png")
            page.get_by_text("python -m mtl_core run --tasks synth_1,synth_2").first.wait_for(timeout=30_000)
        finally:
            browser.close()
