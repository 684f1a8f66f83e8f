"""A disk that fills up while a run trains: the run ends interrupted, the queue goes on, resume loses nothing.

The store, the checkpoints and the logs live on a small tmpfs that the test fills from the outside while
the run is between checkpoints, so every write the worker and the scheduler make fails as on a real full
disk (ENOSPC, SQLite's "database or disk is full"); where no tmpfs can be mounted, the worker's and the
scheduler's file-size limits drop to 0 instead (EFBIG). The data cache stays off that disk.
"""
from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

from mtl_core.jobs import common, get_backend
from mtl_core.jobs.scheduler import POLL_SECONDS
from mtl_core.store import Store
from tests.reliability.helpers import full_disk, small_spec  # noqa: F401 (full_disk: a fixture)
from tests.test_jobs_local import (ROOT, assert_same_metrics, foreground, metric_keys, processes_for,
                                   stop_processes, wait_finished, wait_for)


@pytest.fixture
def store_path(full_disk, tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    monkeypatch.setenv("MTL_EXPLORER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MTL_EXPLORER_MAX_WORKERS", "1")  # the second experiment waits in the queue
    monkeypatch.delenv("MTL_EXPLORER_BACKEND", raising=False)
    path = full_disk.folder / "runs.sqlite"
    yield path
    stop_processes(path)  # before the disk is unmounted
    assert not processes_for(path), "processes left running"


def scheduler_pid(store: Store) -> int | None:
    pid = common.lock_holder_pid(common.lock_path(store, "scheduler"))
    return pid if common.pid_alive(pid) else None


def test_a_full_disk_interrupts_the_run_and_resume_completes_it(store_path, full_disk, tmp_path):
    spec = small_spec(steps=600, eval_every=30)
    backend = get_backend("local", store=Store(store_path))
    store = backend.store
    _, [run_id] = backend.submit(spec)
    _, [queued_id] = backend.submit(small_spec())
    wait_for(lambda: (c := store.checkpoint(run_id)) and c["step"] >= 60, 90, what="a checkpoint")
    scheduler = scheduler_pid(store)
    worker = store.run(run_id)["worker_pid"]
    assert scheduler and common.pid_alive(worker) and store.run(queued_id)["status"] == "queued"

    full_disk.fill([scheduler, worker])
    wait_for(lambda: not common.pid_alive(worker), 60, what="the worker to stop")  # a hang guard
    assert store.run(run_id)["status"] in ("running", "interrupted")  # never failed; running: not yet recorded
    time.sleep(4 * POLL_SECONDS)  # rounds in which the scheduler's writes fail (its exit, the next launch)
    assert scheduler_pid(store) == scheduler, "the scheduler died on the full disk"

    full_disk.free()
    wait_for(lambda: store.run(run_id)["status"] == "interrupted", 60, what="the run marked interrupted")
    run = store.run(run_id)
    assert "resume" in run["error"] and run["step"] < 600
    assert full_disk.refusal in run["error"] or "could not record" in run["error"], run["error"]
    assert not [r["id"] for r in store.runs(statuses=["running"]) if not common.pid_alive(r["worker_pid"])]

    # The same scheduler went on with the queue once the disk had room.
    [queued] = wait_finished(store, [queued_id])
    assert queued["status"] == "completed", queued["error"]
    scheduler_log = store_path.with_name(f"{store_path.name}.scheduler.log").read_text()
    assert set(re.findall(r"scheduler (\d+) for", scheduler_log)) == {str(scheduler)}
    assert f"{queued_id}: started worker" in scheduler_log

    assert backend.resume(run_id) == [run_id]
    [run] = wait_finished(store, [run_id])
    assert run["status"] == "completed", run["error"]
    assert "resumed from the checkpoint" in " ".join(store.events(run_id).message)

    # No gap, no duplicate, every number as if the disk had never filled up.
    reference_store, reference_run = foreground(spec, tmp_path / "reference.sqlite")
    resumed = metric_keys(store, run_id)
    assert len(resumed) == len(set(resumed))
    assert_same_metrics(store, run_id, reference_store, reference_run)
    leftovers = [p.name for p in Path(store.artifacts_dir(run_id)).iterdir() if p.suffix == ".tmp"]
    assert leftovers == []  # no partial checkpoint
