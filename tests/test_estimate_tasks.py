"""The run-time estimate prices each task's step as measured (benchmarks/task_cost.py → step_costs.json)."""
from __future__ import annotations

import json

import pytest

from mtl_core import estimate
from mtl_core.spec import ExperimentSpec


def seconds(tasks, **kw) -> float:
    spec = ExperimentSpec(tasks=list(tasks), baselines=False, conflict_every=0, **kw).validated()
    return estimate.run_seconds(spec.runs()[0], 100) - estimate.STARTUP_SECONDS


def test_a_task_step_costs_its_measured_ratio_to_atis_intent():
    costs = json.loads(estimate.STEP_COSTS.read_text())
    verse, emoji = costs["verse_en_es"]["gru"], costs["emoji_en_es"]["gru"]
    assert verse > 3 * emoji  # an 8,000-word output layer over 32-word targets against a few words
    base = seconds(["atis_intent"])
    assert seconds(["verse_en_es"]) == pytest.approx(base * verse)
    assert seconds(["emoji_en_es"]) == pytest.approx(base * emoji)
    transformer = seconds(["emoji_en_es"], decoder_type="transformer")
    assert transformer == pytest.approx(base * costs["emoji_en_es"]["transformer"])


def test_a_multi_task_step_is_the_sum_of_its_tasks_and_an_unmeasured_task_counts_one():
    base = seconds(["atis_intent"])
    together = seconds(["verse_en_es", "atis_slots"])
    assert "atis_slots" not in json.loads(estimate.STEP_COSTS.read_text())
    assert together == pytest.approx(base * (estimate.task_step_cost("verse_en_es", ExperimentSpec(tasks=["x"]))
                                             + 1.0))
