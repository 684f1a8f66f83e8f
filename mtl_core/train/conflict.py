"""Gradient conflict between tasks on the shared parameters (SCIENCE.md).

From the exact per-task gradients g_t = ∇ λ_t L_t, layer by layer, we build the T×T Gram matrix of
inner products; cosines, norms and magnitude similarity all follow from it, here and nowhere else:

    cos_ij = G_ij / sqrt(G_ii G_jj)            Φ_ij = 2 ‖g_i‖‖g_j‖ / (‖g_i‖² + ‖g_j‖²)

The 'all' layer is the whole shared trunk (the sum of the per-layer Grams). Every tensor is made on
the device of the gradients, and each Gram reaches the host in one transfer.
"""
from __future__ import annotations

import math

import torch

ALL_LAYERS = "all"


def flatten(grads: list[torch.Tensor | None]) -> torch.Tensor | None:
    """One float32 vector of per-parameter gradients; None when no parameter got one."""
    parts = [g.reshape(-1).float() for g in grads if g is not None]
    return torch.cat(parts) if parts else None


def device_of(grads) -> torch.device:
    """The device of the first gradient present; the CPU when there is none (then there is nothing to mix with)."""
    return next((g.device for g in grads if g is not None), torch.device("cpu"))


def gram(rows: list[torch.Tensor | None], device: torch.device) -> torch.Tensor:
    """(T, T) float64 inner products of flattened gradients; None rows count as zeros (a head that does not
    reach the layer). `device`: that of the step's gradients, for a Gram with no gradient at all."""
    present = next((row for row in rows if row is not None), None)
    if present is None:
        return torch.zeros(len(rows), len(rows), dtype=torch.float64, device=device)
    matrix = torch.stack([row if row is not None else torch.zeros_like(present) for row in rows])  # (T, P)
    return (matrix @ matrix.T).double()


def layer_grams(grads: dict[str, dict[str, list[torch.Tensor | None]]]) -> dict[str, torch.Tensor]:
    """grads[task][layer] = per-parameter gradients -> {layer: (T, T) Gram}, plus 'all'."""
    tasks = list(grads)
    layers = list(next(iter(grads.values())))
    device = device_of(g for per_layer in grads.values() for layer in per_layer.values() for g in layer)
    grams = {layer: gram([flatten(grads[task][layer]) for task in tasks], device) for layer in layers}
    grams[ALL_LAYERS] = (sum(grams.values()) if grams
                         else torch.zeros(len(tasks), len(tasks), dtype=torch.float64, device=device))
    return grams


def gradient_norms(gram_matrix: torch.Tensor) -> list[float]:
    """‖g_t‖ from the Gram diagonal (clamped at 0 against rounding)."""
    return [math.sqrt(max(value, 0.0)) for value in gram_matrix.diagonal().tolist()]


def pair_statistics(gram_matrix: torch.Tensor) -> dict[tuple[int, int], tuple[float, float]]:
    """{(i, j): (cos, magnitude similarity)} for i < j; nan where a gradient is zero. Cosines are clipped to
    [-1, 1] (the float32 products can overshoot by rounding)."""
    values, norms = gram_matrix.tolist(), gradient_norms(gram_matrix)
    out = {}
    for i, ni in enumerate(norms):
        for j in range(i + 1, len(norms)):
            nj = norms[j]
            if ni == 0 or nj == 0:
                out[(i, j)] = (math.nan, math.nan)
                continue
            out[(i, j)] = (max(-1.0, min(1.0, values[i][j] / (ni * nj))), 2 * ni * nj / (ni * ni + nj * nj))
    return out


def cosine_of(a: list[torch.Tensor | None], b: list[torch.Tensor | None]) -> float:
    """Cosine between two gradients of the same parameters given as lists (the same-task noise floor)."""
    return pair_statistics(gram([flatten(a), flatten(b)], device_of(a + b)))[(0, 1)][0]
