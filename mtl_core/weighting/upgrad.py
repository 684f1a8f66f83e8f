"""UPGrad (Quinton & Rey 2024): project the mean gradient onto the dual cone of the task gradients, so that no
task's loss increases to first order. TorchJD's UPGradWeighting (quadprog)."""
from __future__ import annotations

from mtl_core.weighting.base import TorchJDGramMethod


class UPGrad(TorchJDGramMethod):
    name = "upgrad"
    title = "UPGrad"
    reference = "Quinton & Rey 2024, Jacobian Descent for Multi-Objective Optimization, arXiv:2406.16232"
    explanation = "Projects every task's gradient so that it conflicts with none of the others, then averages."
    formula = r"d = \frac{1}{T}\sum_t \pi_{\mathcal{C}}(g_t),\ \ \mathcal{C} = \{x : g_s \cdot x \ge 0\ \forall s\}"

    def make(self):
        from torchjd.aggregation import UPGradWeighting
        return UPGradWeighting()


METHOD = UPGrad
