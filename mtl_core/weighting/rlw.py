"""Random loss weighting (Lin et al. 2022): fresh weights softmax(z), z ~ N(0, I), every step: a sanity baseline."""
from __future__ import annotations

from mtl_core.weighting.base import WeightingMethod


class RandomWeighting(WeightingMethod):
    name = "rlw"
    title = "Random loss weighting"
    family = "loss-based"
    needs = "losses"
    reference = "Lin et al. 2022, Reasonable Effectiveness of Random Weighting (TMLR), arXiv:2111.10603"
    explanation = "Draws random weights each step; if a clever method cannot beat this, it is not doing much."
    formula = r"\lambda = \mathrm{softmax}(z),\ z \sim \mathcal{N}(0, I)\ \text{each step}"

    def __init__(self, *args, **kwargs):
        import torch
        from mtl_core.train.data import stable_seed
        super().__init__(*args, **kwargs)
        self.generator = torch.Generator().manual_seed(stable_seed(self.seed, "rlw"))

    def scales(self, losses, step):
        import torch
        weights = torch.softmax(torch.randn(len(self.tasks), generator=self.generator, dtype=torch.float64), 0)
        out = {t: float(weights[self.tasks.index(t)]) for t in losses}
        self.remember(out)
        return out

    def state_dict(self):
        return {**super().state_dict(), "generator": self.generator.get_state()}

    def load_state_dict(self, state):
        super().load_state_dict(state)
        self.generator.set_state(state["generator"].cpu())


METHOD = RandomWeighting
