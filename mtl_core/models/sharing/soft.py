"""Soft sharing: one encoder θ_t per task, all from the same initialisation, pulled together by
λ_soft Σ_t ‖θ_t − θ_s‖² with θ_s the mean of the task encoders (λ_soft = 0 is independent training, a
large λ_soft approaches hard sharing); spec option `soft_lambda`."""
from __future__ import annotations

from mtl_core.models.sharing.base import SharingMode


class Soft(SharingMode):
    name = "soft"
    order = 20
    title = "Soft sharing"
    summary = "One encoder per task, pulled towards their mean by an L2 penalty."
    explanation = (
        "**Soft sharing**: every task gets its own encoder θ_t, and an L2 penalty pulls the encoders "
        "towards their mean θ_s = (1/T) Σ_t θ_t (here θ_s is the mean of the task encoders, not a learned "
        "copy). λ_soft sets the pull: λ_soft = 0 is independent training, a very large λ_soft approaches "
        "hard sharing. Watch ‖θ_t − θ_s‖ on the run view: it is how far each task's encoder strays."
    )
    formula = (r"\mathcal{L} = \sum_t \lambda_t\, \mathcal{L}_t(\theta_t) + \lambda_{soft} \sum_t "
               r"\lVert \theta_t - \theta_s \rVert^2,\quad \theta_s = \frac{1}{T} \sum_t \theta_t")
    formula_note = r"θ_t: task t's own encoder; θ_s = (1/T) Σ_t θ_t, the mean of the task encoders."
    # Each task's loss reaches only its own encoder: no trunk for Σ_t w_t g_t or a lookahead step.
    one_shared_trunk = False
    options = ("soft_lambda",)

    @classmethod
    def validate(cls, spec, cards, depth):
        from mtl_core.errors import UserError

        if spec.encoder == "minilm" and spec.freeze_encoder:
            raise UserError("sharing: soft sharing pulls trainable encoders together; with freeze_encoder the "
                            "MiniLM encoders never move. Unfreeze it or pick hard/hierarchical", field="sharing")

    @classmethod
    def loss_arguments(cls, task, layer):
        return r"\theta_{" + task + "}"

    @classmethod
    def loss_extras(cls, soft_lambda, number, options):
        return ([number(soft_lambda) + r" \sum_t \lVert \theta_t - \theta_s \rVert^2"],
                r",\qquad \theta_s = \frac{1}{T} \sum_t \theta_t")

    @classmethod
    def build(cls, encoder, heads, head_layers, spec, builder):
        from mtl_core.models.multitask import SoftModel

        return SoftModel(cls.name, encoder, heads, head_layers)
