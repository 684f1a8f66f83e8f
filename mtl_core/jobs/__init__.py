"""Background training: one interface (`Backend`), two implementations (local processes, Ray).

    backend = get_backend(store=store)            # --backend / $MTL_EXPLORER_BACKEND, default "local"
    experiment_id, run_ids = backend.submit(spec) # records the runs as queued and returns at once
    backend.status(experiment_id)                 # run dicts; also marks runs whose worker vanished
    backend.cancel(run_or_experiment_id)
    backend.resume(run_or_experiment_id)          # interrupted / cancelled runs go back to the queue
    backend.logs(run_id)                          # the worker's output plus the run's events

Nothing here imports torch: submitting must stay fast enough for a button press.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from mtl_core.errors import UserError

if TYPE_CHECKING:
    from mtl_core.spec import ExperimentSpec, RunSpec
    from mtl_core.store import Store

BACKENDS = ("local", "ray")
BACKEND_ENV = "MTL_EXPLORER_BACKEND"


@runtime_checkable
class Backend(Protocol):
    name: str
    store: "Store"

    def submit(self, spec: "ExperimentSpec", *, run_specs: "list[RunSpec] | None" = None,
               kind: str = "experiment") -> tuple[str, list[str]]:
        """Record the experiment (or the given runs of it) as queued, make sure something will run them, return."""

    def status(self, experiment_id: str | None = None) -> list[dict[str, Any]]:
        """Runs of one experiment (or the one run, given a run id; every run when None), after a liveness check."""

    def cancel(self, id: str) -> list[tuple[str, str]]:
        """Cancel a run or every queued/running run of an experiment; returns (run id, outcome) pairs."""

    def resume(self, id: str) -> list[str]:
        """Put interrupted/cancelled runs (of a run or experiment id) back in the queue; returns their ids."""

    def logs(self, run_id: str) -> str:
        """The worker's output for the run followed by the store's events."""


def backend_name(name: str | None = None) -> str:
    name = (name or os.environ.get(BACKEND_ENV) or "local").strip().lower()
    if name not in BACKENDS:
        raise UserError(f"backend: '{name}' is not one of {', '.join(BACKENDS)} (from --backend or ${BACKEND_ENV})",
                        field="backend")
    return name


def get_backend(name: str | None = None, store: "Store | str | os.PathLike | None" = None) -> Backend:
    """The backend called `name` (else $MTL_EXPLORER_BACKEND, else local) on `store` (a Store or a path)."""
    from mtl_core.store import Store

    if store is None or isinstance(store, (str, os.PathLike)):
        store = Store(store)
    name = backend_name(name)
    if name == "ray":
        from mtl_core.jobs.ray_backend import RayBackend

        return RayBackend(store)
    from mtl_core.jobs.local import LocalBackend

    return LocalBackend(store)


def backend_for_id(store: "Store", id: str, default: str | None = None) -> Backend:
    """The backend an existing experiment or run was submitted to (cancel/resume go to the right one)."""
    from mtl_core.jobs.common import resolve_runs

    _, runs = resolve_runs(store, id)
    experiment = store.experiment(runs[0]["experiment_id"]) if runs else None
    name = experiment["backend"] if experiment else default
    try:
        return get_backend(name if name in BACKENDS else default, store)
    except UserError:
        if name != "ray":
            raise
        # Ray is not installed here: status, logs and cancelling queued runs are store operations.
        from mtl_core.jobs.local import LocalBackend

        return LocalBackend(store)
