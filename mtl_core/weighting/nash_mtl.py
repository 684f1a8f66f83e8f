"""Nash-MTL (Navon et al. 2022): the bargaining solution (GᵀG)α = 1/α, by TorchJD's implementation of the
paper's algorithm 1 (cvxpy with ECOS, 20 iterations of its concave-convex procedure, update norm ≤ 1).

TorchJD's Nash-MTL reads the T × P Jacobian J but only through J Jᵀ and ‖αᵀJ‖; both equal those of a
T × T root M of the Gram (M Mᵀ = G), so the method runs on the Gram like the others."""
from __future__ import annotations

import warnings


from mtl_core.weighting.base import Option, TorchJDGramMethod, psd_root


class NashMTL(TorchJDGramMethod):
    name = "nash_mtl"
    title = "Nash-MTL"
    reference = "Navon et al. 2022, Multi-Task Learning as a Bargaining Game (ICML), arXiv:2202.01017"
    explanation = "Treats the tasks as players bargaining over the update; each gets a fair share of progress."
    formula = r"d = \sum_t \alpha_t g_t,\ \ (G^\top G)\,\alpha = 1/\alpha"
    options = {"max_norm": Option(1.0, 0.0, 1e6, "largest update norm (0 = no clipping)"),
               "update_weights_every": Option(1, 1, 10**6, "solve for new weights every k steps", integer=True),
               "optim_niter": Option(20, 1, 1000, "iterations of the concave-convex procedure", integer=True)}

    def make(self):
        from torchjd.aggregation import NashMTL as TorchJDNashMTL
        return TorchJDNashMTL(n_tasks=len(self.tasks), max_norm=self.settings["max_norm"],
                              update_weights_every=int(self.settings["update_weights_every"]),
                              optim_niter=int(self.settings["optim_niter"])).weighting

    def gram_weights(self, gram, layer_grams, losses, step, matrix=None):
        with warnings.catch_warnings():  # cvxpy notes that this problem is not DPP (no faster re-solves): known, harmless
            warnings.filterwarnings("ignore", message=".*not DPP.*")
            weights = self.weighting(psd_root(gram)).double()
        self.remember(dict(zip(self.tasks, weights.tolist())))
        return weights.to(gram.device)

    def state_dict(self):
        import numpy as np
        w = self.weighting
        return {**super().state_dict(), "step": float(w.step), "prvs_alpha": w.prvs_alpha.tolist(),
                "normalization_factor": np.asarray(w.normalization_factor).tolist()}

    def load_state_dict(self, state):
        import numpy as np
        super().load_state_dict(state)
        w = self.weighting
        w.step = state["step"]
        w.prvs_alpha = np.asarray(state["prvs_alpha"], dtype=np.float64)
        w.normalization_factor = np.asarray(state["normalization_factor"], dtype=np.float64)
        if w.step > 0:  # the problem is built on the first call; a resumed run builds it around the saved α
            w._init_optim_problem()


METHOD = NashMTL
