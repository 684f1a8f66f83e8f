"""Nothing on disk runs code when it is read: checkpoints load weights-only, the data cache holds no pickles."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from mtl_core.spec import ExperimentSpec
from mtl_core.store import Store
from mtl_core.tasks.base import Split, TaskCard, TaskData, TaskKind
from mtl_core.text import cached, dump_entry, load_entry
from mtl_core.train.runner import execute_run, prepare_experiment

SMALL = dict(max_train_examples=128, max_eval_examples=64, hidden_size=16, batch_size=16, baselines=False)


class WritesAFile:
    """Unpickling this runs code: it creates `marker`."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return exec, (f"open({self.marker!r}, 'w').write('ran')",)


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("MTL_EXPLORER_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def one_run(tmp_path, **options) -> tuple[Store, str]:
    store = Store(tmp_path / "runs.sqlite")
    spec = ExperimentSpec(**{**SMALL, **options}).validated()
    _, [run_id] = store.create_experiment(spec.to_json(), prepare_experiment(spec))
    return store, run_id


def test_a_checkpoint_holding_a_pickled_object_is_refused_without_running_it(home, tmp_path):
    store, run_id = one_run(tmp_path, tasks=["synth_1"], steps=6)
    marker = tmp_path / "code-ran"
    path = store.artifacts_dir(run_id) / "last.pt"
    torch.save({"model": WritesAFile(marker)}, path)
    store.save_checkpoint_record(run_id, "last", 3, str(path))

    assert execute_run(store, run_id) == "failed"
    assert not marker.exists()
    error = store.run(run_id)["error"]
    assert "checkpoint" in error and "not loaded" in error and str(path) in error


def test_a_real_checkpoint_resumes_through_the_weights_only_loader(home, tmp_path, monkeypatch):
    from mtl_core.train import runner

    # One-task-per-step sampling: the checkpoint also carries the task-sampling generator's state. The run is
    # cancelled half-way (a completed run drops its resume checkpoint).
    monkeypatch.setattr(runner, "CANCEL_CHECK_SECONDS", 0.0)
    store, run_id = one_run(tmp_path, tasks=["synth_1", "synth_2"], steps=10, sampling="proportional")

    def cancel_half_way(step, total):
        if step >= 5:
            store.request_cancel(run_id)

    assert execute_run(store, run_id, progress=cancel_half_way) == "cancelled"
    checkpoint = torch.load(store.checkpoint(run_id)["path"], weights_only=True)
    assert checkpoint["sampling_rng"]["bit_generator"] == "PCG64" and checkpoint["loop"]["step"] == 5
    assert store.requeue_run(run_id)
    assert execute_run(store, run_id) == "completed", store.run(run_id)["error"]
    assert any("resumed from the checkpoint" in m for m in store.events(run_id).message)


def test_task_data_round_trips_through_a_cache_entry(tmp_path):
    card = TaskCard(id="t", name="T", family="F", kind=TaskKind.TOKEN_TAGGING, metric="span_f1",
                    higher_is_better=True, source="synthetic", licence="none", description="d", related=("u",))
    vectors = np.arange(6, dtype=np.float32).reshape(3, 2)
    data = TaskData(card=card, train=Split([["a", "b"], ["c"]], [[0, 1], [1]]),
                    validation=Split(vectors, np.array([0.5, 1.5, 2.5], dtype=np.float32)),
                    test=Split([["d"]], [[0]]), labels=["O", "B"], value_range=(0.0, 1.0), notes=["n"])
    path = tmp_path / "entry.npz"
    path.write_bytes(dump_entry(data))
    restored = load_entry(path)
    assert restored.card == card and restored.card.kind is TaskKind.TOKEN_TAGGING
    assert restored.train.inputs == [["a", "b"], ["c"]] and restored.value_range == (0.0, 1.0)
    np.testing.assert_array_equal(restored.validation.inputs, vectors)
    assert restored.validation.inputs.dtype == np.float32


def test_a_cache_entry_holding_a_pickle_or_a_foreign_type_is_rebuilt_never_run(home, tmp_path):
    marker = tmp_path / "code-ran"
    pickled = np.empty(1, dtype=object)
    pickled[0] = WritesAFile(marker)
    entry = home / "cache" / "example.npz"
    entry.parent.mkdir(parents=True)
    with open(entry, "wb") as fh:
        np.savez(fh, __tree__=np.frombuffer(b'{"__ndarray__": "a0"}', dtype=np.uint8), a0=pickled)
    assert cached("example", lambda: "rebuilt") == "rebuilt"
    assert not marker.exists()

    entry.write_bytes(dump_entry({"x": 1}))
    with open(entry, "wb") as fh:  # names os.system as if it were one of mtl_core's types
        np.savez(fh, __tree__=np.frombuffer(b'{"__enum__": ["os:system", "touch x"]}', dtype=np.uint8))
    assert cached("example", lambda: "rebuilt again") == "rebuilt again"
    assert cached("example", lambda: "not called") == "rebuilt again"
