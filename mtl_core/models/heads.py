"""Task heads, one per task kind: they read one encoder layer and return (loss, predictions).

Generation tasks (seq2seq) get a decoder of mtl_core/models/decoder.py, which also decodes: the GRU with attention
(decoder_type 'gru') or the small Transformer decoder (decoder_type 'transformer')."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mtl_core.tasks.base import TaskKind

IGNORE = -100  # tag id of padding positions: ignored by the loss and the metrics


def pool(layer: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Masked mean over words for sequences (B, T, H) -> (B, H); vectors pass through."""
    if mask is None:
        return layer
    weights = mask.unsqueeze(-1).to(layer.dtype)  # (B, T, 1)
    return (layer * weights).sum(1) / weights.sum(1).clamp(min=1.0)


class ClassificationHead(nn.Module):
    def __init__(self, hidden_size: int, num_labels: int, dropout: float = 0.0):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.linear = nn.Linear(hidden_size, num_labels)

    def forward(self, layer, mask, targets):
        logits = self.linear(self.dropout(pool(layer, mask))).float()  # (B, C)
        return F.cross_entropy(logits, targets), logits.argmax(-1)


class TaggingHead(nn.Module):
    def __init__(self, hidden_size: int, num_labels: int, dropout: float = 0.0):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.linear = nn.Linear(hidden_size, num_labels)

    def forward(self, layer, mask, targets):
        logits = self.linear(self.dropout(layer)).float()  # (B, T, C)
        loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=IGNORE)
        return loss, logits.argmax(-1)


class RegressionHead(nn.Module):
    """Predicts a standardised target (so every task's loss starts near 1) and reports original units."""

    def __init__(self, hidden_size: int, mean: float, std: float, dropout: float = 0.0):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.linear = nn.Linear(hidden_size, 1)
        self.register_buffer("mean", torch.tensor(float(mean)))
        self.register_buffer("std", torch.tensor(float(std) if std > 0 else 1.0))

    def forward(self, layer, mask, targets):
        standardised = self.linear(self.dropout(pool(layer, mask))).squeeze(-1).float()  # (B,)
        loss = F.mse_loss(standardised, (targets - self.mean) / self.std)
        return loss, standardised * self.std + self.mean


def build_head(kind: TaskKind, hidden_size: int, *, num_labels: int | None = None, mean: float = 0.0,
               std: float = 1.0, dropout: float = 0.0, vocabulary_size: int | None = None,
               decoder_type: str = "gru", max_target_length: int = 64) -> nn.Module:
    """The head of a task kind; a generation task's `vocabulary_size` is its target vocabulary's, its decoder of
    `decoder_type` (gru, transformer) and `max_target_length` the spec's target-length cap."""
    if kind.is_generation:
        from mtl_core.models.decoder import build_decoder

        return build_decoder(decoder_type, hidden_size, vocabulary_size, dropout=dropout, max_length=max_target_length)
    if kind.is_classification:
        return ClassificationHead(hidden_size, num_labels, dropout)
    if kind is TaskKind.TOKEN_TAGGING:
        return TaggingHead(hidden_size, num_labels, dropout)
    return RegressionHead(hidden_size, mean, std, dropout)
