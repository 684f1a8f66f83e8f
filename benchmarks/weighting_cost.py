"""Step cost of every loss-weighting method, as a ratio to a plain summed-loss step measured in the same run.

    .venv/bin/python benchmarks/weighting_cost.py [--steps N] [--repeats R] [--methods a,b] [--setups small,medium]
                                                  [--write]

Baseline: the engine's static method with conflict_every = 0, i.e. one backward pass of Σ_t L_t. Each method:
the engine's `train_step` with that method. A gradient-based method takes the per-task gradients and their Gram
on every step anyway, and the loop then records conflict on every step (measure=True, as `fit` does under the
default conflict_every); that logging is included in its figure (into a recorder that drops the rows). A
loss-based method is timed without conflict logging (measure=False), like the baseline.

Setups (one torch thread, denormals flushed, as workers train):
  small:  2 synthetic tasks, MLP 100 → 16 → 16, batch 32 (Python overhead dominates)
  medium: 3 synthetic tasks, MLP 100 → 1024 → 1024, batch 32 (gradient arithmetic dominates)

On the medium trunk the script also times, in the same alternation, TorchJD's own path for the methods TorchJD
has an aggregator for (`torchjd.autojac.mtl_backward` then `jac_to_grad` with UPGrad(), MGDA(), ...) on a copy
of the same model fed the same batches, and "static with conflict logged every step" (the floor of exact
per-task gradients). Blocks of steps rotate between the sides and the median block time is compared, so drift
of a shared, noisy machine hits all sides alike; blocks are timed by the process's CPU time (--clock wall for
elapsed time), and every comparison gets a fresh baseline trainer, as old as the trainer it is compared with. `--write` stores the ratios in mtl_core/weighting/costs.json,
which `python -m mtl_core weightings`, the dashboard and the README's table read.
"""
from __future__ import annotations

import argparse
import copy
import datetime
import json
import math
import os
import platform
import shlex
import statistics
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from mtl_core import weighting  # noqa: E402
from mtl_core.spec import ExperimentSpec, RunSpec  # noqa: E402
from mtl_core.train.loop import Trainer  # noqa: E402
from mtl_core.train.runner import build_vocabulary, configure_threads, load_experiment_data  # noqa: E402

SETUPS = {
    "small": dict(tasks=["synth_1", "synth_2"], hidden_size=16, encoder_layers=2, batch_size=32),
    "medium": dict(tasks=["synth_1", "synth_2", "synth_3"], hidden_size=1024, encoder_layers=2, batch_size=32),
}
DESCRIPTIONS = {
    "small": "2 synthetic tasks, MLP 100 → 16 → 16, batch 32, 1 CPU thread",
    "medium": "3 synthetic tasks, MLP 100 → 1024 → 1024, batch 32, 1 CPU thread",
}
# Steps per block on each setup at --steps 1 (a small step is ~25× cheaper, so it gets more of them).
STEP_SCALE = {"small": 5, "medium": 1}
CONFLICT_EVERY_STEP = "static + conflict every step"
ONE_FORWARD = "plain step, one shared forward"
EXTRAS = (CONFLICT_EVERY_STEP, ONE_FORWARD)
GRAM = "Gram of the T trunk gradients"  # conflict.layer_grams alone, as a share of a plain step


def torchjd_aggregators(n_tasks: int) -> dict:
    """Our method name -> a factory of TorchJD's own aggregator for it (the settings of our defaults)."""
    from torchjd import aggregation as agg

    return {
        "upgrad": agg.UPGrad,
        "mgda": agg.MGDA,
        "pcgrad": agg.PCGrad,
        "cagrad": lambda: agg.CAGrad(c=0.4),
        "imtl_g": agg.IMTLG,
        "aligned_mtl": agg.AlignedMTL,
        "nash_mtl": lambda: agg.NashMTL(n_tasks=n_tasks, max_norm=1.0, update_weights_every=1, optim_niter=20),
    }


class NullRecorder:
    """Drops every row (the store's writer is not what is being timed)."""

    def metric(self, *args): pass
    def conflict(self, *args): pass
    def affinity(self, *args): pass
    def tick(self, step): pass


def make_trainer(setup: str, method: str) -> Trainer:
    spec = ExperimentSpec(**SETUPS[setup], weighting=method, conflict_every=0, dropout=0.0,
                          max_train_examples=2048).validated()
    data = load_experiment_data(spec, 0)
    run = RunSpec(kind="mtl", tasks=spec.tasks, seed=0, experiment=spec)
    return Trainer(run, data, build_vocabulary(spec, data), 10**6, torch.device("cpu"))


def engine_step(trainer: Trainer, measure: bool):
    counter = [0]
    recorder = NullRecorder()

    def step():
        counter[0] += 1
        trainer.train_step(counter[0], recorder, measure=measure)

    return step


def torchjd_step(trainer: Trainer, aggregator):
    """TorchJD's MTL path on a copy of the trainer's model, fed the batches the trainer would see: one forward
    of the shared trunk, the heads on its features, `mtl_backward` (per-task head gradients, the Jacobian of the
    losses on the trunk), `jac_to_grad` with the aggregator, an Adam step."""
    from torchjd.autojac import jac_to_grad, mtl_backward

    model = copy.deepcopy(trainer.model)
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=trainer.spec.lr)
    streams = copy.deepcopy(trainer.streams)
    tasks = trainer.tasks
    shared = [p for params in model.shared_layer_groups(tasks[0]).values() for p in params]
    assert all(len(set(map(id, shared)) ^ {id(p) for ps in model.shared_layer_groups(t).values() for p in ps}) == 0
               and model.head_layers[t] == model.head_layers[tasks[0]] for t in tasks), "needs one shared trunk"
    heads = [model.head_parameters(t) for t in tasks]

    def step():
        batches = {t: trainer._batch(t, streams[t].next_rows()) for t in tasks}
        optimizer.zero_grad(set_to_none=True)
        # The tasks share their rows and their head layer: one forward of the trunk serves them all.
        features, mask = trunk_features(model, tasks[0], batches[tasks[0]])
        losses = [model.heads[t](features, mask, batches[t]["targets"])[0] for t in tasks]
        mtl_backward(losses, features=features, tasks_params=heads, shared_params=shared)
        jac_to_grad(shared, aggregator)
        optimizer.step()

    first = {t: trainer._batch(t, copy.deepcopy(trainer.streams[t]).next_rows()) for t in tasks}
    assert all(torch.equal(first[t]["x"], first[tasks[0]]["x"]) for t in tasks), "tasks must share their rows"
    return step


def one_forward_step(trainer: Trainer):
    """A hand-written summed-loss step on a copy of the model that runs the shared trunk once for all tasks (the
    engine runs it once per task): what the engine's plain step would cost with the forward shared."""
    model = copy.deepcopy(trainer.model)
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=trainer.spec.lr)
    streams = copy.deepcopy(trainer.streams)
    tasks = trainer.tasks

    def step():
        batches = {t: trainer._batch(t, streams[t].next_rows()) for t in tasks}
        optimizer.zero_grad(set_to_none=True)
        features, mask = trunk_features(model, tasks[0], batches[tasks[0]])
        sum(model.heads[t](features, mask, batches[t]["targets"])[0] for t in tasks).backward()
        optimizer.step()

    return step


def gram_ms(trainer: Trainer, repeats: int) -> float:
    """Milliseconds of the Gram of T per-task trunk gradients (conflict.layer_grams), median of `repeats` x 10."""
    from mtl_core.train import conflict

    groups = trainer.model.shared_layer_groups(trainer.tasks[0])
    grads = {t: {layer: [torch.randn_like(p) for p in params] for layer, params in groups.items()}
             for t in trainer.tasks}
    conflict.layer_grams(grads)
    return 100 * statistics.median(time_block(lambda: conflict.layer_grams(grads), 10) for _ in range(repeats))


def trunk_features(model, task: str, batch):
    """(what task's head reads, mask) from the shared trunk."""
    if callable(getattr(type(model), "features", None)):
        return model.features(task, batch)
    layer = model.head_layers[task]
    out = model.encoder_for(task)(batch, upto=layer)
    return out.layers[layer - 1], out.mask


# The clock blocks are timed with: the process's CPU time by default (one torch thread), so the time the
# process waits while other work holds the shared cores is not counted; --clock wall for elapsed time.
CLOCKS = {"cpu": time.process_time, "wall": time.perf_counter}
clock = CLOCKS["cpu"]


def time_block(fn, steps: int) -> float:
    start = clock()
    for _ in range(steps):
        fn()
    return clock() - start


def compare(sides: dict, steps: int, repeats: int, warmup: int) -> dict[str, float]:
    """{side: median block seconds}; the first side is the baseline. The order of the sides is reversed on
    every other round, so no side always runs right after the same other one."""
    names = list(sides)
    for name in names:
        time_block(sides[name], warmup)
    times = {name: [] for name in names}
    for round_ in range(repeats):
        for name in (names if round_ % 2 == 0 else names[::-1]):
            times[name].append(time_block(sides[name], steps))
    return {name: statistics.median(values) for name, values in times.items()}


def measure_setup(setup: str, methods: list[str], steps: int, repeats: int, warmup: int, torchjd: bool) -> list[dict]:
    cls_of = weighting.methods()
    jd = torchjd_aggregators(len(SETUPS[setup]["tasks"])) if torchjd else {}
    rows = []
    todo = list(methods) + (list(EXTRAS) if torchjd else [])
    for name in todo:
        started = time.perf_counter()
        # A fresh baseline for every comparison: both sides start as new trainers of the same age (a trainer
        # reused for the whole run drifted faster than the fresh ones it was compared with).
        baseline_trainer = make_trainer(setup, "static")
        baseline = engine_step(baseline_trainer, measure=False)
        if name == CONFLICT_EVERY_STEP:
            sides = {"baseline": baseline, "ours": engine_step(make_trainer(setup, "static"), measure=True)}
        elif name == ONE_FORWARD:
            sides = {"baseline": baseline, "ours": one_forward_step(make_trainer(setup, "static"))}
        else:
            trainer = make_trainer(setup, name)
            sides = {"baseline": baseline, "ours": engine_step(trainer, measure=trainer.method.uses_gradients)}
            if name in jd:
                sides["torchjd"] = torchjd_step(trainer, jd[name]())
        medians = compare(sides, steps, repeats, warmup)
        b = medians["baseline"]
        row = {"setup": setup, "method": name, "baseline_ms": 1000 * b / steps,
               "family": cls_of[name].family if name in cls_of else "static",
               "source": cls_of[name].source if name in cls_of else "ours",
               "ratio": medians["ours"] / b, "ms": 1000 * medians["ours"] / steps}
        if "torchjd" in medians:
            row.update(torchjd_ratio=medians["torchjd"] / b, torchjd_ms=1000 * medians["torchjd"] / steps)
        row["seconds"] = time.perf_counter() - started
        rows.append(row)
        jd_text = (f"   torchjd {row['torchjd_ratio']:5.2f}x ({row['torchjd_ms']:7.2f} ms)"
                   if "torchjd_ratio" in row else "")
        print(f"  {setup:6} {name:30} {row['ratio']:5.2f}x ({row['ms']:7.2f} ms vs {row['baseline_ms']:6.2f} ms)"
              f"{jd_text}   [{row['seconds']:4.0f} s]", flush=True)
    if torchjd:
        ms = gram_ms(baseline_trainer, repeats)
        share = ms / statistics.median(row["baseline_ms"] for row in rows)
        rows.append({"setup": setup, "method": GRAM, "family": "static", "source": "ours", "ratio": share, "ms": ms,
                     "baseline_ms": ms / share})
        print(f"  {setup:6} {GRAM:30} {ms:7.2f} ms a step = {share:4.2f} of a plain step (not alternated)")
    return rows


def table(rows: list[dict]) -> str:
    by_method: dict[str, dict] = {}
    for row in rows:
        by_method.setdefault(row["method"], {"family": row["family"], "source": row["source"]})[row["setup"]] = row
    lines = [f"{'method':30} {'family':15} {'source':8} {'small':>7} {'medium':>7} {'torchjd path (medium)':>22}"]
    for name, entry in by_method.items():
        cells = [f"{entry[s]['ratio']:6.2f}x" if s in entry else f"{'—':>7}" for s in ("small", "medium")]
        jd = entry.get("medium", {}).get("torchjd_ratio")
        lines.append(f"{name:30} {entry['family']:15} {entry['source']:8} {cells[0]:>7} {cells[1]:>7} "
                     f"{(f'{jd:6.2f}x' if jd else '—'):>22}")
    return "\n".join(lines)


def write_costs(rows: list[dict], args, seconds: float) -> Path:
    ratios: dict[str, dict[str, float]] = {}
    torchjd: dict[str, dict[str, float]] = {}
    extra: dict[str, dict[str, float]] = {}
    for row in rows:
        target = extra if row["method"] in EXTRAS + (GRAM,) else ratios
        target.setdefault(row["method"], {})[row["setup"]] = round(row["ratio"], 3)
        if "torchjd_ratio" in row:
            torchjd.setdefault(row["method"], {})[row["setup"]] = round(row["torchjd_ratio"], 3)
    path = weighting.COSTS
    previous = {}
    if path.exists() and (set(args.setups) != set(SETUPS) or set(args.methods) != set(weighting.methods())):
        previous = json.loads(path.read_text())  # a partial run updates the figures it measured, keeps the rest
    for key, fresh in (("ratios", ratios), ("torchjd_ratios", torchjd), ("extra_ratios", extra)):
        merged = previous.get(key, {})
        for method, values in fresh.items():
            merged.setdefault(method, {}).update(values)
        fresh.clear()
        fresh.update(merged)
    payload = {
        "ratios": ratios,
        "torchjd_ratios": torchjd,
        "extra_ratios": extra,
        "baseline": "the engine's static method, conflict_every 0: one backward pass of the summed loss",
        "setups": DESCRIPTIONS,
        "blocks": {"clock": args.clock, "repeats": args.repeats, "steps": {s: args.steps * STEP_SCALE[s] for s in SETUPS},
                   "warmup": args.warmup},
        "command": " ".join(shlex.quote(part) for part in [".venv/bin/python", "benchmarks/weighting_cost.py",
                                                           *sys.argv[1:]]),
        "machine": f"{platform.platform()}, {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
                   f"python {platform.python_version()}, torch {torch.__version__}",
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "seconds": round(seconds),
    }
    path.write_text(json.dumps(payload, indent=1, ensure_ascii=False) + "\n")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="steps per timed block on medium (small: 5× as many)")
    parser.add_argument("--repeats", type=int, default=5, help="alternating blocks per side")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps per side first")
    parser.add_argument("--methods", default="", help="comma-separated method names (default: every registered one)")
    parser.add_argument("--setups", default="small,medium", help="comma-separated: small, medium")
    parser.add_argument("--no-torchjd", action="store_true", help="skip TorchJD's own path on the medium trunk")
    parser.add_argument("--clock", choices=list(CLOCKS), default="cpu",
                        help="time blocks by the process's CPU time (default; robust on a shared machine) or wall time")
    parser.add_argument("--write", action="store_true", help="write mtl_core/weighting/costs.json")
    args = parser.parse_args(argv)
    known = weighting.methods()
    args.methods = [m.strip() for m in args.methods.split(",") if m.strip()] or list(known)
    args.setups = [s.strip() for s in args.setups.split(",") if s.strip()]
    unknown = [m for m in args.methods if m not in known] + [s for s in args.setups if s not in SETUPS]
    if unknown:
        parser.error(f"unknown: {', '.join(unknown)} (methods: {', '.join(known)}; setups: {', '.join(SETUPS)})")
    global clock
    clock = CLOCKS[args.clock]
    configure_threads(1)  # one thread, denormals flushed: the settings workers train with
    warnings.filterwarnings("ignore", message=".*not DPP.*")  # cvxpy's note on TorchJD's Nash-MTL problem
    print(f"torch {torch.__version__}, 1 CPU thread; ratio = median block time ({args.clock} clock) / that of a plain "
          f"summed-loss step ({args.repeats} rotating blocks of {args.steps} medium / {args.steps * STEP_SCALE['small']} small "
          f"steps, {args.warmup} warm-up)", flush=True)
    started = time.perf_counter()
    rows = []
    for setup in args.setups:
        rows += measure_setup(setup, args.methods, args.steps * STEP_SCALE[setup], args.repeats, args.warmup,
                              torchjd=setup == "medium" and not args.no_torchjd)
    seconds = time.perf_counter() - started
    print("\n" + table(rows))
    print(f"\n{seconds:.0f} s in all")
    if args.write:
        print(f"wrote {write_costs(rows, args, seconds).relative_to(ROOT)}")
    assert all(math.isfinite(row["ratio"]) and row["ratio"] > 0 for row in rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
