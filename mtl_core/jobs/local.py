"""The local backend: runs are queued in the store and trained by detached worker processes.

submit() only writes to the store and makes sure the per-store scheduler (mtl_core.jobs.scheduler)
is alive; it never imports torch. Everything else (starting workers, the concurrency limit, hard
kills after a cancel, marking dead workers) is the scheduler's, so no dashboard process needs to stay up.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mtl_core.jobs import common

if TYPE_CHECKING:
    from mtl_core.spec import ExperimentSpec, RunSpec
    from mtl_core.store import Store

SCHEDULER_MODULE = "mtl_core.jobs.scheduler"


class LocalBackend:
    name = "local"

    def __init__(self, store: "Store"):
        self.store = store

    def ensure_scheduler(self) -> bool:
        return common.ensure_singleton(self.store, "scheduler", SCHEDULER_MODULE)

    def submit(self, spec: "ExperimentSpec", *, run_specs: "list[RunSpec] | None" = None,
               kind: str = "experiment") -> tuple[str, list[str]]:
        spec = spec.validated()
        runs = common.run_dicts(spec, run_specs)
        experiment_id, run_ids = self.store.create_experiment(spec.to_json(), runs, name=spec.name, kind=kind,
                                                              backend=self.name)
        self.ensure_scheduler()
        return experiment_id, run_ids

    def status(self, experiment_id: str | None = None) -> list[dict[str, Any]]:
        _, runs = common.resolve_runs(self.store, experiment_id)
        if common.check_liveness(self.store, runs):
            _, runs = common.resolve_runs(self.store, experiment_id)
        if any(r["status"] == "queued" for r in runs) and self.store.runs_for_backend(self.name, ["queued"]):
            self.ensure_scheduler()  # e.g. after a reboot: queued runs need someone to start them
        return runs

    def cancel(self, id: str) -> list[tuple[str, str]]:
        common.check_liveness(self.store, common.resolve_runs(self.store, id)[1])
        out = common.cancel_runs(self.store, id)
        if any(outcome == "cancelling" for _, outcome in out):
            self.ensure_scheduler()  # it enforces the hard kill after the timeout
        return out

    def resume(self, id: str) -> list[str]:
        common.check_liveness(self.store, common.resolve_runs(self.store, id)[1])
        resumed = common.requeue_runs(self.store, id)
        if resumed:
            self.ensure_scheduler()
        return resumed

    def logs(self, run_id: str) -> str:
        return common.logs_text(self.store, run_id)
