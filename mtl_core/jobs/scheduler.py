"""The local scheduler: one detached process per store that starts queued runs as worker processes.

    python -m mtl_core.jobs.scheduler --store PATH

Started by `submit`/`resume`/`cancel` (and by each finishing worker) when none is alive; an fcntl lock
on `<store>.scheduler.lock` makes sure there is at most one per store. Every POLL seconds it
  1. reaps its workers and marks runs whose worker died `interrupted` (exit code / signal, log tail),
     and checks adopted workers (started by an earlier scheduler) by pid;
  2. hard-kills runs that were asked to cancel CANCEL_TIMEOUT seconds ago and did not stop;
  3. starts a worker for the oldest queued runs while there are free slots (one per GPU, else a CPU budget);
and exits when nothing is queued, starting or running and its workers have gone. No dashboard process is
needed at any time.

Workers are warm: one that ends a run cleanly takes the next queued run itself, with torch and the cached
tasks already loaded, and leaves after WORKER_IDLE_SECONDS with nothing queued (mtl_core/jobs/worker.py).
A slot is a worker process, busy or idle; a worker holds one run at a time, so a crash still ends only its
own run, which the scheduler finds by the worker's pid.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from mtl_core.errors import StorageError
from mtl_core.jobs import common

POLL_SECONDS = 0.5
MAX_RETRY_SECONDS = 5.0  # the longest wait between rounds while the store cannot be written
CANCEL_TIMEOUT = float(os.environ.get("MTL_EXPLORER_CANCEL_TIMEOUT", "10"))
MAX_CPU_SLOTS = 4  # beyond this, more threads per worker beat more workers


# ---- resources ---------------------------------------------------------------------------------
def cpu_count() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def gpu_count() -> int:
    """CUDA devices without importing torch: the driver's /proc entries, else `nvidia-smi -L`."""
    if os.environ.get("MTL_EXPLORER_NO_CUDA"):
        return 0
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1"):
        return 0
    count = 0
    gpus = Path("/proc/driver/nvidia/gpus")
    if gpus.is_dir():
        count = len(list(gpus.iterdir()))
    elif shutil.which("nvidia-smi"):
        try:
            out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10).stdout
            count = sum(1 for line in out.splitlines() if line.startswith("GPU "))
        except (OSError, subprocess.SubprocessError):
            count = 0
    if visible:
        count = min(count, len([v for v in visible.split(",") if v.strip()]))
    return count


@dataclass
class Plan:
    slots: int
    threads: int
    gpus: list[str] = field(default_factory=list)  # CUDA_VISIBLE_DEVICES value per slot

    def describe(self) -> str:
        where = f"{len(self.gpus)} GPU(s)" if self.gpus else f"{cpu_count()} CPU core(s)"
        return f"{self.slots} worker(s) x {self.threads} thread(s) on {where}"


def resource_plan() -> Plan:
    """One worker per GPU when CUDA is present, else workers x threads <= cores ($MTL_EXPLORER_MAX_WORKERS)."""
    cores = cpu_count()
    gpus = gpu_count()
    override = os.environ.get("MTL_EXPLORER_MAX_WORKERS")
    if override:
        try:
            slots = max(1, int(override))
        except ValueError:
            slots = None
    else:
        slots = None
    if gpus:
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        ids = [v.strip() for v in visible.split(",") if v.strip()] if visible else [str(i) for i in range(gpus)]
        slots = slots or len(ids)
        gpu_ids = [ids[i % len(ids)] for i in range(slots)]
        return Plan(slots, max(1, cores // slots), gpu_ids)
    slots = slots or max(1, min(cores, MAX_CPU_SLOTS))
    threads = int(os.environ.get("MTL_EXPLORER_WORKER_THREADS", "0")) or max(1, cores // slots)
    return Plan(slots, threads)


# ---- the loop ----------------------------------------------------------------------------------
@dataclass
class Child:
    run_id: str  # the run it was started for; a warm worker takes later ones itself
    proc: subprocess.Popen
    slot: int
    started: float


class Scheduler:
    def __init__(self, store, plan: Plan | None = None):
        self.store = store
        self.plan = plan or resource_plan()
        self.children: dict[int, Child] = {}  # pid -> worker we started
        self.cancel_seen: dict[str, float] = {}  # run id -> when we first saw its cancel request
        self.retry_seconds = 0.0  # > 0 while rounds fail on the store: the wait before the next try
        self.write_error: Exception | None = None  # why the last failing round failed

    def say(self, message: str) -> None:
        try:
            print(time.strftime("%H:%M:%S"), message, flush=True)
        except OSError:  # the log is on a full disk too: the store still records what matters
            pass

    def running(self) -> list[dict]:
        return self.store.runs_for_backend("local", ["running"])

    def step(self) -> bool:
        """One round; True while there is anything left to do.

        A write the disk refuses (full, read-only) or a store that cannot be read must not end the scheduler:
        the queue would stall with runs left `running`. The round is logged once and tried again, less often
        while it keeps failing; nothing is lost, as every round starts from what the store and the children say.
        """
        try:
            busy = self.round()
        except (StorageError, OSError) as exc:
            if not self.retry_seconds:
                self.say(f"cannot update the store ({exc}); trying again until it can be written")
            self.write_error = exc
            self.retry_seconds = min(MAX_RETRY_SECONDS, max(POLL_SECONDS, 2 * self.retry_seconds))
            time.sleep(self.retry_seconds)
            return True
        if self.retry_seconds:
            self.say("the store can be written again")
            self.retry_seconds, self.write_error = 0.0, None
        return busy

    def round(self) -> bool:
        self.reap()
        running = self.running()
        # Our children's exits are reaped above; this catches adopted workers that died and any worker that
        # stopped beating (hung or stopped), which is killed.
        ours = {r["id"] for r in running if r.get("worker_pid") in self.children}
        for run_id in common.check_liveness(self.store, running, reaped_by_caller=ours):
            self.say(f"{run_id}: worker gone or hung, marked interrupted")
        self.enforce_cancels(running)
        self.launch()
        busy = self.children or self.store.runs_for_backend("local", ["queued", "running"])
        return bool(busy)

    def reap(self) -> None:
        for pid, child in list(self.children.items()):
            code = child.proc.poll()
            if code is None:
                continue
            self.record_exit(child, code)
            del self.children[pid]  # only once recorded: a refused write is retried next round

    def record_exit(self, child: Child, code: int) -> None:
        pid = child.proc.pid
        held = [r for r in self.running() if r.get("worker_pid") == pid]
        for run in held:
            # A worker that ends normally records the run's end itself, unless the store refused that write.
            reason = common.describe_exit(code) if code else "the worker could not record the run's end in the store"
            if self.write_error:
                reason += f" ({self.write_error})"
            if self.store.finish_if_running(run["id"], "interrupted", pid=pid,
                                            error=common.interruption_message(self.store, run["id"], reason)):
                self.store.log(run["id"], f"marked interrupted: {reason}", "warning")
                self.say(f"{run['id']}: {reason}; marked interrupted")
        first = self.store.run(child.run_id)
        if held or first is None:
            return
        if first["status"] == "queued" and code != 0:
            # The worker died before it could claim the run (bad environment, import error): do not retry
            # forever; record why.
            tail = common.log_tail(self.store, child.run_id)
            msg = f"failed: {common.describe_exit(code)} before the run started.\n{tail}".strip()
            self.store.fail_if_queued(child.run_id, msg)
            self.say(f"{child.run_id}: worker failed before starting (code {code})")
        else:
            self.say(f"worker {pid} exited (code {code}; its first run {child.run_id} is {first['status']})")

    def enforce_cancels(self, running: list[dict]) -> None:
        now = time.monotonic()
        for run in running:
            if not run.get("cancel_requested"):
                continue
            first = self.cancel_seen.setdefault(run["id"], now)
            if now - first < CANCEL_TIMEOUT:
                continue
            pid = run.get("worker_pid")
            if run.get("worker_host") in (None, "", common.HOST):
                common.kill_group(pid)
            msg = f"cancelled: did not stop within {CANCEL_TIMEOUT:g} s of the request, so its worker was killed"
            if self.store.finish_if_running(run["id"], "cancelled", error=msg, pid=pid):
                self.store.log(run["id"], msg, "warning")
                self.say(f"{run['id']}: {msg}")
        for run_id in list(self.cancel_seen):
            if run_id not in {r["id"] for r in running}:
                del self.cancel_seen[run_id]

    def used_slots(self) -> set[int]:
        used = {c.slot for c in self.children.values()}
        # Adopted running workers take slots too (their GPU is read from their environment when possible).
        for run in self.running():
            if run.get("worker_pid") in self.children:
                continue
            used.add(self._slot_of(run.get("worker_pid"), used))
        return used

    def _slot_of(self, pid, used: set[int]) -> int:
        if self.plan.gpus and pid:
            try:
                env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
                for item in env:
                    if item.startswith(b"CUDA_VISIBLE_DEVICES="):
                        gpu = item.split(b"=", 1)[1].decode()
                        for slot, g in enumerate(self.plan.gpus):
                            if g == gpu and slot not in used:
                                return slot
            except OSError:
                pass
        return next(s for s in range(self.plan.slots + len(used) + 1) if s not in used)

    def launch(self) -> None:
        used = self.used_slots()
        free = [s for s in range(self.plan.slots) if s not in used]
        if not free:
            return
        queued = self.store.runs_for_backend("local", ["queued"])
        queued_ids = {r["id"] for r in queued}
        starting = {c.run_id for c in self.children.values()} & queued_ids
        busy = {r.get("worker_pid") for r in self.running()}
        # Warm workers of ours that hold no run take queued runs themselves: a new process is started only for
        # the queued runs beyond them (a worker still starting is counted by the run it was started for).
        idle = sum(pid not in busy and child.run_id not in queued_ids for pid, child in self.children.items())
        for run in queued:
            if not free:
                break
            if run["id"] in starting:
                continue  # its worker is starting
            if idle:
                idle -= 1
                continue
            self.start(run, free.pop(0))

    def start(self, run: dict, slot: int) -> None:
        run_id = run["id"]
        threads = self.plan.threads
        extra = {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
                 "OPENBLAS_NUM_THREADS": str(threads), "MTL_EXPLORER_WORKER_SLOT": str(slot)}
        if self.plan.gpus:
            extra["CUDA_VISIBLE_DEVICES"] = self.plan.gpus[slot % len(self.plan.gpus)]
        path = common.log_path(self.store, run_id)
        with open(path, "ab") as fh:
            fh.write(f"==== {time.strftime('%Y-%m-%d %H:%M:%S')} worker starting (slot {slot}, {threads} thread(s)"
                     f"{', GPU ' + extra['CUDA_VISIBLE_DEVICES'] if self.plan.gpus else ''})\n".encode())
        self.store.update_run(run_id, log_path=str(path))
        args = [sys.executable, "-m", "mtl_core.jobs.worker", "--store", str(self.store.path), "--run-id", run_id,
                "--threads", str(threads)]
        proc = common.spawn_detached(args, path, env=common.worker_env(extra))
        self.children[proc.pid] = Child(run_id, proc, slot, time.monotonic())
        self.say(f"{run_id}: started worker {proc.pid} in slot {slot}")


def serve(store_path: str) -> int:
    from mtl_core.store import Store

    store = Store(store_path)

    def start() -> Scheduler:
        sched = Scheduler(store)
        sched.say(f"scheduler {os.getpid()} for {store.path}: {sched.plan.describe()}")
        return sched

    return common.serve_singleton(store, "scheduler", "local", start, POLL_SECONDS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mtl_core.jobs.scheduler")
    parser.add_argument("--store", required=True)
    args = parser.parse_args(argv)
    return serve(args.store)


if __name__ == "__main__":
    sys.exit(main())
