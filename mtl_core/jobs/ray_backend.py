"""The Ray backend: the same interface as the local one, runs trained as Ray tasks anywhere in a cluster.

Design (no shared disk assumed between the submitting machine and the Ray workers):

* submit() records the runs as queued in the store (experiment backend 'ray') and makes sure the
  per-store **driver** is alive: a detached process (`python -m mtl_core.jobs.ray_backend --store PATH`,
  one per store through an fcntl lock, exactly like the local scheduler) that owns the Ray connection
  (`$RAY_ADDRESS`, else a quiet local Ray listening on 127.0.0.1 only) and exits when no Ray run is queued
  or running.
* Each run is a streaming-generator Ray task (`num_gpus=1` when the spec asks for cuda, or for `auto` on a
  cluster that has GPUs: `task_options`). On the worker
  node it runs the ordinary `execute_run` against a temporary store (`RelayStore`) whose writes are also
  put in an outbox; every ~0.5 s the task yields the outbox (metrics, conflict, affinity, events, run
  columns, checkpoint files as bytes) and the driver writes it into the real store the dashboard reads.
* The driver claims the run in the real store when the task starts (worker_pid = the driver's pid, so
  liveness checks elsewhere notice a dead driver). Cancel: the driver sets a flag on a tiny `CancelBoard`
  actor that the task polls (graceful stop at the next step), then `ray.cancel(force=True)` after the
  timeout. A task that dies (node lost, OOM) marks its run interrupted with Ray's error.
* Resume ships the run's last checkpoint to the task, which resumes from it as the local runner does.

`ray` is an optional extra: `pip install 'mtl-explorer[ray]'`.
"""
from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mtl_core.errors import UserError
from mtl_core.jobs import common

if TYPE_CHECKING:
    from mtl_core.store import Store

DRIVER_MODULE = "mtl_core.jobs.ray_backend"
POLL_SECONDS = 0.5
PUSH_SECONDS = 0.5
CANCEL_TIMEOUT = float(os.environ.get("MTL_EXPLORER_CANCEL_TIMEOUT", "10"))
INSTALL_HINT = ("backend: the Ray backend needs the optional 'ray' package: pip install 'mtl-explorer[ray]' "
                "(or pip install 'ray[default]>=2.9'); or use --backend local")


def require_ray() -> None:
    if importlib.util.find_spec("ray") is None:
        raise UserError(INSTALL_HINT, field="backend")


class RayBackend(common.QueueBackend):
    name = "ray"
    runner_role = "ray-driver"
    runner_module = DRIVER_MODULE

    def __init__(self, store: "Store"):
        require_ray()
        super().__init__(store)


# ---- the worker side: a store that also records what it writes ------------------------------------
def _relay_store_class():
    from mtl_core.store import Store

    class RelayStore(Store):
        """A temporary store on the worker node; every write is also queued for the driver."""

        def __init__(self, path, run_id: str):
            super().__init__(path)
            self.run_id = run_id
            self.outbox: list[tuple] = []
            self.lock = threading.Lock()

        def _put(self, op: tuple) -> None:
            with self.lock:
                self.outbox.append(op)

        def drain(self) -> list[tuple]:
            with self.lock:
                ops, self.outbox = self.outbox, []
            return ops

        def write_rows(self, metrics=(), conflict=(), affinity=(), heartbeat=None, **more) -> None:
            super().write_rows(metrics, conflict, affinity, heartbeat, **more)
            self._put(("rows", list(metrics), list(conflict), list(affinity), heartbeat,
                       {name: [tuple(r) for r in rows] for name, rows in more.items() if rows}))

        def update_run(self, run_id, **values) -> None:
            super().update_run(run_id, **values)
            self._put(("update", dict(values)))

        def truncate_after(self, run_id, step) -> None:
            super().truncate_after(run_id, step)
            self._put(("truncate", step))

        def log(self, run_id, message, level="info") -> None:
            super().log(run_id, message, level)
            self._put(("log", message, level))

        def save_representation(self, run_id, name, matrix) -> None:
            super().save_representation(run_id, name, matrix)
            self._put(("representation", name, matrix))

        def save_checkpoint_record(self, run_id, kind, step, path) -> None:
            super().save_checkpoint_record(run_id, kind, step, path)
            try:
                data = Path(path).read_bytes()
            except OSError:
                return
            self._put(("checkpoint", kind, step, Path(path).name, data))

        def delete_checkpoint(self, run_id, kind="last") -> int:
            freed = super().delete_checkpoint(run_id, kind)
            self._put(("drop_checkpoint", kind))
            return freed

    return RelayStore


def run_on_worker(run_row: dict, checkpoint: tuple[int, str, bytes] | None, threads: int, board):
    """Generator body of the Ray task: train the run on a temporary store, yield batches of writes."""
    import socket

    import ray

    from mtl_core.train.runner import execute_run

    context = ray.get_runtime_context()
    yield {"started": True, "host": socket.gethostname(), "pid": os.getpid(), "node_id": context.get_node_id(),
           "gpus": [str(g) for g in context.get_accelerator_ids().get("GPU", [])]}
    run_id = run_row["id"]
    with tempfile.TemporaryDirectory(prefix="mtl-ray-") as tmp:
        store = _relay_store_class()(Path(tmp) / "runs.sqlite", run_id)
        store.insert_relayed_run(run_row, backend="ray")
        if checkpoint:
            step, name, data = checkpoint
            path = store.artifacts_dir(run_id) / name
            path.write_bytes(data)
            super(type(store), store).save_checkpoint_record(run_id, "last", step, str(path))  # not relayed
        result: dict[str, Any] = {}

        def target():
            try:
                result["status"] = execute_run(store, run_id, threads=threads)
            except BaseException as exc:  # noqa: BLE001 - reported to the driver
                result["error"] = f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"

        thread = threading.Thread(target=target, daemon=True)
        thread.start()
        cancel_sent = False
        last_message = time.monotonic()
        while thread.is_alive():
            thread.join(PUSH_SECONDS)
            if not cancel_sent:
                try:
                    if ray.get(board.is_cancelled.remote(run_id), timeout=10):
                        store.request_cancel(run_id)
                        cancel_sent = True
                except Exception:  # noqa: BLE001 - a slow board must not stop training
                    pass
            ops = store.drain()
            # An empty message now and then is the run's heartbeat through a long data load or evaluation.
            if ops or time.monotonic() - last_message >= common.HEARTBEAT_SECONDS:
                last_message = time.monotonic()
                yield {"ops": ops}
        yield {"ops": store.drain(), "final": result.get("status"), "error": result.get("error")}


# ---- the driver ---------------------------------------------------------------------------------
LOOPBACK = "127.0.0.1"


def is_loopback_address(address: str) -> bool:
    """True for a `host:port` cluster address whose host is this machine's loopback (127.x.x.x, localhost, ::1)."""
    if "://" in address:
        return False
    host = address.rsplit(":", 1)[0] if address.count(":") == 1 else address.rsplit(":", 1)[0].strip("[]")
    return host == "localhost" or host.startswith("127.") or host == "::1"


def _init_ray():
    """Connect to `$RAY_ADDRESS` (the user's cluster, exposed as they set it up), else start a local Ray
    that listens on the loopback interface only.

    Ray has no authentication: a cluster on the machine's address would let anyone who can reach it run code
    here. Ray replaces a loopback host by the machine's interface address (`resolve_ip_for_localhost`), both for
    the node it starts and for the cluster address it dials, unless clustering is off
    (RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0, read when ray is imported). So for a local Ray and for a cluster
    address on loopback (`127.0.0.1:6379`: a cluster on this machine started the same way, see
    tests/ray_loopback_cluster.py) it is switched off before the import and the driver's node address is
    127.0.0.1; a local start is refused if ray was imported with clustering on.
    """
    address = os.environ.get("RAY_ADDRESS")
    loopback = not address or is_loopback_address(address)
    if loopback:
        os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    import ray

    if ray.is_initialized():
        return ray
    kwargs: dict[str, Any] = {"include_dashboard": False, "logging_level": logging.ERROR, "log_to_driver": False}
    if loopback:
        from ray._private import services

        if services.resolve_ip_for_localhost(LOOPBACK) != LOOPBACK:
            raise RuntimeError("Ray would use this machine's network address (ray was imported before clustering "
                               "could be switched off); start the Ray driver in a fresh process")
        kwargs["_node_ip_address"] = LOOPBACK
    if address:
        kwargs["runtime_env"] = {"py_modules": [str(Path(__file__).resolve().parents[1])],
                                 "env_vars": {k: v for k, v in os.environ.items() if k.startswith("MTL_EXPLORER_")}}
        ray.init(address=address, **kwargs)
        return ray
    cpus = int(os.environ.get("MTL_EXPLORER_RAY_CPUS", "0")) or min(2, os.cpu_count() or 1)
    # address="local": a new private Ray even when another one runs on this machine (`ray.init()` would join
    # the newest cluster started here, whoever started it).
    ray.init(address="local", num_cpus=cpus, dashboard_host=LOOPBACK, **kwargs)
    return ray


def task_options(spec: dict, cluster_gpus: float, threads: int = 1) -> dict[str, Any]:
    """Ray resources for one run: `threads` CPUs, and one GPU when the spec's device is `cuda`, or `auto` on a
    cluster that has GPUs (the run then waits for a free GPU, as the local queue gives one worker per GPU)."""
    options: dict[str, Any] = {"num_cpus": threads}
    device = spec.get("device", "auto")
    if device == "cuda" or (device == "auto" and cluster_gpus > 0):
        options["num_gpus"] = 1
    return options


class Driver:
    def __init__(self, store: "Store"):
        import json

        self.json = json
        self.ray = _init_ray()
        ray = self.ray

        @ray.remote(num_cpus=0)
        class CancelBoard:
            def __init__(self):
                self.flags: set[str] = set()

            def cancel(self, run_id: str) -> None:
                self.flags.add(run_id)

            def is_cancelled(self, run_id: str) -> bool:
                return run_id in self.flags

        self.store = store
        self.board = CancelBoard.remote()
        self.task = ray.remote(num_returns="streaming", max_retries=0)(run_on_worker)
        self.inflight: dict[str, dict[str, Any]] = {}  # run id -> {"gen", "thread", "cancel_at", "forced"}
        self.lock = threading.Lock()

    def say(self, message: str) -> None:
        print(time.strftime("%H:%M:%S"), message, flush=True)

    def note(self, run_id: str, message: str) -> None:
        with open(common.log_path(self.store, run_id), "a") as fh:
            fh.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {message}\n")

    # -- launching
    def launch(self, run: dict) -> None:
        import json

        run_id = run["id"]
        row = self.store.run_record(run_id)
        ckpt = self.store.checkpoint(run_id, "last")
        payload = None
        if ckpt and Path(ckpt["path"]).exists():
            payload = (ckpt["step"], Path(ckpt["path"]).name, Path(ckpt["path"]).read_bytes())
        spec = json.loads(row["spec_json"]).get("experiment", {})
        threads = 1
        options = task_options(spec, self.ray.cluster_resources().get("GPU", 0), threads)
        if options.get("num_gpus") and not self.ray.cluster_resources().get("GPU", 0):
            self.store.fail_if_queued(run_id, "failed: device 'cuda' was asked for, but the Ray cluster has no GPU "
                                              "(allowed on this cluster: --device cpu or auto)")
            self.say(f"{run_id}: refused, no GPU in the cluster")
            return
        gen = self.task.options(**options).remote(row, payload, threads, self.board)
        entry = {"gen": gen, "cancel_at": None, "forced": False, "claimed": False}
        self.inflight[run_id] = entry
        self.store.update_run(run_id, log_path=str(common.log_path(self.store, run_id)))
        self.note(run_id, f"submitted to Ray ({options})")
        entry["thread"] = threading.Thread(target=self.consume, args=(run_id, entry), daemon=True)
        entry["thread"].start()
        self.say(f"{run_id}: submitted to Ray")

    def consume(self, run_id: str, entry: dict) -> None:
        ray = self.ray
        store = self.store  # thread-local connections: Store is safe across threads
        pid = os.getpid()
        try:
            for ref in entry["gen"]:
                msg = ray.get(ref)
                if msg.get("started"):
                    if store.claim_run(run_id, pid=pid, host=common.HOST):
                        entry["claimed"] = True
                        gpus = f", GPU {','.join(msg['gpus'])}" if msg.get("gpus") else ""
                        self.note(run_id, f"started on {msg['host']} (Ray node {msg.get('node_id')}, pid {msg['pid']}{gpus})")
                        entry["placement"] = {"ray_node": msg["host"], "ray_node_id": msg.get("node_id"),
                                              "ray_gpus": msg.get("gpus", [])}
                        store.update_run(run_id, environment=entry["placement"])
                    else:  # cancelled while waiting for resources
                        ray.get(self.board.cancel.remote(run_id))
                        ray.cancel(entry["gen"], force=True)
                        return
                    continue
                ops = msg.get("ops", [])
                for op in ops:
                    self.apply(run_id, op)
                if not any(op[0] == "rows" for op in ops):  # rows carry the heartbeat themselves
                    store.beat(run_id, pid=pid)
                if msg.get("error"):
                    self.note(run_id, msg["error"])
                    store.finish_if_running(run_id, "failed", error=f"failed: {msg['error'].splitlines()[0]}", pid=pid)
                if "final" in msg:
                    self.note(run_id, f"ended {msg.get('final')}")
        except Exception as exc:  # noqa: BLE001 - task died, node lost, cancelled
            if not entry["claimed"]:
                # The task failed before it started (e.g. mtl_core not importable on the node): say so, no retry.
                store.fail_if_queued(run_id, f"failed: the Ray task could not start: {type(exc).__name__}: {exc}"[:4000])
            if entry["forced"]:
                msg = f"cancelled: did not stop within {CANCEL_TIMEOUT:g} s of the request, so its Ray task was killed"
                store.finish_if_running(run_id, "cancelled", error=msg, pid=pid)
            else:
                self.note(run_id, f"Ray task ended abnormally: {type(exc).__name__}: {exc}")
                store.finish_if_running(run_id, "interrupted", pid=pid,
                                        error=f"interrupted: the Ray task died ({type(exc).__name__}: "
                                              f"{str(exc).splitlines()[0] if str(exc) else ''}). "
                                              f"Resume it with `python -m mtl_core resume {run_id}`.")
        finally:
            # Ended without a final state (should not happen): do not leave it 'running'.
            store.finish_if_running(run_id, "interrupted", pid=pid,
                                    error="interrupted: the Ray task ended without reporting a final state")
            with self.lock:
                self.inflight.pop(run_id, None)

    def apply(self, run_id: str, op: tuple) -> None:
        kind = op[0]
        if kind == "rows":
            _, metrics, conflict, affinity, heartbeat, more = op
            self.store.write_rows([tuple(r) for r in metrics], [tuple(r) for r in conflict],
                                  [tuple(r) for r in affinity], tuple(heartbeat) if heartbeat else None,
                                  **{name: [tuple(r) for r in rows] for name, rows in more.items()})
        elif kind == "update":
            values = {k: v for k, v in op[1].items() if k not in ("worker_pid", "worker_host", "log_path")}
            if isinstance(values.get("environment"), dict):
                placement = self.inflight.get(run_id, {}).get("placement", {})
                values["environment"] = {**values["environment"], "backend": "ray", **placement}
            self.store.update_run(run_id, **values)
        elif kind == "truncate":
            self.store.truncate_after(run_id, op[1])
        elif kind == "log":
            self.store.log(run_id, op[1], op[2])
        elif kind == "representation":
            self.store.save_representation(run_id, op[1], op[2])
        elif kind == "checkpoint":
            _, ckind, step, name, data = op
            path = self.store.artifacts_dir(run_id) / name
            tmp = path.with_suffix(path.suffix + ".tmp")
            tmp.write_bytes(data)
            os.replace(tmp, path)
            self.store.save_checkpoint_record(run_id, ckind, step, str(path))
        elif kind == "drop_checkpoint":  # a completed run deleted its resume checkpoint
            self.store.delete_checkpoint(run_id, op[1])

    # -- the loop
    def step(self) -> bool:
        ray = self.ray
        for run in self.store.runs_for_backend("ray", ["queued"]):
            if run["id"] not in self.inflight:
                self.launch(run)
        running = {r["id"]: r for r in self.store.runs_for_backend("ray", ["running"])}
        # Runs 'running' in the store but not ours: an earlier driver died; the liveness check marks them.
        common.check_liveness(self.store, [r for rid, r in running.items() if rid not in self.inflight])
        now = time.monotonic()
        with self.lock:
            entries = list(self.inflight.items())
        for run_id, entry in entries:
            run = running.get(run_id)
            if run and entry["claimed"] and self.stop_if_hung(run_id, run, entry):
                continue
            if not run or not run.get("cancel_requested"):
                continue
            if entry["cancel_at"] is None:
                entry["cancel_at"] = now
                ray.get(self.board.cancel.remote(run_id))
                self.say(f"{run_id}: cancel requested")
            elif now - entry["cancel_at"] > CANCEL_TIMEOUT and not entry["forced"]:
                entry["forced"] = True
                ray.cancel(entry["gen"], force=True)
                self.say(f"{run_id}: did not stop; force-cancelled")
        return bool(self.inflight) or bool(self.store.runs_for_backend("ray", ["queued", "running"]))


    def stop_if_hung(self, run_id: str, run: dict, entry: dict) -> bool:
        """A task silent for HUNG_SECONDS (its node stopped, or it is stuck as a whole) is killed and its run
        marked interrupted; True if so. The task beats through long loads and evaluations (run_on_worker)."""
        silent = time.time() - (run.get("heartbeat_at") or time.time())
        if silent <= common.HUNG_SECONDS:
            return False
        reason = f"no heartbeat for {silent:.0f} s; its Ray task was presumed hung and killed"
        if self.store.finish_if_running(run_id, "interrupted", pid=os.getpid(),
                                        error=common.interruption_message(self.store, run_id, reason)):
            self.store.log(run_id, f"marked interrupted: {reason}", "warning")
            self.say(f"{run_id}: {reason}")
        self.ray.cancel(entry["gen"], force=True)
        return True


def serve(store_path: str) -> int:
    from mtl_core.store import Store

    store = Store(store_path)
    started: list[Driver] = []

    def start() -> Driver:
        driver = Driver(store)
        driver.say(f"ray driver {os.getpid()} for {store.path}: {driver.ray.cluster_resources()}")
        started.append(driver)
        return driver

    try:
        return common.serve_singleton(store, "ray-driver", "ray", start, POLL_SECONDS)
    finally:
        for driver in started:
            try:
                driver.ray.shutdown()
            except Exception:  # noqa: BLE001
                pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mtl_core.jobs.ray_backend")
    parser.add_argument("--store", required=True)
    args = parser.parse_args(argv)
    return serve(args.store)


if __name__ == "__main__":
    sys.exit(main())
