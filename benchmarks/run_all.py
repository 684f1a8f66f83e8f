"""Ratio benchmarks of the training engine, each against a baseline measured in the same process.

    .venv/bin/python benchmarks/run_all.py [--steps N] [--repeats R]

1. engine step vs a plain hand-written PyTorch step (one forward of the trunk for the tasks, which read the same
   rows, Σ λ_t L_t, backward, step) on the same
   model and the same batches (goal ≤ 1.05×);
2. conflict recording every k = 10 steps vs none (goal ≤ 1.10×);
3. conflict recording every step with three tasks vs none (aim ≤ 1.7×);
4. the response times a user waits for, in seconds (there is no baseline to divide them by): submit
   (goal < 1.5 s) and a second load of each real task from the cache (goal < 1 s). The tests only
   guard these against hangs.

The step cost of each loss-weighting method (and of TorchJD's own path for the same methods) is measured by
benchmarks/weighting_cost.py, which writes mtl_core/weighting/costs.json (`--write`); it takes several
minutes, so it is not run from here.

Blocks of steps alternate between the two sides and the median block time is compared, so drift of
a shared, noisy machine hits both sides alike. Absolute times are printed for context only.
"""
from __future__ import annotations

import argparse
import copy
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from mtl_core import text  # noqa: E402
from mtl_core.jobs import common  # noqa: E402
from mtl_core.spec import ExperimentSpec, RunSpec  # noqa: E402
from mtl_core.store import Store  # noqa: E402
from mtl_core.tasks import list_tasks, load_task  # noqa: E402
from mtl_core.tasks.synthetic import FAMILY as SYNTHETIC_FAMILY  # noqa: E402
from mtl_core.train.loop import Trainer  # noqa: E402
from mtl_core.train.runner import build_vocabulary, configure_threads, load_experiment_data  # noqa: E402

SETUPS = {
    "mlp, 3 synthetic tasks": dict(tasks=["synth_1", "synth_2", "synth_3"], hidden_size=256, encoder_layers=3),
    "bilstm, ATIS intent + slots": dict(tasks=["atis_intent", "atis_slots"], max_train_examples=2000),
}


class NullRecorder:
    def metric(self, *args): pass
    def conflict(self, *args): pass
    def tick(self, step): pass


def make_trainer(options: dict) -> Trainer:
    spec = ExperimentSpec(**options, dropout=0.0).validated()
    data = load_experiment_data(spec, 0)
    run = RunSpec(kind="mtl", tasks=spec.tasks, seed=0, experiment=spec)
    return Trainer(run, data, build_vocabulary(spec, data), 10**6, torch.device("cpu"))


def time_block(fn, steps: int) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        fn()
    return time.perf_counter() - start


def compare(label: str, baseline, candidate, steps: int, repeats: int) -> float:
    baseline_times, candidate_times = [], []
    time_block(baseline, 5), time_block(candidate, 5)  # warm-up
    for _ in range(repeats):
        baseline_times.append(time_block(baseline, steps))
        candidate_times.append(time_block(candidate, steps))
    b, c = statistics.median(baseline_times), statistics.median(candidate_times)
    print(f"  {label:58} {c / b:5.2f}x   ({1000 * b / steps:6.2f} ms vs {1000 * c / steps:6.2f} ms per step)")
    return c / b


def engine_vs_plain(trainer: Trainer, steps: int, repeats: int) -> float:
    """The engine's train_step vs a hand-written step on a copy of the model fed the same batches."""
    model = copy.deepcopy(trainer.model)
    optimizer = torch.optim.Adam(model.parameters(), lr=trainer.spec.lr)
    streams = copy.deepcopy(trainer.streams)
    weights = trainer.weights

    def plain():
        # As one would write it by hand: the tasks read the same rows, so the trunk runs once and each head
        # reads the layer it is attached to.
        batches = {t: trainer._batch(t, streams[t].next_rows()) for t in trainer.tasks}
        optimizer.zero_grad(set_to_none=True)
        first = batches[trainer.tasks[0]]
        out = model.encoders["shared"](first, upto=max(model.head_layers.values()))
        loss = sum(weights[t] * model.heads[t](out.layers[model.head_layers[t] - 1], out.mask, b["targets"])[0]
                   for t, b in batches.items())
        loss.backward()
        optimizer.step()

    step = [0]

    def engine():
        step[0] += 1
        trainer.train_step(step[0], NullRecorder(), measure=False)

    return compare("engine step vs plain PyTorch step", plain, engine, steps, repeats)


def conflict_overhead(trainer: Trainer, every: int, steps: int, repeats: int) -> float:
    other = copy.deepcopy(trainer)
    counters = [0, 0]

    def plain():
        counters[0] += 1
        other.train_step(counters[0], NullRecorder(), measure=False)

    def measured():
        counters[1] += 1
        trainer.train_step(counters[1], NullRecorder(), measure=counters[1] % every == 0)

    label = f"conflict every {every} step{'s' if every > 1 else ''} ({len(trainer.tasks)} tasks) vs none"
    return compare(label, plain, measured, steps, repeats)


def submit_seconds() -> float:
    """What `submit` waits for in a fresh process, after its imports: validating the spec (which loads
    the catalog), recording the runs, checking that a scheduler serves the store. This process holds
    the store's scheduler lock meanwhile, as a running scheduler would, so nothing trains."""
    code = ("import sys, time; from mtl_core.jobs import get_backend; from mtl_core.spec import ExperimentSpec; "
            "backend = get_backend('local', store=sys.argv[1]); start = time.perf_counter(); "
            "backend.submit(ExperimentSpec(tasks=['synth_1', 'synth_2'], baselines=False)); "
            "print(time.perf_counter() - start)")
    with tempfile.TemporaryDirectory() as folder:
        store = Store(Path(folder) / "runs.sqlite")
        scheduler_lock = common.try_lock(common.lock_path(store, "scheduler"))
        try:
            out = subprocess.run([sys.executable, "-c", code, str(store.path)], capture_output=True, text=True,
                                 check=True, cwd=ROOT)
        finally:
            scheduler_lock.close()
    return float(out.stdout.split()[-1])


def cached_load_seconds(task_id: str) -> float:
    """A second load as a fresh process does it: source files hashed again, parsed data read from the cache."""
    load_task(task_id)
    text._file_digests.clear()
    start = time.perf_counter()
    load_task(task_id)
    return time.perf_counter() - start


def response_times(repeats: int) -> None:
    print(f"\nresponse times, seconds (median of {repeats}; goals: submit < 1.5 s, a cached load < 1 s)")
    seconds = statistics.median(submit_seconds() for _ in range(repeats))
    print(f"  {'submit (2 tasks, a fresh process)':58} {seconds:5.2f} s")
    for source in list_tasks():
        if source.card.family != SYNTHETIC_FAMILY and source.availability().available:
            seconds = statistics.median(cached_load_seconds(source.card.id) for _ in range(repeats))
            print(f"  {'cached load of ' + source.card.id:58} {seconds:5.2f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40, help="steps per timed block")
    parser.add_argument("--repeats", type=int, default=7, help="alternating blocks per side")
    args = parser.parse_args()
    configure_threads(1)  # one thread, denormals flushed: the settings workers train with
    print(f"torch {torch.__version__}, 1 CPU thread; ratios = candidate / baseline (median of {args.repeats} blocks)")
    for name, options in SETUPS.items():
        print(f"\n{name}")
        engine_vs_plain(make_trainer(options), args.steps, args.repeats)
        conflict_overhead(make_trainer(options), 10, args.steps, args.repeats)
        conflict_overhead(make_trainer(options), 1, args.steps, args.repeats)
    response_times(args.repeats)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
