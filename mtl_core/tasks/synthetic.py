"""Synthetic regression tasks with controllable relatedness (the MMoE recipe, Ma et al. 2018; see
SCIENCE.md): synth_1 … synth_4, every pair of task weight vectors at cosine p.

    x ~ N(0, I_100);  y_k = w_kᵀx + Σ_{i=1..10} sin(α_i w_kᵀx + β_i) + ε_k,  ε_k ~ N(0, 0.01²)

α_i, β_i ~ N(0, 1) are drawn once per dataset and shared by the four tasks. The weights are
w = L·U, with U four orthonormal directions and L the Cholesky factor of the wanted Gram matrix, so
w_1 = u_1 and w_2 = p·u_1 + √(1−p²)·u_2 exactly as in SCIENCE.md, for any p in [−1, 1].

A plain draw of α, β can bend the scale of p far from the recipe's: one made p = 0.5 give label
correlation 0.10, as unrelated as p = 0. So a draw is kept only when its label correlation curve
Corr(y_1, y_2) over p stays close to the recipe's average curve (RECIPE_AVERAGE_CORRELATION), in
the population and on the training rows: then every data draw gives p the same meaning. The dataset
follows its own `data_seed`, never a run's seed, so training seeds vary only the model.

Four unit vectors can only share a pairwise cosine p ≥ −1/3. Below that, the family becomes two
independent pairs: (synth_1, synth_2) and (synth_3, synth_4) each at cosine p, the pairs orthogonal
to each other; TaskData.notes says so.

All four tasks share the same rows x (the same array object within a process): a multi-task batch
takes the same row indices from every task. Same p and data seed give the same arrays on any machine
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
# Every data draw is conditioned to the average curve (below), so the default is simply the first.
DEFAULT_DATA_SEED = 0
# The recipe's average label correlation Corr(y_1, y_2) at these p over draws α, β ~ N(0, 1): the mean
# of label_correlation over 20 000 draws, as recipe_average_correlation(20_000) recomputes it. (SCIENCE.md
# quotes ≈ .28 at p = .5 and .78 at p = .9 from the paper; this recipe's average is .33 and .80.)
RECIPE_AVERAGE_CORRELATION = {-0.9: -0.414, -0.75: -0.344, -0.5: -0.235, -0.25: -0.124, 0.0: 0.0,
                              0.25: 0.146, 0.5: 0.330, 0.75: 0.585, 0.9: 0.804}
# How far a kept draw's curve may stray from the average at any p above. About 1 candidate in 300
# passes (0.15 s per data draw); 2000 training rows alone scatter a realised correlation by ±0.02,
# so a much tighter bound would mostly select on sampling noise.
CURVE_TOLERANCE = 0.04
SINE_CANDIDATES_PER_BATCH = 256


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


def label_correlation(p: float, alpha: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """Corr(y_1, y_2) in the population for weight cosine p, exactly (the 0.01 noise left out), for
    sine terms α, β of shape (..., m); one value per leading index.

    y_k = f(z_k) with f(z) = z + Σ_i sin(α_i z + β_i) and (z_1, z_2) standard normal with correlation
    p, so every moment is a Gaussian expectation: E cos(u) = cos(E u)·exp(−Var u / 2) for a Gaussian u,
    and E z_1 sin(a z_2 + b) = p·a·cos(b)·exp(−a²/2) (Stein's lemma).
    """
    def covariance(q: float) -> np.ndarray:
        a, b = alpha[..., :, None], beta[..., :, None]
        c, d = alpha[..., None, :], beta[..., None, :]
        # sin A · sin B = (cos(A − B) − cos(A + B)) / 2, with Var(A ∓ B) = a² + c² ∓ 2qac
        sine_pairs = 0.5 * (np.cos(b - d) * np.exp(-(a * a + c * c - 2 * q * a * c) / 2)
                            - np.cos(b + d) * np.exp(-(a * a + c * c + 2 * q * a * c) / 2))
        damping = np.exp(-alpha ** 2 / 2)
        linear_with_sines = 2 * q * alpha * np.cos(beta) * damping
        mean = (np.sin(beta) * damping).sum(-1)
        return q + linear_with_sines.sum(-1) + sine_pairs.sum((-2, -1)) - mean ** 2

    return covariance(p) / covariance(1.0)


def recipe_average_correlation(draws: int, seed: int = 0) -> dict[float, float]:
    """The mean of label_correlation over `draws` plain draws α, β ~ N(0, 1), at every p of
    RECIPE_AVERAGE_CORRELATION (how its values were measured)."""
    rng = np.random.default_rng(seed)
    alpha, beta = rng.standard_normal((2, draws, N_SINE_TERMS))
    return {p: float(label_correlation(p, alpha, beta).mean()) for p in RECIPE_AVERAGE_CORRELATION}


def _labels(projections: np.ndarray, alpha: np.ndarray, beta: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """y = wᵀx + Σ_i sin(α_i wᵀx + β_i) + ε for projections wᵀx of shape (tasks, n)."""
    sines = np.sin(alpha[None, :, None] * projections[:, None, :] + beta[None, :, None]).sum(axis=1)
    return projections + sines + noise


def _sine_terms(rng: np.random.Generator, train_projections: np.ndarray,
                train_noise: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The first draw α, β ~ N(0, 1) whose label correlation curve is within CURVE_TOLERANCE of the
    recipe's average at every checked p, both in the population (so validation and test follow it)
    and on these training rows (what the model learns from, and what realised_label_correlation
    reports). train_projections are u_1ᵀx and u_2ᵀx: w_2 = p·u_1 + √(1−p²)·u_2 for every p."""
    first, second = train_projections
    while True:
        alpha, beta = rng.standard_normal((2, SINE_CANDIDATES_PER_BATCH, N_SINE_TERMS))
        population_deviation = np.max([np.abs(label_correlation(p, alpha, beta) - average)
                                       for p, average in RECIPE_AVERAGE_CORRELATION.items()], axis=0)
        for candidate in np.flatnonzero(population_deviation <= CURVE_TOLERANCE):
            realised = [np.corrcoef(_labels(np.stack([first, p * first + np.sqrt(1 - p * p) * second]),
                                            alpha[candidate], beta[candidate], train_noise))[0, 1]
                        for p in RECIPE_AVERAGE_CORRELATION]
            if np.max(np.abs(np.array(realised) - list(RECIPE_AVERAGE_CORRELATION.values()))) <= CURVE_TOLERANCE:
                return alpha[candidate], beta[candidate]


@lru_cache(maxsize=4)
def _draw(data_seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Everything of a dataset but p: (orthonormal directions (4, d), x (n, d), noise (4, n), α, β)."""
    # The sine terms take a stream of their own: how many candidates they use never moves x or the noise.
    sines_seed, rows_seed = np.random.SeedSequence(data_seed).spawn(2)
    rng = np.random.default_rng(rows_seed)
    directions = np.linalg.qr(rng.standard_normal((INPUT_DIM, N_TASKS)))[0].T  # (4, d), orthonormal rows
    x = rng.standard_normal((sum(SPLIT_SIZES.values()), INPUT_DIM))
    noise = NOISE_STD * rng.standard_normal((N_TASKS, len(x)))
    train = slice(0, SPLIT_SIZES["train"])
    alpha, beta = _sine_terms(np.random.default_rng(sines_seed), directions[:2] @ x[train].T, noise[:2, train])
    return directions, x, noise, alpha, beta


@lru_cache(maxsize=8)
def generate(p: float, data_seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(x of shape (n, 100), y of shape (4, n)) for all splits, rows in split order train|validation|test.
    Only the task weights depend on p."""
    directions, x, noise, alpha, beta = _draw(data_seed)
    weights = _cholesky_psd(_gram(p)) @ directions  # (4, d), unit rows
    y = _labels(weights @ x.T, alpha, beta, noise)
    return x.astype(np.float32), y.astype(np.float32)


@lru_cache(maxsize=256)
def realised_label_correlation(p: float, data_seed: int = DEFAULT_DATA_SEED) -> float:
    """Pearson correlation of synth_1's and synth_2's training labels in the data draw `data_seed`."""
    _, y = generate(check_correlation(p), data_seed)
    train = slice(0, SPLIT_SIZES["train"])
    return float(np.corrcoef(y[0, train], y[1, train])[0, 1])


def _notes(p: float, data_seed: int) -> list[str]:
    correlation = (f"label correlation of synth_1 and synth_2 on the training set: "
                   f"{realised_label_correlation(p, data_seed):.2f} (data draw {data_seed})")
    if p >= MIN_ALL_PAIRS_CORRELATION:
        return [f"every pair of synthetic tasks has weight cosine {p:g}", correlation]
    return [
        f"four tasks cannot all have pairwise cosine {p:g} (the limit is -1/3): synth_1-synth_2 and "
        f"synth_3-synth_4 have cosine {p:g}, the two pairs are orthogonal",
        correlation,
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
        data_seed: int = DEFAULT_DATA_SEED,
        **_other_options,
    ) -> TaskData:
        # `seed` is the run's: it only orders real tasks' splits. The synthetic draw follows data_seed.
        p = check_correlation(synthetic_correlation)
        x, y = generate(p, data_seed)
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
            notes=_notes(p, data_seed),
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
        "to the other synthetic tasks with strength p = synthetic_correlation. The data are drawn by "
        "data_seed; training seeds vary only the model.",
        related=tuple(other for other in TASK_IDS if other != task_id),
    )


def _always_available() -> Availability:
    return Availability(True)


register(*(TaskSource(card, _always_available, SyntheticLoader(k, card)) for k, card in enumerate(map(_card, TASK_IDS))))
