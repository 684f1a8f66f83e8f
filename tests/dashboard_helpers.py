"""Shared by the dashboard tests: a temporary data home and store, a finished experiment, process cleanup."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "dashboard" / "app.py"
SYNTH = ["synth_1", "synth_2"]


def dashboard_env(home: Path, store: Path) -> dict[str, str]:
    """Environment variables that point the dashboard, the CLI and any worker at temporary paths."""
    return {"MTL_EXPLORER_HOME": str(home), "MTL_EXPLORER_STORE": str(store), "MTL_EXPLORER_BACKEND": "local",
            "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}


def wait_until_serving(url: str, process: subprocess.Popen, timeout: float) -> bool:
    """Poll Streamlit's health endpoint until it answers 200 (True), the process exits or `timeout` passes (False)."""
    import urllib.request

    deadline = time.monotonic() + timeout
    while process.poll() is None and time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.2)
    return False


def run_cli_experiment(store: Path, env: dict[str, str], *args: str) -> str:
    """Train a small synthetic experiment in the foreground with the CLI; returns its experiment id."""
    command = [sys.executable, "-m", "mtl_core", "run", "--tasks", ",".join(SYNTH), "--max-train-examples", "200",
               "--store", str(store), "--json", "--threads", "1", *args]
    done = subprocess.run(command, cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])["experiment_id"]


def processes_for(store: Path) -> list[int]:
    """Pids of processes whose command line names this store: the scheduler and workers a test started."""
    needle = str(store).encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if needle in (entry / "cmdline").read_bytes():
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def stop_processes(store: Path, grace: float = 5.0) -> None:
    """End the store's scheduler and workers by pid: SIGTERM (idle warm workers obey it at once instead of
    waiting out their idle minute), then SIGKILL to the process group of whatever is left after `grace` s."""
    from mtl_core.jobs import common

    for pid in processes_for(store):
        try:
            os.kill(pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            pass
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and processes_for(store):
        time.sleep(0.1)
    for pid in processes_for(store):
        common.kill_group(pid, signal.SIGKILL)


def stop_background(store: Path, grace: float = 10.0) -> None:
    """Cancel what is still queued or running in the store, then end its scheduler and workers by pid."""
    if store.exists():
        from mtl_core.jobs import get_backend
        from mtl_core.store import Store

        handle = Store(store)
        backend = get_backend("local", handle)
        for run in handle.runs(statuses=["queued", "running"]):
            backend.cancel(run["id"])
    stop_processes(store, grace)


def wait_until_finished(store: Path, experiment_id: str, timeout: float = 180.0) -> list[dict]:
    from mtl_core.store import FINISHED_STATUSES, Store

    handle = Store(store)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = handle.runs(experiment_id)
        if runs and all(r["status"] in FINISHED_STATUSES for r in runs):
            return runs
        time.sleep(0.5)
    raise AssertionError(f"runs of {experiment_id} did not finish in {timeout} s: "
                         f"{[(r['status'], r['step']) for r in handle.runs(experiment_id)]}")
