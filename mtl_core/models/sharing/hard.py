"""Hard sharing: one encoder θ_s, every head reads its top layer."""
from __future__ import annotations

from mtl_core.models.sharing.base import SharingMode


class Hard(SharingMode):
    name = "hard"
    order = 10
    title = "Hard sharing"
    summary = "One encoder shared by every task; each task owns only a small output head."
    explanation = (
        "**Hard sharing**: one encoder θ_s is shared by every task; each task only owns a small output "
        "head θ_t. Every training step adds the weighted task losses, so all tasks push on the same "
        "shared weights. When the tasks want the same features this is a free boost for the smaller "
        "task; when they pull in opposite directions (negative gradient cosine) one task can hurt another."
    )
    formula = r"\mathcal{L} = \sum_t \lambda_t\, \mathcal{L}_t(\theta_s, \theta_t)"
    formula_note = r"θ_s: the shared encoder; θ_t: task t's head; λ_t: the weight of task t's loss."
    one_shared_trunk = True
    terms_per_line = 3

    @classmethod
    def build(cls, encoder, heads, head_layers, spec, builder):
        from mtl_core.models.multitask import SharedEncoderModel

        return SharedEncoderModel(cls.name, encoder, heads, head_layers)
