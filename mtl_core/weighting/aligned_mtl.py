"""Aligned-MTL (Senushkin et al. 2023): align the principal components of the task gradients (condition
number 1) before combining them. TorchJD's AlignedMTLWeighting."""
from __future__ import annotations

from mtl_core.weighting.base import TorchJDGramMethod


class AlignedMTL(TorchJDGramMethod):
    name = "aligned_mtl"
    title = "Aligned-MTL"
    reference = "Senushkin et al. 2023, Independent Component Alignment for Multi-Task Learning (CVPR), arXiv:2305.19000"
    explanation = "Rescales the task gradients so that none dominates and they are as well conditioned as possible."
    formula = r"G = U \Sigma V^\top \ \to\ \hat{G} = \sigma_{\min} U V^\top,\ d = \hat{G}^\top \mathbf{1}"

    def make(self):
        from torchjd.aggregation import AlignedMTLWeighting
        return AlignedMTLWeighting()


METHOD = AlignedMTL
