"""MGDA (Désidéri 2012; Sener & Koltun 2018): the min-norm point of the convex hull of the task gradients.

Computed exactly on the shared parameters' gradients (not the UB bound on the representation), with
TorchJD's MGDAWeighting (Frank-Wolfe on the Gram matrix)."""
from __future__ import annotations

from mtl_core.weighting.base import Option, TorchJDGramMethod


class MGDA(TorchJDGramMethod):
    name = "mgda"
    title = "MGDA"
    reference = "Sener & Koltun 2018, Multi-Task Learning as Multi-Objective Optimization (NeurIPS), arXiv:1810.04650"
    explanation = "Steps along the smallest combination of the task gradients, a direction no task objects to."
    formula = r"w = \arg\min_{w \in \Delta} \left\| \sum_t w_t g_t \right\|^2"
    options = {"epsilon": Option(0.001, 0.0, 1.0, "Frank-Wolfe stopping tolerance", low_open=True),
               "max_iters": Option(100, 1, 10000, "Frank-Wolfe iterations at most", integer=True)}

    def make(self):
        from torchjd.aggregation import MGDAWeighting
        return MGDAWeighting(epsilon=self.settings["epsilon"], max_iters=int(self.settings["max_iters"]))


METHOD = MGDA
