"""What a sharing mode declares: its words for students, its formula, its cost, its spec options.

A mode is a class with these attributes, in one module of this folder (see __init__.py). The
declaration imports no torch, so that validating a spec or drawing the New experiment page stays
light; the network (an nn.Module in mtl_core/models/multitask.py) is imported only by `build`.
"""
from __future__ import annotations

from typing import Any, Callable, ClassVar


class SharingMode:
    name: ClassVar[str] = ""  # as in specs, URLs and the CLI
    order: ClassVar[int] = 100  # where the mode stands in lists (the dashboard's radio, --sharing choices)
    title: ClassVar[str] = ""  # e.g. "Hard sharing"
    explanation: ClassVar[str] = ""  # a paragraph for students (Markdown)
    summary: ClassVar[str] = ""  # one line
    formula: ClassVar[str] = ""  # LaTeX of the structure and the loss, in general form
    formula_note: ClassVar[str] = ""  # what the symbols of the loss formula are
    # Is there one trunk of parameters that every task's loss reaches? Gradient-combining weighting methods
    # (Σ_t w_t g_t) and TAG lookahead affinity need one; `shared_layer_groups` then returns the same
    # parameters for every task.
    one_shared_trunk: ClassVar[bool] = True
    # ExperimentSpec fields that only this mode reads (each mode refuses a non-default value of another's).
    options: ClassVar[tuple[str, ...]] = ()

    # ---- the spec -------------------------------------------------------------------------------
    @classmethod
    def validate(cls, spec, cards: dict, depth: int) -> None:
        """Check (and fill) this mode's options on a spec being validated; raise UserError naming the field."""

    @classmethod
    def refuse_unused(cls, spec) -> None:
        """Raise UserError when `spec` (of another sharing mode) sets one of this mode's options."""

    @classmethod
    def head_layer(cls, spec, task: str, depth: int) -> int:
        """The encoder layer (1-based) task's head reads; all modes but hierarchical read the top."""
        return depth

    # ---- the estimate ---------------------------------------------------------------------------
    @classmethod
    def cost_factor(cls, tasks: int, spec) -> float:
        """Time of one task's step relative to hard sharing (how many encoder passes one task loss takes)."""
        return 1.0

    # ---- the dashboard's formula ----------------------------------------------------------------
    @classmethod
    def loss_arguments(cls, task: str, layer: Any) -> str:
        """LaTeX of the parameters task's loss depends on; `task` is the task's name already in LaTeX."""
        return r"\theta_s, \theta_{" + task + "}"

    @classmethod
    def loss_extras(cls, soft_lambda: float, number: Callable[[float], str],
                    options: dict[str, Any]) -> tuple[list[str], str]:
        """Extra lines of the loss (a regulariser) and a trailing definition, as LaTeX; `options` holds the
        user's values of the modes' spec options (e.g. 'experts')."""
        return [], ""

    terms_per_line: ClassVar[int] = 2

    # ---- the network ----------------------------------------------------------------------------
    @classmethod
    def build(cls, encoder, heads: dict, head_layers: dict, spec, builder):
        """The nn.Module (a mtl_core.models.multitask.MultiTaskModel) of a multi-task run. `encoder` was built
        under the run's 'encoder' seed and the heads after it; `builder.seed(*key)` seeds torch with
        (run seed, *key) and `builder.encoder()` builds another encoder of the run's architecture."""
        raise NotImplementedError
