"""CAGrad (Liu et al. 2021, c = 0.4): the update that maximises the worst task's improvement within a ball of
radius c‖g₀‖ around the mean gradient g₀. TorchJD's CAGradWeighting (solved with cvxpy)."""
from __future__ import annotations

from mtl_core.weighting.base import Option, TorchJDGramMethod


class CAGrad(TorchJDGramMethod):
    name = "cagrad"
    title = "CAGrad"
    reference = "Liu et al. 2021, Conflict-Averse Gradient Descent for Multi-task Learning (NeurIPS), arXiv:2110.14048"
    explanation = "Stays close to the average gradient but bends it to help the task that would gain least."
    formula = r"\max_d \min_t g_t \cdot d \ \text{ s.t. } \|d - g_0\| \le c \|g_0\|"
    options = {"c": Option(0.4, 0.0, 10.0, "radius of the ball around the mean gradient (0 = the mean)")}

    def make(self):
        from torchjd.aggregation import CAGradWeighting
        return CAGradWeighting(c=self.settings["c"])


METHOD = CAGrad
