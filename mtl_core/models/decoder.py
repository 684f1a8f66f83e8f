"""The decoder head of generation tasks: a GRU decoder with attention over the encoder's token states.

It reads what every head reads, (layer, mask, targets): the token states H (B, T, d) of the layer the task's head
reads and their mask; its targets are the target ids padded with IGNORE (each sequence ends with </s>).

    s_0 = tanh(W_b · mean_t H_t)                        the encoder's summary starts the decoder
    s_i = GRU(s_{i−1}, E[y_{i−1}])                      y_0 = <s>; in training y_{i−1} is the reference token
    a_i = softmax_t(s_i · W_a H_t)   (masked)           Luong's "general" attention
    c_i = Σ_t a_it H_t
    p(y_i | y_<i, x) = softmax(W_o tanh(W_c [s_i; c_i]))

Training is teacher forcing, the loss the mean cross-entropy over target tokens (padding ignored), so one
forward pass covers the whole target. Evaluation decodes: greedy (beam_size 1) or beam search, at most
max_length tokens before </s>; a beam's hypotheses are ranked by log-probability per generated token.

The spec's decoder_type picks the decoder (`build_decoder`): this GRU, or the small Transformer decoder of
mtl_core/models/transformer_decoder.py, which has the same interface and decodes through the same search functions.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mtl_core.models.heads import IGNORE, pool


class GRUDecoderHead(nn.Module):
    def __init__(self, hidden_size: int, vocabulary_size: int, *, pad_id: int = 0, bos_id: int = 1,
                 eos_id: int = 2, dropout: float = 0.0, tags: int = 0):
        super().__init__()
        self.pad_id, self.bos_id, self.eos_id = pad_id, bos_id, eos_id
        self.vocabulary_size = vocabulary_size
        self.embedding = nn.Embedding(vocabulary_size, hidden_size, padding_idx=pad_id)
        self.bridge = nn.Linear(hidden_size, hidden_size)
        self.gru = nn.GRU(hidden_size, hidden_size, batch_first=True)
        self.attention = nn.Linear(hidden_size, hidden_size, bias=False)
        self.combine = nn.Linear(2 * hidden_size, hidden_size)
        self.output = nn.Linear(hidden_size, vocabulary_size)
        self.dropout = nn.Dropout(dropout)
        # The target-language-tag model (one decoder shared by several tasks): tag t's vector is added to the
        # decoder's input at every step, so the shared decoder knows which target it writes.
        self.tag_embedding = nn.Embedding(tags, hidden_size) if tags else None

    def embed(self, tokens: torch.Tensor, tag: int | None) -> torch.Tensor:
        vectors = self.embedding(tokens)
        if tag is not None and self.tag_embedding is not None:
            vectors = vectors + self.tag_embedding.weight[tag]
        return vectors

    # ---- pieces ---------------------------------------------------------------------------------
    def start(self, memory: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The decoder's first hidden state (1, B, d) from the masked mean of the token states."""
        return torch.tanh(self.bridge(pool(memory, mask))).unsqueeze(0)

    def logits(self, states: torch.Tensor, memory: torch.Tensor, keys: torch.Tensor,
               mask: torch.Tensor) -> torch.Tensor:
        """(B, L, V) next-token logits from decoder states (B, L, d) attending over memory (B, T, d)."""
        scores = torch.bmm(states, keys.transpose(1, 2))  # (B, L, T)
        scores = scores.masked_fill(~mask[:, None, :], torch.finfo(scores.dtype).min)
        context = torch.bmm(torch.softmax(scores, dim=-1), memory)  # (B, L, d)
        mixed = torch.tanh(self.combine(torch.cat([states, context], dim=-1)))
        return self.output(self.dropout(mixed)).float()

    # ---- training -------------------------------------------------------------------------------
    def forward(self, layer, mask, targets, tag: int | None = None):
        """(mean token cross-entropy under teacher forcing, the argmax next token at every position)."""
        inputs = targets.roll(1, dims=1)
        inputs[:, 0] = self.bos_id
        inputs = inputs.masked_fill(inputs == IGNORE, self.pad_id)
        states, _ = self.gru(self.dropout(self.embed(inputs, tag)), self.start(layer, mask))
        logits = self.logits(states, layer, self.attention(layer), mask)
        loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=IGNORE)
        return loss, logits.argmax(-1)

    # ---- decoding -------------------------------------------------------------------------------
    @torch.no_grad()
    def generate(self, layer, mask, beam_size: int = 1, max_length: int = 64, tag: int | None = None
                 ) -> list[list[int]]:
        """Token ids of each example's output (without </s>): greedy for beam_size 1, else beam search."""
        if beam_size <= 1:
            return self._greedy(layer, mask, max_length, tag)
        return self._beam(layer, mask, beam_size, max_length, tag)

    def _step(self, tokens, hidden, memory, keys, mask, tag=None):
        states, hidden = self.gru(self.embed(tokens[:, None], tag), hidden)
        return torch.log_softmax(self.logits(states, memory, keys, mask)[:, 0], dim=-1), hidden

    def _greedy(self, memory, mask, max_length, tag=None):
        keys = self.attention(memory)

        def step(tokens, hidden):
            return self._step(tokens, hidden, memory, keys, mask, tag)

        return greedy_search(step, self.start(memory, mask), memory.shape[0], max_length, self.bos_id, self.eos_id,
                             self.pad_id, memory.device)

    def _beam(self, memory, mask, beam_size, max_length, tag=None):
        batch, k = memory.shape[0], beam_size
        memory, mask = memory.repeat_interleave(k, 0), mask.repeat_interleave(k, 0)
        keys = self.attention(memory)

        def step(tokens, hidden):
            return self._step(tokens, hidden, memory, keys, mask, tag)

        return beam_search(step, lambda hidden, origin: hidden[:, origin], self.start(memory, mask), batch, k,
                           self.vocabulary_size, max_length, self.bos_id, self.eos_id, self.pad_id, memory.device)


# ---- decoding, whatever the decoder ------------------------------------------------------------------
# A decoder decodes through `step(tokens, state) -> (log-probabilities (N, V) of the next token, new state)`: it
# reads the token just chosen (<s> first) and its state (a GRU's hidden state, a Transformer's prefix).

def greedy_search(step, state, batch: int, max_length: int, bos_id: int, eos_id: int, pad_id: int,
                  device) -> list[list[int]]:
    """The most probable next token at every step, at most max_length tokens before </s>."""
    tokens = torch.full((batch,), bos_id, dtype=torch.long, device=device)
    finished = torch.zeros(batch, dtype=torch.bool, device=device)
    out = []
    for _ in range(max_length + 1):
        log_probs, state = step(tokens, state)
        tokens = log_probs.argmax(-1).masked_fill(finished, pad_id)
        out.append(tokens)
        finished |= tokens == eos_id
        if bool(finished.all()):
            break
    return [_until_end(row, eos_id, pad_id, max_length) for row in torch.stack(out, 1).tolist()]


def beam_search(step, reorder, state, batch: int, k: int, vocabulary_size: int, max_length: int, bos_id: int,
                eos_id: int, pad_id: int, device) -> list[list[int]]:
    """Beam search with k beams per example (the state holds batch·k rows, example-major); `reorder(state,
    origin)` keeps the rows of the hypotheses extended. The best hypothesis by log-probability per token wins."""
    scores = torch.zeros(batch, k, device=device)
    scores[:, 1:] = -torch.inf  # the k beams start as one hypothesis
    tokens = torch.full((batch * k,), bos_id, dtype=torch.long, device=device)
    history = torch.zeros((batch * k, 0), dtype=torch.long, device=device)
    finished = torch.zeros(batch * k, dtype=torch.bool, device=device)
    lengths = torch.zeros(batch * k, device=device)
    for _ in range(max_length + 1):
        log_probs, state = step(tokens, state)
        # a finished hypothesis only extends by padding, at no cost
        log_probs = torch.where(finished[:, None], torch.full_like(log_probs, -torch.inf), log_probs)
        log_probs[:, pad_id] = torch.where(finished, 0.0, log_probs[:, pad_id])
        total = (scores.reshape(-1, 1) + log_probs).reshape(batch, -1)  # (B, k·V)
        scores, index = total.topk(k, dim=-1)
        origin = (torch.arange(batch, device=device)[:, None] * k + index // vocabulary_size).reshape(-1)
        tokens = (index % vocabulary_size).reshape(-1)
        history = torch.cat([history[origin], tokens[:, None]], dim=1)
        state = reorder(state, origin)
        lengths = lengths[origin] + (~finished[origin]).float()
        finished = finished[origin] | (tokens == eos_id)
        if bool(finished.all()):
            break
    normalised = (scores.reshape(-1) / lengths.clamp(min=1.0)).reshape(batch, k)
    best = (torch.arange(batch, device=device) * k + normalised.argmax(-1)).tolist()
    rows = history.tolist()
    return [_until_end(rows[i], eos_id, pad_id, max_length) for i in best]


def _until_end(row: list[int], eos_id: int, pad_id: int, max_length: int) -> list[int]:
    out = []
    for token in row:
        if token == eos_id:
            break
        if token != pad_id:
            out.append(token)
    return out[:max_length]


class TaggedDecoder(nn.Module):
    """Task `tag`'s view of a decoder shared by several generation tasks (the target-language-tag model of
    Johnson et al. 2017, with the tag given to the decoder): the same parameters for every task."""

    def __init__(self, decoder: nn.Module, tag: int):
        super().__init__()
        self.decoder, self.tag = decoder, tag

    def forward(self, layer, mask, targets):
        return self.decoder(layer, mask, targets, tag=self.tag)

    def generate(self, layer, mask, beam_size: int = 1, max_length: int = 64) -> list[list[int]]:
        return self.decoder.generate(layer, mask, beam_size=beam_size, max_length=max_length, tag=self.tag)


# ---- the decoder types (ExperimentSpec.decoder_type; spec.DECODER_TYPES names the same) -------------------
def _gru(hidden_size, vocabulary_size, dropout, tags, max_length):
    return GRUDecoderHead(hidden_size, vocabulary_size, dropout=dropout, tags=tags)


def _transformer(hidden_size, vocabulary_size, dropout, tags, max_length):
    from mtl_core.models.transformer_decoder import TransformerDecoderHead

    return TransformerDecoderHead(hidden_size, vocabulary_size, dropout=dropout, tags=tags, max_length=max_length)


DECODERS = {"gru": _gru, "transformer": _transformer}


def build_decoder(decoder_type: str, hidden_size: int, vocabulary_size: int, *, dropout: float = 0.0, tags: int = 0,
                  max_length: int = 64) -> nn.Module:
    """A generation task's decoder of the given type; `tags` > 0 gives the shared decoder's tag embedding, and
    `max_length` is the target-length cap (the Transformer's positions)."""
    if decoder_type not in DECODERS:
        raise ValueError(f"decoder_type: {decoder_type!r} is not one of {', '.join(DECODERS)}")
    return DECODERS[decoder_type](hidden_size, vocabulary_size, dropout, tags, max_length)
