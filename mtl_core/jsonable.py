"""Numbers for JSON and SQLite: a value that is not a finite number is stored and shown as None
("not measured"), never as NaN, which JSON cannot hold and which would read as a value."""
from __future__ import annotations

import math


def finite_or_none(value) -> float | None:
    """float(value) when it is a finite number, else None."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None
