"""The background queue as a user meets it, through the real local backend (scheduler, worker processes).

    .venv/bin/python benchmarks/background_queue.py [--steps N] [--repeats R]

1. baselines concurrency: an experiment's multi-task run plus its single-task baselines, wall time from
   submit to the last run's end, against the multi-task run submitted alone (goal ≤ 1.5×);
2. warm workers: three runs queued on one slot, trained by one warm worker, against the same three with
   a fresh interpreter per run (MTL_EXPLORER_WORKER_IDLE_SECONDS=0, how every run started before);
3. first plotted point: seconds from submit to the run's first recorded row, with a warm worker waiting
   and from cold (no scheduler, no worker), and their ratio.

Each repeat uses a fresh store; the two sides of each comparison alternate, and medians are compared, so the
drift of a shared machine hits both alike. Absolute seconds are printed for context only.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ["PYTHONPATH"] = str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")

from mtl_core.jobs import get_backend  # noqa: E402
from mtl_core.spec import ExperimentSpec  # noqa: E402
from mtl_core.store import FINISHED_STATUSES, Store  # noqa: E402
from tests.dashboard_helpers import stop_processes  # noqa: E402

TASKS = ["synth_1", "synth_2"]


def spec(steps: int, baselines: bool, seed: int = 0) -> ExperimentSpec:
    return ExperimentSpec(tasks=TASKS, steps=steps, baselines=baselines, seeds=[seed], max_train_examples=300,
                          max_eval_examples=100).validated()


def wait(store: Store, run_ids: list[str], timeout: float = 900) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = [store.run(r) for r in run_ids]
        if all(r["status"] in FINISHED_STATUSES for r in runs):
            bad = [r for r in runs if r["status"] != "completed"]
            if bad:
                raise RuntimeError(f"a run did not complete: {bad[0]['error']}")
            return
        time.sleep(0.05)
    raise RuntimeError(f"runs {run_ids} did not finish in {timeout} s")


class Session:
    """A fresh store with its own scheduler and workers, torn down at the end."""

    def __init__(self, **env: str):
        self.folder = tempfile.TemporaryDirectory()
        self.path = Path(self.folder.name) / "runs.sqlite"
        self.env = env

    def __enter__(self):
        self.saved = {k: os.environ.get(k) for k in self.env}
        os.environ.update(self.env)
        self.backend = get_backend("local", store=Store(self.path))
        return self

    def __exit__(self, *exc):
        stop_processes(self.path)
        for key, value in self.saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self.folder.cleanup()

    def submit_and_wait(self, experiment: ExperimentSpec) -> float:
        start = time.perf_counter()
        _, run_ids = self.backend.submit(experiment)
        wait(self.backend.store, run_ids)
        return time.perf_counter() - start

    def first_point(self, experiment: ExperimentSpec) -> float:
        start = time.perf_counter()
        _, [run_id] = self.backend.submit(experiment)
        store = self.backend.store
        while store.metrics([run_id]).empty:
            time.sleep(0.02)
        seconds = time.perf_counter() - start
        wait(store, [run_id])
        return seconds


def baselines_concurrency(steps: int, repeats: int) -> None:
    alone, together = [], []
    for _ in range(repeats):
        with Session() as session:
            alone.append(session.submit_and_wait(spec(steps, baselines=False)))
        with Session() as session:
            together.append(session.submit_and_wait(spec(steps, baselines=True)))
    a, t = statistics.median(alone), statistics.median(together)
    print(f"  {'multi-task + 2 baselines vs multi-task alone (goal <= 1.5x)':64} {t / a:5.2f}x   "
          f"({a:.1f} s vs {t:.1f} s)")


def warm_vs_fresh(steps: int, repeats: int) -> None:
    fresh, warm = [], []
    for _ in range(repeats):
        for idle, times in (("0", fresh), ("60", warm)):
            with Session(MTL_EXPLORER_MAX_WORKERS="1", MTL_EXPLORER_WORKER_THREADS="1",
                         MTL_EXPLORER_WORKER_IDLE_SECONDS=idle) as session:
                start = time.perf_counter()
                run_ids = [session.backend.submit(spec(steps, baselines=False, seed=s))[1][0] for s in range(3)]
                wait(session.backend.store, run_ids)
                times.append(time.perf_counter() - start)
    f, w = statistics.median(fresh), statistics.median(warm)
    print(f"  {'three queued runs, one warm worker vs a fresh process per run':64} {w / f:5.2f}x   "
          f"({f:.1f} s vs {w:.1f} s)")


def first_point(steps: int, repeats: int) -> None:
    cold, warm = [], []
    for _ in range(repeats):
        with Session() as session:
            cold.append(session.first_point(spec(steps, baselines=False)))
            warm.append(session.first_point(spec(steps, baselines=False, seed=1)))  # the worker is still warm
    c, w = statistics.median(cold), statistics.median(warm)
    print(f"  {'first plotted point after submit, warm worker vs cold':64} {w / c:5.2f}x   "
          f"({c:.2f} s cold vs {w:.2f} s warm; goal: warm <= 2 s)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300, help="steps per run (two synthetic tasks)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"the local queue, {args.steps}-step runs on two synthetic tasks (median of {args.repeats})")
    baselines_concurrency(args.steps, args.repeats)
    warm_vs_fresh(args.steps, args.repeats)
    first_point(args.steps, args.repeats)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
