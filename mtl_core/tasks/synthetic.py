"""Synthetic regression tasks with controllable relatedness (the MMoE recipe, Ma et al. 2018; see
SCIENCE.md): synth_1 … synth_4, every pair of task weight vectors at cosine p.

    x ~ N(0, I_100);  y_k = w_kᵀx + Σ_{i=1..10} sin(α_i w_kᵀx + β_i) + ε_k,  ε_k ~ N(0, 0.01²)

α_i, β_i ~ N(0, 1) are drawn once per dataset and shared by the four tasks. The weights are
w = L·U, with U four orthonormal directions and L the Cholesky factor of the wanted Gram matrix, so
w_1 = u_1 and w_2 = p·u_1 + √(1−p²)·u_2 exactly as in SCIENCE.md, for any p in [−1, 1].

Four unit vectors can only share a pairwise cosine p ≥ −1/3. Below that, the family becomes two
independent pairs: (synth_1, synth_2) and (synth_3, synth_4) each at cosine p, the pairs orthogonal
to each other; TaskData.notes says so.

All four tasks share the same rows x (the same array object within a process): a multi-task batch
takes the same row indices from every task. Same p and seed give the same arrays on any machine
(numpy default_rng, computed in float64, stored as float32).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from mtl_core.errors import UserError
from mtl_core.tasks.base import Availability, Split, TaskCard, TaskData, TaskKind, TaskSource
from mtl_core.tasks.loading import summarize, truncate_train
from mtl_core.tasks.registry import register

FAMILY = "synthetic"
N_TASKS = 4
INPUT_DIM = 100
N_SINE_TERMS = 10
NOISE_STD = 0.01
SPLIT_SIZES = {"train": 2000, "validation": 1000, "test": 1000}
DEFAULT_CORRELATION = 0.5
TASK_IDS = tuple(f"synth_{k}" for k in range(1, N_TASKS + 1))
MIN_ALL_PAIRS_CORRELATION = -1 / (N_TASKS - 1)


def check_correlation(p: float) -> float:
    """The task-weight cosine p as a float, or a UserError naming the parameter."""
    try:
        value = float(p)
    except (TypeError, ValueError):
        raise UserError(f"synthetic_correlation: must be a number in [-1, 1], got {p!r}", "synthetic_correlation") from None
    if not -1.0 <= value <= 1.0:
        raise UserError(f"synthetic_correlation: must be in [-1, 1], got {p!r}", "synthetic_correlation")
    return value


def _gram(p: float) -> np.ndarray:
    """Wanted cosines between task weights: p for every pair, or two independent pairs when p < −1/3."""
    if p >= MIN_ALL_PAIRS_CORRELATION:
        return np.full((N_TASKS, N_TASKS), p) + (1 - p) * np.eye(N_TASKS)
    pair = np.array([[1.0, p], [p, 1.0]])
    return np.kron(np.eye(N_TASKS // 2), pair)


def _cholesky_psd(gram: np.ndarray) -> np.ndarray:
    """Lower-triangular L with L·Lᵀ = gram, also for singular gram (p = ±1), where numpy's refuses."""
    n = len(gram)
    lower = np.zeros_like(gram)
    for i in range(n):
        for j in range(i + 1):
            rest = gram[i, j] - lower[i, :j] @ lower[j, :j]
            if i == j:
                lower[i, i] = np.sqrt(max(rest, 0.0))
            else:
                lower[i, j] = rest / lower[j, j] if lower[j, j] > 1e-12 else 0.0
    return lower


@lru_cache(maxsize=8)
def generate(p: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(x of shape (n, 100), y of shape (4, n)) for all splits, rows in split order train|validation|test."""
    rng = np.random.default_rng(seed)
    # Every draw happens in this fixed order whatever p is, so only w depends on p.
    directions = np.linalg.qr(rng.standard_normal((INPUT_DIM, N_TASKS)))[0].T  # (4, d), orthonormal rows
    alpha = rng.standard_normal(N_SINE_TERMS)
    beta = rng.standard_normal(N_SINE_TERMS)
    n = sum(SPLIT_SIZES.values())
    x = rng.standard_normal((n, INPUT_DIM))
    noise = NOISE_STD * rng.standard_normal((N_TASKS, n))

    weights = _cholesky_psd(_gram(p)) @ directions  # (4, d), unit rows
    projections = weights @ x.T  # (4, n)
    sines = np.sin(alpha[None, :, None] * projections[:, None, :] + beta[None, :, None]).sum(axis=1)
    y = projections + sines + noise
    return x.astype(np.float32), y.astype(np.float32)


def _notes(p: float) -> list[str]:
    if p >= MIN_ALL_PAIRS_CORRELATION:
        return [f"every pair of synthetic tasks has weight cosine {p:g}"]
    return [
        f"four tasks cannot all have pairwise cosine {p:g} (the limit is -1/3): synth_1-synth_2 and "
        f"synth_3-synth_4 have cosine {p:g}, the two pairs are orthogonal"
    ]


class SyntheticLoader:
    """The `load` of synth_k: generated on demand (milliseconds), so it needs no disk cache."""

    def __init__(self, task_index: int, card: TaskCard):
        self.task_index = task_index
        self.card = card

    def __call__(
        self,
        seed: int = 0,
        max_train_examples: int | None = None,
        synthetic_correlation: float = DEFAULT_CORRELATION,
        **_other_options,
    ) -> TaskData:
        p = check_correlation(synthetic_correlation)
        x, y = generate(p, seed)
        targets = y[self.task_index]
        bounds = np.cumsum([0] + list(SPLIT_SIZES.values()))
        splits = [Split(inputs=x[a:b], targets=targets[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
        train_targets = splits[0].targets
        data = TaskData(
            card=self.card,
            train=splits[0],
            validation=splits[1],
            test=splits[2],
            value_range=(float(train_targets.min()), float(train_targets.max())),
            notes=_notes(p),
        )
        return truncate_train(data, max_train_examples)

    def summary(self, seed: int = 0, **options) -> dict:
        return summarize(self(seed=seed, **options))


def _card(task_id: str) -> TaskCard:
    return TaskCard(
        id=task_id,
        name=task_id.replace("synth_", "Synthetic task "),
        family=FAMILY,
        kind=TaskKind.VECTOR_REGRESSION,
        metric="mse",
        higher_is_better=False,
        source="synthetic",
        licence="generated (no licence needed)",
        description="Regression of a 100-d Gaussian vector through a sum of sines (MMoE recipe); related "
        "to the other synthetic tasks with strength p = synthetic_correlation.",
        related=tuple(other for other in TASK_IDS if other != task_id),
    )


def _always_available() -> Availability:
    return Availability(True)


register(*(TaskSource(card, _always_available, SyntheticLoader(k, card)) for k, card in enumerate(map(_card, TASK_IDS))))
