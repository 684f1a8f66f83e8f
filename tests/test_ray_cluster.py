"""The Ray backend against a real cluster of two nodes on this machine, on loopback only.

The cluster (tests/ray_loopback_cluster.py) is Ray's own test-cluster nodes: separate raylets, object stores
and workers, which see none of the submitting side's store. The runs reach it through `$RAY_ADDRESS`, as a
user's cluster would; what each run writes comes back over Ray into the store the dashboard reads.
"""
from __future__ import annotations

import importlib.util
import ipaddress
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from mtl_core.jobs import get_backend
from mtl_core.store import Store
from tests.test_jobs_local import (ROOT, assert_same_metrics, foreground, metric_keys, small_spec,  # noqa: F401
                                   store_path, wait_finished, wait_for)

pytestmark = [pytest.mark.xdist_group("ray"), pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                                reason="ray is not installed (pip install 'mtl-explorer[ray]')")]

CLUSTER_START_HANG_GUARD_S = 240
RAY_PROCESS_MARKS = ("gcs_server", "raylet", "ray::", "/ray/", "default_worker", "mtl_core.jobs.ray_backend")


class LoopbackCluster:
    """tests/ray_loopback_cluster.py in a child process: its address, its nodes, `remove(node_id)`."""

    def __init__(self, *args: str):
        self.process = subprocess.Popen([sys.executable, str(ROOT / "tests" / "ray_loopback_cluster.py"), *args],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT)
        info = self._answer(CLUSTER_START_HANG_GUARD_S)
        self.address: str = info["address"]
        self.nodes: list[dict] = info["nodes"]
        self.head = next(n["node_id"] for n in self.nodes if n["head"])

    def _answer(self, timeout: float) -> dict:
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.append(self.process.stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout)
        if not lines or not lines[0]:
            self.process.kill()
            raise AssertionError(f"the test cluster did not answer within {timeout} s")
        return json.loads(lines[0])

    def remove(self, node_id: str) -> None:
        self.process.stdin.write(f"remove {node_id}\n")
        self.process.stdin.flush()
        assert self._answer(120) == {"removed": node_id}

    def close(self) -> None:
        try:
            self.process.stdin.write("shutdown\n")
            self.process.stdin.close()
            self.process.wait(60)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()


@pytest.fixture(scope="module")
def cluster():
    started = LoopbackCluster("--nodes", "2", "--cpus", "1")
    yield started
    started.close()


@pytest.fixture
def ray_backend(store_path, cluster, monkeypatch):
    monkeypatch.setenv("RAY_ADDRESS", cluster.address)
    return get_backend("ray", store=Store(store_path))


# ---- what the machine's sockets say ---------------------------------------------------------------
def _sockets() -> dict[str, tuple[str, str, str]]:
    """inode -> (state, local address, remote address) of every TCP socket, from /proc/net/tcp{,6}."""
    found = {}
    for name, width in (("tcp", 8), ("tcp6", 32)):
        try:
            lines = Path(f"/proc/net/{name}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, remote, state, inode = fields[1], fields[2], fields[3], fields[9]
            found[inode] = ("LISTEN" if state == "0A" else "ESTABLISHED" if state == "01" else state,
                            _address(local, width), _address(remote, width))
    return found


def _address(hex_address: str, width: int) -> str:
    host, port = hex_address.split(":")
    raw = bytes.fromhex(host)
    # /proc writes each 32-bit word in host (little-endian) order
    raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    ip = ipaddress.ip_address(raw if width == 32 else raw[:4])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return f"{ip}:{int(port, 16)}"


def ray_sockets() -> list[tuple[int, str, str, str, str]]:
    """(pid, command, state, local, remote) of every TCP socket held by a Ray process or our Ray driver.

    The command is whole: a checkout at a long path puts "gcs_server" past any fixed cut of the binary's path.
    """
    sockets = _sockets()
    held = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if not any(mark in command for mark in RAY_PROCESS_MARKS):
                continue
            links = [os.readlink(fd) for fd in (entry / "fd").iterdir()]
        except OSError:
            continue
        for link in links:
            if link.startswith("socket:[") and (inode := link[8:-1]) in sockets:
                held.append((int(entry.name), command, *sockets[inode]))
    return held


def is_loopback(address: str) -> bool:
    return ipaddress.ip_address(address.rsplit(":", 1)[0]).is_loopback


def store_openers(path: Path) -> set[str]:
    """Commands of the Ray worker processes that have the store's SQLite file open."""
    openers = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if "ray::" not in command and "default_worker" not in command:
                continue
            if any(os.readlink(fd).startswith(str(path)) for fd in (entry / "fd").iterdir()):
                openers.add(command[:80])
        except OSError:
            continue
    return openers


# ---- tests ----------------------------------------------------------------------------------------
def test_an_experiment_spreads_over_both_nodes_on_loopback_only(ray_backend, cluster, store_path, tmp_path):
    # the multi-task run and two baselines, long enough to be seen training side by side (300 steps of these small
    # tasks train in under a second, inside one relay interval, once their data are loaded)
    spec = small_spec(steps=3000, baselines=True, eval_every=300)
    experiment_id, run_ids = ray_backend.submit(spec)
    assert len(run_ids) == 3
    store = ray_backend.store

    wait_for(lambda: sum(store.run(r)["status"] == "running" and store.run(r)["step"] > 0 for r in run_ids) >= 2,
             240, what="two runs training at once")
    sockets = ray_sockets()
    assert any(state == "LISTEN" and "gcs_server" in command for _, command, state, _, _ in sockets)
    off_loopback = [s for s in sockets if s[2] == "LISTEN" and not is_loopback(s[3])
                    or s[2] == "ESTABLISHED" and not (is_loopback(s[3]) and is_loopback(s[4]))]
    assert not off_loopback, f"Ray sockets off loopback: {[(pid, c[:120], *rest) for pid, c, *rest in off_loopback]}"
    assert not store_openers(store_path), "a Ray worker opened the submitting side's store"

    runs = wait_finished(store, run_ids, 300)
    assert [r["status"] for r in runs] == ["completed"] * 3, [r["error"] for r in runs]
    placed = {store.run(r)["environment"]["ray_node_id"] for r in run_ids}
    # Each node has one CPU and each run asks for one, so runs training at once are on different nodes.
    assert placed == {n["node_id"] for n in cluster.nodes}
    assert all(store.run(r)["environment"]["ray_gpus"] == [] for r in run_ids)  # auto, no GPU in the cluster

    fg_store, fg_run = foreground(spec, tmp_path / "fg.sqlite")
    assert_same_metrics(store, run_ids[0], fg_store, fg_run)
    assert "Ray node" in ray_backend.logs(run_ids[0])


def test_a_cuda_run_on_a_cluster_without_gpus_fails_with_the_reason(ray_backend):
    _, [run_id] = ray_backend.submit(small_spec(steps=20, device="cuda"))
    [run] = wait_finished(ray_backend.store, [run_id], 120)
    assert run["status"] == "failed"
    assert "device 'cuda'" in run["error"] and "no GPU" in run["error"] and "cpu or auto" in run["error"]


def test_losing_a_node_interrupts_its_run_only_and_resume_completes_it(ray_backend, cluster, tmp_path):
    """Runs last: it removes the second node from the module's cluster."""
    spec = small_spec(steps=1500, eval_every=50)
    store = ray_backend.store
    _, [first] = ray_backend.submit(spec)
    _, [second] = ray_backend.submit(spec)

    def node(run_id):
        return (store.run(run_id)["environment"] or {}).get("ray_node_id")

    wait_for(lambda: all(store.run(r)["status"] == "running" and node(r) for r in (first, second)), 240,
             what="both runs on their nodes")
    [victim] = [r for r in (first, second) if node(r) != cluster.head]  # the head holds the cluster itself
    survivor = first if victim == second else second
    wait_for(lambda: (c := store.checkpoint(victim)) and c["step"] >= 100, 240, what="a checkpoint come back")
    assert store.run(victim)["step"] < 1500
    cluster.remove(node(victim))

    wait_for(lambda: store.run(victim)["status"] == "interrupted", 120, what="the lost run marked")  # a hang guard
    assert "Ray task died" in store.run(victim)["error"] and "resume" in store.run(victim)["error"]
    assert store.run(survivor)["status"] in ("running", "completed")

    assert ray_backend.resume(victim) == [victim]
    runs = wait_finished(store, [victim, survivor], 300)
    assert [r["status"] for r in runs] == ["completed", "completed"], [r["error"] for r in runs]
    assert node(victim) == cluster.head
    assert "resumed from the checkpoint" in " ".join(store.events(victim).message)
    # No gap and no duplicate row, and every number as if the node had never been lost.
    resumed = metric_keys(store, victim)
    assert len(resumed) == len(set(resumed))
    fg_store, fg_run = foreground(spec, tmp_path / "fg.sqlite")
    assert_same_metrics(store, victim, fg_store, fg_run)


def test_device_auto_asks_ray_for_a_gpu_when_the_cluster_has_one(store_path, monkeypatch):
    gpu_cluster = LoopbackCluster("--nodes", "1", "--cpus", "1", "--gpus-on-last", "1")
    try:
        monkeypatch.setenv("RAY_ADDRESS", gpu_cluster.address)
        backend = get_backend("ray", store=Store(store_path))
        _, [auto] = backend.submit(small_spec(steps=20, device="auto"))
        _, [cpu] = backend.submit(small_spec(steps=20, device="cpu"))
        runs = wait_finished(backend.store, [auto, cpu], 240)
        assert [r["status"] for r in runs] == ["completed", "completed"], [r["error"] for r in runs]
        # Ray gave the auto run the cluster's GPU (the declared one: this machine has none, so torch trains on
        # the CPU); a cpu run asks for none.
        assert backend.store.run(auto)["environment"]["ray_gpus"] == ["0"]
        assert backend.store.run(cpu)["environment"]["ray_gpus"] == []
        assert "GPU 0" in backend.logs(auto)
    finally:
        gpu_cluster.close()
