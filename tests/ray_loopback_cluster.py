"""A Ray cluster of several nodes on this machine, every process and connection on 127.0.0.1.

    python tests/ray_loopback_cluster.py --nodes 2 [--cpus 1] [--gpus-on-last N]

Prints one JSON line, {"address": "127.0.0.1:PORT", "nodes": [{"node_id": ..., "head": bool}, ...]}, then
reads commands on standard input, one per line, and answers each with one JSON line:

    remove NODE_ID    kill that node (its raylet and every worker on it), as a lost machine would be
    shutdown          stop the cluster and exit (also on end of input)

It runs in its own process because the loopback setting must be in place before `ray` is imported: Ray
replaces 127.0.0.1 by the machine's interface address unless RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0
(see mtl_core/jobs/ray_backend.py, `_init_ray`). Nodes are Ray's own test-cluster nodes
(`ray.cluster_utils.Cluster`), each a real raylet with its own object store and workers.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
LOOPBACK = "127.0.0.1"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, default=2)
    parser.add_argument("--cpus", type=int, default=1)
    parser.add_argument("--gpus-on-last", type=int, default=0,
                        help="GPUs the last node declares (Ray schedules on them; no device is needed)")
    args = parser.parse_args(argv)

    from ray._private import services
    from ray.cluster_utils import Cluster

    assert services.resolve_ip_for_localhost(LOOPBACK) == LOOPBACK, "ray was imported before the loopback setting"
    common = {"num_cpus": args.cpus, "node_ip_address": LOOPBACK}
    cluster = Cluster(initialize_head=True, connect=False,
                      head_node_args={**common, "include_dashboard": False, "dashboard_host": LOOPBACK,
                                      **({"num_gpus": args.gpus_on_last} if args.nodes == 1 else {})})
    nodes = {cluster.head_node.node_id: cluster.head_node}
    for index in range(1, args.nodes):
        extra = {"num_gpus": args.gpus_on_last} if index == args.nodes - 1 else {}
        node = cluster.add_node(**common, **extra)
        nodes[node.node_id] = node
    cluster.wait_for_nodes()
    print(json.dumps({"address": cluster.address,
                      "nodes": [{"node_id": nid, "head": node is cluster.head_node} for nid, node in nodes.items()]}),
          flush=True)
    try:
        for line in sys.stdin:
            command, _, argument = line.strip().partition(" ")
            if command == "remove":
                node = nodes.pop(argument, None)
                if node is not None:
                    cluster.remove_node(node, allow_graceful=False)
                print(json.dumps({"removed": argument if node is not None else None}), flush=True)
            elif command == "shutdown":
                break
            else:
                print(json.dumps({"error": f"unknown command {command!r}"}), flush=True)
    finally:
        cluster.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
