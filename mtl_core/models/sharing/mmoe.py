"""MMoE (Ma et al. 2018, "Modeling Task Relationships in Multi-task Learning with Multi-gate
Mixture-of-Experts"): E experts f_1..f_E, each an encoder of the chosen architecture with its own
initialisation, and per task a softmax gate over the experts computed from the input,
g_t(x) = softmax(W_t x). Task t's head reads h_t = Σ_e g_te(x) f_e(x) (the experts' top layers; every
head reads the top). Spec option `experts` (E, default 4, 1..16).

What the gate reads: the MLP encoder's input vector x; for text, the mean of the first expert's word
embeddings over the sentence's words (detached, so a gate trains only its own W_t). See
mtl_core/models/multitask.py, MMoEModel.
"""
from __future__ import annotations

from mtl_core.models.sharing.base import SharingMode

DEFAULT_EXPERTS = 4
MAX_EXPERTS = 16


class MMoE(SharingMode):
    name = "mmoe"
    order = 40
    title = "MMoE (mixture of experts)"
    summary = "Several shared expert encoders; each task mixes them with its own input-dependent gate."
    explanation = (
        "**Multi-gate mixture of experts (MMoE)**: E expert encoders f_1 … f_E are shared by every task, and "
        "each task has its own small gate g_t that looks at the input and decides how much of each expert to "
        "use: h_t = Σ_e g_te(x) f_e(x), with the gate weights g_t(x) = softmax(W_t x) summing to 1. Related "
        "tasks can settle on the same experts, unrelated ones on different experts, so the model learns how "
        "much to share (Ma et al. 2018). Watch the gate weights on the run view: they show which experts each "
        "task uses."
    )
    formula = (r"\mathcal{L} = \sum_t \lambda_t\, \mathcal{L}_t\big(\theta_t,\, h_t\big),\quad "
               r"h_t = \sum_{e=1}^{E} g_{t,e}(x)\, f_e(x),\quad g_t(x) = \operatorname{softmax}(W_t x)")
    formula_note = (r"f_e: expert e (an encoder shared by all tasks); g_t: task t's gate (softmax over experts, "
                    r"from the input); θ_t: task t's head; λ_t: the weight of task t's loss.")
    one_shared_trunk = True  # every task's loss reaches every expert
    options = ("experts",)

    @classmethod
    def validate(cls, spec, cards, depth):
        from mtl_core.errors import UserError

        if spec.encoder == "minilm" and spec.freeze_encoder:
            raise UserError("sharing: MMoE mixes experts that learn; with freeze_encoder the MiniLM experts are "
                            "identical frozen copies. Unfreeze it or pick hard/hierarchical", field="sharing")

    @classmethod
    def refuse_unused(cls, spec):
        from mtl_core.errors import UserError

        if spec.experts != DEFAULT_EXPERTS:
            raise UserError(f"experts: only used with sharing 'mmoe', got sharing '{spec.sharing}' "
                            f"(leave experts at {DEFAULT_EXPERTS})", field="experts")

    @classmethod
    def cost_factor(cls, tasks, spec):
        return float(spec.experts)  # each task's loss runs every expert

    @classmethod
    def loss_arguments(cls, task, layer):
        return r"\theta_{" + task + r"}, h_{" + task + "}"

    @classmethod
    def loss_extras(cls, soft_lambda, number, options):
        experts = options.get("experts", DEFAULT_EXPERTS)
        return [], (r",\qquad h_t = \sum_{e=1}^{" + str(experts) + r"} g_{t,e}(x)\, f_e(x)")

    @classmethod
    def build(cls, encoder, heads, head_layers, spec, builder):
        from mtl_core.models.multitask import MMoEModel

        # Expert 1 is the run's encoder (built under the 'encoder' seed, as hard sharing's); expert e > 1 and
        # task t's gate each get a seed of their own, so the experts start apart and the gates too.
        experts = [encoder]
        for e in range(2, spec.experts + 1):
            builder.seed("expert", e)
            experts.append(builder.encoder())
        gates = {}
        for task in heads:
            builder.seed("gate", task)
            gates[task] = MMoEModel.make_gate(encoder, len(experts))
        return MMoEModel(cls.name, experts, heads, head_layers, gates)
