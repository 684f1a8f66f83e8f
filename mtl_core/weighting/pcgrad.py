"""PCGrad (Yu et al. 2020): project each task gradient off every other one it conflicts with (random order),
then sum. TorchJD's PCGradWeighting gives the same result as weights on the original gradients."""
from __future__ import annotations

from mtl_core.weighting.base import TorchJDGramMethod


class PCGrad(TorchJDGramMethod):
    name = "pcgrad"
    title = "PCGrad"
    reference = "Yu et al. 2020, Gradient Surgery for Multi-Task Learning (NeurIPS), arXiv:2001.06782"
    explanation = "Where two task gradients point against each other, removes the conflicting part before summing."
    formula = r"g_i \leftarrow g_i - \frac{g_i \cdot g_j}{\|g_j\|^2} g_j \ \text{ if } g_i \cdot g_j < 0;\ \ d = \sum_i g_i"

    def make(self):
        from torchjd.aggregation import PCGradWeighting
        return PCGradWeighting()


METHOD = PCGrad
