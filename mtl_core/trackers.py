"""Export an experiment to the trackers researchers already use: MLflow (through the `mlflow` client) and
TensorBoard (event files written by torch's SummaryWriter, read by `tensorboard --logdir`).

Metric keys are `{split}/{task}/{name}` (`{split}/{name}` for run-level series, which have no task), the same
in both. MLflow runs carry the tag `mtl_explorer.run_id`, so exporting again finds them: a run whose exported
content is unchanged is skipped, a changed one (or one a crashed export left half-written) is replaced.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
from pathlib import Path
from typing import Any

from mtl_core.errors import UserError, file_error

RUN_TAG = "mtl_explorer.run_id"
FINGERPRINT_TAG = "mtl_explorer.export_fingerprint"  # set last: a run without it was not completely exported
MLFLOW_STATUS = {"completed": "FINISHED", "failed": "FAILED", "diverged": "FAILED", "cancelled": "KILLED",
                 "interrupted": "KILLED", "queued": "SCHEDULED", "running": "RUNNING"}
TRACKING_SCHEMES = ("sqlite", "file", "http", "https", "postgresql", "mysql", "mssql", "databricks")
_KEY_CHARACTERS = re.compile(r"[^A-Za-z0-9_\-. /:]")
_BATCH = 1000  # MLflow's limit of metrics per log_batch call (params: 100)


def metric_key(split: str, task: str, name: str) -> str:
    """`{split}/{task}/{name}`; run-level series (no task) are `{split}/{name}`. Characters MLflow refuses in a
    key become '_'."""
    parts = [p for p in (split, task, name) if p]
    return _KEY_CHARACTERS.sub("_", "/".join(parts))


def conflict_key(layer: str, task_a: str, task_b: str, column: str) -> str:
    return _KEY_CHARACTERS.sub("_", f"conflict/{layer}/{task_a}/{task_b}/{column}")


def flatten(value: Any, prefix: str = "") -> dict[str, str]:
    """{'experiment.lr': '0.003', 'tasks': '["a", "b"]', ...}: nested dicts by dotted keys, everything else as
    the JSON (strings as themselves) MLflow keeps as a parameter value."""
    if isinstance(value, dict):
        out: dict[str, str] = {}
        for key, item in value.items():
            out.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value if isinstance(value, str) else json.dumps(value, sort_keys=True)}


def _value(value) -> float:
    return float("nan") if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def _experiment(store, experiment_id: str) -> dict:
    experiment = store.experiment(experiment_id)
    if experiment is None:
        raise UserError(f"export: no experiment '{experiment_id}' in {store.path}")
    return experiment


def run_series(store, run_id: str) -> list[tuple[str, int, float]]:
    """(key, step, value) of every metric row of a run, ordered by key then step."""
    frame = store.metrics([run_id])
    rows = [(metric_key(r.split, r.task, r.name), int(r.step), _value(r.value)) for r in frame.itertuples()]
    return sorted(rows, key=lambda row: (row[0], row[1]))


def configuration_of_runs(store, experiment_id: str) -> dict[str, dict]:
    """{MTL run id: its configuration entry of experiment_summary (run_ids, tasks, delta_m_pct, conflict, ...)}."""
    from mtl_core.analysis.summary import experiment_summary

    summary = experiment_summary(store, experiment_id)
    return {run_id: entry for entry in summary["configurations"] for run_id in entry["run_ids"]}


def summary_metrics(entry: dict | None) -> dict[str, float]:
    """Δ_t per task, Δm and the conflict summary of a run's configuration, as MLflow metrics (at step 0)."""
    if not entry:
        return {}
    out = {}
    for task, compared in entry.get("tasks", {}).items():
        if compared.get("delta_pct") is not None:
            out[metric_key("delta_pct", task, "")] = float(compared["delta_pct"])
    if entry.get("delta_m_pct") is not None:
        out["delta_m_pct"] = float(entry["delta_m_pct"])
    for pair, stats in (entry.get("conflict") or {}).items():
        for name in ("mean_cos", "conflict_rate", "mean_magnitude_sim", "n"):
            if stats.get(name) is not None:
                out[_KEY_CHARACTERS.sub("_", f"conflict/{pair.replace('|', '/')}/{name}")] = float(stats[name])
    return out


# ---- MLflow ------------------------------------------------------------------------------------
def default_tracking_uri() -> str:
    from mtl_core.paths import mlflow_tracking_uri

    return mlflow_tracking_uri()


def check_tracking_uri(uri: str) -> Path | None:
    """A URI MLflow can track to; for a sqlite one, the database file (its folder must exist or be creatable)."""
    scheme, sep, rest = uri.partition("://")
    if not sep or scheme.split("+")[0] not in TRACKING_SCHEMES:
        raise UserError(f"export: --tracking-uri {uri!r} is not a tracking URI MLflow knows; give e.g. "
                        f"sqlite:///PATH/mlflow.db or http://HOST:5000")
    if scheme != "sqlite":
        return None
    if not rest.startswith("/") or rest in ("/", "/:memory:"):
        raise UserError(f"export: --tracking-uri {uri!r}: a sqlite tracking URI names a database file, "
                        f"e.g. sqlite:////tmp/mlflow.db (four slashes for an absolute path)")
    path = Path(rest[1:])  # sqlite:///relative.db, sqlite:////absolute/path.db
    if path.is_dir():
        raise UserError(f"export: --tracking-uri {uri!r} names a directory; name a database file in it, "
                        f"e.g. sqlite:///{(path / 'mlflow.db').as_posix().lstrip('/')}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not os.access(path.parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
            raise PermissionError(13, "Permission denied", str(path))
    except OSError as exc:
        raise file_error(exc, path, doing="write the MLflow store") from None
    return path


def export_mlflow(store, experiment_id: str, tracking_uri: str | None = None, log=print) -> dict:
    """Log every run of an experiment to MLflow; returns {"uri", "experiment_id" (MLflow's), "exported",
    "skipped", "runs": {our run id: MLflow run id}}."""
    experiment = _experiment(store, experiment_id)
    uri = tracking_uri or default_tracking_uri()
    database = check_tracking_uri(uri)
    runs = store.runs(experiment_id)
    configurations = configuration_of_runs(store, experiment_id)

    import logging

    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    # A tracking server that does not answer is one line after a couple of tries, not minutes of back-off.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")
    for name in ("mlflow", "alembic"):  # "Creating initial MLflow database tables..." is not the user's business
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        client = MlflowClient(tracking_uri=uri)
        mlflow_experiment = _mlflow_experiment(client, experiment, database)
    except MlflowException as exc:
        raise UserError(f"export: MLflow cannot use --tracking-uri {uri}: {_first_line(exc)}") from None
    except Exception as exc:  # a server that does not answer, a database that is not MLflow's
        raise UserError(f"export: MLflow cannot use --tracking-uri {uri}: {type(exc).__name__}: "
                        f"{_first_line(exc)}") from None
    result = {"uri": uri, "experiment_id": mlflow_experiment, "exported": 0, "skipped": 0, "runs": {}}
    # Baselines first, so that a multi-task run can name its baselines' MLflow runs.
    for run in sorted(runs, key=lambda r: r["kind"] != "stl"):
        entry = configurations.get(run["id"])
        baselines = (entry or {}).get("baseline_run_ids", []) if run["kind"] == "mtl" else []
        payload = _mlflow_payload(store, experiment, run, entry, [result["runs"].get(b, "") for b in baselines])
        try:
            mlflow_run, exported = _log_mlflow_run(client, mlflow_experiment, run, payload)
        except MlflowException as exc:
            raise UserError(f"export: MLflow refused run {run['id']}: {_first_line(exc)}") from None
        result["runs"][run["id"]] = mlflow_run
        result["exported" if exported else "skipped"] += 1
        log(f"{'exported' if exported else 'unchanged'} {run['kind']} {'+'.join(run['tasks'])} seed {run['seed']} "
            f"({run['id']}) -> MLflow run {mlflow_run}")
    return result


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


def mlflow_experiment_name(experiment: dict) -> str:
    return f"{experiment['id']} {experiment['name']}".strip()


def _mlflow_experiment(client, experiment: dict, database: Path | None) -> str:
    name = mlflow_experiment_name(experiment)
    found = client.get_experiment_by_name(name)
    if found is not None:
        if found.lifecycle_stage == "deleted":
            client.restore_experiment(found.experiment_id)
        return found.experiment_id
    artifacts = None
    if database is not None:  # beside the database, not in ./mlruns of wherever the command was run
        artifacts = (database.parent / "mlflow-artifacts" / experiment["id"]).resolve().as_uri()
    return client.create_experiment(name, artifact_location=artifacts,
                                    tags={"mtl_explorer.experiment_id": experiment["id"]})


def _mlflow_payload(store, experiment: dict, run: dict, entry: dict | None, baseline_mlflow: list[str]) -> dict:
    spec = json.loads(run["spec_json"])
    params = flatten(spec)
    tags = {RUN_TAG: run["id"], "mtl_explorer.experiment_id": experiment["id"], "mtl_explorer.kind": run["kind"],
            "mtl_explorer.status": run["status"], "mtl_explorer.tasks": "+".join(run["tasks"]),
            "mtl_explorer.seed": str(run["seed"]),
            "mlflow.runName": f"{run['kind']} {'+'.join(run['tasks'])} seed {run['seed']}"}
    if run.get("error"):
        tags["mtl_explorer.error"] = run["error"][:5000]
    if entry is not None and run["kind"] == "mtl":
        tags["mtl_explorer.configuration"] = str(entry.get("id", ""))
        tags["mtl_explorer.configuration_label"] = str(entry.get("label", ""))[:5000]
        tags["mtl_explorer.baseline_run_ids"] = ",".join(entry.get("baseline_run_ids", []))
        tags["mtl_explorer.baseline_mlflow_run_ids"] = ",".join(baseline_mlflow)
    return {"params": params, "tags": tags, "series": run_series(store, run["id"]),
            "summary": summary_metrics(entry if run["kind"] == "mtl" else None),
            "spec": json.dumps(spec, indent=1, sort_keys=True), "status": MLFLOW_STATUS.get(run["status"], "RUNNING")}


def _fingerprint(payload: dict) -> str:
    text = json.dumps({k: payload[k] for k in ("params", "tags", "summary", "spec", "status")}, sort_keys=True)
    digest = hashlib.sha256(text.encode())
    for key, step, value in payload["series"]:
        digest.update(f"{key}\t{step}\t{value!r}\n".encode())
    return digest.hexdigest()


def _log_mlflow_run(client, mlflow_experiment: str, run: dict, payload: dict) -> tuple[str, bool]:
    from mlflow.entities import Metric, Param, RunTag

    fingerprint = _fingerprint(payload)
    existing = client.search_runs([mlflow_experiment], filter_string=f"tags.`{RUN_TAG}` = '{run['id']}'")
    for found in existing:
        if found.data.tags.get(FINGERPRINT_TAG) == fingerprint:
            return found.info.run_id, False
    for found in existing:  # changed since, or half-written by an export that stopped
        client.delete_run(found.info.run_id)
    created = client.create_run(mlflow_experiment, start_time=_ms(run.get("started_at") or run["created_at"]),
                                tags=payload["tags"], run_name=payload["tags"]["mlflow.runName"])
    run_id = created.info.run_id
    params = [Param(k, v) for k, v in payload["params"].items()]
    for i in range(0, len(params), 100):
        client.log_batch(run_id, params=params[i:i + 100])
    timestamp = _ms(run.get("finished_at") or run.get("started_at") or run["created_at"])
    metrics = [Metric(key, value, timestamp, step) for key, step, value in payload["series"]]
    metrics += [Metric(key, value, timestamp, 0) for key, value in payload["summary"].items()]
    for i in range(0, len(metrics), _BATCH):
        client.log_batch(run_id, metrics=metrics[i:i + _BATCH])
    client.log_text(run_id, payload["spec"], "spec.json")
    client.log_batch(run_id, tags=[RunTag(FINGERPRINT_TAG, fingerprint)])
    if payload["status"] in ("FINISHED", "FAILED", "KILLED"):
        client.set_terminated(run_id, payload["status"], end_time=_ms(run.get("finished_at") or run["created_at"]))
    else:
        client.update_run(run_id, payload["status"])
    return run_id, True


def _ms(seconds: float | None) -> int | None:
    return None if seconds is None else int(seconds * 1000)


# ---- TensorBoard -------------------------------------------------------------------------------
def tensorboard_scalars(store, run_id: str) -> list[tuple[str, int, float]]:
    """(tag, step, value) of a run as exported: every metric series (weights are train/{task}/weight) and the
    conflict cosine and magnitude similarity per layer and task pair."""
    rows = run_series(store, run_id)
    for r in store.conflict([run_id]).itertuples():
        rows.append((conflict_key(r.layer, r.task_a, r.task_b, "cos"), int(r.step), _value(r.cos)))
        rows.append((conflict_key(r.layer, r.task_a, r.task_b, "magnitude_sim"), int(r.step), _value(r.magnitude_sim)))
    return rows


def export_tensorboard(store, experiment_id: str, out: Path, log=print) -> list[Path]:
    """One folder of event files per run under `out` (named by run id), each written whole in a temporary folder
    and then put in place of the previous export of that run. Returns the run folders."""
    _experiment(store, experiment_id)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"export: --out {out} is a file; TensorBoard export writes a folder of runs")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".mtl-explorer-write-probe.{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise file_error(exc, out, doing="write --out") from None
    from torch.utils.tensorboard import SummaryWriter

    folders = []
    for run in store.runs(experiment_id):
        scalars = tensorboard_scalars(store, run["id"])
        final = out / run["id"]
        temporary = out / f".{run['id']}.{os.getpid()}.tmp"
        try:
            shutil.rmtree(temporary, ignore_errors=True)
            temporary.mkdir()
            writer = SummaryWriter(log_dir=str(temporary))
            writer.add_text("spec", "```\n" + json.dumps(json.loads(run["spec_json"]), indent=1) + "\n```", 0)
            for tag, step, value in scalars:
                writer.add_scalar(tag, value, global_step=step)
            writer.close()
            if not any(temporary.glob("events.out.tfevents.*")):
                raise OSError(5, "the event file was not written", str(temporary))
            if final.exists():
                shutil.rmtree(final)
            os.replace(temporary, final)
        except OSError as exc:
            raise file_error(exc, final, doing="write the TensorBoard run") from None
        finally:
            shutil.rmtree(temporary, ignore_errors=True)
        folders.append(final)
        log(f"wrote {final} ({len(scalars)} scalars)")
    return folders
