"""Step cost of each catalog task against ATIS intent, the reference the estimator's per-step figures are for.

    .venv/bin/python benchmarks/task_cost.py [--tasks A,B,...] [--write]

For every task, a single-task trainer at the engine's defaults (BiLSTM encoder, batch 32, one thread, for a
generation task the GRU and the Transformer decoder) takes 3 warm-up steps, then blocks of 10 training steps
timed by the process's CPU time, alternating with blocks of the reference task's trainer (atis_intent), 3
blocks each; the figure is the median block time over the reference's. A task whose data is missing is
skipped. `--write` stores the ratios in mtl_core/tasks/step_costs.json, which mtl_core/estimate.py reads: a
run's step costs the encoder's per-step figure times each of its tasks' ratio (1 for a task not measured).
Evaluation is not timed separately: the per-step figures already include ten evaluations of the reference.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from mtl_core.errors import UserError  # noqa: E402
from mtl_core.spec import ExperimentSpec, RunSpec  # noqa: E402
from mtl_core.tasks import list_tasks  # noqa: E402
from mtl_core.train.loop import Trainer  # noqa: E402
from mtl_core.train.runner import build_vocabulary, configure_threads, load_experiment_data  # noqa: E402

REFERENCE = "atis_intent"
OUT = ROOT / "mtl_core" / "tasks" / "step_costs.json"
WARMUP, BLOCK, BLOCKS = 3, 10, 3


class Silent:
    def metric(self, *args): pass
    def conflict(self, *args): pass
    def affinity(self, *args): pass
    def tick(self, *args): pass


def trainer(task: str, decoder_type: str = "gru") -> Trainer:
    spec = ExperimentSpec(tasks=[task], steps=1000, conflict_every=0, decoder_type=decoder_type).validated()
    run = RunSpec(kind="stl", tasks=[task], seed=0, experiment=spec)
    data = load_experiment_data(spec, 0)
    return Trainer(run, data, build_vocabulary(spec, data), 1000, torch.device("cpu"))


def block_seconds(model: Trainer, state: dict) -> float:
    start = time.process_time()
    for _ in range(BLOCK):
        state["step"] += 1
        model.train_step(state["step"], Silent(), measure=False)
    return time.process_time() - start


def ratio(task: str, decoder_type: str, reference: Trainer, reference_state: dict) -> float:
    model, state = trainer(task, decoder_type), {"step": 0}
    for _ in range(WARMUP):
        state["step"] += 1
        model.train_step(state["step"], Silent(), measure=False)
    ours, theirs = [], []
    for _ in range(BLOCKS):
        ours.append(block_seconds(model, state))
        theirs.append(block_seconds(reference, reference_state))
    return statistics.median(ours) / statistics.median(theirs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default=None, help="task ids (default: every generation task of the catalog)")
    parser.add_argument("--write", action="store_true", help=f"store the ratios in {OUT.relative_to(ROOT)}")
    args = parser.parse_args()
    configure_threads(1)
    torch.set_flush_denormal(True)
    sources = {s.card.id: s for s in list_tasks()}
    tasks = ([t.strip() for t in args.tasks.split(",")] if args.tasks else
             [t for t, s in sources.items() if s.card.kind.is_generation])
    reference, reference_state = trainer(REFERENCE), {"step": 0}
    for _ in range(WARMUP):
        reference_state["step"] += 1
        reference.train_step(reference_state["step"], Silent(), measure=False)
    costs = json.loads(OUT.read_text()) if OUT.exists() else {}
    for task in tasks:
        card = sources[task].card
        decoders = ("gru", "transformer") if card.kind.is_generation else ("gru",)
        try:
            measured = {d: round(ratio(task, d, reference, reference_state), 2) for d in decoders}
        except UserError as exc:
            print(f"{task}: skipped ({exc})")
            continue
        costs[task] = measured if card.kind.is_generation else {"step": measured["gru"]}
        print(f"{task:24s} " + ", ".join(f"{d} {r:.2f}×" for d, r in measured.items()), flush=True)
    if args.write:
        OUT.write_text(json.dumps(dict(sorted(costs.items())), indent=1) + "\n", encoding="utf-8")
        print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
