"""What both backends share: resolving ids, liveness checks, detached singleton processes, logs.

Imports nothing heavy (no torch, no ray): everything here runs in the submitting process.
"""
from __future__ import annotations

import errno
import fcntl
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from mtl_core.errors import UserError

if TYPE_CHECKING:
    from mtl_core.spec import ExperimentSpec, RunSpec
    from mtl_core.store import Store

LOG_NAME = "worker.log"
# A worker on another host (Ray) is presumed gone when its heartbeat is older than this.
STALE_SECONDS = float(os.environ.get("MTL_EXPLORER_STALE_SECONDS", "60"))
# A worker on this host that is alive but silent this long is presumed hung (stopped, or stuck as a whole).
# Workers beat from a thread of their own every HEARTBEAT_SECONDS, through long data loads and evaluations too,
# so silence means the process no longer runs.
HUNG_SECONDS = float(os.environ.get("MTL_EXPLORER_HUNG_SECONDS", "45"))
HEARTBEAT_SECONDS = min(5.0, HUNG_SECONDS / 4)
PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])
HOST = socket.gethostname()


# ---- ids ---------------------------------------------------------------------------------------
def resolve_runs(store: "Store", id: str | None, statuses: Iterable[str] | None = None) -> tuple[str | None, list[dict]]:
    """(experiment id, runs) for an experiment id, a run id, or None (every run). Unknown ids are UserErrors."""
    if id is None:
        return None, store.runs(statuses=statuses)
    if store.experiment(id):
        return id, store.runs(id, statuses)
    run = store.run(id)
    if run is None:
        raise UserError(f"no experiment or run '{id}' in {store.path} (see `python -m mtl_core status`)")
    if statuses is not None and run["status"] not in set(statuses):
        return run["experiment_id"], []
    return run["experiment_id"], [run]


def status_dict(run: dict[str, Any]) -> dict[str, Any]:
    keys = ("id", "kind", "tasks", "seed", "status", "step", "total_steps")
    out = {k: run.get(k) for k in keys}
    out["error"] = run.get("error")
    return out


# ---- processes ---------------------------------------------------------------------------------
def _boot_time() -> float | None:
    try:
        with open("/proc/stat") as fh:
            for line in fh:
                if line.startswith("btime "):
                    return float(line.split()[1])
    except OSError:
        return None
    return None


def process_start_time(pid: int) -> float | None:
    """Wall-clock start of a process (Linux /proc), None where unknown."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        boot = _boot_time()
        if boot is None:
            return None
        return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def pid_alive(pid: int | None, since: float | None = None) -> bool:
    """Is `pid` a live process on this host that existed at time `since`? (guards against pid reuse)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        with open(f"/proc/{pid}/stat") as fh:
            if fh.read().rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                return False
    except OSError:
        pass
    start = process_start_time(pid)
    if since is not None and start is not None and start > since + 2.0:
        return False  # a newer process got the pid (e.g. after a reboot)
    return True


def kill_group(pid: int | None, sig: int = signal.SIGKILL) -> None:
    if not pid:
        return
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def describe_exit(returncode: int | None) -> str:
    if returncode is None:
        return "the worker process is gone"
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        hint = " (killed: out of memory, or kill -9)" if returncode == -signal.SIGKILL else ""
        return f"the worker was killed by {name}{hint}"
    return f"the worker exited with code {returncode}"


def log_path(store: "Store", run_id: str) -> Path:
    return store.artifacts_dir(run_id) / LOG_NAME


def read_log(path: Path, tail_bytes: int | None = None) -> str:
    """A log file's text, or only its last `tail_bytes` (read from there: a long log costs no more)."""
    with open(path, "rb") as fh:
        if tail_bytes is not None:
            size = fh.seek(0, os.SEEK_END)
            fh.seek(max(0, size - tail_bytes))
            if size > tail_bytes:
                fh.readline()  # start at a whole line
        return fh.read().decode("utf-8", "replace")


def log_tail(store: "Store", run_id: str, lines: int = 8, chars: int = 2000) -> str:
    try:
        text = read_log(log_path(store, run_id), tail_bytes=16384)
    except OSError:
        return ""
    tail = "\n".join(text.strip().splitlines()[-lines:])
    return tail[-chars:]


def interruption_message(store: "Store", run_id: str, reason: str) -> str:
    tail = log_tail(store, run_id)
    msg = f"interrupted: {reason}. Resume it with `python -m mtl_core resume {run_id}`."
    return f"{msg}\nlast log lines:\n{tail}" if tail else msg


def check_liveness(store: "Store", runs: Iterable[dict] | None = None,
                   reaped_by_caller: Iterable[str] = ()) -> list[str]:
    """Mark running runs whose worker is gone as interrupted; returns their ids.

    `reaped_by_caller`: runs whose worker the caller started and reaps (it reads their exit codes, which say
    more than a vanished pid): for those only the heartbeat is checked here.

    On this host a run is alive while its worker pid is (the same process as when it claimed the run) and
    beats; a live worker silent for HUNG_SECONDS is killed. On another host (Ray without a driver here) only
    the heartbeat tells, after STALE_SECONDS. The scheduler and the Ray driver run it on every round, and the
    CLI's status / cancel / resume before they act; pages never do (they only read the store).
    Safe to run from any process, any number of times: updates are conditional on the run's state.
    """
    now = time.time()
    reaped = set(reaped_by_caller)
    marked = []
    runs = store.runs(statuses=["running"]) if runs is None else [r for r in runs if r["status"] == "running"]
    for run in runs:
        beat = run.get("heartbeat_at") or run.get("started_at") or now
        pid, host = run.get("worker_pid"), run.get("worker_host") or ""
        reason = None
        if host in ("", HOST):
            # The worker process existed before its last heartbeat; a process started later only reuses the pid.
            if run["id"] not in reaped and not pid_alive(pid, since=run.get("heartbeat_at") or run.get("started_at")):
                reason = f"the worker process {pid} is gone (crash, kill -9, out of memory or a reboot)"
            elif now - beat > HUNG_SECONDS:
                kill_group(pid)
                reason = f"no heartbeat for {now - beat:.0f} s; the worker {pid} was presumed hung and killed"
        elif now - beat > STALE_SECONDS:
            reason = f"no heartbeat from {host} for {now - beat:.0f} s"
        if reason and store.finish_if_running(run["id"], "interrupted", error=interruption_message(store, run["id"], reason),
                                              pid=pid):
            store.log(run["id"], f"marked interrupted: {reason}", "warning")
            marked.append(run["id"])
    return marked


# ---- detached singletons (the scheduler, the Ray driver) -----------------------------------------
def lock_path(store: "Store", name: str) -> Path:
    return store.path.with_name(f"{store.path.name}.{name}.lock")


def try_lock(path: Path):
    """An exclusive fcntl lock on `path` (held while the returned file stays open), or None if taken."""
    fh = open(path, "a+")
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        fh.close()
        if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
            return None
        raise
    return fh


def lock_holder_pid(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
        return int(text) if text else None
    except (OSError, ValueError):
        return None


def worker_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = PACKAGE_ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


def spawn_detached(args: list[str], log_file: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """A process in its own session (closing the dashboard or terminal does not stop it), output to a file."""
    with open(log_file, "ab") as out:
        return subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, close_fds=True, env=env or worker_env(), cwd=PACKAGE_ROOT)


def ensure_singleton(store: "Store", name: str, module: str, extra_args: list[str] | None = None) -> bool:
    """Start `python -m module --store PATH` unless one holds the store's `name` lock; True if started.

    Race-free in effect: the process itself takes the lock and exits at once if another holds it, and it
    re-checks the queue after releasing the lock, so a submission never falls between two schedulers.
    """
    path = lock_path(store, name)
    fh = try_lock(path)
    if fh is None:
        return False
    fh.close()  # nobody holds it; the child takes it (a concurrent starter's child simply exits)
    args = [sys.executable, "-m", module, "--store", str(store.path), *(extra_args or [])]
    spawn_detached(args, store.path.with_name(f"{store.path.name}.{name}.log"))
    return True


def logs_text(store: "Store", run_id: str, tail_bytes: int | None = None, tail_events: int | None = None) -> str:
    """The run's state, worker output and events; with tail_bytes / tail_events only the end of each."""
    run = store.run(run_id)
    if run is None:
        raise UserError(f"logs: no run '{run_id}' in {store.path}")
    parts = [f"== run {run_id}: {run['status']} (step {run['step']}/{run.get('total_steps') or '?'})"]
    if run.get("error"):
        parts.append(f"error: {run['error']}")
    path = log_path(store, run_id)
    parts.append(f"== output ({path})")
    try:
        parts.append(read_log(path, tail_bytes).rstrip() or "(empty)")
    except FileNotFoundError:
        parts.append("(no output yet: the run has not started)")
    parts.append("== events")
    events = store.events(run_id) if tail_events is None else store.recent_events(run_id, tail_events)
    if events.empty:
        parts.append("(none)")
    for row in events.itertuples():
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(row.at))
        parts.append(f"{stamp} {row.level:<7} {row.message}")
    return "\n".join(parts) + "\n"


def cancel_runs(store: "Store", id: str) -> list[tuple[str, str]]:
    _, runs = resolve_runs(store, id)
    out = []
    for run in runs:
        if run["status"] in ("queued", "running"):
            outcome = store.request_cancel(run["id"])
            if outcome == "cancelled":
                store.log(run["id"], "cancelled before it started", "info")
            elif outcome == "cancelling":
                store.log(run["id"], "cancel requested: stopping at the next step", "info")
            out.append((run["id"], outcome))
        elif run is not None and len(runs) == 1:
            out.append((run["id"], run["status"]))
    return out


def requeue_runs(store: "Store", id: str) -> list[str]:
    from mtl_core.store import RESUMABLE_STATUSES

    _, runs = resolve_runs(store, id)
    resumed = []
    for run in runs:
        if run["status"] in RESUMABLE_STATUSES and store.requeue_run(run["id"]):
            ckpt = store.checkpoint(run["id"], "last")
            where = f"from its checkpoint at step {ckpt['step']}" if ckpt else "from the start (no checkpoint)"
            store.log(run["id"], f"resumed: queued again, will continue {where}", "info")
            resumed.append(run["id"])
    if not resumed and len(runs) == 1:
        run = runs[0]
        raise UserError(f"resume: run {run['id']} is {run['status']}; only interrupted or cancelled runs can be "
                        "resumed")
    return resumed


def serve_singleton(store: "Store", role: str, backend: str, start, poll_seconds: float) -> int:
    """Run the store's one scheduler (or Ray driver) while there is work, holding the `role` lock.

    `start()` builds the runner once (an object with step() -> bool "more to do" and say(message)).
    When it runs out of work, let go of the lock, then look once more: a submitter that found the lock
    held inserted its runs before looking, so they are seen now; one that found it free starts its own.
    """
    path = lock_path(store, role)
    lock = try_lock(path)
    if lock is None:
        return 0  # another process serves this store
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    runner = None
    while True:
        lock.seek(0)
        lock.truncate()
        lock.write(str(os.getpid()))
        lock.flush()
        if runner is None:
            runner = start()
        while runner.step():
            time.sleep(poll_seconds)
        lock.seek(0)
        lock.truncate()
        lock.close()
        if not store.runs_for_backend(backend, ["queued", "running"]):
            runner.say("nothing queued or running; exiting")
            return 0
        lock = try_lock(path)
        if lock is None:
            return 0


class QueueBackend:
    """What the local and Ray backends share: runs are queued in the store, and one detached process per
    store (`runner_module`, a singleton held by a lock file) starts them; every call makes sure it is alive
    when there is work for it."""

    name: str
    runner_role: str  # the lock's name: "scheduler" or "ray-driver"
    runner_module: str  # `python -m` module of that process

    def __init__(self, store: "Store"):
        self.store = store

    def ensure_runner(self) -> bool:
        return ensure_singleton(self.store, self.runner_role, self.runner_module)

    def submit(self, spec: "ExperimentSpec", *, run_specs: "list[RunSpec] | None" = None,
               kind: str = "experiment") -> tuple[str, list[str]]:
        from mtl_core.train.runner import run_rows

        spec = spec.validated()
        # Rows without loading any data (sizing an epoch budget would load every task: too slow for a
        # button press); each run counts its steps when it starts.
        runs = run_rows(spec.runs() if run_specs is None else run_specs)
        experiment_id, run_ids = self.store.create_experiment(spec.to_json(), runs, name=spec.name, kind=kind,
                                                              backend=self.name)
        self.ensure_runner()
        return experiment_id, run_ids

    def status(self, experiment_id: str | None = None) -> list[dict[str, Any]]:
        """The runs after a liveness check: asked for by a user (the CLI), it is also how a store nobody
        serves any more (after a reboot) learns that its workers are gone and gets a scheduler again."""
        _, runs = resolve_runs(self.store, experiment_id)
        if check_liveness(self.store, runs):
            _, runs = resolve_runs(self.store, experiment_id)
        if any(r["status"] == "queued" for r in runs) and self.store.runs_for_backend(self.name, ["queued"]):
            self.ensure_runner()  # e.g. after a reboot: queued runs need someone to start them
        return runs

    def cancel(self, id: str) -> list[tuple[str, str]]:
        check_liveness(self.store, resolve_runs(self.store, id)[1])
        out = cancel_runs(self.store, id)
        if any(outcome == "cancelling" for _, outcome in out):
            self.ensure_runner()  # it enforces the hard kill after the timeout
        return out

    def resume(self, id: str) -> list[str]:
        check_liveness(self.store, resolve_runs(self.store, id)[1])
        resumed = requeue_runs(self.store, id)
        if resumed:
            self.ensure_runner()
        return resumed

    def logs(self, run_id: str) -> str:
        return logs_text(self.store, run_id)
