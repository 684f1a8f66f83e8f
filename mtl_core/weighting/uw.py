"""Uncertainty weighting (Kendall, Gal & Cipolla 2018): one learnable log-variance s_t per task.

L = Σ_t L_t / (2 e^{s_t}) + s_t / 2 (the form LibMTL uses for every task kind). For a fixed L_t the optimum
is e^{s_t} = L_t, i.e. an effective weight 1 / (2 L_t): tasks with a large loss are weighted down.
"""
from __future__ import annotations

from mtl_core.weighting.base import WeightingMethod


class Uncertainty(WeightingMethod):
    name = "uw"
    title = "Uncertainty weighting"
    family = "loss-based"
    needs = "losses"
    reference = "Kendall, Gal & Cipolla 2018, Multi-Task Learning Using Uncertainty to Weigh Losses (CVPR), arXiv:1705.07115"
    explanation = "Learns a noise level per task and divides its loss by it: noisy or large losses count less."
    formula = r"\mathcal{L} = \sum_t \frac{\mathcal{L}_t}{2e^{s_t}} + \frac{s_t}{2},\ s_t \text{ learned}"

    def __init__(self, *args, **kwargs):
        import torch
        super().__init__(*args, **kwargs)
        self.log_variance = torch.nn.Parameter(torch.zeros(len(self.tasks), device=self.device))

    def parameters(self):
        return [self.log_variance]

    def scales(self, losses, step):
        import torch
        coefficients = 0.5 * torch.exp(-self.log_variance)
        out = {t: coefficients[self.tasks.index(t)] for t in losses}
        self.remember({t: float(c.detach()) for t, c in out.items()})
        return out

    def regulariser(self):
        return 0.5 * self.log_variance.sum()

    def state_dict(self):
        return {**super().state_dict(), "log_variance": self.log_variance.detach().clone()}

    def load_state_dict(self, state):
        import torch
        super().load_state_dict(state)
        with torch.no_grad():
            self.log_variance.copy_(state["log_variance"])


METHOD = Uncertainty
