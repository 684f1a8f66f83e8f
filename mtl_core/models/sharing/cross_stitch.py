"""Cross-stitch networks (Misra et al. 2016): one encoder per task (copies of one initialisation, as in
the paper), and after every encoder layer l the tasks' outputs are mixed by a learned T×T matrix,
h̃_t^l = Σ_s α^l_ts h_s^l, which is the input of layer l + 1 of task t's encoder (and, at the top, what
task t's head reads). α starts at STITCH_SELF = 0.9 on the diagonal and 0.1 / (T − 1) off it. Every
task's loss reaches every encoder and every stitch unit, so they are all one shared trunk.
No spec option: the initial mixture is fixed.
"""
from __future__ import annotations

from mtl_core.models.sharing.base import SharingMode

STITCH_SELF = 0.9  # α^l_tt at initialisation; the rest of each row, 1 − STITCH_SELF, is spread over the others


class CrossStitch(SharingMode):
    name = "cross_stitch"
    order = 50
    title = "Cross-stitch"
    summary = "One encoder per task; after every layer the tasks' outputs are mixed by learned weights α."
    explanation = (
        "**Cross-stitch**: every task gets its own encoder, and after each layer a small learned table α mixes "
        "the tasks' outputs: the next layer of task t reads h̃_t = Σ_s α_ts h_s. α starts near the identity "
        "(0.9 for the task's own output, 0.1 shared among the others), so training decides, layer by layer, how "
        "much each task borrows from the others (Misra et al. 2016). Watch α on the run view: a weight that "
        "grows means that layer of the other task became useful."
    )
    formula = (r"\mathcal{L} = \sum_t \lambda_t\, \mathcal{L}_t(\theta_{1..T}, \alpha, \theta_t),\quad "
               r"\tilde h_t^{(l)} = \sum_s \alpha^{(l)}_{ts}\, h_s^{(l)}")
    formula_note = (r"θ_{1..T}: the task encoders; α^{(l)}: the learned T×T mixture after layer l (starts at "
                    r"0.9 on the diagonal, 0.1/(T−1) elsewhere); θ_t: task t's head.")
    one_shared_trunk = True  # every task's loss reaches every encoder and every stitch unit

    @classmethod
    def validate(cls, spec, cards, depth):
        from mtl_core.errors import UserError

        if spec.encoder == "minilm":
            raise UserError("sharing: cross_stitch mixes the task encoders between layers, and the minilm encoder "
                            "runs all its layers at once; use encoder bilstm or transformer, or another sharing "
                            "mode", field="sharing")

    @classmethod
    def cost_factor(cls, tasks, spec):
        return float(max(1, tasks))  # each task's loss runs every task's encoder

    @classmethod
    def loss_arguments(cls, task, layer):
        return r"\theta_{1..T}, \alpha, \theta_{" + task + "}"

    @classmethod
    def loss_extras(cls, soft_lambda, number, options):
        return [], r",\qquad \tilde h_t^{(l)} = \sum_s \alpha^{(l)}_{ts}\, h_s^{(l)}"

    @classmethod
    def build(cls, encoder, heads, head_layers, spec, builder):
        from mtl_core.models.multitask import CrossStitchModel

        return CrossStitchModel(cls.name, encoder, heads, head_layers, self_weight=STITCH_SELF)
