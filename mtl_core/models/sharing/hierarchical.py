"""Hierarchical sharing: one encoder, head t reads layer l_t (low-level tasks low); spec option `layers`."""
from __future__ import annotations

from mtl_core.models.sharing.base import SharingMode


class Hierarchical(SharingMode):
    name = "hierarchical"
    order = 30
    title = "Hierarchical"
    summary = "One shared encoder stack; each task's head reads a layer of your choice."
    explanation = (
        "**Hierarchical sharing**: one encoder stack, but each task's head reads a layer of your choice. "
        "Low-level tasks (POS tags, slots, named entities) usually read a lower layer and high-level ones "
        "(intent, sentiment, topic) the top, so the lower layers learn what both need (Søgaard & Goldberg "
        "2016: POS supervision at the innermost layer helps chunking more than at the outermost)."
    )
    formula = r"\mathcal{L} = \sum_t \lambda_t\, \mathcal{L}_t(\theta_s^{(\le l_t)}, \theta_t)"
    formula_note = r"One encoder; task t's head reads the layer chosen for it, so only layers up to it get its gradient."
    one_shared_trunk = True
    options = ("layers",)

    @classmethod
    def validate(cls, spec, cards, depth):
        from mtl_core.errors import UserError

        for task in spec.tasks:
            layer = spec.layers.get(task)
            if layer is None:
                low_level = cards[task].kind.value == "token_tagging"
                spec.layers[task] = 1 if low_level else depth
            elif not 1 <= layer <= depth:
                raise UserError(f"layers: '{task}' reads layer {layer}, but the {spec.encoder} encoder has "
                                f"layers 1..{depth}", field="layers")
        spec.layers = {t: spec.layers[t] for t in spec.tasks}

    @classmethod
    def refuse_unused(cls, spec):
        from mtl_core.errors import UserError

        if spec.layers:
            raise UserError(f"layers: only used with sharing 'hierarchical', got sharing '{spec.sharing}'",
                            field="layers")

    @classmethod
    def head_layer(cls, spec, task, depth):
        return spec.layers.get(task, depth)

    @classmethod
    def loss_arguments(cls, task, layer):
        return r"\theta_s^{(\le " + str(layer) + r")}, \theta_{" + task + "}"

    @classmethod
    def build(cls, encoder, heads, head_layers, spec, builder):
        from mtl_core.models.multitask import SharedEncoderModel

        return SharedEncoderModel(cls.name, encoder, heads, head_layers)
