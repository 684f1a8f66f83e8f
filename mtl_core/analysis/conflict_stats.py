"""Gradient conflict statistics over recorded rows: conflict rates, summaries, histograms.

The engine computes each cosine and magnitude similarity from per-task gradients of the shared parameters
(mtl_core.train.conflict, the one place those formulas live; SCIENCE.md, "Gradient conflict"). A pair
conflicts when cos < 0 (PCGrad). Rows with task_a == task_b hold the same-task noise floor: the
cosine between two independent mini-batch gradients of one task; they are summarised like any pair
and land on the diagonal of `pair_matrix`.

A zero gradient has no direction, so its cosine and magnitude similarity are nan ("not measured"),
and nan values are left out of every rate, mean and histogram.
"""
from collections.abc import Sequence

import numpy as np
import pandas as pd

from mtl_core.errors import UserError

CONFLICT_COLUMNS = ("step", "layer", "task_a", "task_b", "cos", "magnitude_sim")

DEFAULT_HISTOGRAM_EDGES = (-1.0, -0.1, -0.02, 0.0, 1.0)


def conflict_rate(cos_values, threshold: float = 0.0, window: int | None = None) -> float:
    """Fraction of cosines below `threshold`, over the last `window` values if given.

    The window counts measurements (nan included); nan values are then left out of the fraction.
    nan when nothing finite remains.
    """
    values = np.asarray(cos_values, dtype=float).ravel()
    if window is not None:
        if window < 1:
            raise UserError(f"window: must be ≥ 1, got {window}", field="window")
        values = values[-window:]
    values = values[np.isfinite(values)]
    if values.size == 0:
        return float("nan")
    return float(np.mean(values < threshold))


def rolling_conflict_rate(series, window: int, threshold: float = 0.0) -> pd.Series:
    """Conflict rate over the trailing `window` measurements at every point of a cosine series.

    The first points use the measurements available so far; nan cosines are left out.
    """
    if window < 1:
        raise UserError(f"window: must be ≥ 1, got {window}", field="window")
    cos = pd.Series(series, dtype=float)
    is_conflict = (cos < threshold).astype(float).where(cos.notna())
    return is_conflict.rolling(window, min_periods=1).mean()


def smooth(series, span: float) -> pd.Series:
    """Exponential moving average with the given span, for plotting noisy cosine curves."""
    if span < 1:
        raise UserError(f"span: must be ≥ 1, got {span}", field="span")
    return pd.Series(series, dtype=float).ewm(span=span, ignore_na=True).mean()


def summarise_conflict(df: pd.DataFrame, threshold: float = 0.0) -> pd.DataFrame:
    """Per (layer, task_a, task_b): mean_cos, std_cos, conflict_rate, mean_magnitude_sim, n.

    `df` has columns step, layer, task_a, task_b, cos, magnitude_sim (layer "all" = whole shared
    trunk). Pairs are put in order (task_a ≤ task_b) first, so (b, a) rows join (a, b). n counts the
    finite cosines; std_cos uses ddof=1 (nan for n < 2).
    """
    missing = [column for column in CONFLICT_COLUMNS if column not in df.columns]
    if missing:
        raise UserError(f"conflict log: missing columns {missing}; need {list(CONFLICT_COLUMNS)}", field="conflict")
    ordered = df.copy()
    swap = ordered["task_a"] > ordered["task_b"]
    ordered.loc[swap, ["task_a", "task_b"]] = ordered.loc[swap, ["task_b", "task_a"]].to_numpy()
    ordered["is_conflict"] = (ordered["cos"] < threshold).astype(float).where(ordered["cos"].notna())
    summary = ordered.groupby(["layer", "task_a", "task_b"], sort=True).agg(
        mean_cos=("cos", "mean"),
        std_cos=("cos", "std"),
        conflict_rate=("is_conflict", "mean"),
        mean_magnitude_sim=("magnitude_sim", "mean"),
        n=("cos", "count"),
    )
    return summary.reset_index()


def cosine_histogram(cos_values, edges: Sequence[float] = DEFAULT_HISTOGRAM_EDGES) -> pd.DataFrame:
    """Counts and fractions of cosines per bin; bins are [lo, hi) except the last, [lo, hi].

    Columns: bin (label such as "[-1, -0.1)"), lower, upper, count, fraction. Fractions are of
    all finite values, so values outside the edges make them sum to less than 1.
    """
    edges = np.asarray(edges, dtype=float)
    if edges.size < 2 or (np.diff(edges) <= 0).any():
        raise UserError(f"edges: need ≥ 2 strictly increasing values, got {edges.tolist()}", field="edges")
    values = np.asarray(cos_values, dtype=float).ravel()
    values = values[np.isfinite(values)]
    counts, _ = np.histogram(values, bins=edges)
    lower, upper = edges[:-1], edges[1:]
    labels = [f"[{lo:g}, {hi:g})" for lo, hi in zip(lower[:-1], upper[:-1])] + [f"[{lower[-1]:g}, {upper[-1]:g}]"]
    fractions = counts / values.size if values.size else np.full(counts.shape, np.nan)
    return pd.DataFrame({"bin": labels, "lower": lower, "upper": upper, "count": counts, "fraction": fractions})


def pair_matrix(summary: pd.DataFrame, tasks: Sequence[str], value: str = "mean_cos", layer: str = "all") -> np.ndarray:
    """T×T symmetric matrix of one `summarise_conflict` column for one layer, rows/columns in `tasks` order.

    The diagonal holds the noise floor where task_a == task_b rows exist, nan otherwise; pairs
    never measured are nan.
    """
    if value not in summary.columns:
        raise UserError(f"value: {value!r} is not a summary column; choose from {list(summary.columns)}", field="value")
    index = {task: position for position, task in enumerate(tasks)}
    matrix = np.full((len(tasks), len(tasks)), np.nan)
    for row in summary[summary["layer"] == layer].itertuples(index=False):
        a, b = index.get(row.task_a), index.get(row.task_b)
        if a is not None and b is not None:
            matrix[a, b] = matrix[b, a] = getattr(row, value)
    return matrix
