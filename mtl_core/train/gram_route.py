"""The Gram route: exact per-task gradient inner products without materialising T parameter gradients.

For a linear layer Z = A Wᵀ + b with inputs A (n × h_in, n = batch rows or tokens) and task t's gradient at
its output Δ_t = ∂L_t/∂Z (n × h_out), the weight gradient is g_t = Δ_tᵀ A_t, so

    g_i · g_j = ⟨Δ_iᵀ A_i, Δ_jᵀ A_j⟩_F = ⟨A_i A_jᵀ, Δ_i Δ_jᵀ⟩_F        (bias: (1ᵀΔ_i) · (1ᵀΔ_j))

an n × n product instead of h_in × h_out gradients (SCIENCE.md; TorchJD's autogram builds Gramians layer by
layer the same way). One backward pass per task asks autograd for Δ_t only (the activation gradients, not
the weight gradients), and the update Σ_t w_t g_t = (Σ_t w_t Δ_t)ᵀ A of a layer is then one weight-gradient
product. Per layer and step the cheaper of the two exact forms is used: the n × n kernels when
n (h_in + h_out) ≤ 2 h_in h_out, else Δ_tᵀ A_t formed once per task (still without a second backward).

Which parameters take the route: the weight and bias of every shared `nn.Linear` that each task's forward
called exactly once (the MLP's layers, the Transformer's feed-forward layers). Everything else (embeddings,
LSTM weights, layer norms, attention projections called through the functional path, MiniLM's frozen or
fine-tuned blocks, a linear module used twice) falls back to its materialised per-task gradient, exactly as
the reference route computes it. `covered()` says which parameters took which route on the last step.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import torch
from torch import nn

from mtl_core.train.conflict import ALL_LAYERS


@dataclass
class TaskGradients:
    """What one step's per-task backward passes produced (tasks in order)."""

    tasks: list[str]
    deltas: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)  # task -> module -> Δ (n, out)
    inputs: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)  # task -> module -> A (n, in)
    fallback: dict[str, list[torch.Tensor | None]] = field(default_factory=dict)  # task -> per fallback parameter
    heads: dict[str, list[tuple[nn.Parameter, torch.Tensor | None]]] = field(default_factory=dict)
    kernel: dict[str, bool] = field(default_factory=dict)  # module -> n × n kernels (else Δᵀ A formed)


class GramRoute:
    """Forward hooks on the shared linear modules of one model; see the module docstring."""

    def __init__(self, model: nn.Module, groups: dict[str, list[nn.Parameter]]):
        self.groups = groups
        shared = {id(p) for params in groups.values() for p in params}
        self.linears: dict[str, nn.Linear] = {
            name: module for name, module in model.named_modules()
            if isinstance(module, nn.Linear) and id(module.weight) in shared
            and (module.bias is None or id(module.bias) in shared)}
        self._tasks: tuple[str, ...] = ()
        self._records: dict[str, dict[str, list[tuple[torch.Tensor, torch.Tensor]]]] = {}
        self.last_covered: dict[str, str] = {}
        for name, module in self.linears.items():
            module.register_forward_hook(self._hook(name))

    def _hook(self, name: str):
        def record(module, inputs, output):
            if self._tasks and torch.is_grad_enabled():
                for task in self._tasks:
                    self._records.setdefault(task, {}).setdefault(name, []).append((inputs[0], output))
        return record

    @contextlib.contextmanager
    def tasks(self, names: list[str]):
        """Record the shared linear layers' inputs and outputs while the losses of `names` are computed: one
        task's forward, or one forward of the trunk that several tasks read (the same inputs A for each; their
        Δ_t differ)."""
        self._tasks = tuple(names)
        try:
            yield
        finally:
            self._tasks = ()

    def reset(self) -> None:
        self._records = {}

    # ---- the per-task backward passes ------------------------------------------------------------
    def gradients(self, losses: dict[str, torch.Tensor], heads: dict[str, list[nn.Parameter]]) -> TaskGradients:
        tasks = list(losses)
        records, self._records = self._records, {}
        covered = [name for name in self.linears
                   if all(len(records.get(t, {}).get(name, [])) <= 1 for t in tasks)
                   and any(records.get(t, {}).get(name) for t in tasks)]
        covered_ids = {id(p) for name in covered for p in self.linears[name].parameters()}
        fallback = [p for params in self.groups.values() for p in params if id(p) not in covered_ids]
        self.fallback_parameters = fallback
        self.covered_modules = covered
        out = TaskGradients(tasks)
        for task in tasks:
            own = {name: records[task][name][0] for name in covered if records.get(task, {}).get(name)}
            targets = [z for _, z in own.values()] + fallback + heads[task]
            # tasks that shared a forward share its graph: kept until the last task's pass
            grads = torch.autograd.grad(losses[task], targets, allow_unused=True, retain_graph=task != tasks[-1])
            k = len(own)
            out.deltas[task] = {}
            out.inputs[task] = {}
            for (name, (a, _)), delta in zip(own.items(), grads[:k]):
                if delta is not None:
                    out.deltas[task][name] = delta.reshape(-1, delta.shape[-1]).float()
                    out.inputs[task][name] = a.detach().reshape(-1, a.shape[-1]).float()
            out.fallback[task] = list(grads[k: k + len(fallback)])
            out.heads[task] = list(zip(heads[task], grads[k + len(fallback):]))
        for name in covered:
            module = self.linears[name]
            rows = max((out.inputs[t][name].shape[0] for t in tasks if name in out.inputs[t]), default=0)
            out.kernel[name] = rows * (module.in_features + module.out_features) <= 2 * module.in_features * module.out_features
        self.last_covered = {**{f"{name}": "gram kernels" if out.kernel[name] else "Δᵀ A per task" for name in covered},
                             "materialised": f"{len(fallback)} parameter tensor(s)"}
        return out

    # ---- Gram matrices ---------------------------------------------------------------------------
    def grams(self, grads: TaskGradients, device: torch.device) -> dict[str, torch.Tensor]:
        """{layer: (T, T) float64 Gram} over the shared layer groups, plus 'all' (as conflict.layer_grams)."""
        tasks = grads.tasks
        T = len(tasks)
        owner = {}
        for name in self.covered_modules:
            module = self.linears[name]
            owner[id(module.weight)] = (name, "weight")
            if module.bias is not None:
                owner[id(module.bias)] = (name, "bias")
        fallback_index = {id(p): i for i, p in enumerate(self.fallback_parameters)}
        out = {}
        for layer, params in self.groups.items():
            gram = torch.zeros(T, T, dtype=torch.float64, device=device)
            for parameter in params:
                key = id(parameter)
                if key in owner:
                    name, part = owner[key]
                    gram += self._linear_gram(grads, name, part, device)
                else:
                    index = fallback_index[key]
                    rows = [grads.fallback[t][index] for t in tasks]
                    present = next((r for r in rows if r is not None), None)
                    if present is None:
                        continue
                    matrix = torch.stack([(r if r is not None else torch.zeros_like(present)).reshape(-1).float()
                                          for r in rows])
                    gram += (matrix @ matrix.T).double()
            out[layer] = gram
        out[ALL_LAYERS] = sum(out.values()) if out else torch.zeros(T, T, dtype=torch.float64, device=device)
        return out

    def _linear_gram(self, grads: TaskGradients, name: str, part: str, device) -> torch.Tensor:
        tasks = grads.tasks
        T = len(tasks)
        present = [t for t in tasks if name in grads.deltas[t]]
        gram = torch.zeros(T, T, dtype=torch.float64, device=device)
        if part == "bias":
            sums = {t: grads.deltas[t][name].sum(0) for t in present}
            for i, a in enumerate(tasks):
                for j in range(i, T):
                    b = tasks[j]
                    if a in sums and b in sums:
                        gram[i, j] = gram[j, i] = float(sums[a] @ sums[b])
            return gram
        if grads.kernel[name]:
            for i, a in enumerate(tasks):
                for j in range(i, T):
                    b = tasks[j]
                    if a in present and b in present:
                        kernel_a = grads.inputs[a][name] @ grads.inputs[b][name].T
                        kernel_d = grads.deltas[a][name] @ grads.deltas[b][name].T
                        gram[i, j] = gram[j, i] = (kernel_a * kernel_d).sum().double()
            return gram
        weights = {t: grads.deltas[t][name].T @ grads.inputs[t][name] for t in present}
        for i, a in enumerate(tasks):
            for j in range(i, T):
                b = tasks[j]
                if a in weights and b in weights:
                    gram[i, j] = gram[j, i] = (weights[a] * weights[b]).sum().double()
        return gram

    # ---- the update ------------------------------------------------------------------------------
    def apply(self, grads: TaskGradients, weights: list[float], heads_weighted: bool) -> None:
        """Shared trunk: Σ_t w_t g_t; heads: w_t ∇L_t when `heads_weighted`, else their own ∇L_t."""
        tasks = grads.tasks
        for name in self.covered_modules:
            module = self.linears[name]
            present = [(t, w) for t, w in zip(tasks, weights) if name in grads.deltas[t]]
            if not present:
                continue
            deltas = torch.cat([w * grads.deltas[t][name] for t, w in present])
            inputs = torch.cat([grads.inputs[t][name] for t, _ in present])
            _add(module.weight, (deltas.T @ inputs).to(module.weight.dtype))
            if module.bias is not None:
                _add(module.bias, deltas.sum(0).to(module.bias.dtype))
        for index, parameter in enumerate(self.fallback_parameters):
            total = None
            for task, weight in zip(tasks, weights):
                grad = grads.fallback[task][index]
                if grad is not None:
                    total = weight * grad if total is None else total + weight * grad
            if total is not None:
                _add(parameter, total)
        for task, weight in zip(tasks, weights):
            for parameter, grad in grads.heads[task]:
                if grad is not None:
                    _add(parameter, weight * grad if heads_weighted else grad)


def _add(parameter: nn.Parameter, grad: torch.Tensor) -> None:
    parameter.grad = grad if parameter.grad is None else parameter.grad + grad
