"""Training trajectories of static λ recorded before the weighting registry existed, and how to recompute them.

The cases of one shared trunk over tasks that read the same rows (hard-*, hierarchical-affinity) were recorded
again when those tasks came to share one forward pass of the trunk per step (one dropout mask for all of them);
soft sharing, one-task sampling and the baseline were not re-recorded and still match the first recording.

`python -m tests.static_reference` rewrites tests/data/static_reference.json from the current code; the test
in tests/test_weighting.py recomputes every case and requires the same values: static λ (the default method)
must train as the loop did before weighting methods had a place in it. The values are kept, not digests of
their bytes, and compared to a relative 1e-4: on one machine the loop reproduces them bit for bit, but
another CPU (AVX-512 against AVX2, another MKL kernel) rounds float32 sums differently, and a digest recorded
on one machine failed on the next. A change to the training itself moves them by far more than that.
"""
from __future__ import annotations

import json
from pathlib import Path

from tests.test_engine import DEFAULT_DROPOUT, ListRecorder, make_trainer

REFERENCE = Path(__file__).parent / "data" / "static_reference.json"
TEXT = dict(encoder="bilstm", max_train_examples=64, max_eval_examples=32)

# name: (tasks, kind, options); 12 steps, evaluated at 6 and 12, the default dropout.
CASES = {
    "hard-conflict-noise": (["synth_1", "synth_2"], "mtl", dict(conflict_every=3, noise_floor=True,
                                                               weights={"synth_1": 0.7, "synth_2": 1.3})),
    "hard-unmeasured": (["synth_1", "synth_2", "synth_3"], "mtl", dict(conflict_every=0)),
    "soft": (["synth_1", "synth_2"], "mtl", dict(sharing="soft", soft_lambda=0.05, conflict_every=4)),
    "hierarchical-affinity": (["atis_intent", "atis_slots"], "mtl",
                              dict(sharing="hierarchical", layers={"atis_slots": 1}, conflict_every=5,
                                   affinity_every=5, **TEXT)),
    "one-task-sampling": (["synth_1", "synth_2"], "mtl", dict(sampling="proportional", conflict_every=2)),
    "baseline": (["synth_1"], "stl", dict(conflict_every=3)),
}


def trajectory(name: str) -> dict[str, list]:
    """Per parameter tensor (sorted by name): its sum, sum of squares, first and last value; and the rows the
    loop recorded (metrics without the effective weights, recorded since; conflicts; affinities)."""
    tasks, kind, options = CASES[name]
    trainer = make_trainer(tasks, kind=kind, total_steps=12, dropout=DEFAULT_DROPOUT, eval_every=6, **options)
    recorder = ListRecorder()
    assert trainer.fit(recorder) == "completed"
    parameters = []
    for key, tensor in sorted(trainer.model.state_dict().items()):
        values = tensor.detach().cpu().double().reshape(-1)
        parameters.append([key, float(values.sum()), float((values ** 2).sum()), float(values[0]),
                           float(values[-1])] if values.numel() else [key])
    metrics = [list(row) for row in recorder.metrics if row[3] != "weight"]
    return {"parameters": parameters, "metrics": metrics, "conflicts": [list(r) for r in recorder.conflicts],
            "affinities": [list(r) for r in recorder.affinities]}


if __name__ == "__main__":
    REFERENCE.write_text(json.dumps({name: trajectory(name) for name in CASES}, sort_keys=True) + "\n")
    print(f"wrote {REFERENCE}")
