"""One background run in its own process: `python -m mtl_core.jobs.worker --store PATH --run-id ID --threads N`.

The scheduler starts it in a new session with its output appended to the run's log file
(`<store>-artifacts/<run id>/worker.log`); started by hand, it redirects its own output there.
The trainer (`execute_run`) claims the run, trains, checkpoints and sets the final status; this wrapper
only adds what the trainer cannot: a heartbeat from a thread of its own (so a long data load or evaluation
never looks like a hung worker, while a stopped or wholly stuck process falls silent), a clear message for an
unexpected crash, and a nudge to the scheduler when it is done so the next queued run starts
even if the scheduler has gone.
"""
from __future__ import annotations

import argparse
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mtl_core.jobs.worker")
    parser.add_argument("--store", required=True)
    parser.add_argument("--run-id", required=True)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--log", choices=("auto", "file", "inherit"), default="auto",
                        help="auto: write to the run's log file unless output already goes to a file")
    args = parser.parse_args(argv)

    from mtl_core.errors import StorageWriteError
    from mtl_core.jobs import common
    from mtl_core.store import Store

    store = Store(args.store)
    if args.log == "file" or (args.log == "auto" and sys.stdout.isatty()):
        _redirect_output(common.log_path(store, args.run_id))
    if args.threads:
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            os.environ.setdefault(var, str(args.threads))
    print(f"worker {os.getpid()} on {socket.gethostname()}: run {args.run_id}, {args.threads or 'default'} "
          f"thread(s)", flush=True)

    status = "unknown"
    heartbeat = _beat_while_running(store, args.run_id, common.HEARTBEAT_SECONDS)
    try:
        from mtl_core.train.runner import execute_run

        status = execute_run(store, args.run_id, threads=args.threads)  # a full disk ends it interrupted
    except StorageWriteError as exc:  # the store refused even the claim: the run stays queued, to be retried
        print(f"run {args.run_id} not started: {exc}", flush=True)
        status = "not started"
    except Exception as exc:  # noqa: BLE001 - the trainer records expected failures itself
        traceback.print_exc()
        _record_failure(store, args.run_id, f"failed: {type(exc).__name__}: {exc}")
        status = "failed"
    finally:
        heartbeat.set()
        sys.stdout.flush()
    print(f"worker {os.getpid()}: run {args.run_id} ended {status}", flush=True)
    try:  # start the next queued run even if the scheduler is gone
        if store.runs_for_backend("local", ["queued"]):
            common.ensure_singleton(store, "scheduler", "mtl_core.jobs.scheduler")
    except Exception:  # noqa: BLE001
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
