"""How far to trust a relatedness proxy: its Spearman ρ with the measured transfer gain and its regret@k.

A proxy (lookahead affinity, gradient cosine, CKA) scores each candidate helper of a target; higher
means "expected to help more". The truth is the measured transfer gain G_{c→target} in % (positive =
the pair run beat the target's single-task run). For one target column:

- ρ: Spearman's rank correlation (scipy.stats.spearmanr, average ranks for ties) of the proxy with the
  gain over the candidates where both are known. None, with a reason, when fewer than 3 candidates
  have both or when either side is constant (a rank correlation is then undefined).
- regret@k, in percentage points of gain: the mean true gain of the k best measured candidates minus
  the mean true gain of the k candidates the proxy ranks first,

      regret@k = (1/k) Σ_{c ∈ best_k(G)} G_c − (1/k) Σ_{c ∈ top_k(proxy)} G_c   ≥ 0,

  so 0 means the proxy's picks are as good as the best possible picks, and it is the average gain
  each chosen helper loses. The mean (not the sum) keeps regret@1 and regret@3 on one scale. k larger
  than the number of candidates is clamped to that number (then regret is 0: every candidate is
  taken either way). Ties in the proxy at the cut are broken by averaging: a block of equally scored
  candidates that straddles the k-th place contributes its mean gain for each of the places it fills
  (the expected regret over random tie-breaking), so no candidate order leaks into the score. Ties
  in the gain need nothing: best_k's mean is the same whichever of the tied ones is taken.

Over a whole map, ρ is taken over all ordered pairs (i → j, off the diagonal) at once, and regret@k
is the mean of the per-target regret@k over the target columns where it is defined.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy.stats import spearmanr

from mtl_core.errors import UserError

DEFAULT_KS = (1, 3)
MIN_FOR_RHO = 3


def _pairs(proxy: Sequence[float | None], gain: Sequence[float | None]) -> tuple[np.ndarray, np.ndarray]:
    if len(proxy) != len(gain):
        raise UserError(f"proxy: {len(proxy)} scores for {len(gain)} gains; need one per candidate", field="proxy")
    x = np.array([np.nan if v is None else float(v) for v in proxy], dtype=float)
    y = np.array([np.nan if v is None else float(v) for v in gain], dtype=float)
    usable = np.isfinite(x) & np.isfinite(y)
    return x[usable], y[usable]


def spearman(proxy: Sequence[float | None], gain: Sequence[float | None]) -> tuple[float | None, str | None]:
    """(ρ, None), or (None, why not) over the entries where both are finite."""
    x, y = _pairs(proxy, gain)
    if x.size < MIN_FOR_RHO:
        return None, f"{x.size} candidate(s) with both a proxy score and a measured gain; ρ needs {MIN_FOR_RHO}"
    if np.ptp(x) == 0:
        return None, "the proxy gives every candidate the same score"
    if np.ptp(y) == 0:
        return None, "every measured gain is the same"
    return float(spearmanr(x, y).statistic), None


def _top_mean(order_scores: np.ndarray, values: np.ndarray, k: int) -> float:
    """Mean of `values` over the k entries ranked first by `order_scores` (descending), tied blocks averaged."""
    total, filled = 0.0, 0
    for score in np.unique(order_scores)[::-1]:
        block = values[order_scores == score]
        take = min(k - filled, block.size)
        total += take * float(block.mean())
        filled += take
        if filled == k:
            break
    return total / k


def regret_at_k(proxy: Sequence[float | None], gain: Sequence[float | None], k: int) -> float | None:
    """Gain (percentage points) lost per chosen helper by taking the proxy's top k instead of the best k.

    Candidates without a finite proxy score or gain are left out; k is clamped to the rest. None when
    no candidate has both. See the module docstring for ties.
    """
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise UserError(f"k: must be a whole number ≥ 1, got {k!r}", field="k")
    x, y = _pairs(proxy, gain)
    if x.size == 0:
        return None
    k = min(int(k), x.size)
    if k == x.size:
        return 0.0  # every candidate is taken either way (exactly 0, not a rounding remainder)
    best = float(np.sort(y)[::-1][:k].mean())
    return max(0.0, best - _top_mean(x, y, k))


def score_column(proxy: Sequence[float | None], gain: Sequence[float | None],
                 ks: Sequence[int] = DEFAULT_KS) -> dict[str, Any]:
    """One target's scores: {"rho", "rho_reason", "regret": {str(k): value}, "candidates": n with both}."""
    rho, reason = spearman(proxy, gain)
    return {"rho": rho, "rho_reason": reason, "regret": {str(k): regret_at_k(proxy, gain, k) for k in ks},
            "candidates": int(_pairs(proxy, gain)[0].size)}


def score_matrix(proxy: np.ndarray, gain: np.ndarray, tasks: Sequence[str],
                 ks: Sequence[int] = DEFAULT_KS) -> dict[str, Any]:
    """A map's scores for one proxy: T×T matrices, rows = helper i, columns = target j (diagonal ignored).

    {"overall": {"rho", "rho_reason", "regret": {k: mean over targets}, "targets": columns with a regret},
     "per_target": {task: score_column of its column}}.
    """
    proxy, gain = np.asarray(proxy, dtype=float), np.asarray(gain, dtype=float)
    size = len(tasks)
    if proxy.shape != (size, size) or gain.shape != (size, size):
        raise UserError(f"matrices: need two {size}×{size} matrices, got {proxy.shape} and {gain.shape}",
                        field="matrices")
    off = ~np.eye(size, dtype=bool)
    per_target = {}
    for j, target in enumerate(tasks):
        rows = [i for i in range(size) if i != j]
        per_target[target] = score_column(proxy[rows, j].tolist(), gain[rows, j].tolist(), ks)
    rho, reason = spearman(proxy[off].tolist(), gain[off].tolist())
    regret = {}
    for k in ks:
        values = [entry["regret"][str(k)] for entry in per_target.values() if entry["regret"][str(k)] is not None]
        regret[str(k)] = float(np.mean(values)) if values else None
    targets = sum(entry["regret"][str(ks[0])] is not None for entry in per_target.values()) if ks else 0
    return {"overall": {"rho": rho, "rho_reason": reason, "regret": regret, "targets": targets},
            "per_target": per_target}


def ranking(scores: Mapping[str, float | None]) -> list[str]:
    """Candidates by proxy score, highest first; unscored ones last; ties keep the given order."""
    names = list(scores)
    return sorted(names, key=lambda c: (scores[c] is None or not np.isfinite(scores[c]),
                                        -(scores[c] if scores[c] is not None and np.isfinite(scores[c]) else 0.0),
                                        names.index(c)))
