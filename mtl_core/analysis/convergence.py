"""Has a run converged? A comparison of runs that are still learning measures how fast each learns,
not whether the tasks help each other, so every verdict carries this check.

The test, per task and per kind of run (the multi-task runs of a configuration, its matched
single-task baselines), on the validation curve of the task's primary metric averaged over seeds:

- sign the curve so that higher is better (u = s_t · M_t);
- take the last third of the evaluations (at least 3 points) and fit a least-squares line;
- the trend's gain over that window, g = slope × (last step − first step of the window), is what the
  curve was still adding at the end of training;
- it is still improving when g exceeds the noise: the largest of the seed-to-seed spread of the final
  value (std over seeds, ddof 1, when there are ≥ 2 seeds), the scatter of the window around its line
  (residual std), and 0.2 % of |final value| (a trend adding less than that over the last third of
  training has stopped moving for any purpose a comparison serves).

With fewer than 4 evaluations the test cannot tell and says so (status "unknown"). The suggested
budget is twice the steps trained: the check cannot say how far a rising curve still has to go, only
that the run stopped too early.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

MIN_EVALUATIONS = 4
WINDOW_FRACTION = 1 / 3
MIN_WINDOW = 3
RELATIVE_FLOOR = 0.002
STILL_IMPROVING_NOTE = "still improving: Δ reflects learning speed, not transfer"


def trend_gain(steps: Sequence[float], values: Sequence[float]) -> tuple[float, float]:
    """(gain of the fitted line over the last third of the curve, residual std there); values signed
    so that higher is better."""
    steps = np.asarray(steps, dtype=float)
    values = np.asarray(values, dtype=float)
    window = max(MIN_WINDOW, math.ceil(len(steps) * WINDOW_FRACTION))
    x, y = steps[-window:], values[-window:]
    slope, intercept = np.polyfit(x, y, 1)
    residuals = y - (slope * x + intercept)
    scatter = float(np.sqrt((residuals**2).sum() / (len(x) - 2))) if len(x) > 2 else 0.0
    return float(slope * (x[-1] - x[0])), scatter


def curve_convergence(steps: Sequence[float], values: Sequence[float], higher_is_better: bool,
                      seed_spread: float | None = None) -> dict:
    """The check on one (seed-averaged) validation curve.

    Returns {"status": "converged" | "still improving" | "unknown", "gain", "noise", "evaluations"}.
    """
    steps = np.asarray(steps, dtype=float)
    values = np.asarray(values, dtype=float)
    keep = np.isfinite(values)
    steps, values = steps[keep], values[keep]
    order = np.argsort(steps)
    steps, values = steps[order], values[order]
    if len(steps) < MIN_EVALUATIONS:
        return {"status": "unknown", "gain": None, "noise": None, "evaluations": int(len(steps))}
    signed = values if higher_is_better else -values
    gain, scatter = trend_gain(steps, signed)
    floors = [scatter, RELATIVE_FLOOR * abs(float(values[-1]))]
    if seed_spread is not None and math.isfinite(seed_spread):
        floors.append(float(seed_spread))
    noise = max(floors)
    return {"status": "still improving" if gain > noise else "converged", "gain": gain, "noise": noise,
            "evaluations": int(len(steps))}


def task_convergence(curves_by_kind: dict[str, list[tuple[Sequence[float], Sequence[float]]]],
                     higher_is_better: bool) -> dict:
    """The check for one task of a configuration: each kind's per-seed curves (steps, values) are
    averaged over seeds at their common steps, the seed spread is the std of the final values.

    Returns {"still_improving": bool | None, "mtl": {...}, "stl": {...}}: None when no kind could be
    checked, True when any kind is still improving.
    """
    out: dict = {}
    for kind, curves in curves_by_kind.items():
        curves = [(np.asarray(s, dtype=float), np.asarray(v, dtype=float)) for s, v in curves if len(s)]
        if not curves:
            continue
        common = sorted(set.intersection(*(set(s.tolist()) for s, _ in curves)))
        stacked = np.array([[dict(zip(s.tolist(), v.tolist()))[step] for step in common] for s, v in curves])
        finals = [v[np.argmax(s)] for s, v in curves]
        spread = float(np.std(finals, ddof=1)) if len(finals) >= 2 else None
        out[kind] = curve_convergence(common, stacked.mean(axis=0) if len(common) else [], higher_is_better,
                                      spread)
    statuses = [entry["status"] for entry in out.values()]
    known = [status for status in statuses if status != "unknown"]
    out["still_improving"] = None if not known else "still improving" in known
    return out


def suggested_steps(steps_trained: int) -> int:
    """Twice the budget, rounded up to a multiple of 50 steps."""
    return int(math.ceil(2 * steps_trained / 50) * 50)
