"""What a user waits for in Chromium: a lesson's slider change to its updated summary, Launch to the first point.

    .venv/bin/python benchmarks/browser_latency.py [--repeats R] [--lessons relatedness,weights,attach]

One `python -m dashboard` (what `make run` starts) on a fresh data home (a copy of the fetched sources, an
empty cache and store), driven by headless Chromium through Playwright, the way a teacher uses it:

- each lesson is opened at its defaults and Run is pressed once (cold: the workers start and load torch and
  the data); then its slider is moved one step with the keyboard R times, "run automatically" on, and each
  time the seconds from the key press to the summary of the new setting drawn are taken (warm);
- the New experiment page from a link (two synthetic tasks, 300 steps): Launch to the Runs page's loss curve
  with a first plotted point, first with the workers already up (they are, after the lessons), R times.

Each figure is also printed against the same work without the page: the lesson's runs (or the small run)
submitted to the same backend in this process, waited for by polling the store (benchmarks/lessons.py's
figure), measured in the same repeat, so "page × backend" says what the page adds (its polling and drawing).
Goals (absolute, this is the user's wait): relatedness ≤ 3 s, loss weights ≤ 15 s, where to attach ≤ 10 s,
first plotted point ≤ 2 s. Needs Chromium (`apt-get install -y chromium`) and Playwright.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from first_paint import free_port, fresh_home  # noqa: E402 (benchmarks/, first on sys.path)
from tests.dashboard_helpers import dashboard_env, stop_processes, wait_until_serving  # noqa: E402

GOALS = {"relatedness": 3.0, "weights": 15.0, "attach": 10.0, "launch": 2.0}
# Per lesson: the slider moved (its label), the key that moves it one step, and the summary text of a setting.
LESSON_SLIDERS = {
    "relatedness": ("Task relatedness p (cosine of the task weight vectors)", "ArrowLeft", "p"),
    "weights": ("λ₁: weight of synth_1's loss", "ArrowLeft", "w1"),
    "attach": ("Training steps", "ArrowRight", "steps"),
}
LAUNCH_LINK = "/?tasks=synth_1,synth_2&steps=300&baselines=0"


def summary_text(lesson: str, values: dict) -> str:
    """A line of the lesson's summary that names the setting (so the old summary never matches the new one)."""
    if lesson == "relatedness":
        return f"With p = {values['p']:g}:"
    if lesson == "weights":
        return f"Your weighting λ = ({values['w1']:g}, {values['w2']:g})"
    return f"{values['steps']} steps: differences under"


def idle(page) -> None:
    """Until the page's script run has finished (a click during a rerun can be lost), plus a moment."""
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="hidden", timeout=120_000)
    page.wait_for_timeout(300)


def timeline(store_path: Path, since: float) -> dict[str, float]:
    """Seconds after `since` (a wall-clock press) at which the newest experiment's runs were created, the first
    started, and the last finished: where a wait goes (the page's rerun and submit, the queue, training)."""
    from mtl_core.store import Store

    store = Store(store_path)
    newest = store.experiments().iloc[0]["id"]
    runs = store.runs(newest)
    return {"submitted": min(r["created_at"] for r in runs) - since,
            "started": min(r["started_at"] or float("nan") for r in runs) - since,
            "finished": max(r["finished_at"] or float("nan") for r in runs) - since}


def lesson_seconds(page, url: str, lesson: str, repeats: int,
                   store_path: Path | None = None) -> tuple[float, list[float], list[dict]]:
    """(cold seconds from Run to the summary, warm seconds per slider step, the settings of each step)."""
    from dashboard import lessons

    label, key, name = LESSON_SLIDERS[lesson]
    setting = next(s for s in lessons.SETTINGS[lesson] if s.name == name)
    values = lessons.defaults(lesson)
    page.goto(f"{url}/lab?lesson={lesson}")
    page.get_by_role("button", name="Run", exact=True).wait_for(timeout=120_000)
    idle(page)
    start = time.perf_counter()
    page.get_by_role("button", name="Run", exact=True).click()
    page.get_by_text(summary_text(lesson, values)).first.wait_for(timeout=300_000)
    cold = time.perf_counter() - start
    warm, settings = [], []
    for _ in range(repeats):
        step = setting.step if key == "ArrowRight" else -setting.step
        values = {**values, name: setting.kind(round(values[name] + step, 6))}
        idle(page)
        thumb = page.get_by_role("slider", name=label)
        thumb.focus()
        start, pressed = time.perf_counter(), time.time()
        thumb.press(key)
        page.get_by_text(summary_text(lesson, values)).first.wait_for(timeout=300_000)
        warm.append(time.perf_counter() - start)
        if store_path is not None and os.environ.get("BROWSER_LATENCY_TIMELINE"):
            print(f"    {lesson} step: " + ", ".join(f"{k} {v:.2f} s" for k, v in timeline(store_path, pressed).items())
                  + f", summary drawn {warm[-1]:.2f} s", flush=True)
        settings.append(dict(values))
    return cold, warm, settings


def launch_seconds(page, url: str, store_path: Path | None = None) -> float:
    """Launch on the New experiment page to the Runs page's loss chart holding a first plotted point."""
    page.goto(url + LAUNCH_LINK)
    launch = page.get_by_role("button", name="Launch")
    launch.wait_for(timeout=120_000)
    idle(page)
    start, pressed = time.perf_counter(), time.time()
    launch.click()
    # A curve's legend entry is drawn with its first point (an empty chart has none).
    page.wait_for_function(
        """() => [...document.querySelectorAll('.js-plotly-plot')].some(
               plot => plot.textContent.includes('synth_1 · multi-task'))""", timeout=120_000, polling=50)
    seconds = time.perf_counter() - start
    if store_path is not None and os.environ.get("BROWSER_LATENCY_TIMELINE"):
        print("    launch: " + ", ".join(f"{k} {v:.2f} s" for k, v in timeline(store_path, pressed).items())
              + f", first point drawn {seconds:.2f} s", flush=True)
    return seconds


def backend_seconds(store_path: Path, lesson: str | None, values: dict | None) -> float:
    """The same runs submitted in this process to the local backend of the server's store, till finished."""
    from dashboard import lessons
    from mtl_core.jobs import get_backend
    from mtl_core.jobs.sweep import submit_runs
    from mtl_core.spec import ExperimentSpec
    from mtl_core.store import FINISHED_STATUSES, Store

    store = Store(store_path)
    backend = get_backend("local", store)
    start = time.monotonic()
    if lesson is None:
        _, run_ids = backend.submit(ExperimentSpec(tasks=["synth_1", "synth_2"], steps=300, baselines=False).validated())
    else:
        spec, runs = lessons.lesson_runs(lesson, values)
        spec = dataclasses.replace(spec, name=f"{spec.name} (backend)")  # not the page's experiment
        _, run_ids = submit_runs(backend, spec, runs) if runs else backend.submit(spec)
    while not all(store.run(r)["status"] in FINISHED_STATUSES for r in run_ids):
        time.sleep(0.05)
    return time.monotonic() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--lessons", default=",".join(LESSON_SLIDERS))
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("chromium not installed: apt-get install -y chromium")
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        home = fresh_home(base)
        store = base / "runs.sqlite"
        os.environ.update(dashboard_env(home, store))  # the server, and this process's own submissions
        env = dict(os.environ)
        port = free_port()
        process = subprocess.Popen([sys.executable, "-m", "dashboard", "--server.port", str(port),
                                    "--server.headless", "true", "--browser.gatherUsageStats", "false"],
                                   cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   start_new_session=True)
        url = f"http://127.0.0.1:{port}"
        rows = []
        try:
            if not wait_until_serving(url, process, 120):
                raise SystemExit("the dashboard did not start")
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-dev-shm-usage"])
                try:
                    page = browser.new_page(viewport={"width": 1400, "height": 2000})
                    for lesson in [name.strip() for name in args.lessons.split(",") if name.strip()]:
                        cold, warm, settings = lesson_seconds(page, url, lesson, args.repeats, store)
                        backend = [backend_seconds(store, lesson, values) for values in settings]
                        rows.append((lesson, cold, statistics.median(warm), statistics.median(backend)))
                        print(f"{lesson:12s} cold {cold:5.1f} s, slider step → summary {rows[-1][2]:5.2f} s "
                              f"(runs alone {rows[-1][3]:5.2f} s); goal ≤ {GOALS[lesson]:g} s", flush=True)
                    cold_launch = launch_seconds(page, url, store)  # workers up after lessons, else their start
                    launch = [launch_seconds(page, url, store) for _ in range(args.repeats)]
                    backend = [backend_seconds(store, None, None) for _ in range(args.repeats)]
                    rows.append(("launch", cold_launch, statistics.median(launch), statistics.median(backend)))
                    print(f"{'launch':12s} first {cold_launch:5.1f} s, Launch → first plotted point {rows[-1][2]:5.2f} s "
                          f"(the whole run alone {rows[-1][3]:5.2f} s); goal ≤ {GOALS['launch']:g} s", flush=True)
                finally:
                    browser.close()
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=20)
            stop_processes(store)
    print(f"median of {args.repeats}, load average {os.getloadavg()[0]:.1f}")
    for name, _, page_s, alone in rows:
        print(f"  {name:12s} page {page_s:5.2f} s = {page_s / alone:4.2f}× the same runs without the page")
    return 0


if __name__ == "__main__":
    sys.exit(main())
