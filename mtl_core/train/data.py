"""Per-task batch streams and evaluation batches.

Every task draws its batches from its own seeded stream (seed, task), so a task sees the same batches
in a multi-task run as in its single-task baseline, and a stream's position is saved with checkpoints.
"""
from __future__ import annotations

import hashlib

import numpy as np
import torch

from mtl_core.models.heads import IGNORE
from mtl_core.tasks.base import Split, TaskKind


def stable_seed(*parts) -> int:
    """A 63-bit seed from any parts, identical on every machine (unlike hash())."""
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def make_targets(kind: TaskKind, targets, rows, width: int | None = None) -> torch.Tensor:
    """Targets of the selected rows as a tensor: tags padded with IGNORE to the batch's word width; a generation
    task's target ids (already encoded, each ending with </s>) padded with IGNORE to the longest in the batch."""
    if kind.is_generation:
        sequences = [targets[i] for i in rows]
        out = torch.full((len(sequences), max(len(t) for t in sequences)), IGNORE, dtype=torch.long)
        for i, row in enumerate(sequences):
            out[i, : len(row)] = torch.tensor(row, dtype=torch.long)
        return out
    if kind is TaskKind.TOKEN_TAGGING:
        tags = [targets[i] for i in rows]
        out = torch.full((len(tags), width or max(len(t) for t in tags)), IGNORE, dtype=torch.long)
        for i, row in enumerate(tags):
            row = row[: out.shape[1]]
            out[i, : len(row)] = torch.tensor(row, dtype=torch.long)
        return out
    if kind.is_regression:
        return torch.as_tensor(np.asarray(targets, dtype=np.float32)[rows])
    return torch.as_tensor(np.asarray(targets, dtype=np.int64)[rows])


def select_inputs(inputs, rows):
    if isinstance(inputs, np.ndarray):
        return inputs[rows]
    return [inputs[i] for i in rows]


def make_batch(encoder, kind: TaskKind, split: Split, rows) -> dict[str, torch.Tensor]:
    batch = encoder.prepare(select_inputs(split.inputs, rows))
    width = batch["mask"].shape[1] if "mask" in batch else None
    batch["targets"] = make_targets(kind, split.targets, rows, width)
    return batch


class TaskStream:
    """Endless shuffled mini-batches of one training split (reshuffled every epoch).

    `key` names the inputs (see loop.input_key): streams with the same key, seed and purpose yield the
    same rows, in a multi-task run and in its baselines alike.
    """

    def __init__(self, key: str, size: int, batch_size: int, seed: int, purpose: str = "train"):
        self.size = size
        self.batch_size = min(batch_size, size)
        self.rng = np.random.Generator(np.random.PCG64(stable_seed(seed, key, purpose)))
        self.order = self.rng.permutation(size)
        self.position = 0
        self.epoch = 0

    def next_rows(self) -> np.ndarray:
        if self.position + self.batch_size > self.size:  # drop the ragged tail: every batch has one size
            self.order = self.rng.permutation(self.size)
            self.position = 0
            self.epoch += 1
        rows = self.order[self.position: self.position + self.batch_size]
        self.position += self.batch_size
        return rows

    def state_dict(self) -> dict:
        return {"rng": self.rng.bit_generator.state, "order": self.order.tolist(), "position": self.position,
                "epoch": self.epoch}

    def load_state_dict(self, state: dict) -> None:
        self.rng.bit_generator.state = state["rng"]
        self.order = np.asarray(state["order"], dtype=np.int64)
        self.position = state["position"]
        self.epoch = state["epoch"]


def eval_rows(size: int, limit: int | None, seed: int, task: str, purpose: str) -> np.ndarray:
    """A fixed, seeded subset of a split for interval evaluations (all rows when limit is None)."""
    if limit is None or size <= limit:
        return np.arange(size)
    rng = np.random.Generator(np.random.PCG64(stable_seed(seed, task, purpose)))
    return np.sort(rng.choice(size, size=limit, replace=False))


def task_sampling_probabilities(sizes: dict[str, int], sampling: str, temperature: float) -> dict[str, float]:
    """p_t for one-task-per-step sampling from training-set sizes n_t: proportional to n_t, or to
    n_t^(1/T) with temperature T."""
    power = 1.0 if sampling == "proportional" else 1.0 / temperature
    raw = {t: n ** power for t, n in sizes.items()}
    total = sum(raw.values())
    return {t: v / total for t, v in raw.items()}
