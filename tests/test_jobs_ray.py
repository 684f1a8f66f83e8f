"""The Ray backend end to end on a local Ray: rows stream back into the submitting side's store."""
from __future__ import annotations

import importlib.util
import time

import pytest

from mtl_core.errors import UserError
from mtl_core.jobs import get_backend
from mtl_core.store import Store
from tests.test_jobs_local import (SUBMIT_HANG_GUARD_S, assert_same_metrics, foreground, small_spec,  # noqa: F401
                                   store_path, wait_finished, wait_for)

pytestmark = [pytest.mark.xdist_group("ray"), pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                                reason="ray is not installed (pip install 'mtl-explorer[ray]')")]


def test_ray_runs_an_experiment_into_the_same_store(store_path, tmp_path, monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setenv("MTL_EXPLORER_RAY_CPUS", "2")
    spec = small_spec(steps=40)
    backend = get_backend("ray", store=Store(store_path))
    started = time.perf_counter()
    experiment_id, [run_id] = backend.submit(spec)
    assert time.perf_counter() - started < SUBMIT_HANG_GUARD_S
    store = backend.store
    assert store.experiment(experiment_id)["backend"] == "ray"
    _, [long_id] = backend.submit(small_spec(steps=5000))  # runs alongside (2 CPUs), then is cancelled

    wait_for(lambda: store.run(long_id)["status"] == "running" and store.run(long_id)["step"] > 0, 240,
             what="the long Ray run to start")
    assert backend.cancel(long_id) == [(long_id, "cancelling")]
    wait_for(lambda: store.run(long_id)["status"] == "cancelled", 20, what="the Ray run to stop")
    assert "cancelled at step" in store.run(long_id)["error"]

    [run] = wait_finished(store, [run_id], 240)
    assert run["status"] == "completed", run["error"]
    assert run["step"] == 40 and run["result"]["test"]
    assert store.checkpoint(run_id) is None  # a completed run drops its resume checkpoint, on the driver too
    assert store.checkpoint(long_id) is not None  # a cancelled one keeps it for resume: checkpoint files come back

    fg_store, fg_run = foreground(spec, tmp_path / "fg.sqlite")
    assert_same_metrics(store, run_id, fg_store, fg_run)
    events = " ".join(store.events(run_id).message)
    assert "completed" in events
    assert "started on" in backend.logs(run_id)


def test_ray_backend_is_chosen_by_environment(store_path, monkeypatch):
    monkeypatch.setenv("MTL_EXPLORER_BACKEND", "ray")
    assert get_backend(store=Store(store_path)).name == "ray"
    monkeypatch.setenv("MTL_EXPLORER_BACKEND", "slurm")
    with pytest.raises(UserError, match="local, ray"):
        get_backend(store=Store(store_path))
