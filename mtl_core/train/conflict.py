"""Gradient conflict between tasks on the shared parameters (SCIENCE.md).

From the exact per-task gradients g_t = ∇ λ_t L_t, layer by layer, we build the T×T Gram matrix of
inner products; cosines, norms and magnitude similarity all follow from it:

    cos_ij = G_ij / sqrt(G_ii G_jj)            Φ_ij = 2 ‖g_i‖‖g_j‖ / (‖g_i‖² + ‖g_j‖²)

The 'all' layer is the whole shared trunk (the sum of the per-layer Grams).
"""
from __future__ import annotations

import math

import torch

ALL_LAYERS = "all"


def layer_grams(grads: dict[str, dict[str, list[torch.Tensor | None]]]) -> dict[str, torch.Tensor]:
    """grads[task][layer] = per-parameter gradients -> {layer: (T, T) Gram}, plus 'all'.

    Missing gradients (a head that does not reach a layer) count as zeros.
    """
    tasks = list(grads)
    layers = list(next(iter(grads.values())))
    grams = {}
    for layer in layers:
        rows = []
        for task in tasks:
            parts = [g.reshape(-1).float() for g in grads[task][layer] if g is not None]
            rows.append(torch.cat(parts) if parts else None)
        size = next((r.numel() for r in rows if r is not None), 0)
        matrix = torch.stack([r if r is not None else torch.zeros(size) for r in rows]) if size else torch.zeros(len(tasks), 0)
        grams[layer] = (matrix @ matrix.T).double()  # (T, T)
    grams[ALL_LAYERS] = sum(grams.values()) if grams else torch.zeros(len(tasks), len(tasks), dtype=torch.float64)
    return grams


def pair_statistics(gram: torch.Tensor) -> dict[tuple[int, int], tuple[float, float]]:
    """{(i, j): (cos, magnitude similarity)} for i < j; nan where a gradient is zero."""
    out = {}
    norms = gram.diagonal().clamp(min=0).sqrt()
    for i in range(gram.shape[0]):
        for j in range(i + 1, gram.shape[0]):
            ni, nj = float(norms[i]), float(norms[j])
            if ni == 0 or nj == 0:
                out[(i, j)] = (math.nan, math.nan)
                continue
            out[(i, j)] = (float(gram[i, j]) / (ni * nj), 2 * ni * nj / (ni * ni + nj * nj))
    return out


def cosine_of(a: list[torch.Tensor | None], b: list[torch.Tensor | None]) -> float:
    """Cosine between two gradients given as parameter lists (the same-task noise floor)."""
    dot = na = nb = 0.0
    for x, y in zip(a, b):
        if x is None or y is None:
            continue
        x, y = x.double(), y.double()
        dot += float((x * y).sum())
        na += float((x * x).sum())
        nb += float((y * y).sum())
    return dot / math.sqrt(na * nb) if na > 0 and nb > 0 else math.nan
