"""The local background backend with real processes: scheduler, workers, kill -9, cancel, resume."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from mtl_core.errors import UserError
from mtl_core.jobs import common, get_backend
from mtl_core.spec import ExperimentSpec
from mtl_core.store import FINISHED_STATUSES, Store
from mtl_core.train.runner import run_rows
from tests.dashboard_helpers import processes_for, stop_processes  # noqa: F401 (also imported from here)

# Limits on how long a call may take are hang guards, about 30 times what it takes today on a shared
# 2-core machine, never speed claims; benchmarks/run_all.py reports the response times.
SUBMIT_HANG_GUARD_S = 10.0

ROOT = Path(__file__).resolve().parents[1]
TASKS = ["synth_1", "synth_2"]


def small_spec(steps: int = 40, **kw) -> ExperimentSpec:
    kw.setdefault("baselines", False)
    kw.setdefault("max_train_examples", 300)
    kw.setdefault("max_eval_examples", 100)
    return ExperimentSpec(tasks=list(kw.pop("tasks", TASKS)), steps=steps, **kw).validated()


def wait_for(predicate, timeout: float = 90.0, interval: float = 0.1, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def wait_finished(store: Store, ids: list[str], timeout: float = 120.0) -> list[dict]:
    def done():
        runs = [store.run(i) for i in ids]
        return runs if all(r["status"] in FINISHED_STATUSES for r in runs) else None
    return wait_for(done, timeout, 0.2, f"runs {ids} to finish")


@pytest.fixture
def store_path(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    monkeypatch.setenv("MTL_EXPLORER_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MTL_EXPLORER_BACKEND", raising=False)
    path = tmp_path / "runs.sqlite"
    yield path
    stop_processes(path)
    assert not processes_for(path), "processes left running"


@pytest.fixture
def backend(store_path):
    return get_backend("local", store=Store(store_path))


def foreground(spec: ExperimentSpec, path: Path) -> tuple[Store, str]:
    """The same spec trained in this process, the way `run` does it."""
    from mtl_core.train.runner import execute_run, prepare_experiment

    store = Store(path)
    _, run_ids = store.create_experiment(spec.to_json(), prepare_experiment(spec))
    assert execute_run(store, run_ids[0], threads=1) == "completed"
    return store, run_ids[0]


def metric_keys(store: Store, run_id: str) -> list[tuple]:
    df = store.metrics([run_id])
    return sorted((int(r.step), r.task, r.split, r.name) for r in df.itertuples())


def assert_same_metrics(store: Store, run_id: str, other_store: Store, other_run_id: str) -> None:
    """Every recorded row (train loss, validation curves, test metrics) equal, step by step; the
    tolerance only absorbs the float summation order of different thread counts."""
    values = {(int(r.step), r.task, r.split, r.name): r.value for r in store.metrics([run_id]).itertuples()}
    other = {(int(r.step), r.task, r.split, r.name): r.value for r in other_store.metrics([other_run_id]).itertuples()}
    assert values and values.keys() == other.keys()
    assert "test" in {split for _, _, split, _ in values}
    for key, value in other.items():
        assert values[key] == pytest.approx(value, rel=1e-6, abs=1e-9), key


# ---- tests --------------------------------------------------------------------------------------
def test_a_background_run_records_what_the_foreground_run_records(backend, store_path, tmp_path):
    spec = small_spec(steps=40)
    started = time.perf_counter()
    experiment_id, run_ids = backend.submit(spec)
    assert time.perf_counter() - started < SUBMIT_HANG_GUARD_S
    assert [r["status"] for r in backend.status(experiment_id)] in (["queued"], ["running"], ["completed"])

    [run] = wait_finished(backend.store, run_ids)
    assert run["status"] == "completed", run["error"]
    assert run["step"] == 40 and run["log_path"]
    assert Path(run["log_path"]).exists()

    fg_store, fg_run = foreground(spec, tmp_path / "fg.sqlite")
    assert_same_metrics(backend.store, run_ids[0], fg_store, fg_run)

    text = backend.logs(run_ids[0])
    assert "worker" in text and "completed" in text and "== events" in text


def test_submit_does_not_import_torch(store_path):
    code = ("import sys, time; from mtl_core.jobs import get_backend; from mtl_core.spec import ExperimentSpec; "
            "b = get_backend('local', store=sys.argv[1]); t = time.perf_counter(); "
            "b.submit(ExperimentSpec(tasks=['synth_1', 'synth_2'], steps=5, baselines=False)); "
            "print(time.perf_counter() - t, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, str(store_path)], capture_output=True, text=True, timeout=60,
                         cwd=ROOT, check=True).stdout.split()
    assert out[1] == "False", "submitting imported torch"
    assert float(out[0]) < SUBMIT_HANG_GUARD_S


def test_kill_9_marks_interrupted_and_resume_loses_nothing(backend, store_path, tmp_path):
    spec = small_spec(steps=600, eval_every=30)
    _, [run_id] = backend.submit(spec)
    store = backend.store
    wait_for(lambda: (c := store.checkpoint(run_id)) and c["step"] >= 60, 90, what="a checkpoint")
    run = store.run(run_id)
    assert run["status"] == "running" and run["step"] < 600
    os.kill(run["worker_pid"], signal.SIGKILL)
    wait_for(lambda: store.run(run_id)["status"] == "interrupted", 30, what="interrupted")  # a hang guard
    error = store.run(run_id)["error"]
    assert "SIGKILL" in error and "resume" in error

    assert backend.resume(run_id) == [run_id]
    [run] = wait_finished(store, [run_id])
    assert run["status"] == "completed", run["error"]
    events = " ".join(store.events(run_id).message)
    assert "resumed from the checkpoint" in events

    # No gap and no duplicate row, and every number as if the run had never been interrupted.
    fg_store, fg_run = foreground(spec, tmp_path / "fg.sqlite")
    resumed = metric_keys(store, run_id)
    assert len(resumed) == len(set(resumed))
    assert_same_metrics(store, run_id, fg_store, fg_run)


def test_cancel_queued_running_and_stuck_runs(backend, store_path, monkeypatch):
    monkeypatch.setenv("MTL_EXPLORER_MAX_WORKERS", "1")
    monkeypatch.setenv("MTL_EXPLORER_CANCEL_TIMEOUT", "2")
    store = backend.store
    _, [first] = backend.submit(small_spec(steps=3000))
    _, [second] = backend.submit(small_spec(steps=40))
    wait_for(lambda: store.run(first)["status"] == "running" and store.run(first)["step"] > 0, 60, what="running")
    assert store.run(second)["status"] == "queued"

    assert backend.cancel(second) == [(second, "cancelled")]
    assert store.run(second)["status"] == "cancelled"
    assert backend.cancel(first) == [(first, "cancelling")]
    wait_for(lambda: store.run(first)["status"] == "cancelled", 10, what="graceful cancel")
    assert "cancelled at step" in store.run(first)["error"]
    assert store.checkpoint(first) is not None

    # A worker that does not react (stopped) is killed after the timeout and still ends cancelled.
    assert backend.resume(first) == [first]
    wait_for(lambda: store.run(first)["status"] == "running" and store.run(first)["step"] > 0, 60, what="resumed")
    pid = store.run(first)["worker_pid"]
    os.kill(pid, signal.SIGSTOP)
    backend.cancel(first)
    wait_for(lambda: store.run(first)["status"] == "cancelled", 15, what="hard cancel")
    assert "killed" in store.run(first)["error"]
    wait_for(lambda: not common.pid_alive(pid), 5, what="the worker to be gone")


def test_cancel_experiment_cancels_all_its_runs(backend, store_path, monkeypatch):
    monkeypatch.setenv("MTL_EXPLORER_MAX_WORKERS", "1")
    store = backend.store
    experiment_id, run_ids = backend.submit(small_spec(steps=3000, baselines=True))
    assert len(run_ids) == 3
    wait_for(lambda: store.run(run_ids[0])["status"] == "running", 60, what="running")
    outcomes = dict(backend.cancel(experiment_id))
    assert outcomes[run_ids[0]] == "cancelling" and outcomes[run_ids[1]] == outcomes[run_ids[2]] == "cancelled"
    runs = wait_finished(store, run_ids, 20)
    assert [r["status"] for r in runs] == ["cancelled"] * 3


def test_concurrency_limit_is_respected(backend, store_path, monkeypatch):
    monkeypatch.setenv("MTL_EXPLORER_MAX_WORKERS", "1")
    store = backend.store
    run_ids = [backend.submit(small_spec(steps=30, seeds=[seed]))[1][0] for seed in (0, 1)]
    peak = 0
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        statuses = [store.run(i)["status"] for i in run_ids]
        peak = max(peak, statuses.count("running"))
        if all(s in FINISHED_STATUSES for s in statuses):
            break
        time.sleep(0.05)
    assert statuses == ["completed"] * 2
    assert peak == 1


def test_a_warm_worker_takes_the_next_runs_and_records_the_same_numbers(backend, store_path, tmp_path, monkeypatch):
    """One slot, three runs queued: one worker process trains them one after another (no interpreter start-up
    between them), each into its own log, each with the numbers of a run trained alone."""
    monkeypatch.setenv("MTL_EXPLORER_MAX_WORKERS", "1")
    store = backend.store
    specs = [small_spec(steps=30, seeds=[seed]) for seed in (0, 1, 2)]
    run_ids = [backend.submit(spec)[1][0] for spec in specs]
    runs = wait_finished(store, run_ids, 180)
    assert [r["status"] for r in runs] == ["completed"] * 3, [r["error"] for r in runs]
    assert len({r["worker_pid"] for r in runs}) == 1
    for index, run_id in enumerate(run_ids):
        log = backend.logs(run_id)
        assert f"run {run_id}" in log and all(f"run {other}," not in log for other in run_ids if other != run_id)
        assert ("torch and the task caches already loaded" in log) == (index > 0)
    fg_store, fg_run = foreground(specs[2], tmp_path / "fg.sqlite")
    assert_same_metrics(store, run_ids[2], fg_store, fg_run)


def test_a_run_submitted_after_another_goes_to_the_waiting_warm_worker(backend, store_path, monkeypatch):
    """With slots to spare, the scheduler still leaves a queued run to the idle warm worker instead of starting
    a cold process for it (the teacher's second slider move)."""
    monkeypatch.setenv("MTL_EXPLORER_MAX_WORKERS", "2")
    store = backend.store
    _, [first] = backend.submit(small_spec(steps=20))
    [done] = wait_finished(store, [first], 120)
    _, [second] = backend.submit(small_spec(steps=20, seeds=[1]))
    [after] = wait_finished(store, [second], 120)
    assert done["status"] == after["status"] == "completed"
    assert after["worker_pid"] == done["worker_pid"]


def test_a_crashed_warm_worker_ends_only_its_own_run(backend, store_path, monkeypatch):
    monkeypatch.setenv("MTL_EXPLORER_MAX_WORKERS", "1")
    store = backend.store
    _, [first] = backend.submit(small_spec(steps=20))
    [run] = wait_finished(store, [first], 120)
    assert run["status"] == "completed"
    warm = run["worker_pid"]
    wait_for(lambda: common.pid_alive(warm), 5, what="the worker to stay warm")
    _, [second] = backend.submit(small_spec(steps=3000))
    _, [third] = backend.submit(small_spec(steps=20))
    wait_for(lambda: store.run(second)["status"] == "running" and store.run(second)["step"] > 0, 60, what="running")
    assert store.run(second)["worker_pid"] == warm  # the warm worker took it
    os.kill(warm, signal.SIGKILL)
    wait_for(lambda: store.run(second)["status"] == "interrupted", 30, what="interrupted")  # a hang guard
    assert "SIGKILL" in store.run(second)["error"]
    [after] = wait_finished(store, [third], 120)  # a new worker serves the rest of the queue
    assert after["status"] == "completed" and after["worker_pid"] != warm
    assert store.run(first)["status"] == "completed"


def test_cpu_plan_does_not_oversubscribe(monkeypatch):
    from mtl_core.jobs.scheduler import cpu_count, resource_plan

    monkeypatch.setenv("MTL_EXPLORER_NO_CUDA", "1")
    monkeypatch.delenv("MTL_EXPLORER_MAX_WORKERS", raising=False)
    plan = resource_plan()
    assert plan.slots * plan.threads <= max(cpu_count(), plan.slots)
    monkeypatch.setenv("MTL_EXPLORER_MAX_WORKERS", "1")
    plan = resource_plan()
    assert plan.slots == 1 and plan.threads == cpu_count()


def test_twenty_parallel_submissions_are_all_recorded(backend, store_path, monkeypatch):
    monkeypatch.setenv("MTL_EXPLORER_WORKER_IDLE_SECONDS", "1")  # workers leave 1 s after the queue empties
    results, errors = [], []

    def submit(i):
        try:
            b = get_backend("local", store=Store(store_path))
            results.append(b.submit(small_spec(steps=5, seeds=[i])))
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert len(results) == 20
    store = backend.store
    assert len(store.experiments()) == 20
    assert len(store.runs()) == 20
    for experiment_id, _ in results:
        backend.cancel(experiment_id)
    wait_finished(store, [r["id"] for r in store.runs()], 60)
    wait_for(lambda: not processes_for(store_path), 30,
             what="the workers and the scheduler to exit once nothing is queued")


def test_a_diverging_background_run_ends_diverged(backend, store_path):
    # SGD with momentum at the largest allowed learning rate sends the MLP's loss to inf/NaN within a few steps.
    _, [run_id] = backend.submit(small_spec(steps=30, encoder="mlp", optimizer="sgd", lr=10.0))
    [run] = wait_finished(backend.store, [run_id])
    assert run["status"] == "diverged"
    assert "try a smaller learning rate" in run["error"]


def test_status_marks_a_vanished_worker_without_a_scheduler(backend, store_path):
    store = backend.store
    experiment_id, [run_id] = store.create_experiment(small_spec().to_json(), run_rows(small_spec().runs()))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    assert store.claim_run(run_id, pid=dead.pid, host=common.HOST)
    common.log_path(store, run_id).write_text("epoch 1\nlast words\n")
    from mtl_core.jobs.local import LocalBackend

    # status alone (e.g. after a reboot, nothing else alive) notices.
    runs = LocalBackend(store).status(experiment_id)
    assert runs[0]["status"] == "interrupted"
    assert "last words" in runs[0]["error"]
    assert backend.cancel(experiment_id) == [(run_id, "interrupted")]  # nothing to cancel: it stays interrupted
    with pytest.raises(UserError):
        backend.status("exp-nope")


def test_cli_submit_status_cancel_resume_logs(store_path):
    env = dict(os.environ, MTL_EXPLORER_MAX_WORKERS="1")

    def cli(*args):
        out = subprocess.run([sys.executable, "-m", "mtl_core", *args, "--store", str(store_path)], cwd=ROOT,
                             capture_output=True, text=True, timeout=60, env=env)
        assert out.returncode == 0, out.stderr
        return out.stdout

    submitted = json.loads(cli("submit", "--tasks", "synth_1,synth_2", "--steps", "3000", "--max-train-examples",
                               "300", "--json").strip().splitlines()[-1])
    experiment_id, run_ids = submitted["experiment_id"], submitted["runs"]
    assert len(run_ids) == 3
    status = json.loads(cli("status", experiment_id, "--json"))
    assert status["experiment_id"] == experiment_id
    assert [r["id"] for r in status["runs"]] == run_ids
    assert set(status["runs"][0]) >= {"id", "kind", "tasks", "seed", "status", "step", "total_steps"}
    assert json.loads(cli("status", "--json"))["experiment_id"] == experiment_id  # latest by default
    assert experiment_id in cli("status", "--all")
    cli("cancel", experiment_id)
    store = Store(store_path)
    wait_finished(store, run_ids, 20)
    assert "queued again" in cli("resume", run_ids[2])
    history = cli("logs", run_ids[2])
    assert "cancelled before it started" in history and "resumed: queued again" in history
    cli("cancel", run_ids[2])
    wait_finished(store, run_ids, 20)
    out = subprocess.run([sys.executable, "-m", "mtl_core", "status", "nope", "--store", str(store_path)], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and out.stderr.count("\n") == 1


def test_missing_data_source_fails_with_the_reason(backend, store_path):
    spec = ExperimentSpec(tasks=["brown_pos"], steps=5).validated()  # not fetched in the empty test home
    _, [run_id] = backend.submit(spec)
    [run] = wait_finished(backend.store, [run_id], 60)
    assert run["status"] == "failed"
    assert "fetch" in run["error"]
    assert "fetch" in backend.logs(run_id)
