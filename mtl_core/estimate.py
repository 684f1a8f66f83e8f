"""How long will it take? One documented cost model for every page and command that shows an estimate.

A run costs STARTUP_SECONDS (python + torch import, data, model, final test evaluation) plus
steps × Σ over the run's tasks of the task's step cost × SECONDS_PER_TASK_STEP[encoder] × the sharing mode's
cost factor × its measuring overhead. A task's step cost is its measured ratio to ATIS intent's training step
(mtl_core/tasks/step_costs.json, written by `benchmarks/task_cost.py --write`; for a generation task, per
decoder type: a verse direction is about 7× with the GRU decoder, an emoji name about 1.2×); 1 for a task not
measured. The cost factor (SharingMode.cost_factor, mtl_core/models/sharing/) counts the encoder passes of
one task's loss: 1 for hard, hierarchical and soft (each task's loss runs one encoder), E for MMoE (every
expert), T for cross-stitch (every task's encoder); a single-task baseline is hard sharing. Measuring:
a conflict step takes one backward pass per task (about one plain step more, 1/k of the steps; twice
that with the noise floor; a gradient-based weighting method logs it every step and its measured ratio
already counts it), a weighting method multiplies the step by its measured ratio (weighting_factor), a lookahead-affinity step adds T² forward passes (about T/2 plain steps).
Runs start in queue order on the first free of the scheduler's worker slots.

The per-step figures are for one CPU thread, batch 32, default sizes, ten evaluations included,
measured on a shared 2-core machine (`benchmarks/run_all.py` and the CLI): bilstm on ATIS 0.03-0.07 s,
mlp on the synthetic tasks 0.001-0.004 s; MiniLM from DESIGN.md (0.47 s fine-tuning, 0.08 s frozen).
A GPU is faster: on CUDA these are upper bounds. It is an estimate, and pages say so.
"""
from __future__ import annotations

import functools
import json
import math
from pathlib import Path
from typing import Iterable, Mapping

from mtl_core.models.sharing import get_mode

SECONDS_PER_TASK_STEP = {"mlp": 0.003, "bilstm": 0.05, "transformer": 0.06, "minilm": 0.47, "minilm-frozen": 0.08}
STARTUP_SECONDS = 7.0
ASSUMED_TRAIN_EXAMPLES = 5000  # an epoch budget when the training sets have not been counted
STEP_COSTS = Path(__file__).parent / "tasks" / "step_costs.json"


@functools.cache
def measured_step_costs() -> dict[str, dict[str, float]]:
    try:
        return json.loads(STEP_COSTS.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def task_step_cost(task: str, spec) -> float:
    """The task's training step over ATIS intent's, as measured (by decoder type for generation tasks); 1 if not."""
    costs = measured_step_costs().get(task, {})
    return float(costs.get(getattr(spec, "decoder_type", "gru"), costs.get("step", 1.0)))


def budget_steps(spec, train_sizes: Mapping[str, int] | None = None) -> int:
    """Steps per task of a validated spec; an epoch budget counts over the largest training set."""
    if spec.steps is not None:
        return int(spec.steps)
    sizes = list((train_sizes or {}).values()) or [ASSUMED_TRAIN_EXAMPLES]
    largest = max(min(n, spec.max_train_examples or n) for n in sizes)
    return max(1, math.ceil(spec.epochs * largest / min(spec.batch_size, largest)))


def run_seconds(run, steps: int) -> float:
    """Wall-clock seconds of one RunSpec trained for `steps` steps per task."""
    spec = run.experiment
    encoder = "minilm-frozen" if spec.encoder == "minilm" and spec.freeze_encoder else spec.encoder
    per_task_step = SECONDS_PER_TASK_STEP.get(encoder, 0.1) * (spec.batch_size / 32) ** 0.5
    tasks = len(run.tasks)
    sharing = spec.sharing if run.kind == "mtl" else "hard"
    per_task_step *= get_mode(sharing).cost_factor(tasks, spec)
    weighting_ratio, measures_every_step = weighting_factor(run)
    per_task_step *= weighting_ratio
    overhead = 1.0
    if tasks > 1 and spec.conflict_every and not measures_every_step:
        overhead += (2.0 if spec.noise_floor else 1.0) / spec.conflict_every
    if tasks > 1 and spec.affinity_every and spec.affinity_possible():
        overhead += (tasks / 2) / spec.affinity_every
    task_steps = sum(task_step_cost(task, spec) for task in run.tasks)
    return STARTUP_SECONDS + steps * task_steps * per_task_step * overhead


UNMEASURED_METHOD_RATIO = {"static": 1.0, "loss-based": 1.05, "gradient-based": 1.5}


def weighting_factor(run) -> tuple[float, bool]:
    """(step-time ratio of the run's weighting method to static λ, whether it logs conflict every step).

    The ratio is the one `benchmarks/weighting_cost.py` measured (mtl_core/weighting/costs.json): the medium
    trunk's for hidden sizes of 256 and more, the small one's below; a method not measured yet counts as
    UNMEASURED_METHOD_RATIO of its family. A single-task baseline trains static λ."""
    from mtl_core import weighting

    setting = getattr(run.experiment, "weighting", None)
    if run.kind != "mtl" or not setting:
        return 1.0, False
    name = setting.get("name", "static") if isinstance(setting, dict) else str(setting)
    cls = weighting.methods().get(name)
    if cls is None or cls.family == "static":
        return 1.0, False
    costs = weighting.measured_costs().get(name, {})
    setup = "medium" if run.experiment.hidden_size >= 256 else "small"
    ratio = costs.get(setup) or costs.get("medium") or UNMEASURED_METHOD_RATIO[cls.family]
    return float(ratio), cls.needs in ("gram", "grads")


def estimate_seconds(runs: Iterable, steps: int, workers: int | None = None) -> float:
    """Seconds until the last of `runs` finishes when they start in order on `workers` slots."""
    if workers is None:
        from mtl_core.jobs.scheduler import resource_plan

        workers = resource_plan().slots
    free_at = [0.0] * max(1, int(workers))
    for run in runs:
        free_at[free_at.index(min(free_at))] += run_seconds(run, steps)
    return max(free_at)
