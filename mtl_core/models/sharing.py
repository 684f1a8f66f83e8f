"""The three sharing modes of SCIENCE.md, as one model class with a registry of how encoders are shared.

- hard:         one encoder θ_s, every head reads its top layer.     L = Σ_t λ_t L_t
- hierarchical: one encoder, head t reads layer l_t (low-level tasks low).
- soft:         one encoder θ_t per task, all starting from the same initialisation, pulled together by
                λ_soft Σ_t ‖θ_t − θ_s‖² with θ_s the mean of the task encoders (so λ_soft = 0 is
                independent training and a large λ_soft approaches hard sharing).
"""
from __future__ import annotations

import copy
import torch
from torch import nn

from mtl_core.models.encoders import Encoder

SHARED = "shared"


class MultiTaskModel(nn.Module):
    def __init__(self, sharing: str, encoder: Encoder, heads: dict[str, nn.Module], head_layers: dict[str, int]):
        super().__init__()
        self.sharing = sharing
        self.tasks = list(heads)
        self.head_layers = dict(head_layers)
        if sharing == "soft":
            # Same initial weights for every task encoder: the L2 pull then measures divergence from a common start.
            self.encoders = nn.ModuleDict({t: copy.deepcopy(encoder) for t in self.tasks})
        else:
            self.encoders = nn.ModuleDict({SHARED: encoder})
        self.heads = nn.ModuleDict(heads)

    def encoder_for(self, task: str) -> Encoder:
        return self.encoders[task if self.sharing == "soft" else SHARED]

    @property
    def encoder(self) -> Encoder:
        """Any encoder (they share one architecture): used to prepare batches."""
        return next(iter(self.encoders.values()))

    def task_loss(self, task: str, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """(loss, predictions) of one task on one batch prepared by `encoder.prepare` (+ 'targets')."""
        layer = self.head_layers[task]
        out = self.encoder_for(task)(batch, upto=layer)
        return self.heads[task](out.layers[layer - 1], out.mask, batch["targets"])

    def read_layer(self, encoder_name: str) -> int:
        """The highest layer of an encoder that a head reads (one task's layer in a single-task run): the
        encoder's representation of what it learned; layers above it never receive a gradient."""
        readers = [encoder_name] if self.sharing == "soft" else self.tasks
        return max(self.head_layers[task] for task in readers)

    # ---- what counts as shared (for gradient conflict) -------------------------------------------
    def shared_layer_groups(self, task: str) -> dict[str, list[nn.Parameter]]:
        """Per-layer parameters whose gradients are compared across tasks.

        Hard / hierarchical: the one shared encoder. Soft: task t's own encoder; the encoders have the
        same shapes, so cosines compare the directions each task pulls the (common) architecture in.
        """
        return self.encoder_for(task).layer_groups()

    def head_parameters(self, task: str) -> list[nn.Parameter]:
        return [p for p in self.heads[task].parameters() if p.requires_grad]

    # ---- soft sharing --------------------------------------------------------------------------
    def _soft_vectors(self) -> dict[str, torch.Tensor]:
        return {t: torch.cat([p.reshape(-1) for p in enc.parameters() if p.requires_grad])
                for t, enc in self.encoders.items()}

    def soft_penalty(self) -> torch.Tensor:
        """Σ_t ‖θ_t − θ̄‖² (multiply by λ_soft). Its gradient for θ_t is 2(θ_t − θ̄) since Σ_t (θ_t − θ̄) = 0."""
        vectors = self._soft_vectors()
        mean = torch.stack(list(vectors.values())).mean(0)
        return sum(((v - mean) ** 2).sum() for v in vectors.values())

    @torch.no_grad()
    def soft_distances(self) -> dict[str, float]:
        """‖θ_t − θ_s‖ per task, θ_s the mean of the task encoders."""
        vectors = self._soft_vectors()
        mean = torch.stack(list(vectors.values())).mean(0)
        return {t: float(torch.linalg.vector_norm(v - mean)) for t, v in vectors.items()}
