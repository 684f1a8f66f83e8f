"""FAMO, fast adaptive multitask optimisation (Liu et al. 2023): O(1) per step, no per-task gradients.

Weights z = softmax(ξ); the update is ∇ Σ_t z_t log L_t / c with c = Σ_t z_t / L_t, i.e. coefficients
c_t = z_t / (c L_t) on the task losses. ξ then moves (Adam, lr 0.025, weight decay γ = 0.001) along
∂softmax(ξ)/∂ξ · δ with δ_t = log L_t(before) − log L_t(after), so tasks whose log-loss fell least gain weight.
The paper takes L_t(after) from a second forward pass on the same batch; here δ uses the next step's losses
(another mini-batch), which keeps the cost at one forward and one backward pass per step.
"""
from __future__ import annotations

from mtl_core.weighting.base import Option, WeightingMethod

FLOOR = 1e-8  # the paper's D_t = L_t − min L_t + 1e-8 with min L_t = 0


class FAMO(WeightingMethod):
    name = "famo"
    title = "FAMO"
    family = "loss-based"
    needs = "losses"
    reference = "Liu et al. 2023, FAMO: Fast Adaptive Multitask Optimization (NeurIPS), arXiv:2306.03792"
    explanation = "Raises the weight of tasks whose log-loss is falling slowest, at the cost of a plain step."
    formula = r"\mathcal{L} = \frac{\sum_t z_t \log \mathcal{L}_t}{\sum_t z_t / \mathcal{L}_t},\ z = \mathrm{softmax}(\xi)"
    options = {"lr": Option(0.025, 0.0, 10.0, "step size of the weight logits ξ", low_open=True),
               "gamma": Option(0.001, 0.0, 1.0, "weight decay of ξ (pulls the weights towards equal)")}

    def __init__(self, *args, **kwargs):
        import torch
        super().__init__(*args, **kwargs)
        self.logits = torch.nn.Parameter(torch.zeros(len(self.tasks), dtype=torch.float64))
        self.optimizer = torch.optim.Adam([self.logits], lr=self.settings["lr"], weight_decay=self.settings["gamma"])
        self.previous: list[float] | None = None

    def scales(self, losses, step):
        import torch
        current = [max(float(losses[t].detach()), 0.0) + FLOOR for t in self.tasks]
        if self.previous is not None:
            delta = torch.log(torch.tensor(self.previous, dtype=torch.float64)) - torch.log(
                torch.tensor(current, dtype=torch.float64))
            with torch.enable_grad():
                grad, = torch.autograd.grad(torch.softmax(self.logits, 0), self.logits, grad_outputs=delta)
            self.optimizer.zero_grad(set_to_none=True)
            self.logits.grad = grad
            self.optimizer.step()
        self.previous = current
        z = torch.softmax(self.logits.detach(), 0).tolist()
        c = sum(zt / dt for zt, dt in zip(z, current))
        out = {t: z[i] / (c * current[i]) for i, t in enumerate(self.tasks)}
        self.remember(out)
        return out

    def state_dict(self):
        return {**super().state_dict(), "logits": self.logits.detach().clone(),
                "optimizer": self.optimizer.state_dict(), "previous": self.previous}

    def load_state_dict(self, state):
        import torch
        super().load_state_dict(state)
        with torch.no_grad():
            self.logits.copy_(state["logits"].cpu())
        self.optimizer.load_state_dict(state["optimizer"])
        self.previous = state["previous"]


METHOD = FAMO
