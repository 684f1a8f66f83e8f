"""The local backend: runs are queued in the store and trained by detached worker processes.

submit() only writes to the store and makes sure the per-store scheduler (mtl_core.jobs.scheduler)
is alive; it never imports torch. Everything else (starting workers, the concurrency limit, hard
kills after a cancel, marking dead workers) is the scheduler's, so no dashboard process needs to stay up.
"""
from __future__ import annotations

from mtl_core.jobs import common

SCHEDULER_MODULE = "mtl_core.jobs.scheduler"


def check_device_here(device: str) -> None:
    """A local worker would find a missing GPU only after the experiment is recorded, so ask now.

    PyTorch is asked rather than the NVIDIA device files: those show a driver, not that this torch build
    can use it (a CPU wheel, CUDA_VISIBLE_DEVICES=""), and the worker decides with torch. Importing torch
    costs a second or two, so it happens only when cuda or mps is asked for. (Ray runs train on the
    cluster's nodes, whose devices this machine cannot see: Ray places them on a node with a GPU.)
    """
    if device not in ("cuda", "mps"):
        return
    from mtl_core.train.runner import pick_device

    pick_device(device)  # a UserError naming the device when it is not there


class LocalBackend(common.QueueBackend):
    name = "local"
    runner_role = "scheduler"
    runner_module = SCHEDULER_MODULE

    def submit(self, spec, *, run_specs=None, kind: str = "experiment"):
        """Queue the runs; a device this machine lacks is refused first (the dashboard's Launch comes here)."""
        for device in sorted({spec.device, *(r.experiment.device for r in run_specs or [])}):
            check_device_here(device)
        return super().submit(spec, run_specs=run_specs, kind=kind)
