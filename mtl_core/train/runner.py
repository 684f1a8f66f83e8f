"""Running one stored run: claim it, load its data, train through the one loop, record everything.

Whatever starts a run (the foreground CLI, a background worker, a Ray task) calls `execute_run`;
`run_rows` turns run specs into the rows the store records (`prepare_experiment`: with every run's
steps counted on the training sets).
"""
from __future__ import annotations

import json
import os
import platform
import socket
import time
import traceback
from pathlib import Path
from typing import Iterable, Mapping

from mtl_core.errors import (StorageError, StorageWriteError, TaskUnavailableError, UserError, file_error,
                             write_refused)
from mtl_core.estimate import budget_steps
from mtl_core.spec import ExperimentSpec, RunSpec
from mtl_core.store import MetricWriter, Store

CANCEL_CHECK_SECONDS = 0.5
# How long a worker keeps trying to record that a refused write interrupted its run.
INTERRUPTION_WRITE_ATTEMPTS = 5
INTERRUPTION_RETRY_SECONDS = 0.5


def load_experiment_data(spec: ExperimentSpec, seed: int) -> dict:
    """Every task of the experiment (all runs need them: shared vocabulary and budget)."""
    from mtl_core.tasks import load_task

    return {t: load_task(t, seed=seed, max_train_examples=spec.max_train_examples,
                         synthetic_correlation=spec.synthetic_correlation, data_seed=spec.data_seed)
            for t in spec.tasks}


def run_total_steps(run: RunSpec, train_sizes: Mapping[str, int] | None = None) -> int | None:
    """Steps of one run. With one-task-per-step sampling the multi-task run takes T × steps and each
    baseline the number of batches its task gets on average in the multi-task run.

    Without the training-set sizes, None wherever the count depends on them (an epoch budget, or
    one-task sampling): the run then computes it when it starts.
    """
    spec = run.experiment
    every_task_each_step = spec.sampling == "all" or len(spec.tasks) == 1
    if train_sizes is None:
        return spec.steps if spec.steps is not None and every_task_each_step else None
    steps = budget_steps(spec, train_sizes)
    if every_task_each_step:
        return steps
    from mtl_core.train.data import task_sampling_probabilities

    p = task_sampling_probabilities(train_sizes, spec.sampling, spec.temperature)
    total = steps * len(spec.tasks)
    if run.kind == "mtl":
        return total
    return max(1, round(total * p[run.tasks[0]]))


def run_rows(run_specs: Iterable[RunSpec], train_sizes: Mapping[str, int] | None = None) -> list[dict]:
    """The rows Store.create_experiment records: kind, tasks, seed, spec_json and total_steps (see
    run_total_steps: without the training-set sizes it may be None, and the run counts it when it starts)."""
    return [{"kind": r.kind, "tasks": list(r.tasks), "seed": r.seed,
             "spec_json": json.dumps(r.to_dict(), sort_keys=True), "total_steps": run_total_steps(r, train_sizes)}
            for r in run_specs]


def prepare_experiment(spec: ExperimentSpec) -> list[dict]:
    """Validated spec -> its run rows, every run's steps counted on the training sets (loads every task)."""
    spec = spec.validated()
    sizes = {t: len(d.train) for t, d in load_experiment_data(spec, spec.seeds[0]).items()}
    return run_rows(spec.runs(), sizes)


def probe_inputs(spec: ExperimentSpec, data: dict):
    """The same probe inputs for every run of an experiment: the first validation examples of each task."""
    import numpy as np

    parts = [data[t].validation.inputs[: spec.probe_examples] for t in spec.tasks]
    if isinstance(parts[0], np.ndarray):
        return np.concatenate(parts)
    return [tokens for part in parts for tokens in part]


def build_vocabulary(spec: ExperimentSpec, data: dict):
    if spec.encoder not in ("bilstm", "transformer"):
        return None
    from mtl_core.text import Vocabulary

    token_lists = [tokens[: spec.max_tokens] for t in spec.tasks for tokens in data[t].train.inputs]
    return Vocabulary.build(token_lists, min_freq=1, max_size=30000, lowercase=True)


def pick_device(requested: str):
    import torch

    if requested in ("auto", "cuda") and torch.cuda.is_available():
        return torch.device("cuda")
    if requested == "cuda":
        raise UserError("device: 'cuda' was asked for but no CUDA GPU is visible to PyTorch; use auto or cpu",
                        field="device")
    mps = getattr(torch.backends, "mps", None)
    if requested in ("auto", "mps") and mps is not None and mps.is_available():
        return torch.device("mps")
    if requested == "mps":
        raise UserError("device: 'mps' was asked for but Apple MPS is not available; use auto or cpu", field="device")
    return torch.device("cpu")


def describe_device(device) -> str:
    import torch

    if device.type == "cuda":
        return f"cuda:{torch.cuda.current_device()} ({torch.cuda.get_device_name()})"
    return device.type


def environment(device, threads: int, autocast: str | None) -> dict:
    import numpy
    import torch

    return {"python": platform.python_version(), "torch": torch.__version__, "numpy": numpy.__version__,
            "platform": platform.platform(), "threads": threads, "autocast": autocast, "device": str(device),
            "host": socket.gethostname()}


def configure_threads(threads: int | None) -> int:
    import torch

    threads = max(1, int(threads or 1))
    torch.set_num_threads(threads)
    torch.set_flush_denormal(True)  # subnormal floats slow long CPU runs by 2x (DESIGN.md)
    return threads


def execute_run(store: Store, run_id: str, *, threads: int | None = None,
                progress=None) -> str:
    """Train one queued run to its end (or cancel / divergence / failure) and return its final status.

    Resumes from the run's last checkpoint when one exists. `progress(step, total)` is called each step.
    """
    if not store.claim_run(run_id, pid=os.getpid(), host=socket.gethostname()):
        run = store.run(run_id)
        return run["status"] if run else "failed"
    run_row = store.run(run_id)
    writer = MetricWriter(store, run_id)
    try:
        status = _train(store, run_id, run_row, writer, threads, progress)
    except Exception as exc:  # every failure ends as a clear state; the store stays consistent
        from mtl_core.train.loop import Diverged

        if write_refused(exc):
            return record_interruption(store, run_id, exc)
        writer_flush_quietly(writer)
        if isinstance(exc, Diverged):
            store.update_run(run_id, status="diverged", error=str(exc), finished_at=time.time())
            store.log(run_id, str(exc), "error")
            return "diverged"
        message = failure_message(exc)
        store.update_run(run_id, status="failed", error=message, finished_at=time.time())
        store.log(run_id, message + "\n" + traceback.format_exc(), "error")
        return "failed"
    if status == "completed":
        drop_resume_checkpoint(store, run_id)
    return status


def drop_resume_checkpoint(store: Store, run_id: str) -> None:
    """A completed run is never resumed: its last checkpoint goes (the best model lives in memory only and its
    test metrics are recorded). A file that cannot be deleted stays for `gc`; the run is completed all the same."""
    try:
        freed = store.delete_checkpoint(run_id, "last")
    except (OSError, StorageError) as exc:
        try:
            store.log(run_id, f"the resume checkpoint was kept: {exc}; `python -m mtl_core gc` frees it", "warning")
        except StorageError:
            pass
        return
    if freed:
        store.log(run_id, f"deleted the resume checkpoint ({freed} bytes): a completed run is not resumed")


def failure_message(exc: BaseException) -> str:
    text = str(exc)
    if isinstance(exc, (UserError, TaskUnavailableError)):
        return text
    if "out of memory" in text.lower():
        return ("the GPU ran out of memory; try a smaller batch_size (e.g. half) or max_tokens, or the cpu device "
                f"({text.splitlines()[0][:200]})")
    return f"{type(exc).__name__}: {text}"


def record_interruption(store: Store, run_id: str, exc: BaseException) -> str:
    """A write the disk refused (full, read-only, a size limit) stopped the run; what it recorded is intact and
    its last checkpoint complete, so it ends interrupted, which `resume` continues. The store may be on that
    very disk: the status is retried for a few seconds, after which the scheduler or the next `status` finds
    the worker gone and marks the run interrupted as soon as the store can be written."""
    reason = str(exc) if isinstance(exc, StorageError) else str(file_error(exc, doing="write"))
    message = (f"interrupted: {reason}. Once it can be written, `python -m mtl_core resume {run_id}` continues "
               f"from the last checkpoint")
    for _ in range(INTERRUPTION_WRITE_ATTEMPTS):
        try:
            if store.finish_if_running(run_id, "interrupted", error=message, pid=os.getpid()):
                store.log(run_id, message, "warning")
            break
        except StorageWriteError:
            time.sleep(INTERRUPTION_RETRY_SECONDS)
    return "interrupted"


def writer_flush_quietly(writer: MetricWriter) -> None:
    try:
        writer.flush()
    except Exception:
        pass


def _train(store: Store, run_id: str, run_row: dict, writer: MetricWriter, threads, progress) -> str:
    import torch

    from mtl_core.train.loop import Trainer, load_checkpoint

    run = RunSpec.from_dict(json.loads(run_row["spec_json"]))
    spec = run.experiment
    threads = configure_threads(threads)
    device = pick_device(spec.device)
    autocast = torch.bfloat16 if device.type == "cuda" else None
    store.log(run_id, f"loading {', '.join(spec.tasks)}")
    data = load_experiment_data(spec, run.seed)
    vocabulary = build_vocabulary(spec, data)
    total = run_row["total_steps"] or run_total_steps(run, {t: len(d.train) for t, d in data.items()})
    trainer = Trainer(run, data, vocabulary, total, device, autocast)
    store.update_run(run_id, device=describe_device(device), total_steps=total,
                     environment=environment(device, threads, "bf16" if autocast else None))

    folder = store.artifacts_dir(run_id)
    last = store.checkpoint(run_id, "last")
    if last and Path(last["path"]).exists():
        trainer.load_state_dict(load_checkpoint(last["path"], device))
        store.truncate_after(run_id, trainer.state.step)
        store.log(run_id, f"resumed from the checkpoint at step {trainer.state.step}")
    else:
        store.truncate_after(run_id, -1)  # a restarted run without a checkpoint starts clean
        store.log(run_id, f"training {run.kind} on {', '.join(run.tasks)} for {total} steps on {describe_device(device)}")

    def save_checkpoint(improved: bool) -> None:
        writer.flush()
        path = folder / "last.pt"
        temporary = path.with_suffix(".tmp")
        try:  # through a Python file, so that a full disk is an OSError (torch's own writer raises RuntimeError)
            with open(temporary, "wb") as fh:
                torch.save(trainer.state_dict(), fh)
            os.replace(temporary, path)
        except OSError as exc:
            temporary.unlink(missing_ok=True)  # the last complete checkpoint stays as it was
            raise file_error(exc, temporary, doing="write the checkpoint") from exc
        store.save_checkpoint_record(run_id, "last", trainer.state.step, str(path))

    last_check = [time.monotonic()]

    def should_stop() -> bool:
        if time.monotonic() - last_check[0] < CANCEL_CHECK_SECONDS:
            return False
        last_check[0] = time.monotonic()
        return store.cancel_requested(run_id)

    def on_progress(step: int) -> None:
        if progress:
            progress(step, total)

    status = trainer.fit(writer, should_stop, save_checkpoint, on_progress)
    if status == "cancelled":
        writer.flush()
        store.update_run(run_id, status="cancelled", finished_at=time.time(), cancel_requested=0,
                         error=f"cancelled at step {trainer.state.step}; resume continues from there")
        store.log(run_id, f"cancelled at step {trainer.state.step}")
        return "cancelled"
    results = trainer.test_results(writer)
    writer.flush()
    if spec.probe_examples:
        for name, matrix in trainer.representations(probe_inputs(spec, data)).items():
            store.save_representation(run_id, name, matrix)
    store.update_run(run_id, status="completed", finished_at=time.time(), step=total,
                     result={"best_step": trainer.state.best_step, "test": results})
    store.log(run_id, f"completed; best validation at step {trainer.state.best_step}")
    if trainer.gradient_route_summary():
        store.log(run_id, trainer.gradient_route_summary())
    return "completed"
