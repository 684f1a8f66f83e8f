"""What pages read, in one place: the store and backend handles, the task catalog, the device, the run queries.

Handles and slow lookups are cached (st.cache_resource / st.cache_data); run data is read fresh on
every call because workers write it while the page polls. The store is `$MTL_EXPLORER_STORE` if
set, else the default store in the data home; the cache is keyed by that path, so a test that
points the variable at a temporary file gets its own handle.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from mtl_core.store import FINISHED_STATUSES, Store

STORE_ENV = "MTL_EXPLORER_STORE"
ACTIVE_STATUSES = ("queued", "running")


def store_path() -> Path:
    env = os.environ.get(STORE_ENV)
    if env:
        return Path(env).expanduser()
    from mtl_core.paths import default_store_path

    return default_store_path()


@st.cache_resource(show_spinner=False)
def _store(path: str, readonly: bool) -> Store:
    return Store(path, readonly=readonly)


def store() -> Store:
    """The handle pages read through: it never writes, so a read-only store or data home still shows its runs.
    The writing handle opens first, so that a new data home gets its empty store and an old store its schema."""
    path = str(store_path())
    _store(path, readonly=False)
    return _store(path, readonly=True)


def backend():
    """The background backend ($MTL_EXPLORER_BACKEND, default local) on the dashboard's store (writing handle)."""
    from mtl_core.jobs import get_backend

    return get_backend(store=_store(str(store_path()), readonly=False))


@st.cache_data(show_spinner="Reading the task catalog…")
def catalog(home: str) -> list[dict[str, Any]]:
    """Every task's card (available or not). `home` keys the cache by data home (user tasks live there)."""
    from mtl_core.tasks import card_dict, list_tasks

    return [card_dict(source.card.id) for source in list_tasks()]


def cards() -> dict[str, dict[str, Any]]:
    from mtl_core.paths import data_home

    return {card["id"]: card for card in catalog(str(data_home()))}


def clear_catalog() -> None:
    """After a user task is added, so that it appears in the picker at once."""
    catalog.clear()


@st.cache_resource(show_spinner=False)
def device_description() -> str:
    """The device `auto` will pick: the CUDA GPU's name, Apple MPS, else the CPU. Read from the driver without
    importing torch (seconds on a small machine, on the first paint of the New experiment page): the GPUs the
    scheduler counts (/proc/driver/nvidia, else `nvidia-smi`), their names from the same places."""
    import platform
    import sys

    from mtl_core.jobs.scheduler import gpu_count

    if gpu_count():
        return f"GPU: {_gpu_name()}"
    if sys.platform == "darwin" and platform.machine() == "arm64":
        return "Apple GPU (MPS)"
    return f"CPU ({os.cpu_count()} cores)"


def _gpu_name() -> str:
    from pathlib import Path

    for info in sorted(Path("/proc/driver/nvidia/gpus").glob("*/information")):
        for line in info.read_text(errors="replace").splitlines():
            if line.startswith("Model:"):
                return line.split(":", 1)[1].strip()
    import shutil
    import subprocess

    if shutil.which("nvidia-smi"):
        try:
            out = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True,
                                 text=True, timeout=10).stdout.strip().splitlines()
            if out:
                return out[0].strip()
        except (OSError, subprocess.SubprocessError):
            pass
    return "NVIDIA (name not reported)"


@st.cache_resource(show_spinner=False)
def worker_slots() -> int:
    """How many runs the local scheduler trains at once on this machine."""
    from mtl_core.jobs.scheduler import resource_plan

    return resource_plan().slots


# ---- run data (never cached: workers write it while pages poll) ----------------------------------
def experiments() -> pd.DataFrame:
    return store().experiments()


def runs(experiment_id: str) -> list[dict[str, Any]]:
    """The runs as the store has them. Pages never check liveness (that writes): the scheduler / Ray driver
    marks a run whose worker died, and the page shows it on its next poll."""
    return store().runs(experiment_id)


def run_log(run_id: str, tail_bytes: int, tail_events: int) -> str:
    """The end of a run's worker output and events, read from their ends (a long log costs no more)."""
    from mtl_core.jobs.common import logs_text

    return logs_text(store(), run_id, tail_bytes=tail_bytes, tail_events=tail_events)


def all_runs() -> list[dict[str, Any]]:
    return store().runs()


def metrics(run_ids: list[str]) -> pd.DataFrame:
    return store().metrics(run_ids)


def has_metrics(run_ids: list[str]) -> bool:
    return store().has_metrics(run_ids)


def conflict(run_ids: list[str]) -> pd.DataFrame:
    return store().conflict(run_ids)


def is_finished(run_list: list[dict[str, Any]]) -> bool:
    return all(r["status"] in FINISHED_STATUSES for r in run_list)


def poll_action(poll: float | None, pace: float | None, quick: float, first_drawn: bool) -> str:
    """What a polling view does on one poll at `poll` s when its data call for `pace` (None: stop polling):
    'wait' (polling quickly for a first point, nothing to draw), 'draw', 'draw_first' (the quick poll found
    the first point: draw it now, and rerun at the new pace on the next poll), or 'rerun' (the whole view
    once more at its new pace)."""
    if poll and pace != poll:
        return "draw_first" if poll == quick and pace is not None and not first_drawn else "rerun"
    return "wait" if poll == quick else "draw"


def experiment_label(row: Any) -> str:
    """'name · tasks (sharing) · created · exp-…' for pickers (row: an experiments() row as a Series or dict).

    No run counts here: a picker is drawn once per page run, the run view updates live.
    """
    import json
    import time

    spec = json.loads(row["spec_json"])
    parts = [row["name"]] if row["name"] else []
    parts += [f"{'+'.join(spec.get('tasks', []))} ({spec.get('sharing', '?')})",
              time.strftime("%Y-%m-%d %H:%M", time.localtime(row["created_at"])), row["id"]]
    return " · ".join(parts)


@st.cache_data(show_spinner=False, max_entries=512)
def _experiment_summary(path: str, experiment_id: str, runs_state: str) -> dict[str, Any]:
    from mtl_core.analysis.summary import experiment_summary as summarise

    return summarise(store(), experiment_id)


def experiment_summary(experiment_id: str) -> dict[str, Any]:
    """The experiment's summary as `show --json` prints it: its runs and each multi-task configuration against
    its matched baselines (Δ_t, Δm). Kept until one of its runs moves on (a step, a status), so a page over many
    finished experiments does not compare them all again on every rerun."""
    import json

    state = json.dumps([(r["id"], r["status"], r["step"]) for r in store().runs(experiment_id)])
    return _experiment_summary(str(store_path()), experiment_id, state)


@st.cache_data(show_spinner=False)
def _task_card(home: str, task: str) -> dict[str, Any] | None:
    from mtl_core.errors import UserError
    from mtl_core.tasks import get_task

    try:
        return get_task(task).card.to_dict()
    except UserError:
        return None


def task_cards(tasks: list[str]) -> dict[str, dict[str, Any]]:
    """The cards (name, metric, direction, ...) of these tasks only, without their availability or sizes (which
    cards() reads for every task: a minute in a new data home); a task no longer in the catalog (a removed
    upload) is left out."""
    from mtl_core.paths import data_home

    cards = {task: _task_card(str(data_home()), task) for task in tasks}
    return {task: card for task, card in cards.items() if card is not None}
