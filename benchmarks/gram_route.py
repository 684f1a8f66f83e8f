"""The Gram route against the materialised per-task gradients: step-time ratios to a plain step, and peak memory.

    .venv/bin/python benchmarks/gram_route.py [--steps N] [--repeats R] [--setups medium,bilstm,...]

Per setup, every side is a Trainer on the same model and batches, timed in blocks that alternate between
the sides (median block CPU time of this process; absolute times printed for context only), one CPU
thread, denormals flushed:
- plain: a summed-loss step, no per-task gradients (conflict_every = 0);
- conflict logging every step and every 10 steps, by the materialised route and by the Gram route;
- the Gram-based methods (MGDA, UPGrad, IMTL-G, PCGrad, CAGrad) by either route.
Then the peak resident memory of 40 conflict-every-step training steps by either route, each in a fresh
process (ru_maxrss), beside that of plain steps.

Goals (medium trunk: 3 synthetic tasks, MLP 100 → 1024 → 1024, batch 32): conflict every step ≤ 1.7×,
every 10 steps ≤ 1.05×, Gram-based methods ≤ 2.0×, peak memory no more than the materialised route's.
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from mtl_core.spec import ExperimentSpec, RunSpec  # noqa: E402
from mtl_core.train.loop import Trainer  # noqa: E402
from mtl_core.train.runner import build_vocabulary, configure_threads, load_experiment_data  # noqa: E402

SETUPS = {
    "medium": dict(tasks=["synth_1", "synth_2", "synth_3"], hidden_size=1024, encoder_layers=2, max_train_examples=2000),
    "small": dict(tasks=["synth_1", "synth_2", "synth_3"], hidden_size=256, encoder_layers=3, max_train_examples=2000),
    "bilstm": dict(tasks=["atis_intent", "atis_slots"], encoder="bilstm", max_train_examples=2000),
    "transformer": dict(tasks=["atis_intent", "atis_slots"], encoder="transformer", max_train_examples=2000),
}
METHODS = ("mgda", "upgrad", "imtl_g", "pcgrad", "cagrad")


class NullRecorder:
    def metric(self, *args): pass
    def conflict(self, *args): pass
    def affinity(self, *args): pass
    def tick(self, step): pass


def make_trainer(options: dict, **extra) -> Trainer:
    spec = ExperimentSpec(**options, dropout=0.0, batch_size=32, **extra).validated()
    data = load_experiment_data(spec, 0)
    run = RunSpec(kind="mtl", tasks=spec.tasks, seed=0, experiment=spec)
    return Trainer(run, data, build_vocabulary(spec, data), 10**6, torch.device("cpu"))


def stepper(trainer: Trainer, every: int | None):
    """One training step per call; `every`: measure conflict every k steps (None: never)."""
    counter = [0]

    def step():
        counter[0] += 1
        trainer.train_step(counter[0], NullRecorder(), measure=bool(every) and counter[0] % every == 0)
    return step


def ratios(sides: dict, steps: int, repeats: int) -> dict[str, float]:
    times = {name: [] for name in sides}
    for fn in sides.values():  # warm-up
        for _ in range(3):
            fn()
    for _ in range(repeats):
        for name, fn in sides.items():
            start = time.process_time()  # this process's CPU time: a loaded shared machine moves it least
            for _ in range(steps):
                fn()
            times[name].append(time.process_time() - start)
    base = statistics.median(times["plain"])
    print(f"    plain step: {1000 * base / steps:.2f} ms")
    return {name: statistics.median(t) / base for name, t in times.items()}


def setup_ratios(name: str, steps: int, repeats: int) -> dict:
    options = SETUPS[name]
    sides = {"plain": stepper(make_trainer(options, conflict_every=0), None)}
    covered = None
    for route in ("materialised", "auto"):
        label = "gram" if route == "auto" else route
        for every in (1, 10):
            trainer = make_trainer(options, conflict_every=every, gradient_route=route)
            sides[f"conflict every {every}, {label}"] = stepper(trainer, every)
            if route == "auto" and every == 1:
                covered = trainer
    if name == "medium":
        for method in METHODS:
            for route in ("materialised", "auto"):
                trainer = make_trainer(options, conflict_every=0, weighting=method, gradient_route=route)
                sides[f"{method}, {'gram' if route == 'auto' else route}"] = stepper(trainer, None)
    out = ratios(sides, steps, repeats)
    route = covered.gram_route
    routes = dict(route.last_covered) if route is not None else {"materialised": "every parameter (no shared linear)"}
    return {"ratios": out, "routes": routes}


MEMORY_CODE = """
import resource, sys, torch
sys.path.insert(0, {root!r})
from benchmarks.gram_route import make_trainer, SETUPS, stepper
from mtl_core.train.runner import configure_threads
configure_threads(1); torch.set_flush_denormal(True)
route, every = sys.argv[1], sys.argv[2]
trainer = make_trainer(SETUPS["medium"], conflict_every=int(every), gradient_route=route)
step = stepper(trainer, int(every) or None)
for _ in range(40):
    step()
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def peak_memory() -> dict[str, float]:
    """Peak RSS in MiB of 40 medium-trunk steps in a fresh process: plain, and conflict every step by each route."""
    out = {}
    for label, route, every in (("plain", "auto", "0"), ("materialised", "materialised", "1"), ("gram", "auto", "1")):
        result = subprocess.run([sys.executable, "-c", MEMORY_CODE.format(root=str(ROOT)), route, every],
                                capture_output=True, text=True, check=True, cwd=ROOT)
        out[label] = int(result.stdout.split()[-1]) / 1024
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--setups", default="medium,small,bilstm,transformer")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    configure_threads(1)
    torch.set_flush_denormal(True)
    results = {}
    for name in args.setups.split(","):
        print(f"{name}: {SETUPS[name]}")
        results[name] = setup_ratios(name, args.steps, args.repeats)
        for side, ratio in results[name]["ratios"].items():
            print(f"  {side:40} {ratio:5.2f}x")
        print(f"  routes: {results[name]['routes']}")
    memory = peak_memory()
    print("peak RSS, 40 medium-trunk steps (MiB): " + ", ".join(f"{k} {v:.0f}" for k, v in memory.items()))
    medium = results.get("medium", {}).get("ratios", {})
    if medium:
        goals = {
            "conflict every step ≤ 1.7×": medium["conflict every 1, gram"] <= 1.7,
            "conflict every 10 steps ≤ 1.05×": medium["conflict every 10, gram"] <= 1.05,
            "Gram-based methods ≤ 2.0×": all(medium[f"{m}, gram"] <= 2.0 for m in METHODS),
            "peak memory ≤ the materialised route's": memory["gram"] <= memory["materialised"] * 1.02,
        }
        for goal, met in goals.items():
            print(f"  goal {goal}: {'met' if met else 'NOT met'}")
    if args.json:
        print(json.dumps({"setups": results, "peak_rss_mib": memory}))


if __name__ == "__main__":
    main()
