"""The local backend: runs are queued in the store and trained by detached worker processes.

submit() only writes to the store and makes sure the per-store scheduler (mtl_core.jobs.scheduler)
is alive; it never imports torch. Everything else (starting workers, the concurrency limit, hard
kills after a cancel, marking dead workers) is the scheduler's, so no dashboard process needs to stay up.
"""
from __future__ import annotations

from mtl_core.jobs import common

SCHEDULER_MODULE = "mtl_core.jobs.scheduler"


class LocalBackend(common.QueueBackend):
    name = "local"
    runner_role = "scheduler"
    runner_module = SCHEDULER_MODULE
