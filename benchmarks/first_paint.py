"""The New experiment page as a new user meets it: seconds from opening the app in Chromium to its Launch button.

    .venv/bin/python benchmarks/first_paint.py [--repeats R]

Two ways of starting the same app on a fresh data home (a copy of the sources, an empty cache), each repeat
with a fresh server: `python -m dashboard` (what `make run` does: it imports the pages'
modules and reads the catalog's cards before the server starts) against a plain `streamlit run
dashboard/app.py`. For each: the first visit (the first session of the server, a fresh browser profile) and
a second visit (a new page in the same profile, so with the browser's cache, the modules already imported). The two starts alternate and medians are compared, so the drift of a
shared machine hits both alike; the ratio is the figure, seconds are printed for context. Needs Chromium
(`apt-get install -y chromium`) and Playwright.
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.dashboard_helpers import dashboard_env, wait_until_serving  # noqa: E402

STARTS = {
    "python -m dashboard": [sys.executable, "-m", "dashboard"],
    "streamlit run": [sys.executable, "-m", "streamlit", "run", "dashboard/app.py", "--server.address", "127.0.0.1"],
}
SETTLE_SECONDS = 2.0  # after the health check answers, before the first visit: both servers are up and idle


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fresh_home(base: Path) -> Path:
    """A data home with the fetched sources of the user's home and nothing cached."""
    home = base / "home"
    home.mkdir()
    sources = Path(os.environ.get("MTL_EXPLORER_HOME", Path.home() / ".mtl_explorer")) / "sources"
    if sources.exists():
        shutil.copytree(sources, home / "sources")
    return home


def visit_seconds(context, url: str) -> float:
    page = context.new_page()
    start = time.perf_counter()
    page.goto(url)
    page.get_by_role("button", name="Launch").wait_for(timeout=120_000)
    seconds = time.perf_counter() - start
    page.close()
    return seconds


def measure(start: str, browser) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        home = fresh_home(base)
        env = {**os.environ, **dashboard_env(home, base / "runs.sqlite")}
        port = free_port()
        process = subprocess.Popen([*STARTS[start], "--server.port", str(port), "--server.headless", "true",
                                    "--browser.gatherUsageStats", "false"], cwd=ROOT, env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        url = f"http://127.0.0.1:{port}"
        try:
            if not wait_until_serving(url, process, 120):
                raise SystemExit(f"{start}: the server did not start")
            time.sleep(SETTLE_SECONDS)
            # One browser profile for both visits: the second is a returning user's, with the browser's cache.
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            try:
                return visit_seconds(context, url), visit_seconds(context, url)
            finally:
                context.close()
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=20)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("chromium not installed: apt-get install -y chromium")
    figures: dict[str, list[tuple[float, float]]] = {name: [] for name in STARTS}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-dev-shm-usage"])
        try:
            for _ in range(args.repeats):
                for name in STARTS:
                    figures[name].append(measure(name, browser))
        finally:
            browser.close()
    first = {name: statistics.median(v[0] for v in values) for name, values in figures.items()}
    second = {name: statistics.median(v[1] for v in values) for name, values in figures.items()}
    print(f"New experiment page usable (Launch drawn), median of {args.repeats}, load average "
          f"{os.getloadavg()[0]:.1f}:")
    for name in STARTS:
        print(f"  {name:>20}: first visit {first[name]:.2f} s, second visit {second[name]:.2f} s")
    print(f"  first visit, python -m dashboard vs streamlit run: {first['python -m dashboard'] / first['streamlit run']:.2f}×"
          f" (goal: first visit ≤ 3 s, second ≤ 1 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
