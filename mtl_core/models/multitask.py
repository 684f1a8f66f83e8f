"""The networks of the sharing modes (declared in mtl_core/models/sharing/, one module per mode).

What the training loop calls on every model:
    sharing, tasks, head_layers, encoders (ModuleDict), encoder (any one: prepares batches),
    task_loss(task, batch) -> (loss, predictions), group_outputs(tasks, batches) (tasks reading the same rows),
    generate(task, batch, beam_size, max_length) (generation
    tasks), read_layer(encoder_name), representation(batch, name),
    shared_layer_groups(task), head_parameters(task), logged_values()
and on soft sharing only: soft_penalty(), soft_distances().

- SharedEncoderModel (hard, hierarchical): one encoder θ_s; head t reads layer l_t (the top for hard).
- SoftModel: one encoder θ_t per task, all from the same initialisation, pulled together by
  λ_soft Σ_t ‖θ_t − θ_s‖², θ_s the mean of the task encoders.
- MMoEModel: E experts and a softmax gate per task; head t reads Σ_e g_te(x) f_e(x).
- CrossStitchModel: one encoder per task; after each layer the tasks' outputs are mixed by α^l (T×T).
"""
from __future__ import annotations

import copy

import torch
from torch import nn

from mtl_core.models.encoders import Encoder, EncoderOutput
from mtl_core.models.heads import pool

SHARED = "shared"


class MultiTaskModel(nn.Module):
    """Heads per task on top of some encoders; subclasses say how a task's representation is made."""

    def __init__(self, sharing: str, heads: dict[str, nn.Module], head_layers: dict[str, int]):
        super().__init__()
        self.sharing = sharing
        self.tasks = list(heads)
        self.head_layers = dict(head_layers)

    @property
    def encoder(self) -> Encoder:
        """Any encoder (they share one architecture): used to prepare batches."""
        return next(iter(self.encoders.values()))

    def features(self, task: str, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(what task's head reads, word mask or None)."""
        raise NotImplementedError

    def task_loss(self, task: str, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """(loss, predictions) of one task on one batch prepared by `encoder.prepare` (+ 'targets')."""
        features, mask = self.features(task, batch)
        return self.heads[task](features, mask, batch["targets"])

    def shared_features(self, tasks: list[str], batch: dict[str, torch.Tensor]) -> dict[str, tuple] | None:
        """{task: features(task, batch)} for tasks that all read this batch's inputs, from one pass of the trunk
        they share (one dropout mask for all of them); None where they share none (soft sharing: an encoder per
        task)."""
        return None

    def group_outputs(self, tasks: list[str], batches: dict[str, dict[str, torch.Tensor]]) -> dict[str, tuple]:
        """{task: (loss, predictions)} of tasks whose batches hold the same inputs (the same rows of the same
        examples; each batch its task's own targets): one `shared_features` pass, then each task's head. One task
        alone, or a model without a shared trunk, takes `task_loss` task by task (a single-task run computes
        exactly what it always has)."""
        read = self.shared_features(tasks, batches[tasks[0]]) if len(tasks) > 1 else None
        if read is None:
            return {task: self.task_loss(task, batches[task]) for task in tasks}
        return {task: self.heads[task](*read[task], batches[task]["targets"]) for task in tasks}

    @torch.no_grad()
    def generate(self, task: str, batch: dict[str, torch.Tensor], beam_size: int = 1,
                 max_length: int = 64) -> list[list[int]]:
        """A generation task's decoded target ids per example (its head decodes from what it reads)."""
        features, mask = self.features(task, batch)
        return self.heads[task].generate(features, mask, beam_size=beam_size, max_length=max_length)

    def read_layer(self, encoder_name: str) -> int:
        """The highest layer of an encoder that a head reads: the encoder's representation of what it learned."""
        return self.encoders[encoder_name].depth

    @torch.no_grad()
    def representation(self, batch: dict[str, torch.Tensor], name: str) -> torch.Tensor:
        """The pooled (B, H) representation of encoder `name` (a key of `encoders`) on a prepared batch, at the
        layer its heads read: for CKA between runs."""
        layer = self.read_layer(name)
        out = self.encoders[name](batch, upto=layer)
        return pool(out.layers[layer - 1], out.mask)

    # ---- what counts as shared (for gradient conflict) -------------------------------------------
    def shared_layer_groups(self, task: str) -> dict[str, list[nn.Parameter]]:
        """Per-layer parameters whose gradients are compared across tasks."""
        raise NotImplementedError

    def head_parameters(self, task: str) -> list[nn.Parameter]:
        """Task t's own parameters (its head, and its gate in MMoE)."""
        return [p for p in self.heads[task].parameters() if p.requires_grad]

    def logged_values(self) -> list[tuple[str, str, float]]:
        """(task, name, value) rows the loop records as train metrics at each loss-logging step."""
        return []


class SharedEncoderModel(MultiTaskModel):
    """Hard and hierarchical sharing (and every single-task baseline): one encoder, head t reads layer l_t."""

    def __init__(self, sharing: str, encoder: Encoder, heads: dict[str, nn.Module], head_layers: dict[str, int]):
        super().__init__(sharing, heads, head_layers)
        self.encoders = nn.ModuleDict({SHARED: encoder})
        self.heads = nn.ModuleDict(heads)

    def features(self, task, batch):
        layer = self.head_layers[task]
        out = self.encoders[SHARED](batch, upto=layer)
        return out.layers[layer - 1], out.mask

    def shared_features(self, tasks, batch):
        """One pass of the trunk up to the highest layer the tasks read (one dropout mask for all of them)."""
        out = self.encoders[SHARED](batch, upto=max(self.head_layers[t] for t in tasks))
        return {task: (out.layers[self.head_layers[task] - 1], out.mask) for task in tasks}

    def read_layer(self, encoder_name):
        """The highest layer a head reads (one task's layer in a single-task run); layers above it never
        receive a gradient."""
        return max(self.head_layers[task] for task in self.tasks)

    def shared_layer_groups(self, task):
        return self.encoders[SHARED].layer_groups()


class SoftModel(MultiTaskModel):
    """Soft sharing: the same initial weights for every task encoder, so the L2 pull measures divergence from
    a common start."""

    def __init__(self, sharing: str, encoder: Encoder, heads: dict[str, nn.Module], head_layers: dict[str, int]):
        super().__init__(sharing, heads, head_layers)
        self.encoders = nn.ModuleDict({t: copy.deepcopy(encoder) for t in self.tasks})
        self.heads = nn.ModuleDict(heads)

    def features(self, task, batch):
        layer = self.head_layers[task]
        out = self.encoders[task](batch, upto=layer)
        return out.layers[layer - 1], out.mask

    def read_layer(self, encoder_name):
        return self.head_layers[encoder_name]

    def shared_layer_groups(self, task):
        """Task t's own encoder; the encoders have the same shapes, so cosines compare the directions each
        task pulls the (common) architecture in."""
        return self.encoders[task].layer_groups()

    def _soft_vectors(self) -> dict[str, torch.Tensor]:
        return {t: torch.cat([p.reshape(-1) for p in enc.parameters() if p.requires_grad])
                for t, enc in self.encoders.items()}

    def soft_penalty(self) -> torch.Tensor:
        """Σ_t ‖θ_t − θ̄‖² (multiply by λ_soft). Its gradient for θ_t is 2(θ_t − θ̄) since Σ_t (θ_t − θ̄) = 0."""
        vectors = self._soft_vectors()
        mean = torch.stack(list(vectors.values())).mean(0)
        return sum(((v - mean) ** 2).sum() for v in vectors.values())

    @torch.no_grad()
    def soft_distances(self) -> dict[str, float]:
        """‖θ_t − θ_s‖ per task, θ_s the mean of the task encoders."""
        vectors = self._soft_vectors()
        mean = torch.stack(list(vectors.values())).mean(0)
        return {t: float(torch.linalg.vector_norm(v - mean)) for t, v in vectors.items()}

    def logged_values(self):
        """soft_distance per task: ‖θ_t − θ_s‖."""
        return [(task, "soft_distance", distance) for task, distance in self.soft_distances().items()]


def _merged_layer_groups(encoders) -> dict[str, list[nn.Parameter]]:
    """The encoders' layer groups merged by layer name, in layer order, encoder after encoder within a layer."""
    groups: dict[str, list[nn.Parameter]] = {}
    for encoder in encoders:
        for layer, params in encoder.layer_groups().items():
            groups.setdefault(layer, []).extend(params)
    return groups


class MMoEModel(MultiTaskModel):
    """MMoE (Ma et al. 2018): `encoders` holds the experts 'expert1' … 'expertE' (expert 1 prepares batches),
    `gates` one bias-free Linear per task over the gate input (see gate_input), heads read
    Σ_e softmax(W_t x)_e · expert_e's top layer.

    Shared (for conflict and Σ_t w_t g_t): the experts, grouped per layer across experts ('layer1' holds
    layer 1 of every expert, 'embedding' every expert's embeddings). Gates are task t's own, like its head.
    """

    def __init__(self, sharing: str, experts: list[Encoder], heads: dict[str, nn.Module],
                 head_layers: dict[str, int], gates: dict[str, nn.Module]):
        super().__init__(sharing, heads, head_layers)
        self.encoders = nn.ModuleDict({f"expert{e}": expert for e, expert in enumerate(experts, start=1)})
        self.heads = nn.ModuleDict(heads)
        self.gates = nn.ModuleDict(gates)
        self.head_layers = {task: experts[0].depth for task in self.tasks}  # every head reads the top
        self._last_gates: dict[str, torch.Tensor] = {}  # task -> mean gate weights on its last training batch

    @staticmethod
    def gate_size(encoder: Encoder) -> int:
        if hasattr(encoder, "linears"):  # mlp: the input vector
            return encoder.linears[0].in_features
        return encoder.hidden_size

    @classmethod
    def make_gate(cls, encoder: Encoder, experts: int) -> nn.Module:
        return nn.Linear(cls.gate_size(encoder), experts, bias=False)

    def gate_input(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """(B, D) what the gates read: the input vector x (mlp); for text the mean of expert 1's word embeddings
        over the words (MiniLM: its input token embeddings over the sub-words), detached."""
        first = self.encoders["expert1"]
        with torch.no_grad():
            if "x" in batch:
                return batch["x"]
            if "word_ids" in batch:
                return pool(first.embedding(batch["word_ids"]), batch["mask"])
            vectors = first.model.embeddings.word_embeddings(batch["input_ids"])
            return pool(vectors, batch["attention_mask"].bool())

    def gate_weights(self, task: str, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """(B, E) softmax over the experts of task's gate."""
        return torch.softmax(self.gates[task](self.gate_input(batch)), dim=-1)

    def features(self, task, batch):
        return self.shared_features([task], batch)[task]

    def shared_features(self, tasks, batch):
        """The experts run once; each task mixes their top layers with its own gate."""
        outs = [expert(batch) for expert in self.encoders.values()]
        stacked = torch.stack([out.layers[-1] for out in outs], dim=1)  # (B, E, H) or (B, E, T, H)
        return {task: (self._mixture(task, batch, stacked), outs[0].mask) for task in tasks}

    def _mixture(self, task: str, batch: dict[str, torch.Tensor], stacked: torch.Tensor) -> torch.Tensor:
        gates = self.gate_weights(task, batch)  # (B, E)
        if self.training and torch.is_grad_enabled():
            self._last_gates[task] = gates.detach().mean(0)
        weights = gates.reshape(gates.shape + (1,) * (stacked.dim() - 2)).to(stacked.dtype)
        return (weights * stacked).sum(1)

    def shared_layer_groups(self, task):
        return _merged_layer_groups(self.encoders.values())

    def head_parameters(self, task):
        return super().head_parameters(task) + list(self.gates[task].parameters())

    def logged_values(self):
        """gate_expert_<e> per task: the mean of softmax gate weight e over its last training batch (the weights
        of one task sum to 1)."""
        rows = []
        for task in self.tasks:
            if task in self._last_gates:
                values = self._last_gates[task].float().cpu().tolist()
                rows += [(task, f"gate_expert_{e}", value) for e, value in enumerate(values, start=1)]
        return rows


class CrossStitchModel(MultiTaskModel):
    """Cross-stitch (Misra et al. 2016): `encoders` holds one copy of the run's encoder per task; `stitch[l-1]`
    is α^l (T×T, row t: task t's weights on every task's layer-l output, in task order).

    Shared (for conflict and Σ_t w_t g_t): every encoder and every stitch unit (each task's loss reaches them
    all), grouped per layer across encoders, α^l in 'layer<l>'.
    """

    def __init__(self, sharing: str, encoder: Encoder, heads: dict[str, nn.Module], head_layers: dict[str, int],
                 self_weight: float = 0.9):
        super().__init__(sharing, heads, head_layers)
        self.encoders = nn.ModuleDict({t: copy.deepcopy(encoder) for t in self.tasks})
        self.heads = nn.ModuleDict(heads)
        self.head_layers = {task: encoder.depth for task in self.tasks}  # every head reads the top
        n = len(self.tasks)
        if n > 1:
            init = torch.full((n, n), (1.0 - self_weight) / (n - 1))
            init.fill_diagonal_(self_weight)
        else:
            init = torch.ones((1, 1))
        self.stitch = nn.ParameterList(nn.Parameter(init.clone()) for _ in range(encoder.depth))

    def stitched(self, batch: dict[str, torch.Tensor], upto: int | None = None) -> dict[str, EncoderOutput]:
        """Every task's stitched layer outputs h̃_t^1 … h̃_t^upto on one batch."""
        encoders = list(self.encoders.values())
        depth = min(upto or encoders[0].depth, encoders[0].depth)
        started = [encoder.begin(batch) for encoder in encoders]
        states = [x for x, _ in started]
        contexts = [context for _, context in started]
        layers: list[list[torch.Tensor]] = [[] for _ in encoders]
        for index in range(1, depth + 1):
            outputs = torch.stack([encoder.layer(index, x, context)
                                   for encoder, x, context in zip(encoders, states, contexts)])  # (T, B, ...)
            alpha = self.stitch[index - 1].to(outputs.dtype)
            mixed = torch.tensordot(alpha, outputs, dims=([1], [0]))  # (T, B, ...): row t = Σ_s α_ts h_s
            states = list(mixed.unbind(0))
            for t, h in enumerate(states):
                layers[t].append(h)
        return {task: EncoderOutput(layers[t], contexts[t].get("mask")) for t, task in enumerate(self.tasks)}

    def features(self, task, batch):
        return self.shared_features([task], batch)[task]

    def shared_features(self, tasks, batch):
        """One pass of the stitched encoders serves every task (each reads its own stitched top layer)."""
        layer = max(self.head_layers[t] for t in tasks)
        outs = self.stitched(batch, upto=layer)
        return {task: (outs[task].layers[self.head_layers[task] - 1], outs[task].mask) for task in tasks}

    @torch.no_grad()
    def representation(self, batch, name):
        """Task `name`'s stitched representation at the top: what its head reads."""
        layer = self.read_layer(name)
        out = self.stitched(batch, upto=layer)[name]
        return pool(out.layers[layer - 1], out.mask)

    def shared_layer_groups(self, task):
        groups = _merged_layer_groups(self.encoders.values())
        for index, alpha in enumerate(self.stitch, start=1):
            groups.setdefault(f"layer{index}", []).append(alpha)
        return groups

    def logged_values(self):
        """stitch_l<l>_<source> per task t: α^l_{t,source}, task t's weight on task source's layer-l output
        (its own at source = t)."""
        rows = []
        for index, alpha in enumerate(self.stitch, start=1):
            values = alpha.detach().float().cpu().tolist()
            for t, task in enumerate(self.tasks):
                rows += [(task, f"stitch_l{index}_{source}", values[t][s]) for s, source in enumerate(self.tasks)]
        return rows
