"""Static λ: L = Σ_t λ_t L_t with the spec's fixed weights (the default, and the front other methods face)."""
from __future__ import annotations

from mtl_core.weighting.base import WeightingMethod


class Static(WeightingMethod):
    name = "static"
    title = "Static λ"
    family = "static"
    needs = "losses"
    reference = "Caruana 1997, Multitask Learning (a fixed weighted sum of the task losses)"
    explanation = "Each task's loss is multiplied by the λ you choose; tuned well, this often matches adaptive methods."
    formula = r"\mathcal{L} = \sum_t \lambda_t \mathcal{L}_t"
    lambdas = "weights"
    every_task_each_step = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.last_weights = {t: self.lambdas.get(t, 1.0) for t in self.tasks}

    def scales(self, losses, step):
        return {t: self.lambdas[t] for t in losses}


METHOD = Static
