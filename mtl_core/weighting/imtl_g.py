"""IMTL-G (Liu et al. 2021): the combination whose projections onto every unit task gradient are equal."""
from __future__ import annotations

from mtl_core.weighting.base import TorchJDGramMethod


class IMTLG(TorchJDGramMethod):
    name = "imtl_g"
    title = "IMTL-G"
    reference = "Liu et al. 2021, Towards Impartial Multi-task Learning (ICLR)"
    explanation = "Chooses the update that makes equal progress along every task's gradient direction."
    formula = r"d = \sum_t w_t g_t,\ \ d \cdot \frac{g_t}{\|g_t\|} \text{ equal for all } t,\ \sum_t w_t = 1"

    def make(self):
        from torchjd.aggregation import IMTLGWeighting
        return IMTLGWeighting()


METHOD = IMTLG
