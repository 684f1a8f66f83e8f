"""A small Transformer decoder for generation tasks, with the GRU decoder's interface (mtl_core/models/decoder.py).

It reads what every head reads, (layer, mask, targets): the token states H (B, T, d) of the layer the task's head
reads and their mask; its targets are the target ids padded with IGNORE (each sequence ends with </s>).

    x_i = E[y_{i−1}] + P_i (+ G_tag)                    y_0 = <s>; learned positions P up to the length cap
    h   = TransformerDecoder(x, H)                      2 pre-norm layers of PyTorch's nn.TransformerDecoderLayer:
                                                        causal self-attention, cross-attention over H (the
                                                        encoder's padding masked), feed-forward 4d; then LayerNorm
    p(y_i | y_<i, x) = softmax(W_o h_i)

Heads: 4, or the largest number below 4 that divides d. Training is teacher forcing under a causal mask (position i
sees the targets before it only), so one forward pass covers the whole target; the loss is the mean cross-entropy
over target tokens (padding ignored). Decoding is greedy or beam search through the same search functions as the
GRU decoder; each step re-runs the decoder on the prefix written so far (targets are at most a few dozen tokens).
The positions cover <s> and max_length tokens: training targets are cut to the cap and decoding stops there.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mtl_core.models.decoder import beam_search, greedy_search
from mtl_core.models.heads import IGNORE

LAYERS = 2
MAX_HEADS = 4


def attention_heads(hidden_size: int) -> int:
    """MAX_HEADS, or the largest number of heads below it that divides the hidden size."""
    return next(h for h in range(min(MAX_HEADS, hidden_size), 0, -1) if hidden_size % h == 0)


class TransformerDecoderHead(nn.Module):
    def __init__(self, hidden_size: int, vocabulary_size: int, *, pad_id: int = 0, bos_id: int = 1,
                 eos_id: int = 2, dropout: float = 0.0, tags: int = 0, max_length: int = 64):
        super().__init__()
        self.pad_id, self.bos_id, self.eos_id = pad_id, bos_id, eos_id
        self.vocabulary_size = vocabulary_size
        self.max_length = max_length  # target tokens before </s>: the positions are <s> + max_length
        self.embedding = nn.Embedding(vocabulary_size, hidden_size, padding_idx=pad_id)
        self.positions = nn.Embedding(max_length + 1, hidden_size)
        # The target-language-tag model (one decoder shared by several tasks): tag t's vector is added to the
        # decoder's input at every position, so the shared decoder knows which target it writes.
        self.tag_embedding = nn.Embedding(tags, hidden_size) if tags else None
        layer = nn.TransformerDecoderLayer(hidden_size, attention_heads(hidden_size), dim_feedforward=4 * hidden_size,
                                           dropout=dropout, batch_first=True, norm_first=True)
        self.transformer = nn.TransformerDecoder(layer, LAYERS, norm=nn.LayerNorm(hidden_size))
        self.output = nn.Linear(hidden_size, vocabulary_size)
        self.dropout = nn.Dropout(dropout)

    # ---- pieces ---------------------------------------------------------------------------------
    def states(self, inputs: torch.Tensor, memory: torch.Tensor, mask: torch.Tensor | None,
               tag: int | None = None) -> torch.Tensor:
        """(B, L, d) decoder states of input tokens (B, L) (<s> first) attending over memory (B, T, d)."""
        length = inputs.shape[1]
        if length > self.positions.num_embeddings:
            raise ValueError(f"{length} decoder positions asked for, the decoder has {self.positions.num_embeddings} "
                             f"(max_length {self.max_length} + <s>)")
        vectors = self.embedding(inputs) + self.positions.weight[:length]
        if tag is not None and self.tag_embedding is not None:
            vectors = vectors + self.tag_embedding.weight[tag]
        causal = torch.triu(torch.ones(length, length, dtype=torch.bool, device=inputs.device), diagonal=1)
        padding = None
        if mask is not None:
            padding = ~mask.bool()
            padding[:, 0] &= mask.any(1)  # a row without tokens attends to its first state rather than to nothing
        return self.transformer(self.dropout(vectors), memory, tgt_mask=causal, tgt_is_causal=True,
                                memory_key_padding_mask=padding)

    def logits(self, layer: torch.Tensor, mask: torch.Tensor | None, targets: torch.Tensor,
               tag: int | None = None) -> torch.Tensor:
        """(B, L, V) next-token logits under teacher forcing: position i reads <s> y_1 … y_{i−1} only."""
        inputs = targets.roll(1, dims=1)
        inputs[:, 0] = self.bos_id
        inputs = inputs.masked_fill(inputs == IGNORE, self.pad_id)
        return self.output(self.states(inputs, layer, mask, tag)).float()

    # ---- training -------------------------------------------------------------------------------
    def forward(self, layer, mask, targets, tag: int | None = None):
        """(mean token cross-entropy under teacher forcing, the argmax next token at every position)."""
        logits = self.logits(layer, mask, targets, tag)
        loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=IGNORE)
        return loss, logits.argmax(-1)

    # ---- decoding -------------------------------------------------------------------------------
    @torch.no_grad()
    def generate(self, layer, mask, beam_size: int = 1, max_length: int = 64, tag: int | None = None
                 ) -> list[list[int]]:
        """Token ids of each example's output (without </s>): greedy for beam_size 1, else beam search; at most
        max_length tokens, and never more than the decoder's positions hold."""
        max_length = min(max_length, self.max_length)
        batch, device = layer.shape[0], layer.device
        if beam_size > 1:
            layer = layer.repeat_interleave(beam_size, 0)
            mask = None if mask is None else mask.repeat_interleave(beam_size, 0)

        def step(tokens, prefix):
            prefix = torch.cat([prefix, tokens[:, None]], dim=1)
            last = self.states(prefix, layer, mask, tag)[:, -1]
            return torch.log_softmax(self.output(last).float(), dim=-1), prefix

        start = torch.zeros((layer.shape[0], 0), dtype=torch.long, device=device)
        if beam_size <= 1:
            return greedy_search(step, start, batch, max_length, self.bos_id, self.eos_id, self.pad_id, device)
        return beam_search(step, lambda prefix, origin: prefix[origin], start, batch, beam_size,
                           self.vocabulary_size, max_length, self.bos_id, self.eos_id, self.pad_id, device)
