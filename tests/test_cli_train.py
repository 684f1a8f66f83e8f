"""The `run` / `show` / `export` command-line contract, including its error cases."""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import pytest

from mtl_core.store import Store

# Its module fixture trains once per pytest-xdist worker: the module's tests stay on one worker.
pytestmark = pytest.mark.xdist_group("test_cli_train")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def cli(*args, store=None, check=False):
    command = [sys.executable, "-m", "mtl_core", *args] + (["--store", str(store)] if store else [])
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=600)
    if check:
        assert result.returncode == 0, result.stderr
    return result


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """One small synthetic experiment with baselines and two seeds, run through the CLI."""
    store = tmp_path_factory.mktemp("cli") / "runs.sqlite"
    result = cli("run", "--tasks", "synth_1,synth_2", "--steps", "40", "--seeds", "0,1", "--max-train-examples",
                 "200", "--conflict-every", "5", "--synthetic-correlation", "0.9", "--json", store=store, check=True)
    return store, json.loads(result.stdout.strip().splitlines()[-1]), result


def test_run_json_summary_has_the_promised_fields(finished):
    store, summary, _ = finished
    assert summary["experiment_id"].startswith("exp-")
    assert [(r["kind"], r["seed"]) for r in summary["runs"]] == [
        ("mtl", 0), ("stl", 0), ("stl", 0), ("mtl", 1), ("stl", 1), ("stl", 1)]
    assert all(r["status"] == "completed" for r in summary["runs"])
    for task in ("synth_1", "synth_2"):
        entry = summary["tasks"][task]
        assert entry["metric"] == "mse" and entry["higher_is_better"] is False
        for key in ("mtl", "stl", "delta_pct", "mtl_std", "stl_std", "delta_std"):
            assert isinstance(entry[key], float), key
        # Δ is the mean of the paired per-seed Δ (lower mse is better).
    pair = summary["conflict"]["synth_1|synth_2"]
    # Over both seeds' multi-task runs, the cosines recorded every 5th of 40 steps.
    recorded = Store(store).conflict([r["id"] for r in summary["runs"] if r["kind"] == "mtl"], layers=["all"]).cos
    assert pair["n"] == len(recorded) == 16
    assert pair["mean_cos"] == pytest.approx(recorded.mean())
    assert pair["conflict_rate"] == pytest.approx((recorded < 0).mean())
    deltas = [summary["tasks"][t]["delta_pct"] for t in ("synth_1", "synth_2")]
    assert summary["delta_m_pct"] == pytest.approx(sum(deltas) / 2)
    assert summary["sign_convention"].startswith("positive = multi-task better")


def test_run_shows_progress_on_standard_error(finished):
    _, _, result = finished
    assert "mtl synth_1+synth_2 seed 0" in result.stderr


def test_show_prints_the_stored_summary(finished):
    store, summary, _ = finished
    again = json.loads(cli("show", summary["experiment_id"], "--json", store=store, check=True).stdout)
    assert again == summary
    table = cli("show", summary["experiment_id"], store=store, check=True).stdout
    assert "Δm" in table and "synth_1|synth_2" in table


def test_export_writes_every_series(finished, tmp_path):
    store, summary, _ = finished
    out = tmp_path / "series.csv"
    cli("export", summary["experiment_id"], "--format", "csv", "--out", str(out), store=store, check=True)
    rows = list(csv.DictReader(out.open()))
    series = {r["series"] for r in rows}
    assert series == {"metric", "conflict", "affinity"}
    # no --affinity-every: the affinity series is the linearised one, recorded at every conflict step
    assert {r["name"] for r in rows if r["series"] == "affinity"} == {"linear_affinity"}
    names = {r["name"] for r in rows}
    assert {"loss", "mse", "pearson", "grad_norm", "cos", "magnitude_sim"} <= names
    assert {r["run_kind"] for r in rows} == {"mtl", "stl"}
    out_json = tmp_path / "all.json"
    cli("export", summary["experiment_id"], "--format", "json", "--out", str(out_json), store=store, check=True)
    payload = json.loads(out_json.read_text())
    assert payload["summary"]["experiment_id"] == summary["experiment_id"]
    assert len(payload["metrics"]) == sum(1 for r in rows if r["series"] == "metric")


@pytest.mark.parametrize("args, message", [
    (["--tasks", "no_such_task"], "unknown task 'no_such_task'"),
    (["--tasks", "synth_1,synth_2", "--weights", "synth_1=-1"], "weights: 'synth_1' must be a finite number ≥ 0"),
    (["--tasks", "synth_1,synth_2", "--weights", "synth_1=nan"], "weights: 'synth_1' must be a finite number ≥ 0"),
    (["--tasks", "synth_1,synth_2", "--weights", "synth_9=1"], "weights: 'synth_9' is not one of"),
    (["--tasks", "atis_intent,atis_slots", "--sharing", "hierarchical", "--layers", "atis_slots=5"],
     "layers: 'atis_slots' reads layer 5, but the bilstm encoder has layers 1..2"),
    (["--tasks", "atis_slots", "--encoder", "mlp"], "encoder: 'mlp' reads vectors only"),
    (["--tasks", "synth_1,atis_intent"], "cannot share an encoder with text tasks"),
    (["--tasks", "synth_1", "--synthetic-correlation", "1.5"], "synthetic_correlation"),
    (["--tasks", "synth_1", "--data-seed", "-1"], "data_seed: must be between 0 and"),
    (["--tasks", "synth_1", "--steps", "0"], "steps: must be between 1 and"),
    (["--tasks", "synth_1", "--seeds", "0,0"], "seeds: each seed once"),
    (["--tasks", "synth_1,synth_2", "--layers", "synth_1=1"], "layers: only used with sharing 'hierarchical'"),
    ([], "--tasks: required"),
    (["--tasks", "synth_1", "--sharing", "sideways"], "invalid choice: 'sideways'"),
])
def test_bad_input_gets_one_line_and_exit_code_2(tmp_path, args, message):
    result = cli("run", *args, store=tmp_path / "runs.sqlite")
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_show_of_an_unknown_experiment_is_a_clear_error(tmp_path):
    result = cli("show", "exp-nope", store=tmp_path / "runs.sqlite")
    assert result.returncode == 2 and "no experiment 'exp-nope'" in result.stderr


def test_a_json_spec_file_reproduces_a_setup(tmp_path):
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"tasks": ["synth_1", "synth_2"], "sharing": "soft", "soft_lambda": 0.5,
                                "steps": 10, "baselines": False, "max_train_examples": 100}))
    result = cli("run", "--spec", str(spec), "--json", store=tmp_path / "runs.sqlite", check=True)
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["sharing"] == "soft" and [r["kind"] for r in summary["runs"]] == ["mtl"]
    bad = tmp_path / "bad.json"
    bad.write_text('{"tasks": ["synth_1"], "colour": "red"}')
    result = cli("run", "--spec", str(bad), store=tmp_path / "runs.sqlite")
    assert result.returncode == 2 and "unknown field(s) colour" in result.stderr
