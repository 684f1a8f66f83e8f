"""The front ends only read: a Runs page poll writes nothing; liveness belongs to the scheduler (and to an
explicit `status`), which marks a dead worker's run interrupted and a stopped worker's run within its
heartbeat threshold. Logs are read from their end."""
from __future__ import annotations

import importlib.util
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
from streamlit.testing.v1 import AppTest

from mtl_core.jobs import common, get_backend
from mtl_core.jobs.local import LocalBackend
from mtl_core.jobs.scheduler import Plan, Scheduler
from mtl_core.jobs.worker import _beat_while_running
from mtl_core.store import Store
from mtl_core.train.runner import run_rows
from tests.dashboard_helpers import APP, dashboard_env
from tests.test_jobs_local import small_spec, store_path, wait_for  # noqa: F401


def run_with_dead_worker(store: Store) -> tuple[str, str]:
    """An experiment whose one run is 'running' under a worker pid that has exited."""
    spec = small_spec()
    experiment_id, [run_id] = store.create_experiment(spec.to_json(), run_rows(spec.runs()))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    assert store.claim_run(run_id, pid=dead.pid, host=common.HOST)
    common.log_path(store, run_id).write_text("loading\nlast words\n")
    return experiment_id, run_id


def dump(connection: sqlite3.Connection) -> list:
    return [connection.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall() for table in ("runs", "events")]


def test_a_runs_page_poll_writes_nothing_and_the_scheduler_marks_the_dead_run(tmp_path, monkeypatch):
    path = tmp_path / "runs.sqlite"
    for name, value in dashboard_env(tmp_path / "home", path).items():
        monkeypatch.setenv(name, value)
    store = Store(path)
    experiment_id, run_id = run_with_dead_worker(store)

    page = AppTest.from_file(str(APP), default_timeout=90)
    page.switch_page("views/runs.py")
    page.query_params["exp"] = experiment_id
    page.run()  # the first run opens the page's store handle
    assert not page.exception, [e.value for e in page.exception]
    assert not page.code  # a closed log is not read
    observer = sqlite3.connect(path)  # data_version moves when any other connection commits
    version, before = observer.execute("PRAGMA data_version").fetchone()[0], dump(observer)
    page.session_state[f"log_{run_id}"] = True  # the user opens the run's log
    page.run()  # what every 2-second poll does
    assert not page.exception, [e.value for e in page.exception]
    assert "last words" in page.code[0].value
    assert observer.execute("PRAGMA data_version").fetchone()[0] == version
    assert dump(observer) == before
    assert store.run(run_id)["status"] == "running"  # shown as the store has it

    Scheduler(store, Plan(slots=1, threads=1)).step()  # one round of the scheduler's loop
    marked = store.run(run_id)
    assert marked["status"] == "interrupted"
    assert "is gone" in marked["error"] and "last words" in marked["error"]
    assert observer.execute("PRAGMA data_version").fetchone()[0] != version


def test_an_explicit_status_marks_a_dead_worker(tmp_path):
    store = Store(tmp_path / "runs.sqlite")
    experiment_id, run_id = run_with_dead_worker(store)
    [run] = LocalBackend(store).status(experiment_id)
    assert run["status"] == "interrupted"


def test_a_log_is_read_from_its_end(tmp_path):
    store = Store(tmp_path / "runs.sqlite")
    _, run_id = run_with_dead_worker(store)
    lines = [f"line {i:06d}" for i in range(200_000)]
    common.log_path(store, run_id).write_text("\n".join(lines) + "\n")
    for i in range(300):
        store.log(run_id, f"event {i}")
    text = common.logs_text(store, run_id, tail_bytes=6000, tail_events=50)
    assert lines[-1] in text and lines[0] not in text
    assert "event 299" in text and "event 249" not in text and "event 250" in text
    assert len(text) < 12_000


def test_the_heartbeat_thread_beats_while_the_main_thread_is_busy(tmp_path):
    store = Store(tmp_path / "runs.sqlite")
    spec = small_spec()
    _, [run_id] = store.create_experiment(spec.to_json(), run_rows(spec.runs()))
    assert store.claim_run(run_id, pid=os.getpid(), host=common.HOST)
    claimed = store.run(run_id)["heartbeat_at"]
    stop = _beat_while_running(store, run_id, interval=0.05)
    try:
        deadline = time.monotonic() + 30  # a hang guard; busy Python, as a long evaluation would be
        while store.run(run_id)["heartbeat_at"] == claimed and time.monotonic() < deadline:
            sum(i * i for i in range(20_000))
    finally:
        stop.set()
    assert store.run(run_id)["heartbeat_at"] > claimed


def test_a_stopped_worker_is_found_hung_and_its_run_interrupted(store_path, monkeypatch):
    monkeypatch.setenv("MTL_EXPLORER_HUNG_SECONDS", "10")  # the scheduler's and the worker's threshold
    backend = get_backend("local", store=Store(store_path))
    _, [run_id] = backend.submit(small_spec(steps=20_000))
    store = backend.store
    run = wait_for(lambda: (lambda r: r if r["status"] not in ("queued", "running") or r["step"] > 0 else None)(
        store.run(run_id)), 120, what="the run to train")
    assert run["status"] == "running", run["error"]  # beating through start-up, it was not taken for hung
    worker = run["worker_pid"]
    os.kill(worker, signal.SIGSTOP)
    try:
        wait_for(lambda: store.run(run_id)["status"] != "running", 90, what="the stopped worker to be noticed")
        run = store.run(run_id)
        assert run["status"] == "interrupted"
        assert "no heartbeat" in run["error"] and "presumed hung and killed" in run["error"]
        wait_for(lambda: not common.pid_alive(worker), 30, what="the hung worker to be killed")
    finally:
        if common.pid_alive(worker):
            os.kill(worker, signal.SIGKILL)


@pytest.mark.xdist_group("ray")  # one Ray cluster at a time on the machine (pytest -n: one worker)
@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="ray is not installed")
def test_a_stopped_ray_task_is_found_hung_by_the_driver(store_path, monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setenv("MTL_EXPLORER_RAY_CPUS", "1")
    monkeypatch.setenv("MTL_EXPLORER_HUNG_SECONDS", "10")
    backend = get_backend("ray", store=Store(store_path))
    _, [run_id] = backend.submit(small_spec(steps=20_000))
    store = backend.store
    run = wait_for(lambda: (lambda r: r if r["status"] not in ("queued", "running") or r["step"] > 0 else None)(
        store.run(run_id)), 240, what="the Ray run to train")
    assert run["status"] == "running", run["error"]
    task_pid = int(re.search(r"started on \S+ \(Ray node \w+, pid (\d+)", common.log_path(store, run_id).read_text()).group(1))
    os.kill(task_pid, signal.SIGSTOP)
    try:
        wait_for(lambda: store.run(run_id)["status"] != "running", 90, what="the stopped Ray task to be noticed")
        run = store.run(run_id)
        assert run["status"] == "interrupted"
        assert "no heartbeat" in run["error"] and "Ray task was presumed hung" in run["error"]
        wait_for(lambda: not common.pid_alive(task_pid), 60, what="the hung Ray task to be killed")
    finally:
        if common.pid_alive(task_pid):
            os.kill(task_pid, signal.SIGKILL)
    driver = run["worker_pid"]
    wait_for(lambda: not common.pid_alive(driver), 60, what="the Ray driver to exit")
