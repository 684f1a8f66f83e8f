"""Dynamic weight average (Liu, Johns & Davison 2019): λ_t = T softmax(r_t / temperature), r_t the ratio of the
task's mean training loss over the last two windows (the paper's epochs; here windows of `window` steps).
The first two windows use λ_t = 1."""
from __future__ import annotations

import math

from mtl_core.weighting.base import Option, WeightingMethod


class DynamicWeightAverage(WeightingMethod):
    name = "dwa"
    title = "Dynamic weight average"
    family = "loss-based"
    needs = "losses"
    reference = "Liu, Johns & Davison 2019, End-to-End Multi-Task Learning with Attention (CVPR), arXiv:1803.10704"
    explanation = "Gives more weight to the tasks whose loss has been falling slowest lately."
    formula = r"\lambda_t = T\,\mathrm{softmax}_t\!\left(\frac{\bar{\mathcal{L}}_t^{(k-1)} / \bar{\mathcal{L}}_t^{(k-2)}}{\tau}\right)"
    options = {"temperature": Option(2.0, 0.0, None, "τ: higher = weights closer to equal", low_open=True),
               "window": Option(50, 1, 10**6, "steps per window (the paper uses epochs)", integer=True)}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.sums = {t: 0.0 for t in self.tasks}
        self.count = 0
        self.history: list[dict[str, float]] = []  # mean loss of the last two finished windows
        self.current = {t: 1.0 for t in self.tasks}

    def scales(self, losses, step):
        out = {t: self.current[t] for t in losses}
        self.remember(out)
        # The losses of this step enter the window that sets later weights (read as floats: DWA is not differentiated).
        for t, loss in losses.items():
            self.sums[t] += float(loss.detach())
        self.count += 1
        if self.count == int(self.settings["window"]):
            self.history = (self.history + [{t: s / self.count for t, s in self.sums.items()}])[-2:]
            self.sums, self.count = {t: 0.0 for t in self.tasks}, 0
            if len(self.history) == 2:
                ratios = [self.history[1][t] / self.history[0][t] if self.history[0][t] else 1.0 for t in self.tasks]
                scaled = [r / self.settings["temperature"] for r in ratios]
                top = max(scaled)
                exps = [math.exp(s - top) for s in scaled]
                self.current = {t: len(self.tasks) * e / sum(exps) for t, e in zip(self.tasks, exps)}
        return out

    def state_dict(self):
        return {**super().state_dict(), "sums": dict(self.sums), "count": self.count,
                "history": [dict(h) for h in self.history], "current": dict(self.current)}

    def load_state_dict(self, state):
        super().load_state_dict(state)
        self.sums, self.count = dict(state["sums"]), int(state["count"])
        self.history, self.current = [dict(h) for h in state["history"]], dict(state["current"])


METHOD = DynamicWeightAverage
