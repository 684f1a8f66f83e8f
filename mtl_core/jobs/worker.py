"""A background worker in its own process: `python -m mtl_core.jobs.worker --store PATH [--run-id ID] --threads N`.

The scheduler starts it in a new session with its output appended to the run's log file
(`<store>-artifacts/<run id>/worker.log`); started by hand, it redirects its own output there.
The trainer (`execute_run`) claims the run, trains, checkpoints and sets the final status; this wrapper
only adds what the trainer cannot: a heartbeat from a thread of its own (so a long data load or evaluation
never looks like a hung worker, while a stopped or wholly stuck process falls silent), a clear message for an
unexpected crash, and a nudge to the scheduler when it is done so the next queued run starts
even if the scheduler has gone.

It stays warm: after a run that ended cleanly (completed, cancelled, diverged) it claims the oldest queued
local run itself, with torch imported and the tasks' caches read, instead of a fresh interpreter paying the
start-up again; with nothing queued for `MTL_EXPLORER_WORKER_IDLE_SECONDS` (default 60; 0: one run per
process) it exits. It holds one run at a time, so a crash still ends only that run; after any other end
(failed, interrupted: a full disk, a crash the trainer caught) it exits rather than carry its state on, and
it takes no new run once the scheduler that started it is gone (the next scheduler counts its own workers).
"""
from __future__ import annotations

import argparse
import gc
import os
import socket
import sys
import threading
import time
import traceback


def _redirect_output(path) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


def _record_failure(store, run_id: str, message: str) -> None:
    """Best effort: the store may be on the very disk that is full."""
    try:
        run = store.run(run_id)
        if run and run["status"] in ("running", "queued"):
            store.update_run(run_id, status="failed", error=message, finished_at=time.time())
        store.log(run_id, message, "error")
    except Exception as exc:  # noqa: BLE001 - nothing more we can do; the log file has the traceback
        print(f"could not record the failure in the store: {exc}", file=sys.stderr, flush=True)


def _beat_while_running(store, run_id: str, interval: float) -> threading.Event:
    """Beat the run's heartbeat every `interval` s from a daemon thread until the returned event is set.

    Only while the run is running and claimed by this process (the store's update says so), so a beat
    never revives a run that someone else marked or took over.
    """
    stop = threading.Event()
    pid = os.getpid()

    def beat() -> None:
        while not stop.wait(interval):
            try:
                store.beat(run_id, pid=pid)
            except Exception as exc:  # noqa: BLE001 - a busy or failing store must not end the training
                print(f"heartbeat not recorded: {exc}", file=sys.stderr, flush=True)

    threading.Thread(target=beat, name="heartbeat", daemon=True).start()
    return stop


IDLE_SECONDS = float(os.environ.get("MTL_EXPLORER_WORKER_IDLE_SECONDS", "60"))
IDLE_POLL_SECONDS = 0.2
STAY_WARM_AFTER = ("completed", "cancelled", "diverged")


def _next_queued(store, idle_seconds: float, parent: int) -> str | None:
    """The oldest queued local run, waiting up to `idle_seconds`; None when idle that long or orphaned."""
    deadline = time.monotonic() + idle_seconds
    while os.getppid() == parent:
        try:
            queued = store.runs_for_backend("local", ["queued"])
        except Exception:  # noqa: BLE001 - a store that cannot be read now: wait, as for an empty queue
            queued = []
        if queued:
            return queued[0]["id"]
        if time.monotonic() >= deadline:
            break
        time.sleep(IDLE_POLL_SECONDS)
    return None


def _train_one(store, run_id: str, threads: int | None) -> tuple[str, bool]:
    """(final status, whether this process trained it: False when another worker claimed it first)."""
    from mtl_core.errors import StorageWriteError

    heartbeat = _beat_while_running(store, run_id, common_heartbeat())
    try:
        from mtl_core.train.runner import execute_run

        status = execute_run(store, run_id, threads=threads)  # a full disk ends it interrupted
    except StorageWriteError as exc:  # the store refused even the claim: the run stays queued, to be retried
        print(f"run {run_id} not started: {exc}", flush=True)
        return "not started", False
    except Exception as exc:  # noqa: BLE001 - the trainer records expected failures itself
        traceback.print_exc()
        _record_failure(store, run_id, f"failed: {type(exc).__name__}: {exc}")
        return "crashed", True
    finally:
        heartbeat.set()
        sys.stdout.flush()
    run = store.run(run_id)
    return status, bool(run and run.get("worker_pid") == os.getpid())


def _release_memory() -> None:
    """Between runs: the last run's model and optimiser go, on the GPU too (torch itself stays loaded)."""
    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized():
        torch.cuda.empty_cache()


def common_heartbeat() -> float:
    from mtl_core.jobs import common

    return common.HEARTBEAT_SECONDS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mtl_core.jobs.worker")
    parser.add_argument("--store", required=True)
    parser.add_argument("--run-id", default=None, help="the run to take first (default: the oldest queued)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--log", choices=("auto", "file", "inherit"), default="auto",
                        help="auto: write to the run's log file unless output already goes to a file")
    parser.add_argument("--idle", type=float, default=IDLE_SECONDS,
                        help="seconds to wait for the next queued run after one ends (0: one run, then exit)")
    args = parser.parse_args(argv)

    from mtl_core.jobs import common
    from mtl_core.store import Store

    store = Store(args.store)
    parent = os.getppid()
    if args.threads:
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            os.environ.setdefault(var, str(args.threads))
    run_id = args.run_id or _next_queued(store, 0.0 if args.idle <= 0 else args.idle, parent)
    runs = attempts = 0
    while run_id is not None:
        log = common.log_path(store, run_id)
        # The scheduler pointed this process's output at its first run's log; later runs get their own.
        if args.log == "file" or (args.log == "auto" and (attempts > 0 or sys.stdout.isatty())):
            _redirect_output(log)
        if attempts > 0:
            store.update_run(run_id, log_path=str(log))  # the run's own log, whichever process trains it
            print(f"==== {time.strftime('%Y-%m-%d %H:%M:%S')} warm worker {os.getpid()} takes this run", flush=True)
        print(f"worker {os.getpid()} on {socket.gethostname()}: run {run_id}, {args.threads or 'default'} thread(s)"
              f"{f' (run {runs + 1} in this process: torch and the task caches already loaded)' if runs else ''}",
              flush=True)
        attempts += 1
        status, trained = _train_one(store, run_id, args.threads)
        print(f"worker {os.getpid()}: run {run_id} ended {status}", flush=True)
        runs += trained
        if trained and status not in STAY_WARM_AFTER or args.idle <= 0 or status == "not started":
            break
        _release_memory()
        run_id = _next_queued(store, args.idle, parent)
    try:  # start the next queued run even if the scheduler is gone
        if store.runs_for_backend("local", ["queued"]):
            common.ensure_singleton(store, "scheduler", "mtl_core.jobs.scheduler")
    except Exception:  # noqa: BLE001
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
