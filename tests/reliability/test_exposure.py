"""Nothing is exposed: a local Ray and the dashboard, however started, listen on the loopback interface only.

Listening sockets are read from /proc (a process's socket inodes in /proc/PID/fd, their addresses in
/proc/net/tcp and tcp6), so the tests need Linux.
"""
from __future__ import annotations

import importlib.util
import os
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mtl_core.jobs import common, get_backend
from mtl_core.store import Store
from tests.test_jobs_local import small_spec, store_path, wait_finished, wait_for  # noqa: F401

pytestmark = pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads listening sockets from /proc")

ROOT = Path(__file__).resolve().parents[2]
LOOPBACK = {"127.0.0.1", "::1", "::ffff:127.0.0.1"}
LISTEN = "0A"  # TCP state in /proc/net/tcp


def socket_inodes(pid: int) -> set[str]:
    inodes = set()
    try:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[len("socket:["):-1])
    except OSError:
        pass
    return inodes


def decode_address(hex_address: str, family: int) -> str:
    """/proc/net/tcp writes each 32-bit word of the address in host (little-endian) order."""
    raw = bytes.fromhex(hex_address)
    words = b"".join(struct.pack(">I", struct.unpack("<I", raw[i:i + 4])[0]) for i in range(0, len(raw), 4))
    return socket.inet_ntop(family, words)


def listening_addresses(pids) -> list[tuple[int, str, int]]:
    """(pid, address, port) of every TCP socket in LISTEN state held by one of `pids`."""
    owner = {inode: pid for pid in pids for inode in socket_inodes(pid)}
    found = []
    for table, family in (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6)):
        try:
            lines = Path(f"/proc/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == LISTEN and fields[9] in owner:
                address, port = fields[1].split(":")
                found.append((owner[fields[9]], decode_address(address, family), int(port, 16)))
    return found


def process_tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo += children.get(pid, [])
    return tree


def free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.xdist_group("ray")  # one Ray cluster at a time on the machine (pytest -n: one worker)
@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="ray is not installed")
def test_a_local_ray_listens_on_loopback_only(store_path, monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setenv("MTL_EXPLORER_RAY_CPUS", "1")
    backend = get_backend("ray", store=Store(store_path))
    _, [run_id] = backend.submit(small_spec(steps=3000))  # long enough to look while it trains
    store = backend.store
    wait_for(lambda: store.run(run_id)["status"] == "running" and store.run(run_id)["step"] > 0, 240,
             what="the Ray run to train")
    driver = store.run(run_id)["worker_pid"]  # the driver claims Ray runs; Ray's servers are its children
    listeners = listening_addresses(process_tree(driver))
    backend.cancel(run_id)

    assert len({pid for pid, _, _ in listeners}) >= 3, listeners  # GCS, raylet, workers, agents
    exposed = [entry for entry in listeners if entry[1] not in LOOPBACK]
    assert not exposed, f"listening beyond the loopback interface: {exposed}"
    wait_finished(store, [run_id], 60)
    wait_for(lambda: not common.pid_alive(driver), 60, what="the Ray driver to exit")


def test_the_dashboard_started_from_another_folder_listens_on_loopback_only(tmp_path):
    env = {**os.environ, "MTL_EXPLORER_HOME": str(tmp_path / "home"),
           "MTL_EXPLORER_STORE": str(tmp_path / "runs.sqlite")}
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for attempt in range(3):  # a probed free port can be taken before the server binds it: then another port
        port, log = free_loopback_port(), tmp_path / f"dashboard-{attempt}.log"
        # The documented way (README): python -m dashboard, here from a folder without .streamlit/config.toml.
        server = subprocess.Popen([sys.executable, "-m", "dashboard", "--server.port", str(port),
                                   "--server.headless", "true", "--browser.gatherUsageStats", "false"],
                                  cwd=elsewhere, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
                                  start_new_session=True)
        try:
            deadline = time.monotonic() + 120  # a hang guard
            listeners: list = []
            while time.monotonic() < deadline and server.poll() is None:
                listeners = [entry for entry in listening_addresses(process_tree(server.pid)) if entry[2] == port]
                if listeners:
                    break
                time.sleep(0.2)
            output = log.read_text(errors="replace")
            if not listeners and server.poll() is not None and "already in use" in output:
                continue
            assert listeners, f"the dashboard did not listen on port {port} (exit code {server.poll()}): {output[-2000:]}"
            assert {address for _, address, _ in listeners} <= LOOPBACK, listeners
            return
        finally:
            if server.poll() is None:
                os.killpg(server.pid, signal.SIGTERM)
                try:
                    server.wait(30)
                except subprocess.TimeoutExpired:
                    os.killpg(server.pid, signal.SIGKILL)
                    server.wait(10)
    raise AssertionError("three probed free ports were taken before the dashboard could bind them")
