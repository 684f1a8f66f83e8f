"""GradNorm (Chen et al. 2018, α = 1.5): learn λ so that each task's gradient norm on the last shared layer
tracks the mean norm times its relative inverse training rate.

With n_t = ‖∇_W L_t‖ on the last layer W that every task's gradient reaches (read off the Gram diagonal, so
no extra backward pass), G_t = λ_t n_t, r_t = (L_t / L_t(0)) / mean_s (L_s / L_s(0)) and the target
Ḡ r_t^α held constant, L_grad = Σ_t |G_t − Ḡ r_t^α| has ∂L_grad/∂λ_t = sign(G_t − Ḡ r_t^α) n_t. λ takes an Adam
step on it, is kept positive and renormalised to Σ_t λ_t = T after every step (as in the paper).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from mtl_core.weighting.base import Option, WeightingMethod

if TYPE_CHECKING:
    import torch

MIN_WEIGHT = 1e-4


class GradNorm(WeightingMethod):
    name = "gradnorm"
    title = "GradNorm"
    family = "gradient-based"
    needs = "gram"
    reference = "Chen et al. 2018, GradNorm: Gradient Normalization for Adaptive Loss Balancing (ICML), arXiv:1711.02257"
    explanation = "Tunes the weights so that tasks training slower get larger gradients on the last shared layer."
    formula = (r"\min_\lambda \sum_t \left| \lambda_t \|\nabla_W \mathcal{L}_t\| - \overline{G}\, r_t^{\alpha} \right|,"
               r"\ r_t = \frac{\mathcal{L}_t/\mathcal{L}_t(0)}{\mathrm{mean}_s\, \mathcal{L}_s/\mathcal{L}_s(0)}")
    lambdas = "start"
    heads_weighted = True
    options = {"alpha": Option(1.5, 0.0, 10.0, "α: how strongly slow tasks are pushed"),
               "lr": Option(0.025, 0.0, 10.0, "step size of the weights λ", low_open=True)}

    def __init__(self, *args, **kwargs):
        import torch
        super().__init__(*args, **kwargs)
        start = torch.tensor([self.lambdas.get(t, 1.0) for t in self.tasks], dtype=torch.float64)
        start = start.clamp(min=MIN_WEIGHT)
        self.weights = torch.nn.Parameter(start * len(self.tasks) / start.sum())
        self.optimizer = torch.optim.Adam([self.weights], lr=self.settings["lr"])
        self.initial: list[float] | None = None

    @staticmethod
    def last_common_layer(layer_grams: dict[str, torch.Tensor]) -> torch.Tensor:
        layers = [name for name in layer_grams if name != "all"]
        for name in reversed(layers):
            if bool((layer_grams[name].diagonal() > 0).all()):
                return layer_grams[name]
        return layer_grams["all"]

    def gram_weights(self, gram, layer_grams, losses, step, matrix=None):
        import torch
        applied = self.weights.detach().clone()
        self.remember(dict(zip(self.tasks, applied.tolist())))
        values = torch.tensor([float(losses[t].detach()) for t in self.tasks], dtype=torch.float64)
        if self.initial is None:
            self.initial = values.tolist()
        norms = self.last_common_layer(layer_grams).diagonal().detach().cpu().double().clamp(min=0).sqrt()
        ratios = values / torch.tensor(self.initial, dtype=torch.float64).clamp(min=1e-12)
        ratios = ratios / ratios.mean().clamp(min=1e-12)
        scaled = applied * norms
        target = scaled.mean() * ratios ** self.settings["alpha"]
        self.optimizer.zero_grad(set_to_none=True)
        self.weights.grad = torch.sign(scaled - target) * norms
        self.optimizer.step()
        with torch.no_grad():
            self.weights.clamp_(min=MIN_WEIGHT)
            self.weights.mul_(len(self.tasks) / self.weights.sum())
        return applied.to(gram.device)

    def state_dict(self):
        return {**super().state_dict(), "weights": self.weights.detach().clone(),
                "optimizer": self.optimizer.state_dict(), "initial": self.initial}

    def load_state_dict(self, state):
        import torch
        super().load_state_dict(state)
        with torch.no_grad():
            self.weights.copy_(state["weights"].cpu())
        self.optimizer.load_state_dict(state["optimizer"])
        self.initial = state["initial"]


METHOD = GradNorm
