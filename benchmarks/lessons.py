"""Each teaching-lab lesson's runs at its default settings, through the real local backend (scheduler, warm
workers): seconds from submit to the last run finished, against one small run (the two synthetic tasks,
300 steps) measured in the same repeat.

    .venv/bin/python benchmarks/lessons.py [--lessons relatedness,weights,...] [--repeats R]

The lessons' goals (issue: live lessons) are absolute: relatedness ≤ 3 s, loss weights ≤ 15 s,
where to attach ≤ 10 s, languages ≤ 60 s; the ratio to the small run says how much of a lesson is its own
work rather than the machine's speed. Each repeat uses a fresh store and fresh workers: "cold" is the first
submission, "warm" the same runs again while the workers are still up (the lab's "run automatically" after
the first change); medians are printed. The page adds its own drawing on top (see the browser tests).
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

from dashboard import lessons  # noqa: E402
from mtl_core.jobs import get_backend  # noqa: E402
from mtl_core.spec import ExperimentSpec  # noqa: E402
from mtl_core.store import FINISHED_STATUSES, Store  # noqa: E402
from tests.dashboard_helpers import stop_processes  # noqa: E402

GOALS = {"relatedness": 3, "weights": 15, "attach": 10, "languages": 60}


def wall_seconds(spec, run_specs=None) -> tuple[float, float, int, list[str]]:
    """(cold, warm, runs, statuses): the first submission on a fresh store and workers, then the same runs
    submitted again while its workers are still warm (a teacher moving a slider a second time)."""
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "runs.sqlite")
        backend = get_backend("local", store)
        times, statuses = [], set()
        for _ in range(2):
            start = time.monotonic()
            _, run_ids = backend.submit(spec, run_specs=run_specs) if run_specs else backend.submit(spec)
            while not all(store.run(r)["status"] in FINISHED_STATUSES for r in run_ids):
                time.sleep(0.1)
            times.append(time.monotonic() - start)
            statuses |= {store.run(r)["status"] for r in run_ids}
        stop_processes(store.path)
        return times[0], times[1], len(run_ids), sorted(statuses)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lessons", default=",".join(GOALS))
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    small = ExperimentSpec(tasks=["synth_1", "synth_2"], steps=300, baselines=False).validated()
    for lesson in [name.strip() for name in args.lessons.split(",")]:
        spec, runs = lessons.lesson_runs(lesson, lessons.defaults(lesson))
        cold, warm, references = [], [], []
        for _ in range(args.repeats):
            references.append(wall_seconds(small)[1])
            first, again, count, statuses = wall_seconds(spec, runs)
            cold.append(first)
            warm.append(again)
        cold_s, warm_s, reference_s = (statistics.median(v) for v in (cold, warm, references))
        print(f"{lesson:12s} {count:2d} runs ({', '.join(statuses)}): cold {cold_s:5.1f} s, warm {warm_s:5.1f} s = "
              f"{warm_s / reference_s:4.1f}× one warm small run ({reference_s:.1f} s); goal ≤ {GOALS.get(lesson, '—')} s; "
              f"load average {os.getloadavg()[0]:.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
