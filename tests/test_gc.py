"""Store housekeeping: a completed run drops its resume checkpoint; `gc` frees those finished runs left behind,
never the ones `resume` needs; the store reports its disk usage."""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from mtl_core.cli import main
from mtl_core.spec import ExperimentSpec
from mtl_core.store import Store
from mtl_core.train import runner
from mtl_core.train.runner import execute_run, prepare_experiment
from tests.test_engine import SMALL

SPEC = dict(SMALL, tasks=["synth_1", "synth_2"], steps=20, eval_every=5, conflict_every=5)


def cancel_at(store, run_id, step):
    """Train a run and cancel it (as `cancel` does) once it has passed `step`: it keeps its checkpoint."""
    def progress(at, total):
        if at == step:
            store.request_cancel(run_id)
    return execute_run(store, run_id, progress=progress)


@pytest.fixture
def stopped(tmp_path, monkeypatch):
    """Three runs: one cancelled (resumable), one failed with its checkpoint left, one completed."""
    monkeypatch.setattr(runner, "CANCEL_CHECK_SECONDS", 0.0)  # look at the cancel flag every step
    store = Store(tmp_path / "runs.sqlite")
    spec = ExperimentSpec(**SPEC).validated()
    _, (cancelled, failed, completed) = store.create_experiment(spec.to_json(), prepare_experiment(spec))
    assert cancel_at(store, cancelled, 7) == "cancelled"
    assert cancel_at(store, failed, 7) == "cancelled"
    # The worker of this run died after its checkpoint (a crash the runner could not record as more than failed).
    store.update_run(failed, status="failed", error="worker died", finished_at=time.time())
    assert execute_run(store, completed) == "completed"
    return store, cancelled, failed, completed


def gc(capsys, store, *argv):
    rc = main(["gc", "--store", str(store.path), *argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_a_completed_run_keeps_no_resume_checkpoint(stopped):
    store, cancelled, failed, completed = stopped
    assert store.checkpoint(completed, "last") is None
    assert not (store.artifacts_dir(completed) / "last.pt").exists()
    assert "deleted the resume checkpoint" in " ".join(store.events(completed)["message"])
    for run_id in (cancelled, failed):
        record = store.checkpoint(run_id, "last")
        assert record["step"] == 7 and Path(record["path"]).is_file()


def test_dry_run_changes_nothing(stopped, capsys):
    store, cancelled, failed, _ = stopped
    path = Path(store.checkpoint(failed, "last")["path"])
    size = path.stat().st_size
    rc, out, _ = gc(capsys, store, "--dry-run")
    assert rc == 0
    assert f"would free last checkpoint of failed run {failed}: {path} ({size} bytes)" in out
    assert f"would free {size} bytes" in out and cancelled not in out
    assert path.is_file() and store.checkpoint(failed, "last") is not None


def test_gc_frees_finished_runs_and_resume_still_works(stopped, capsys):
    store, cancelled, failed, _ = stopped
    failed_path = Path(store.checkpoint(failed, "last")["path"])
    kept_path = Path(store.checkpoint(cancelled, "last")["path"])
    size = failed_path.stat().st_size
    usage_before = store.disk_usage()

    rc, out, _ = gc(capsys, store, "--older-than", "1")  # finished just now: nothing is that old
    assert rc == 0 and "freed 0 bytes" in out and failed_path.is_file()

    rc, out, _ = gc(capsys, store)
    assert rc == 0
    assert f"freed last checkpoint of failed run {failed}: {failed_path} ({size} bytes)" in out
    assert f"freed {size} bytes" in out
    assert not failed_path.exists() and store.checkpoint(failed, "last") is None
    assert kept_path.is_file() and store.checkpoint(cancelled, "last")["step"] == 7
    usage = store.disk_usage()
    assert usage["checkpoints"] == usage_before["checkpoints"] - size == kept_path.stat().st_size
    assert usage["artifacts"] == usage_before["artifacts"] - size

    rc, out, _ = gc(capsys, store)  # nothing left to free
    assert rc == 0 and "freed 0 bytes" in out

    assert store.requeue_run(cancelled)
    assert execute_run(store, cancelled) == "completed"
    messages = " ".join(store.events(cancelled)["message"])
    assert "resumed from the checkpoint at step 7" in messages
    assert store.checkpoint(cancelled, "last") is None and not kept_path.exists()
    assert store.run(cancelled)["step"] == 20


def test_disk_usage_counts_the_database_and_every_artifact(stopped):
    store = stopped[0]
    usage = store.disk_usage()
    database = sum(os.path.getsize(p) for p in (store.path, Path(f"{store.path}-wal"), Path(f"{store.path}-shm"))
                   if p.exists())
    folder = store.path.with_name("runs-artifacts")
    files = [Path(root) / name for root, _, names in os.walk(folder) for name in names]
    assert usage["database"] == database > 0
    assert usage["artifacts"] == sum(p.stat().st_size for p in files)
    assert usage["checkpoints"] == sum(p.stat().st_size for p in files if p.name == "last.pt") > 0
    assert usage["total"] == usage["database"] + usage["artifacts"]


def test_negative_age_is_one_line(tmp_path, capsys):
    rc, _, err = gc(capsys, Store(tmp_path / "runs.sqlite"), "--older-than", "-1")
    assert rc == 2 and err.count("\n") == 1 and "--older-than" in err
