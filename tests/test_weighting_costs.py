"""The measured step costs of the weighting methods (benchmarks/weighting_cost.py --write) cover the registry and
reach the CLI. No timing is asserted: the figures come from the benchmark, not from this test."""
from __future__ import annotations

import contextlib
import io
import json
import math

from mtl_core import cli, weighting


def test_costs_file_covers_every_method_and_reaches_the_cli():
    assert weighting.COSTS.exists(), "run .venv/bin/python benchmarks/weighting_cost.py --write"
    stored = json.loads(weighting.COSTS.read_text())
    ratios = stored["ratios"]
    assert set(ratios) == set(weighting.methods())
    for method, by_setup in ratios.items():
        assert set(by_setup) == {"small", "medium"}, method
        assert all(isinstance(v, (int, float)) and math.isfinite(v) and v > 0 for v in by_setup.values()), method
    assert set(stored["setups"]) == {"small", "medium"} and stored["command"] and stored["date"]

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli.main(["weightings", "--json"]) == 0
    shown = {row["name"]: row["cost"] for row in json.loads(out.getvalue())}
    assert shown == ratios
