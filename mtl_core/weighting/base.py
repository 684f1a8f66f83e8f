"""What a loss-weighting method is to the training loop (one module per method in this folder).

A method says what it needs each step, keeps its own state, and says how to combine the task losses:

- needs "losses": the method gives a coefficient c_t per task (`scales`, which may carry a gradient to the
  method's own learnable parameters) and an optional regulariser; the update is ∇(Σ_t c_t L_t + R).
- needs "gram": the loop takes the per-task gradients g_t = ∇L_t on the shared parameters once, builds their
  T × T Gram matrix G_ij = g_i · g_j (per layer and over the whole trunk), and the method turns it into
  weights w; the shared parameters get Σ_t w_t g_t. Heads get w_t ∇L_t when `heads_weighted` (a method that
  re-weights the losses), else their own ∇L_t (a method that only combines directions on the trunk).
- needs "grads": as "gram", and the method also receives the T × P matrix of flattened gradients.

Conflict statistics read the same Gram, so a gradient-based method logs exact conflict on every step at no
extra cost. A method's state (`state_dict`) holds tensors and plain Python only: it travels in the run's
checkpoint and a resumed run continues exactly.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:  # torch loads when a method is built, not when a spec is checked
    import torch


NEEDS = ("losses", "gram", "grads")
FAMILIES = ("static", "loss-based", "gradient-based")
# How a method treats the static λ_t of the spec: as the weights, as where it starts, or not at all.
LAMBDA_ROLES = ("weights", "start", "ignored")


@dataclass(frozen=True)
class Option:
    """One numeric option of a method, with its default from the paper and the range a user may set."""

    default: float
    low: float | None = None
    high: float | None = None
    help: str = ""
    integer: bool = False
    low_open: bool = False  # low itself not allowed

    def allowed(self) -> str:
        kind = "a whole number" if self.integer else "a number"
        if self.low is not None and self.high is not None:
            return f"{kind} in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}]"
        if self.low is not None:
            return f"{kind} {'>' if self.low_open else '≥'} {self.low:g}"
        return kind

    def check(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return False
        if self.integer and float(value) != int(value):
            return False
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            return False
        return self.high is None or value <= self.high


class WeightingMethod:
    """Base class: a registered method sets the class attributes and overrides what its `needs` use."""

    name: ClassVar[str]
    title: ClassVar[str]
    family: ClassVar[str]
    needs: ClassVar[str] = "losses"
    reference: ClassVar[str] = ""
    explanation: ClassVar[str] = ""  # one line a student can read
    formula: ClassVar[str] = ""  # LaTeX
    source: ClassVar[str] = "ours"  # or "torchjd" (the math comes from the pinned library)
    lambdas: ClassVar[str] = "ignored"  # one of LAMBDA_ROLES
    heads_weighted: ClassVar[bool] = True
    every_task_each_step: ClassVar[bool] = True  # needs sampling 'all'
    options: ClassVar[dict[str, Option]] = {}

    def __init__(self, tasks: list[str], lambdas: dict[str, float], options: dict[str, float], seed: int,
                 device: torch.device):
        self.tasks = list(tasks)
        self.lambdas = dict(lambdas)
        self.settings = {key: options.get(key, option.default) for key, option in self.options.items()}
        self.seed = seed
        self.device = device
        self.last_weights: dict[str, float] = {t: 1.0 for t in self.tasks}

    @property
    def uses_gradients(self) -> bool:
        return self.needs in ("gram", "grads")

    # ---- needs "losses" ------------------------------------------------------------------------
    def scales(self, losses: dict[str, torch.Tensor], step: int) -> dict[str, Any]:
        """c_t per task present in `losses` (floats, or tensors carrying a gradient to `parameters()`)."""
        raise NotImplementedError

    def regulariser(self) -> torch.Tensor | None:
        """A term added to the loss that trains the method's own parameters (None for most methods)."""
        return None

    def parameters(self) -> list[torch.nn.Parameter]:
        """Learnable parameters trained by the run's optimiser with the model's (uncertainty weighting)."""
        return []

    # ---- needs "gram" / "grads" -----------------------------------------------------------------
    def gram_weights(self, gram: torch.Tensor, layer_grams: dict[str, torch.Tensor],
                     losses: dict[str, torch.Tensor], step: int, matrix: torch.Tensor | None = None) -> torch.Tensor:
        """(T,) weights w from the Gram of ∇L_t on the shared trunk (float64, the tasks' order)."""
        raise NotImplementedError

    # ---- state ---------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"last_weights": dict(self.last_weights)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.last_weights = dict(state.get("last_weights", self.last_weights))

    def remember(self, weights: dict[str, Any]) -> None:
        """Keep the weights applied this step (recorded as each task's 'weight' metric)."""
        self.last_weights.update({t: float(w) for t, w in weights.items()})


class TorchJDGramMethod(WeightingMethod):
    """A gradient-based method whose weights come from one of TorchJD's Gramian weightings."""

    family = "gradient-based"
    needs = "gram"
    source = "torchjd"
    heads_weighted = False

    def make(self):  # the torchjd Weighting
        raise NotImplementedError

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.weighting = self.make()

    def gram_weights(self, gram, layer_grams, losses, step, matrix=None):
        import torch
        weights = self.weighting(gram).to(torch.float64)
        self.remember(dict(zip(self.tasks, weights.tolist())))
        return weights


def psd_root(gram: torch.Tensor) -> torch.Tensor:
    """A T × T matrix M with M Mᵀ = G (G symmetric positive semi-definite): for a method written on the
    Jacobian that only ever reads J Jᵀ and ‖wᵀJ‖."""
    import torch
    values, vectors = torch.linalg.eigh(gram.double())
    return vectors * values.clamp(min=0).sqrt()
