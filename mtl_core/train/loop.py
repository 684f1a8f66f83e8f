"""The one training loop: a multi-task run and a single-task baseline are the same Trainer.

Each step (sampling "all"): one batch of every task, the losses combined as the run's weighting method
says (static λ: L = Σ_t λ_t L_t; mtl_core/weighting), + λ_soft Σ_t ‖θ_t − θ_s‖² for soft sharing, one
optimiser step. Every `conflict_every` steps (every step for a method of the gradients) the per-task
gradients are taken separately, the update is built from them (Σ_t g_t is exactly ∇L, so measuring does
not change the run), and their T × T Gram gives cosines, norms and magnitude similarity per layer: by the
Gram route (train/gram_route.py) where the trunk allows, else from the materialised gradients.

Dropout (and word dropout) draws from torch's global generators, so the trainer keeps two seeded random
streams and swaps one in while it runs: the training stream for training steps, the measurement stream for
every measurement (noise floor, probe conflict, lookahead affinity, probe representations, evaluation).
Switching a measurement on never changes which masks the training steps draw.

Generation tasks (seq2seq) go through the same loop: their targets are encoded with the target vocabulary of
their training split before training, their head trains by teacher forcing like any other loss, and their
evaluation decodes (greedy or beam search, at most max_target_length tokens) the fixed subset of
max_decode_examples validation (and training) examples at each interval and the whole test split at the end,
scored against the reference texts by sacrebleu / rouge-score (train/metrics.py). Each evaluation records the
outputs of the first SAMPLE_EXAMPLES validation examples and the metrics' signatures when the recorder keeps them
(Recorder.samples / Recorder.signature: the store's MetricWriter does); the test split also gets the scores of
copying the source (copy_bleu, copy_chrf) and of writing the training split's most frequent target for every
example (frequent_bleu, frequent_chrf): what a score of nothing looks like.
"""
from __future__ import annotations

import contextlib
import copy
import functools
import hashlib
import math
import pickle
from dataclasses import dataclass, field
from typing import Callable, Mapping, Protocol

import numpy as np
import torch

from mtl_core.models.build import build_model, uses_shared_decoder  # noqa: F401  (tests import build_model here)
from mtl_core.spec import RunSpec
from mtl_core.tasks.base import TaskData, TaskKind
from mtl_core.tasks.seq2seq import encode_targets, run_target_vocabularies
from mtl_core import weighting
from mtl_core.train import conflict as conflict_math
from mtl_core.train.gram_route import GramRoute
from mtl_core.train.data import (TaskStream, eval_rows, make_batch, make_targets, stable_seed,
                                  task_sampling_probabilities)
from mtl_core.train.metrics import corpus_bleu, corpus_chrf, generation_scores, score

TRAIN_EVAL_EXAMPLES = 256  # training examples scored at each interval (a fixed seeded subset)
# Added to |first score| in the best-checkpoint rule: finite where a first score is 0 (no span found yet, r of
# a constant prediction), and too small to matter against any other score.
SELECTION_EPSILON = 1e-3
EVALUATIONS_PER_RUN = 10
LOSS_POINTS_PER_RUN = 200
SAMPLE_EXAMPLES = 8  # validation examples of a generation task whose outputs are kept at each evaluation
DECODE_BATCH = 256


class Recorder(Protocol):
    def metric(self, step: int, task: str, split: str, name: str, value: float) -> None: ...
    def conflict(self, step: int, layer: str, task_a: str, task_b: str, cos: float, magnitude_sim: float) -> None: ...
    def affinity(self, step: int, source: str, target: str, z: float) -> None: ...
    def tick(self, step: int) -> None: ...
    # Optional, called when the recorder has them:
    #   linear_affinity(step, source, target, z): the linearised lookahead affinity (_record_linear_affinity)
    #   samples(step, task, split, rows): rows of (position, source, reference, output) (generation tasks)
    #   signature(task, split, name, text): how a metric was computed (sacrebleu's signature)


class Diverged(RuntimeError):
    def __init__(self, task: str, step: int, value: float):
        super().__init__(f"the loss of {task} became {value} at step {step}; try a smaller learning rate")
        self.task, self.step = task, step


def primary_metric_sign(card) -> float:
    return 1.0 if card.higher_is_better else -1.0


def selection_score(values: dict[str, float], firsts: dict[str, float], signs: dict[str, float]) -> float:
    """The best-checkpoint rule: the mean over tasks of s_t (M_t − M_t,first) / (|M_t,first| + ε), each task's
    relative improvement of its primary validation metric since the first evaluation (s_t = +1 when higher
    is better, ε = SELECTION_EPSILON). One formula for every metric, continuous where a first score is 0."""
    return float(np.mean([signs[t] * (values[t] - firsts[t]) / (abs(firsts[t]) + SELECTION_EPSILON)
                          for t in values]))


def build_optimizer(spec, parameters) -> torch.optim.Optimizer:
    parameters = [p for p in parameters if p.requires_grad]
    if spec.optimizer == "sgd":
        return torch.optim.SGD(parameters, lr=spec.lr, momentum=0.9, weight_decay=spec.weight_decay)
    cls = torch.optim.AdamW if spec.optimizer == "adamw" else torch.optim.Adam
    return cls(parameters, lr=spec.lr, weight_decay=spec.weight_decay)


@dataclass
class LoopState:
    """Everything besides model and optimiser that a resumed run needs to continue exactly."""

    step: int = 0
    best_score: float = -math.inf
    best_step: int = 0
    first_validation: dict[str, float] = field(default_factory=dict)
    loss_sums: dict[str, float] = field(default_factory=dict)
    loss_counts: dict[str, int] = field(default_factory=dict)


def global_rng_state(device: torch.device) -> dict[str, torch.Tensor]:
    """The state of the global generators that dropout on `device` draws from: the CPU one, and the device's."""
    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    elif device.type == "mps":
        state["mps"] = torch.mps.get_rng_state()
    return state


def set_global_rng_state(device: torch.device, state: dict[str, torch.Tensor]) -> None:
    # A checkpoint loaded with map_location=device brings the states onto the device; torch wants them on the CPU.
    torch.set_rng_state(state["cpu"].cpu())
    if device.type == "cuda":
        torch.cuda.set_rng_state(state["cuda"].cpu(), device)
    elif device.type == "mps":
        torch.mps.set_rng_state(state["mps"].cpu())


class RandomStream:
    """One seeded random stream, in torch's global generators only while `active` (dropout takes no generator)."""

    def __init__(self, seed: int, device: torch.device):
        self.device = device
        self.state = {"cpu": torch.Generator().manual_seed(seed).get_state()}
        if device.type in ("cuda", "mps"):
            self.state[device.type] = torch.Generator(device).manual_seed(seed).get_state()
        self._active = False

    @contextlib.contextmanager
    def active(self):
        if self._active:  # already drawing from this stream: continue it
            yield
            return
        outer = global_rng_state(self.device)
        set_global_rng_state(self.device, self.state)
        self._active = True
        try:
            yield
        finally:
            self._active = False
            self.state = global_rng_state(self.device)
            set_global_rng_state(self.device, outer)


def drawing_from(stream: str):
    """Runs a Trainer method with the trainer's `stream` ('training_rng' or 'measurement_rng') active."""
    def decorate(method):
        @functools.wraps(method)
        def on_stream(self, *args, **kwargs):
            with getattr(self, stream).active():
                return method(self, *args, **kwargs)
        return on_stream
    return decorate


measurement = drawing_from("measurement_rng")


class Trainer:
    def __init__(self, run: RunSpec, data: dict[str, TaskData], vocabulary, total_steps: int,
                 device: torch.device, autocast_dtype: torch.dtype | None = None):
        self.run = run
        self.spec = run.experiment
        self.tasks = list(run.tasks)
        self.data = {t: data[t] for t in self.tasks}
        self.total_steps = total_steps
        self.device = device
        self.autocast_dtype = autocast_dtype
        # Generation tasks: the target vocabulary of the training split, the reference texts of every split, and
        # the targets as id lists for training (cut to max_target_length tokens, then </s>).
        self.target_vocabularies = run_target_vocabularies(self.tasks, self.data, shared=uses_shared_decoder(run, data))
        self.references = {}
        for task in self.tasks:
            if self.data[task].card.kind.is_generation:
                original = self.data[task]
                self.references[task] = {name: list(getattr(original, name).targets)
                                         for name in ("train", "validation", "test")}
                self.data[task] = encode_targets(original, self.target_vocabularies[task], self.spec.max_target_length)
        self.model = build_model(run, data, vocabulary, self.target_vocabularies).to(device)
        self.weights = {t: self.spec.weights.get(t, 1.0) for t in self.tasks}
        # A single-task baseline trains its one loss as it is, whatever method its experiment compares.
        method = weighting.normalise(self.spec.weighting if run.kind == "mtl" else weighting.DEFAULT)
        self.method = weighting.build(method, self.tasks, self.weights, run.seed, device)
        self.optimizer = build_optimizer(self.spec, list(self.model.parameters()) + self.method.parameters())
        self.soft_lambda = self.spec.soft_lambda if self.model.sharing == "soft" else 0.0
        batch = self.spec.batch_size
        # Tasks labelling the same inputs (ATIS intent and slots, the synthetic family) draw the same rows
        # each step, so their gradient cosine measures the tasks, not two different mini-batches.
        keys = {t: input_key(self.data[t]) for t in self.tasks}
        # ... and those tasks share one forward pass of the trunk on it (one dropout mask): their gradients then
        # differ only by what the tasks ask of the trunk, and the trunk runs once per step, not once per task.
        self.input_keys = keys
        self.split_keys: dict[tuple[str, str], str] = {}  # (task, split) -> digest of its inputs, for evaluation
        self.streams = {t: TaskStream(keys[t], len(self.data[t].train), batch, run.seed) for t in self.tasks}
        # Extra batches for the noise floor and for probing conflict under one-task sampling: separate
        # streams, so measuring never changes which batches the training steps see.
        self.probe_streams = {t: TaskStream(keys[t], len(self.data[t].train), batch, run.seed, "probe")
                              for t in self.tasks}
        self.sampling = self.spec.sampling if len(self.tasks) > 1 else "all"
        self.sampling_rng = np.random.Generator(np.random.PCG64(stable_seed(run.seed, "task-sampling")))
        self.probabilities = (task_sampling_probabilities({t: len(d.train) for t, d in self.data.items()}, self.sampling,
                                                          self.spec.temperature)
                              if self.sampling != "all" else None)
        self.eval_every = self.spec.eval_every or max(1, total_steps // EVALUATIONS_PER_RUN)
        self.loss_every = max(1, total_steps // LOSS_POINTS_PER_RUN)
        self.state = LoopState()
        self.best_model_state: dict | None = None
        self.last_generation: dict[str, dict] = {}  # task -> its last generation evaluation's outputs
        self.pending_losses: list[tuple[int, str, torch.Tensor]] = []  # (step, task, loss on the device)
        self.training_rng = RandomStream(stable_seed(run.seed, "dropout"), device)
        self.measurement_rng = RandomStream(stable_seed(run.seed, "measurement"), device)
        self.gram_route = self._build_gram_route()

    def _build_gram_route(self) -> GramRoute | None:
        """The Gram route where it applies: several tasks on one shared trunk (the same shared parameters for
        every task; not soft sharing, whose tasks each have their own encoder), unless the spec asks for the
        materialised reference."""
        if len(self.tasks) < 2 or getattr(self.spec, "gradient_route", "auto") == "materialised":
            return None
        groups = [self.model.shared_layer_groups(t) for t in self.tasks]
        ids = [[id(p) for params in g.values() for p in params] for g in groups]
        if any(i != ids[0] for i in ids[1:]):
            return None
        return GramRoute(self.model, groups[0])

    def gradient_route_summary(self) -> str | None:
        """Which parameters took which route on the last Gram-route step (logged with the run); None when the
        run took no per-task gradients by it."""
        if self.gram_route is None or not self.gram_route.last_covered:
            return None
        parts = [f"{name} ({how})" for name, how in self.gram_route.last_covered.items() if name != "materialised"]
        return ("gradient statistics by the Gram route: " + (", ".join(parts) or "no shared linear layer")
                + f"; materialised: {self.gram_route.last_covered['materialised']}")

    def _uses_gram_route(self, step: int, measure: bool, affinity: bool) -> bool:
        """Whether this step takes its per-task gradient statistics by the Gram route: when it needs only the
        Gram (conflict statistics, a method of the Gram), not the gradients themselves (lookahead affinity,
        the noise floor, a method of the gradients)."""
        if self.gram_route is None or self.sampling != "all" or affinity or self.method.needs == "grads":
            return False
        k = self.spec.conflict_every
        noise = measure and self.spec.noise_floor and (not k or step % k == 0)
        return not noise and (self.method.uses_gradients or measure)

    # ---- one step ------------------------------------------------------------------------------
    def _batch(self, task: str, rows) -> dict[str, torch.Tensor]:
        return self._group_batches([task], rows)[task]

    def _group_batches(self, group: list[str], rows, split_name: str = "train") -> dict[str, dict[str, torch.Tensor]]:
        """The batches of tasks that read the same rows of the same inputs: the inputs prepared once, each task
        with its own targets."""
        lead = self.data[group[0]]
        first = make_batch(self.model.encoder, lead.card.kind, getattr(lead, split_name), rows)
        first = {k: v.to(self.device, non_blocking=True) for k, v in first.items()}
        out = {group[0]: first}
        width = first["mask"].shape[1] if "mask" in first else None
        for task in group[1:]:
            data = self.data[task]
            targets = make_targets(data.card.kind, getattr(data, split_name).targets, rows, width)
            out[task] = {**{k: v for k, v in first.items() if k != "targets"},
                         "targets": targets.to(self.device, non_blocking=True)}
        return out

    def _group_outputs(self, group: list[str], batches) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """{task: (loss, predictions)}: the tasks of one input group share the trunk's forward pass."""
        if self.autocast_dtype is not None:
            with torch.autocast(self.device.type, dtype=self.autocast_dtype):
                return self.model.group_outputs(group, batches)
        return self.model.group_outputs(group, batches)

    def _group_losses(self, group: list[str], batches) -> dict[str, torch.Tensor]:
        return {task: loss for task, (loss, _) in self._group_outputs(group, batches).items()}

    def _loss(self, task: str, batch) -> torch.Tensor:
        if self.autocast_dtype is not None:
            with torch.autocast(self.device.type, dtype=self.autocast_dtype):
                return self.model.task_loss(task, batch)[0]
        return self.model.task_loss(task, batch)[0]

    def step_tasks(self) -> list[str]:
        if self.sampling == "all":
            return self.tasks
        names = list(self.probabilities)
        return [names[self.sampling_rng.choice(len(names), p=list(self.probabilities.values()))]]

    def affinity_step(self, step: int) -> bool:
        """TAG lookahead affinity needs one shared trunk and every task's batch on the step."""
        every = self.spec.affinity_every
        return bool(every) and step % every == 0 and len(self.tasks) > 1 and self.spec.affinity_possible()

    @drawing_from("training_rng")
    def train_step(self, step: int, recorder: Recorder, measure: bool) -> None:
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        active = self.step_tasks()
        rows = {t: self.streams[t].next_rows() for t in active}
        groups = same_input_groups(active, rows, self.input_keys)
        batches = {}
        for group in groups:
            batches.update(self._group_batches(group, rows[group[0]]))
        affinity = self.affinity_step(step)
        gram_route = self._uses_gram_route(step, measure, affinity)
        computed = {}
        for group in groups:
            with self.gram_route.tasks(group) if gram_route else contextlib.nullcontext():
                computed.update(self._group_losses(group, batches))
        losses = {task: computed[task] for task in active}
        self.pending_losses += [(step, task, loss.detach()) for task, loss in losses.items()]
        per_task = self._backward(step, losses, recorder, measure, per_task_needed=affinity, gram_route=gram_route)
        if affinity:
            self._record_affinity(step, per_task, batches, recorder)
        self.optimizer.step()

    def _backward(self, step: int, losses: dict[str, torch.Tensor], recorder: Recorder, measure: bool,
                  per_task_needed: bool = False, gram_route: bool = False) -> dict | None:
        """The one backward path: the update the weighting method asks for, with exactly what it needs.

        A method that needs the losses gives coefficients c_t: the update is ∇(Σ_t c_t L_t + R), one backward
        pass, unless this step measures conflict (or lookahead affinity), when the per-task gradients of c_t L_t
        are taken one task at a time and summed (the same update). A method that needs the Gram gets it from
        the per-task gradients of L_t, taken once; the shared trunk gets Σ_t w_t g_t. Conflict statistics read
        the same Gram. With `gram_route` (decided before the forward, whose layers it records) the Gram and the
        update come from the shared linear layers' inputs and output gradients instead of materialised
        gradients. Returns {task: {layer: [gradient per shared parameter]}} when materialised gradients were taken.
        """
        method = self.method
        every_task = self.sampling == "all"
        scales = None if method.uses_gradients else method.scales(losses, step)
        if not method.uses_gradients and not ((measure or per_task_needed) and every_task):
            total = sum(scales[t] * losses[t] for t in losses)
            regulariser = method.regulariser()
            if regulariser is not None:
                total = total + regulariser
            if self.soft_lambda:
                total = total + self.soft_lambda * self.model.soft_penalty()
            total.backward()
            if measure:
                self._probe_conflict(step, recorder)
            return None

        scaled = losses if method.uses_gradients else {t: _detached(scales[t]) * losses[t] for t in losses}
        if gram_route:
            self._gram_route_backward(step, losses, scaled, scales, recorder, measure)
            return None
        per_task, shared_of, head_of = {}, {}, {}
        last = [task for task, loss in scaled.items() if loss.requires_grad][-1:]
        last = last[0] if last else None
        for task, loss in scaled.items():
            groups = self.model.shared_layer_groups(task)
            shared = [p for params in groups.values() for p in params]
            head = self.model.head_parameters(task)
            if not loss.requires_grad:
                continue
            # The tasks of one input group share the trunk's graph: it is kept until the last task's pass.
            grads = torch.autograd.grad(loss, shared + head, allow_unused=True, retain_graph=task != last)
            if not method.uses_gradients:  # the update is the sum of the per-task gradients
                for parameter, grad in zip(shared + head, grads):
                    if grad is not None:
                        parameter.grad = grad if parameter.grad is None else parameter.grad + grad
            per_task[task] = _split_by_layer(groups, grads[: len(shared)])
            shared_of[task], head_of[task] = shared, list(zip(head, grads[len(shared):]))
        grams = conflict_math.layer_grams(per_task) if per_task else {}
        if method.uses_gradients and per_task:
            self._combine(step, losses, per_task, shared_of, head_of, grams)
        elif method.parameters():
            self._method_parameter_gradients(losses, scales)
        if self.soft_lambda:
            (self.soft_lambda * self.model.soft_penalty()).backward()
        if measure and every_task:
            self._record_conflict(step, per_task, recorder, grams)
            if per_task:
                self._record_linear_affinity(step, list(per_task), grams[conflict_math.ALL_LAYERS], losses, scales,
                                             recorder)
        return per_task

    def _method_parameter_gradients(self, losses, scales) -> None:
        """The gradient of Σ_t c_t L_t + R for the method's own parameters (uncertainty weighting's log-variances),
        the model's part having been taken task by task."""
        method = self.method
        objective = sum(scales[t] * losses[t].detach() for t in losses)
        regulariser = method.regulariser()
        if regulariser is not None:
            objective = objective + regulariser
        for parameter, grad in zip(method.parameters(), torch.autograd.grad(objective, method.parameters(),
                                                                         allow_unused=True)):
            parameter.grad = grad

    def _gram_route_backward(self, step, losses, scaled, scales, recorder, measure) -> None:
        """Per-task output gradients of the shared linear layers, the Gram from them, one combined update."""
        method, route = self.method, self.gram_route
        heads = {t: self.model.head_parameters(t) for t in scaled}
        grads = route.gradients(scaled, heads)
        grams = route.grams(grads, self.device)
        if method.uses_gradients:
            weights = method.gram_weights(grams[conflict_math.ALL_LAYERS], grams, losses, step).tolist()
            route.apply(grads, weights, method.heads_weighted)
        else:  # the coefficients are in the scaled losses already
            route.apply(grads, [1.0] * len(grads.tasks), heads_weighted=False)
            if method.parameters():
                self._method_parameter_gradients(losses, scales)
        if measure:
            self._record_grams(step, grads.tasks, grams, recorder)
            self._record_linear_affinity(step, list(grads.tasks), grams[conflict_math.ALL_LAYERS], losses, scales,
                                         recorder)

    def _combine(self, step, losses, per_task, shared_of, head_of, grams) -> None:
        """Shared trunk: Σ_t w_t g_t with w from the method; heads: w_t ∇L_t or their own ∇L_t."""
        method, tasks = self.method, list(per_task)
        matrix = None
        if method.needs == "grads":
            matrix = torch.stack([conflict_math.flatten([g for layer in per_task[t].values() for g in layer])
                                  for t in tasks])
        weights = method.gram_weights(grams[conflict_math.ALL_LAYERS], grams, {t: losses[t] for t in tasks}, step,
                                      matrix=matrix).tolist()
        shared = shared_of[tasks[0]]
        flat = {t: [g for layer in per_task[t].values() for g in layer] for t in tasks}
        for index, parameter in enumerate(shared):
            total = None
            for task, weight in zip(tasks, weights):
                grad = flat[task][index]
                if grad is not None:
                    total = weight * grad if total is None else total + weight * grad
            if total is not None:
                parameter.grad = total if parameter.grad is None else parameter.grad + total
        for task, weight in zip(tasks, weights):
            for parameter, grad in head_of[task]:
                if grad is not None:
                    grad = weight * grad if method.heads_weighted else grad
                    parameter.grad = grad if parameter.grad is None else parameter.grad + grad

    @measurement
    @torch.no_grad()
    def _record_affinity(self, step: int, per_task: dict, batches: dict, recorder: Recorder) -> None:
        """TAG lookahead affinity Z_{i→j} = 1 − L_j(θ_s − lr·g_i) / L_j(θ_s) on this step's batches.

        The lookahead is a plain gradient step of size lr on the shared parameters (then restored); the
        losses are taken without dropout so that the ratio measures the step, not dropout noise.
        Z is not divided by the learning rate (the TAG code does): it reads as a relative loss change.
        """
        shared = [p for params in self.model.shared_layer_groups(self.tasks[0]).values() for p in params]
        saved = [p.detach().clone() for p in shared]
        training = self.model.training
        self.model.eval()
        before = {j: float(self._loss(j, batches[j])) for j in self.tasks}
        for i in self.tasks:
            grads = [g for layer in per_task[i].values() for g in layer]
            for parameter, grad in zip(shared, grads):
                if grad is not None:
                    parameter.sub_(self.spec.lr * grad)
            for j in self.tasks:
                after = float(self._loss(j, batches[j]))
                recorder.affinity(step, i, j, 1.0 - after / before[j] if before[j] else math.nan)
            for parameter, original in zip(shared, saved):
                parameter.copy_(original)
        self.model.train(training)

    def _record_linear_affinity(self, step: int, tasks: list[str], gram: torch.Tensor, losses: dict,
                                scales: dict | None, recorder: Recorder) -> None:
        """The lookahead affinity to first order, from the Gram of this step's per-task gradients (Grad-TAG's idea):

            Z_{i→j} = 1 − L_j(θ_s − lr·g_i) / L_j(θ_s)  ≈  lr · ⟨g_i, ∇L_j⟩ / L_j  =  lr · G_ij / (c_j · L_j)

        with g_t = c_t ∇L_t the gradient the update takes for task t (c_t its coefficient; 1 for a method of the
        gradients) and G their Gram over the shared trunk. It needs no forward pass beyond the step's own, so it is
        recorded at every conflict step; as lr → 0 it meets the exact lookahead (`_record_affinity`, which takes
        its losses without dropout, so the two agree when dropout is 0).
        """
        record = getattr(recorder, "linear_affinity", None)
        if record is None or len(tasks) < 2 or not self.spec.affinity_possible():
            return
        gram = gram.detach().double().cpu()
        for j, target in enumerate(tasks):
            loss = float(losses[target].detach())
            coefficient = 1.0 if scales is None else float(scales[target])
            for i, source in enumerate(tasks):
                denominator = coefficient * loss
                record(step, source, target,
                       self.spec.lr * float(gram[i, j]) / denominator if denominator else math.nan)

    @measurement
    @torch.no_grad()
    def representations(self, inputs) -> dict[str, np.ndarray]:
        """Per encoder, the pooled output of the layer its heads read (MultiTaskModel.read_layer) on shared
        probe inputs: for CKA between runs."""
        self.model.eval()
        out = {}
        for name, encoder in self.model.encoders.items():
            chunks = []
            for start in range(0, len(inputs), 128):
                batch = encoder.prepare(inputs[start: start + 128])
                batch = {k: v.to(self.device) for k, v in batch.items()}
                chunks.append(self.model.representation(batch, name).float().cpu().numpy())
            out[name] = np.concatenate(chunks)
        return out

    @measurement
    def _probe_conflict(self, step: int, recorder: Recorder) -> None:
        """Per-task gradients on probe batches (one-task sampling or noise floor only); no update."""
        per_task = {}
        for task in self.tasks:
            loss = self._probe_coefficient(task) * self._loss(task, self._batch(task, self.probe_streams[task].next_rows()))
            groups = self.model.shared_layer_groups(task)
            shared = [p for params in groups.values() for p in params]
            grads = torch.autograd.grad(loss, shared, allow_unused=True)
            per_task[task] = _split_by_layer(groups, grads)
        self._record_conflict(step, per_task, recorder)

    def _probe_coefficient(self, task: str) -> float:
        """What a probe gradient is taken of: the task's loss as it enters the update (c_t L_t for a method of
        the losses, L_t for a method of the gradients), so probe norms read like training-step norms."""
        return 1.0 if self.method.uses_gradients else self.method.last_weights[task]

    def _record_conflict(self, step: int, per_task: dict, recorder: Recorder, grams: dict | None = None) -> None:
        if not per_task or not next(iter(per_task.values())):
            return
        grams = grams or conflict_math.layer_grams(per_task)
        self._record_grams(step, list(per_task), grams, recorder)
        if self.spec.noise_floor and (not self.spec.conflict_every or step % self.spec.conflict_every == 0):
            self._record_noise_floor(step, per_task, recorder)

    def _record_grams(self, step: int, tasks: list[str], grams: dict, recorder: Recorder) -> None:
        """Gradient norms and, per layer and pair, cosine and magnitude similarity, all from the Gram matrices."""
        for task, norm in zip(tasks, conflict_math.gradient_norms(grams[conflict_math.ALL_LAYERS])):
            recorder.metric(step, task, "train", "grad_norm", norm)
        for layer, gram in grams.items():
            for (i, j), (cos, magnitude) in conflict_math.pair_statistics(gram).items():
                a, b = sorted((tasks[i], tasks[j]))
                recorder.conflict(step, layer, a, b, cos, magnitude)

    @measurement
    def _record_noise_floor(self, step: int, per_task: dict, recorder: Recorder) -> None:
        """cos between the task's gradient on its training batch and on an independent probe batch."""
        for task, layered in per_task.items():
            loss = self._probe_coefficient(task) * self._loss(task, self._batch(task, self.probe_streams[task].next_rows()))
            groups = self.model.shared_layer_groups(task)
            shared = [p for params in groups.values() for p in params]
            other = torch.autograd.grad(loss, shared, allow_unused=True)
            first = [g for grads in layered.values() for g in grads]
            recorder.conflict(step, conflict_math.ALL_LAYERS, task, task, conflict_math.cosine_of(first, list(other)),
                              math.nan)

    # ---- evaluation ----------------------------------------------------------------------------
    def evaluate(self, task: str, split_name: str, rows: np.ndarray) -> dict[str, float]:
        return self.evaluate_group([task], split_name, rows)[task]

    @measurement
    @torch.no_grad()
    def evaluate_group(self, tasks: list[str], split_name: str, rows: np.ndarray) -> dict[str, dict[str, float]]:
        """{task: metrics} on the same rows of a split for tasks that label the same inputs there (one pass of
        the trunk per chunk serves them all; evaluation is deterministic, so the metrics are those of each task
        evaluated alone). A generation task is evaluated on its own."""
        self.model.eval()
        if len(tasks) == 1 and self.data[tasks[0]].card.kind.is_generation:
            return {tasks[0]: self._evaluate_generation(tasks[0], split_name, rows)}
        kinds = {task: self.data[task].card.kind for task in tasks}
        y_true = {task: [] for task in tasks}
        y_pred = {task: [] for task in tasks}
        loss_sums = {task: 0.0 for task in tasks}
        for start in range(0, len(rows), 128):
            chunk = rows[start: start + 128]
            batches = self._group_batches(tasks, chunk, split_name)
            for task, (loss, predictions) in self._group_outputs(tasks, batches).items():
                kind, targets = kinds[task], batches[task]["targets"].cpu()
                loss_sums[task] += float(loss) * len(chunk)
                predictions = predictions.float().cpu() if kind.is_regression else predictions.cpu()
                if kind is TaskKind.TOKEN_TAGGING:
                    mask = targets >= 0
                    for i in range(len(chunk)):
                        y_true[task].append(targets[i][mask[i]].tolist())
                        y_pred[task].append(predictions[i][mask[i]].tolist())
                else:
                    y_true[task].extend(targets.tolist())
                    y_pred[task].extend(predictions.tolist())
        results = {}
        for task in tasks:
            results[task] = score(kinds[task], self.data[task].labels, y_true[task], y_pred[task])
            results[task]["loss"] = loss_sums[task] / max(1, len(rows))
        return results

    def evaluate_all(self, split_name: str, rows: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
        """{task: metrics} for every task on its rows of a split, tasks that read the same rows of the same inputs
        evaluated together (generation tasks each alone)."""
        tasks = [t for t in self.tasks if not self.data[t].card.kind.is_generation]
        keys = {t: self._split_key(t, split_name) for t in tasks}
        results = {}
        for group in same_input_groups(tasks, rows, keys):
            results.update(self.evaluate_group(group, split_name, rows[group[0]]))
        for task in self.tasks:
            if task not in results:
                results[task] = self.evaluate(task, split_name, rows[task])
        return {task: results[task] for task in self.tasks}

    def _split_key(self, task: str, split_name: str) -> str:
        if (task, split_name) not in self.split_keys:
            self.split_keys[(task, split_name)] = split_input_key(getattr(self.data[task], split_name))
        return self.split_keys[(task, split_name)]

    @measurement
    @torch.no_grad()
    def generate(self, task: str, split_name: str, rows: np.ndarray) -> list[str]:
        """A generation task's decoded outputs (text) for rows of a split, under the spec's beam size and cap."""
        self.model.eval()
        split = getattr(self.data[task], split_name)
        vocabulary = self.target_vocabularies[task]
        outputs = []
        for start in range(0, len(rows), DECODE_BATCH):
            batch = make_batch(self.model.encoder, TaskKind.SEQ2SEQ, split, rows[start: start + DECODE_BATCH])
            batch = {k: v.to(self.device) for k, v in batch.items()}
            with torch.autocast(self.device.type, dtype=self.autocast_dtype) if self.autocast_dtype is not None \
                    else contextlib.nullcontext():
                ids = self.model.generate(task, batch, beam_size=self.spec.beam_size,
                                          max_length=self.spec.max_target_length)
            outputs += [vocabulary.decode(sequence) for sequence in ids]
        return outputs

    def _evaluate_generation(self, task: str, split_name: str, rows: np.ndarray) -> dict[str, float]:
        """Teacher-forced loss and the decoded outputs' scores against the reference texts; the outputs and
        signatures are kept in `last_generation[task]` for the caller to record."""
        split = getattr(self.data[task], split_name)
        loss_sum = 0.0
        for start in range(0, len(rows), DECODE_BATCH):
            chunk = rows[start: start + DECODE_BATCH]
            batch = make_batch(self.model.encoder, TaskKind.SEQ2SEQ, split, chunk)
            batch = {k: v.to(self.device) for k, v in batch.items()}
            loss_sum += float(self._loss(task, batch)) * len(chunk)
        outputs = self.generate(task, split_name, rows)
        references = [self.references[task][split_name][i] for i in rows]
        card = self.data[task].card
        metrics, signatures = generation_scores(outputs, references, rouge=card.target_language == "en")
        metrics["loss"] = loss_sum / max(1, len(rows))
        self.last_generation[task] = {"split": split_name, "rows": rows, "outputs": outputs,
                                      "references": references, "signatures": signatures}
        return metrics

    def source_texts(self, task: str, split_name: str, rows) -> list[str]:
        from mtl_core.tasks.seq2seq import source_text

        split = getattr(self.data[task], split_name)
        return [source_text(split.inputs[i], self.data[task]) for i in rows]

    def _record_generation(self, step: int, task: str, recorder: Recorder, samples: int | None) -> None:
        """The last evaluation's signatures and, for `samples` > 0, its first outputs beside source and reference."""
        last = self.last_generation.get(task)
        if last is None:
            return
        if hasattr(recorder, "signature"):
            for name, text in last["signatures"].items():
                recorder.signature(task, last["split"], name, text)
        if samples and hasattr(recorder, "samples"):
            rows = last["rows"][:samples]
            sources = self.source_texts(task, last["split"], rows)
            recorder.samples(step, task, last["split"],
                             [(int(row), source, last["references"][i], last["outputs"][i])
                              for i, (row, source) in enumerate(zip(rows, sources))])

    def _eval_limit(self, task: str, limit: int | None) -> int | None:
        """Interval evaluations of a generation task decode at most max_decode_examples examples."""
        if self.data[task].card.kind.is_generation:
            return min(limit or self.spec.max_decode_examples, self.spec.max_decode_examples)
        return limit

    def run_evaluation(self, step: int, recorder: Recorder) -> bool:
        """Validation (and a train subset) for every task; returns True when this is the best step so far."""
        primary = {}
        # The training subset is drawn per input key: tasks labelling the same examples score the same rows, in one
        # pass of the trunk.
        train_rows = {t: eval_rows(len(self.data[t].train), self._eval_limit(t, TRAIN_EVAL_EXAMPLES), self.run.seed,
                                   self.input_keys[t], "train-eval") for t in self.tasks}
        val_rows = {t: eval_rows(len(self.data[t].validation), self._eval_limit(t, self.spec.max_eval_examples),
                                 self.run.seed, t, "validation-eval") for t in self.tasks}
        on_train, on_validation = self.evaluate_all("train", train_rows), self.evaluate_all("validation", val_rows)
        for task in self.tasks:
            for name, value in on_train[task].items():
                if name != "loss":
                    recorder.metric(step, task, "train", name, value)
            validation = on_validation[task]
            for name, value in validation.items():
                recorder.metric(step, task, "validation", name, value)
            if task in self.target_vocabularies:
                self._record_generation(step, task, recorder, SAMPLE_EXAMPLES)
            primary[task] = validation[self.data[task].card.metric]
            self.state.first_validation.setdefault(task, primary[task])
        selection = selection_score(primary, self.state.first_validation,
                                    {t: primary_metric_sign(self.data[t].card) for t in self.tasks})
        if selection > self.state.best_score:
            self.state.best_score, self.state.best_step = selection, step
            self.best_model_state = {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()}
            return True
        return False

    def read_losses(self) -> None:
        """Bring the losses of the steps since the last read to the host in one transfer and add them up
        (reading each one at its step would make every step wait for the GPU). A non-finite loss stops the
        run as diverged, naming the step it happened at."""
        if not self.pending_losses:
            return
        values = torch.stack([loss for _, _, loss in self.pending_losses]).tolist()
        for (step, task, _), value in zip(self.pending_losses, values):
            if not math.isfinite(value):
                raise Diverged(task, step, value)
            self.state.loss_sums[task] = self.state.loss_sums.get(task, 0.0) + value
            self.state.loss_counts[task] = self.state.loss_counts.get(task, 0) + 1
        self.pending_losses = []

    def record_losses(self, step: int, recorder: Recorder) -> None:
        for task in self.tasks:
            count = self.state.loss_counts.get(task, 0)
            if count:
                recorder.metric(step, task, "train", "loss", self.state.loss_sums[task] / count)
        self.state.loss_sums, self.state.loss_counts = {}, {}
        if len(self.tasks) > 1:  # the weights the method applied on the latest step: λ_t for static λ
            for task, value in self.method.last_weights.items():
                recorder.metric(step, task, "train", "weight", value)
        for task, name, value in self.model.logged_values():  # soft distances, MMoE gates, cross-stitch α
            recorder.metric(step, task, "train", name, value)

    # ---- the loop ------------------------------------------------------------------------------
    def fit(self, recorder: Recorder, should_stop: Callable[[], bool] = lambda: False,
            on_checkpoint: Callable[[bool], None] = lambda improved: None,
            on_progress: Callable[[int], None] = lambda step: None) -> str:
        """Train from state.step to total_steps; returns 'completed' or 'cancelled'."""
        k = self.spec.conflict_every
        can_measure = len(self.tasks) > 1 or self.spec.noise_floor
        if self.state.step == 0:
            self.record_losses(0, recorder)  # soft distances start at 0
        for step in range(self.state.step + 1, self.total_steps + 1):
            # A method of the gradients builds the Gram every step: its conflict statistics are recorded every step.
            measure = bool(k) and can_measure and (step % k == 0 or self.method.uses_gradients)
            self.train_step(step, recorder, measure)
            self.state.step = step
            logging = step % self.loss_every == 0 or step == self.total_steps
            evaluating = step % self.eval_every == 0 or step == self.total_steps
            if logging or evaluating:  # never evaluate or checkpoint a model that has diverged
                self.read_losses()
            if logging:
                self.record_losses(step, recorder)
            if evaluating:
                improved = self.run_evaluation(step, recorder)
                on_checkpoint(improved)
            recorder.tick(step)
            on_progress(step)
            if should_stop() and step < self.total_steps:
                on_checkpoint(False)
                return "cancelled"
        return "completed"

    def test_results(self, recorder: Recorder) -> dict[str, dict[str, float]]:
        """Test metrics of the best validation checkpoint, every test example."""
        if self.best_model_state is not None:
            self.model.load_state_dict(self.best_model_state)
        results = {}
        every_row = {task: np.arange(len(self.data[task].test)) for task in self.tasks}
        evaluated = self.evaluate_all("test", every_row)
        for task in self.tasks:
            rows = every_row[task]
            metrics = evaluated[task]
            if task in self.target_vocabularies:
                self._record_generation(self.total_steps, task, recorder, 0)
                references = self.references[task]["test"]
                for baseline, outputs in (("copy", self.source_texts(task, "test", rows)),
                                          ("frequent", [most_frequent(self.references[task]["train"])] * len(rows))):
                    metrics[f"{baseline}_bleu"] = corpus_bleu(outputs, references)[0]
                    metrics[f"{baseline}_chrf"] = corpus_chrf(outputs, references)[0]
            for name, value in metrics.items():
                recorder.metric(self.total_steps, task, "test", name, value)
            results[task] = metrics
        return results

    # ---- checkpoints ---------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """Tensors and plain Python data only (the generators' states are dicts of ints), so that
        load_checkpoint can refuse anything else."""
        self.read_losses()  # the checkpoint carries every loss so far
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "streams": {t: s.state_dict() for t, s in self.streams.items()},
            "probe_streams": {t: s.state_dict() for t, s in self.probe_streams.items()},
            "sampling_rng": self.sampling_rng.bit_generator.state,
            "training_rng": self.training_rng.state,
            "measurement_rng": self.measurement_rng.state,
            "loop": self.state.__dict__,
            "best_model": self.best_model_state,
            "weighting": self.method.state_dict(),
        }

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        for t, s in state["streams"].items():
            self.streams[t].load_state_dict(s)
        for t, s in state["probe_streams"].items():
            self.probe_streams[t].load_state_dict(s)
        self.sampling_rng.bit_generator.state = state["sampling_rng"]
        self.training_rng.state = state["training_rng"]
        self.measurement_rng.state = state["measurement_rng"]
        self.state = LoopState(**copy.deepcopy(state["loop"]))
        self.best_model_state = state["best_model"]
        if "weighting" in state:  # checkpoints written before weighting methods existed: static λ, no state
            self.method.load_state_dict(state["weighting"])


def load_checkpoint(path, device: torch.device) -> dict:
    """A checkpoint written by Trainer.state_dict, read with torch's weights-only unpickler: a file holding
    any other object (one that could run code while it is read) is refused with a UserError."""
    from mtl_core.errors import UserError

    try:
        return torch.load(path, map_location=device, weights_only=True)
    except pickle.UnpicklingError as exc:
        raise UserError(f"checkpoint: {path} holds objects other than tensors and plain data, so it was not "
                        "loaded (reading it could run code); delete it to train the run from the start "
                        f"({str(exc).splitlines()[0][:200]})") from exc


def same_input_groups(tasks: list[str], rows: Mapping[str, np.ndarray], keys: Mapping[str, str]) -> list[list[str]]:
    """The tasks of a step grouped by the inputs they read: the same examples (input key) and the same rows, in
    task order within a group and groups in the order of their first task."""
    groups: list[list[str]] = []
    for task in tasks:
        for group in groups:
            lead = group[0]
            if keys[lead] == keys[task] and np.array_equal(rows[lead], rows[task]):
                group.append(task)
                break
        else:
            groups.append([task])
    return groups


def input_key(task_data: TaskData) -> str:
    """A digest of a task's training inputs: equal for tasks that label the same examples."""
    return split_input_key(task_data.train)


def split_input_key(split) -> str:
    """A digest of one split's inputs."""
    inputs = split.inputs
    digest = hashlib.sha256()
    if isinstance(inputs, np.ndarray):
        digest.update(np.ascontiguousarray(inputs).tobytes())
    else:
        for tokens in inputs:
            digest.update("\x1f".join(tokens).encode("utf-8", "replace") + b"\x1e")
    return digest.hexdigest()


def most_frequent(texts: list[str]) -> str:
    """The most frequent text (ties: the first in code-point order): the most-frequent-output baseline."""
    counts: dict[str, int] = {}
    for text in texts:
        counts[text] = counts.get(text, 0) + 1
    return min(counts, key=lambda text: (-counts[text], text))


def _detached(value):
    """A coefficient as a constant: a tensor that carries a gradient to a method's parameters, detached."""
    return value.detach() if isinstance(value, torch.Tensor) else value


def _split_by_layer(groups: dict[str, list], grads) -> dict[str, list]:
    out, index = {}, 0
    for layer, params in groups.items():
        out[layer] = list(grads[index: index + len(params)])
        index += len(params)
    return out
