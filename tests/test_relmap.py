"""Relatedness map: which runs it trains, its matrices against the formulas, the CLI contract, the
effect of synthetic relatedness p on the map, and the grouping check's arms."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from mtl_core.analysis.relatedness import linear_cka
from mtl_core.errors import UserError
from mtl_core.jobs import common
from mtl_core.relmap import (
    estimate_map_seconds,
    grouping_check_result,
    map_run_specs,
    proxy_points,
    relatedness_frames,
    relatedness_map,
    submit_grouping_check,
    submit_map,
)
from mtl_core.spec import ExperimentSpec
from mtl_core.analysis.summary import experiment_summary
from mtl_core.store import Store
from tests.test_jobs_local import ROOT, store_path  # noqa: F401 - fixture

TASKS3 = ["synth_1", "synth_2", "synth_3"]
MAP_KEYS = {"tasks", "transfer_gain", "affinity", "mean_cos", "conflict_rate", "cka", "proxy_rank_correlation",
            "groups", "experiment_id"}


class RecordingBackend(common.QueueBackend):
    """Records submissions in the store like the local backend, but starts nothing (no training)."""

    name = "local"

    def ensure_runner(self) -> bool:
        return False


def spec3(**kw) -> ExperimentSpec:
    return ExperimentSpec(tasks=TASKS3, steps=kw.pop("steps", 20), **kw).validated()


def keys(run_specs):
    return [(r.kind, tuple(r.tasks), r.seed) for r in run_specs]


# ---- which runs ---------------------------------------------------------------------------------
def test_map_runs_per_seed_and_their_measurements():
    runs = map_run_specs(spec3(seeds=[0, 1], conflict_every=0))
    assert len(runs) == 2 * (1 + 3 + 3)
    assert keys(runs)[:7] == [("mtl", tuple(TASKS3), 0), ("stl", ("synth_1",), 0), ("stl", ("synth_2",), 0),
                              ("stl", ("synth_3",), 0), ("mtl", ("synth_1", "synth_2"), 0),
                              ("mtl", ("synth_1", "synth_3"), 0), ("mtl", ("synth_2", "synth_3"), 0)]
    shared = runs[0].experiment
    assert all(r.experiment == shared for r in runs)  # one budget, optimiser and probe set for every run
    assert (shared.conflict_every, shared.affinity_every, shared.probe_examples) == (10, 10, 64)
    assert map_run_specs(spec3(conflict_every=4, probe_examples=8))[0].experiment.affinity_every == 4

    assert keys(map_run_specs(spec3(), include_all=False)) == [k for k in keys(map_run_specs(spec3()))
                                                              if len(k[1]) < 3]
    assert keys(map_run_specs(spec3(seeds=[3]), cheap=True)) == [("mtl", tuple(TASKS3), 3)]
    two = map_run_specs(ExperimentSpec(tasks=["synth_1", "synth_2"], steps=5).validated())
    assert keys(two) == [("stl", ("synth_1",), 0), ("stl", ("synth_2",), 0), ("mtl", ("synth_1", "synth_2"), 0)]


def test_map_input_mistakes_name_the_field():
    with pytest.raises(UserError, match="tasks: a relatedness map needs 2 to 8 tasks, got 1"):
        map_run_specs(ExperimentSpec(tasks=["synth_1"], steps=5))
    with pytest.raises(UserError, match="cheap: .*sampling 'all'"):
        map_run_specs(spec3(sampling="proportional"), cheap=True)
    with pytest.raises(UserError, match="max_groups"):
        submit_map(None, spec3(), max_groups=0)


def test_submit_map_stores_kind_and_options(tmp_path):
    store = Store(tmp_path / "runs.sqlite")
    experiment_id, run_ids = submit_map(RecordingBackend(store), spec3(seeds=[0, 1]), cheap=False, max_groups=3)
    assert store.experiment(experiment_id)["kind"] == "map" and len(run_ids) == 14
    assert store.experiment_options(experiment_id) == {"include_all": True, "cheap": False, "max_groups": 3}
    partial = relatedness_map(store, experiment_id)
    assert partial["progress"] == {"completed": 0, "total": 14, "finished": 0, "failed": 0}
    assert partial["transfer_gain"] == [[None] * 3] * 3 and partial["groups"] is None
    assert any("Partial map" in note for note in partial["notes"])


def test_estimate_counts_runs_steps_and_workers():
    spec = spec3(steps=100)
    one_worker = estimate_map_seconds(spec, True, False, workers=1)
    assert one_worker / 2 <= estimate_map_seconds(spec, True, False, workers=2) < one_worker * 0.6  # 7 runs, 2 slots
    assert estimate_map_seconds(spec, True, False, workers=7) < one_worker / 6  # all at once: the longest run
    assert estimate_map_seconds(spec, True, True, workers=1) < one_worker / 3  # one run instead of seven
    assert estimate_map_seconds(spec3(steps=1000), True, False, workers=1) > one_worker
    assert estimate_map_seconds(spec, False, False, workers=1) < one_worker  # no all-task run


# ---- matrices from hand-made results ------------------------------------------------------------
def hand_made_map(tmp_path):
    """A finished 3-task map (seeds 0 and 1) written by hand: known MSEs, cosines, affinities, representations."""
    store = Store(tmp_path / "runs.sqlite")
    spec = spec3(seeds=[0, 1])
    experiment_id, run_ids = submit_map(RecordingBackend(store), spec)
    runs = store.runs(experiment_id)
    stl_mse = {0: {"synth_1": 1.0, "synth_2": 2.0, "synth_3": 4.0}, 1: {"synth_1": 2.0, "synth_2": 2.0, "synth_3": 4.0}}
    # pair (a, b), seed -> (a's mse, b's mse)
    pair_mse = {("synth_1", "synth_2"): {0: (0.9, 1.0), 1: (1.8, 2.2)},
                ("synth_1", "synth_3"): {0: (1.1, 5.0), 1: (2.0, 4.0)},
                ("synth_2", "synth_3"): {0: (2.0, 3.0), 1: (2.0, 3.0)}}
    rng = np.random.default_rng(0)
    probes = {(seed, t): rng.standard_normal((12, 4)) for seed in (0, 1) for t in TASKS3}
    conflict, affinity = [], []
    for run in runs:
        tasks, seed = tuple(run["tasks"]), run["seed"]
        if len(tasks) == 1:
            test = {tasks[0]: {"mse": stl_mse[seed][tasks[0]]}}
            store.save_representation(run["id"], "shared", probes[(seed, tasks[0])])
        elif len(tasks) == 2:
            test = {t: {"mse": v} for t, v in zip(tasks, pair_mse[tasks][seed])}
            cos_values = {("synth_1", "synth_2"): [0.5, 0.1], ("synth_1", "synth_3"): [-0.2, 0.4],
                          ("synth_2", "synth_3"): [-0.1, -0.3]}[tasks]
            conflict += [(run["id"], step, "all", *tasks, c + seed * 0.1, 1.0) for step, c in enumerate(cos_values)]
            conflict.append((run["id"], 0, "all", tasks[0], tasks[0], 0.9, 1.0))  # a noise floor row: not a pair
            conflict.append((run["id"], 0, "encoder.0", *tasks, -1.0, 1.0))  # another layer: not read
            affinity += [(run["id"], 0, tasks[0], tasks[1], 0.5), (run["id"], 0, tasks[1], tasks[0], 0.5)]
        else:
            test = {t: {"mse": 1.0} for t in tasks}
            for step in (0, 10):
                affinity += [(run["id"], step, i, j, 0.01 * (a + 1) + 0.001 * (b + 1) + 0.0001 * step)
                             for a, i in enumerate(TASKS3) for b, j in enumerate(TASKS3) if i != j]
        store.update_run(run["id"], status="completed", result={"best_step": 1, "test": test})
    store.write_rows(conflict=conflict, affinity=affinity)
    return store, experiment_id, stl_mse, pair_mse, probes


def test_matrices_equal_the_formulas(tmp_path):
    store, experiment_id, stl_mse, pair_mse, probes = hand_made_map(tmp_path)
    relmap = relatedness_map(store, experiment_id)
    assert relmap["tasks"] == TASKS3 and relmap["progress"]["completed"] == 14 and not relmap["cheap"]

    # G_{i→j} = -(M_j^{pair(i,j)} − M_j^{STL}) / |M_j^{STL}| × 100 (mse: lower is better), mean over seeds
    def gain(helper, target):
        pair = tuple(sorted((helper, target)))
        per_seed = [-(pair_mse[pair][s][pair.index(target)] - stl_mse[s][target]) / stl_mse[s][target] * 100
                    for s in (0, 1)]
        return np.mean(per_seed), np.std(per_seed, ddof=1)

    for i, helper in enumerate(TASKS3):
        for j, target in enumerate(TASKS3):
            if i == j:
                assert relmap["transfer_gain"][i][j] is None and relmap["cka"][i][j] is None
                continue
            assert relmap["transfer_gain"][i][j] == pytest.approx(gain(helper, target)[0])
            assert relmap["transfer_gain_std"][i][j] == pytest.approx(gain(helper, target)[1])
    assert relmap["transfer_gain"][1][0] == pytest.approx(10.0)  # synth_1 helped by synth_2: 0.9 vs 1, 1.8 vs 2

    # affinity: the all-task run's Z averaged over its steps; the pair runs' 0.5 are not used
    for a in range(3):
        for b in range(3):
            expected = None if a == b else pytest.approx(0.01 * (a + 1) + 0.001 * (b + 1) + 0.0005)
            assert relmap["affinity"][a][b] == expected
    assert relmap["sources"] == {"affinity": "all-task run", "conflict": "pair runs"}

    # mean cos over steps and seeds of layer 'all', conflict rate = share of cos < 0; symmetric
    assert relmap["mean_cos"][0][1] == relmap["mean_cos"][1][0] == pytest.approx(np.mean([0.5, 0.1, 0.6, 0.2]))
    assert relmap["mean_cos"][1][2] == pytest.approx(np.mean([-0.1, -0.3, 0.0, -0.2]))
    assert relmap["conflict_rate"][0][2] == pytest.approx(0.5) and relmap["conflict_rate"][1][2] == pytest.approx(0.75)
    assert relmap["mean_cos"][0][0] is None  # the noise-floor row does not fill the diagonal

    # CKA of the single-task encoders' probe representations, per seed, averaged
    expected = np.mean([linear_cka(probes[(s, "synth_1")], probes[(s, "synth_3")]) for s in (0, 1)])
    assert relmap["cka"][0][2] == relmap["cka"][2][0] == pytest.approx(expected)

    # proxies against the gain: asymmetric affinity pairs entries (i, j); symmetric ones as they are
    from scipy.stats import spearmanr

    off = ~np.eye(3, dtype=bool)
    as_array = {k: np.array(relmap[k], dtype=float) for k in ("transfer_gain", "affinity", "mean_cos")}
    for proxy in ("affinity", "mean_cos"):
        rho = spearmanr(as_array[proxy][off], as_array["transfer_gain"][off]).statistic
        assert relmap["proxy_rank_correlation"][proxy] == pytest.approx(rho)

    assert relmap["groups"] and all(set(g) <= set(TASKS3) for g in relmap["groups"])
    assert sorted(relmap["dendrogram"]["leaves"]) == sorted(TASKS3)
    json.dumps(relmap, allow_nan=False)  # strict JSON: no NaN anywhere

    frames = relatedness_frames(relmap)
    assert frames["transfer_gain"].loc["synth_2", "synth_1"] == pytest.approx(10.0)
    assert frames["cka"].index.name == "source" and list(frames["cka"].columns) == TASKS3


def test_each_proxy_is_scored_per_target_column_by_rho_and_regret(tmp_path):
    store, experiment_id, *_ = hand_made_map(tmp_path)
    relmap = relatedness_map(store, experiment_id)
    assert relmap["regret_ks"] == [1, 3]
    assert set(relmap["proxy_scores"]) == {"affinity", "linear_affinity", "mean_cos", "cka"}
    # this map recorded no linearised affinity: that proxy is scored nowhere, not as zeros
    unmeasured = relmap["proxy_scores"]["linear_affinity"]["overall"]
    assert unmeasured["rho"] is None and unmeasured["regret"]["1"] is None
    gain = np.array(relmap["transfer_gain"], dtype=float)
    for proxy in ("affinity", "mean_cos", "cka"):
        matrix = np.array(relmap[proxy], dtype=float)
        scores = relmap["proxy_scores"][proxy]
        for j, target in enumerate(TASKS3):
            helpers = [i for i in range(3) if i != j]
            picked = max(helpers, key=lambda i: matrix[i, j])  # no ties in this map
            column = scores["per_target"][target]
            # regret@1 = best measured gain − gain of the proxy's first pick; @3 clamps to both helpers: 0
            assert column["regret"]["1"] == pytest.approx(max(gain[i, j] for i in helpers) - gain[picked, j])
            assert column["regret"]["3"] == 0.0 and column["candidates"] == 2
            assert column["rho"] is None and "ρ needs 3" in column["rho_reason"]  # two helpers per target
        assert scores["overall"]["regret"]["1"] == pytest.approx(
            np.mean([scores["per_target"][t]["regret"]["1"] for t in TASKS3]))
        assert scores["overall"]["rho"] == relmap["proxy_rank_correlation"][proxy]
    # affinity ranks synth_3 first for target synth_1 (Z 0.0325 > 0.0225), but synth_2 helped it (+10 %)
    # and synth_3 did not (mse 1.1 vs 1.0, then 2.0 vs 2.0: −5 %): 15 points lost
    assert relmap["proxy_scores"]["affinity"]["per_target"]["synth_1"]["regret"]["1"] == pytest.approx(15.0)
    json.dumps(relmap, allow_nan=False)
    points = proxy_points(relmap, "affinity")  # the scatter: every ordered pair, proxy beside gain
    assert len(points) == 6
    row = points[(points["helper"] == "synth_2") & (points["target"] == "synth_1")].iloc[0]
    assert row["proxy"] == relmap["affinity"][1][0] and row["gain"] == pytest.approx(10.0)


@pytest.mark.parametrize("frozen", [True, False])
def test_a_frozen_encoder_gets_no_cka_but_a_note_saying_why(tmp_path, frozen):
    store = Store(tmp_path / "runs.sqlite")
    spec = ExperimentSpec(tasks=["atis_intent", "atis_slots"], encoder="minilm", freeze_encoder=frozen, steps=5)
    experiment_id, _ = submit_map(RecordingBackend(store), spec)
    features = np.random.default_rng(0).standard_normal((12, 4))  # what a frozen encoder gives every run
    for run in store.runs(experiment_id):
        if len(run["tasks"]) == 1:
            store.save_representation(run["id"], "shared", features)
        store.update_run(run["id"], status="completed", result={"best_step": 1, "test": {
            t: {"accuracy": 0.5, "span_f1": 0.5} for t in run["tasks"]}})
    relmap = relatedness_map(store, experiment_id)
    if frozen:
        assert all(v is None for row in relmap["cka"] for v in row)  # not the trivial 1 of identical encoders
        assert "frozen encoder" in relmap["cka_note"] and any(relmap["cka_note"] in note for note in relmap["notes"])
    else:
        assert relmap["cka"][0][1] == pytest.approx(1.0) and relmap["cka_note"] is None


def test_affinity_from_pair_runs_without_the_all_task_run(tmp_path):
    store = Store(tmp_path / "runs.sqlite")
    experiment_id, _ = submit_map(RecordingBackend(store), spec3(), include_all=False)
    affinity = []
    for run in store.runs(experiment_id):
        store.update_run(run["id"], status="completed",
                         result={"best_step": 1, "test": {t: {"mse": 1.0} for t in run["tasks"]}})
        if len(run["tasks"]) == 2:
            a, b = run["tasks"]
            affinity += [(run["id"], 0, a, b, 0.1), (run["id"], 0, b, a, 0.3)]
    store.write_rows(affinity=affinity)
    relmap = relatedness_map(store, experiment_id, max_groups=1)
    assert relmap["sources"]["affinity"] == "pair runs"
    assert relmap["affinity"][0][1] == pytest.approx(0.1) and relmap["affinity"][1][0] == pytest.approx(0.3)
    assert relmap["groups"] == [TASKS3] and relmap["max_groups"] == 1
    assert relmap["transfer_gain"][0][1] == 0.0 and relmap["cka"][0][1] is None  # no representations stored
    assert any("only i and j in training" in note for note in relmap["notes"])


def test_reading_something_else_is_a_user_error(tmp_path):
    store = Store(tmp_path / "runs.sqlite")
    experiment_id, _ = RecordingBackend(store).submit(spec3())
    with pytest.raises(UserError, match="not a relatedness map"):
        relatedness_map(store, experiment_id)
    with pytest.raises(UserError, match="no experiment 'nope'"):
        relatedness_map(store, "nope")


# ---- grouping check -----------------------------------------------------------------------------
def test_grouping_check_arms_share_seeds_and_budget(tmp_path):
    store = Store(tmp_path / "runs.sqlite")
    spec = spec3(seeds=[0, 1], steps=30)
    check_id = submit_grouping_check(RecordingBackend(store), spec, [["synth_2", "synth_1"], ["synth_3"]])
    assert store.experiment(check_id)["kind"] == "grouping"
    runs = store.runs(check_id)
    # per seed: the group (1, 2), all together, and the three single-task runs (synth_3's serves two arms)
    assert sorted((tuple(r["tasks"]), r["seed"]) for r in runs) == sorted(
        (tasks, seed) for seed in (0, 1) for tasks in
        [("synth_1", "synth_2"), tuple(TASKS3), ("synth_1",), ("synth_2",), ("synth_3",)])
    specs = [json.loads(r["spec_json"])["experiment"] for r in runs]
    assert all(s["steps"] == 30 and s["seeds"] == [0, 1] and s == specs[0] for s in specs)
    assert store.experiment_options(check_id)["arms"] == {
        "suggested": [["synth_1", "synth_2"], ["synth_3"]], "together": [TASKS3],
        "separate": [["synth_1"], ["synth_2"], ["synth_3"]]}

    mse = {("synth_1", "synth_2"): {"synth_1": 0.8, "synth_2": 1.5}, tuple(TASKS3): {t: 1.2 for t in TASKS3},
           ("synth_1",): {"synth_1": 1.0}, ("synth_2",): {"synth_2": 2.0}, ("synth_3",): {"synth_3": 1.0}}
    for r in runs:
        store.update_run(r["id"], status="completed", result={"best_step": 1, "test": {
            t: {"mse": v} for t, v in mse[tuple(r["tasks"])].items()}})
    result = grouping_check_result(store, check_id)
    suggested = result["arms"]["suggested"]
    assert suggested["per_task"]["synth_1"]["delta_pct"] == pytest.approx(20.0)  # mse 0.8 vs 1.0
    assert suggested["per_task"]["synth_3"]["delta_pct"] == pytest.approx(0.0)
    assert suggested["mean_delta_pct"] == pytest.approx((20 + 25 + 0) / 3)
    assert result["arms"]["together"]["mean_delta_pct"] == pytest.approx((-20 + 40 - 20) / 3)
    assert result["arms"]["separate"]["mean_delta_pct"] == 0.0
    assert result["best_arm"] == "suggested" and result["progress"]["completed"] == len(runs)

    with pytest.raises(UserError, match="synth_3 in no group"):
        submit_grouping_check(RecordingBackend(store), spec, [["synth_1", "synth_2"]])
    with pytest.raises(UserError, match="not among the tasks"):
        submit_grouping_check(RecordingBackend(store), spec, [["synth_1", "atis_intent"], ["synth_3"]])


# ---- the CLI ------------------------------------------------------------------------------------
def cli(*args, env_store, timeout=240):
    return subprocess.run([sys.executable, "-m", "mtl_core", "map", *args, "--store", str(env_store)],
                          cwd=ROOT, capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("tasks, message", [
    ("synth_1", "tasks: a relatedness map needs 2 to 8 tasks, got 1"),
    ("synth_1,no_such_task", "no_such_task"),
    (",".join(["atis_intent", "atis_slots", "bbc_topic", "wnut_ner", "tweet_sentiment", "cmu_syllables", "cmu_stress",
               "sentiment_intensity", "chatterbot_reply"]), "tasks: a relatedness map needs 2 to 8 tasks, got 9"),
])
def test_cli_bad_tasks_one_line_exit_2(store_path, tasks, message):
    out = cli("--tasks", tasks, "--steps", "5", env_store=store_path)
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and message in out.stderr, out.stderr
    assert not store_path.exists() or not Store(store_path).runs()


def test_cli_stored_map_mistakes(store_path):
    for args, message in [(["show"], "exactly one experiment id"), (["show", "exp-nope"], "no experiment 'exp-nope'"),
                          (["frobnicate", "x"], "not one of show, export"),
                          (["export", "exp-nope"], "--out DIR is required")]:
        out = cli(*args, env_store=store_path)
        assert out.returncode == 2 and out.stderr.count("\n") == 1 and message in out.stderr, (args, out.stderr)


def start_map(store_path, p: float) -> subprocess.Popen:
    """A 2-task map at synthetic correlation p through the CLI (it waits for its runs, then prints --json)."""
    return subprocess.Popen(
        [sys.executable, "-m", "mtl_core", "map", "--tasks", "synth_1,synth_2", "--steps", "200",
         "--max-train-examples", "1000", "--lr", "0.01", "--hidden-size", "16", "--conflict-every", "2", "--seeds", "1",
         "--synthetic-correlation", str(p), "--json", "--store", str(store_path)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def map_json(process: subprocess.Popen) -> dict:
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr[-2000:]
    assert "runs finished" in stderr  # progress goes to stderr, the JSON object is the last stdout line
    return json.loads(stdout.strip().splitlines()[-1])


def off_diagonal_mean(matrix) -> float:
    return float(np.mean([v for i, row in enumerate(matrix) for j, v in enumerate(row) if i != j]))


def test_cli_map_related_tasks_pull_together(store_path, tmp_path):
    """p = 0.9 gives a positive gradient cosine and p = 0 a negative one (same seed, data size, budget;
    measured at seeds 1 and 2: +.12 / +.16 against −.02 / +.01).

    The transfer gain of one seed at this budget is inside the seed-to-seed noise (about ±10 % here), so
    its order between p = 0.9 and p = 0 is not a property to test; its value must be the comparison
    `show` makes of the same pair runs.
    """
    both = [start_map(store_path, 0.9), start_map(store_path, 0.0)]  # one queue: the two maps share the workers
    related, unrelated = [map_json(process) for process in both]
    for relmap in (related, unrelated):
        assert MAP_KEYS <= set(relmap) and relmap["tasks"] == ["synth_1", "synth_2"]
        for name in ("transfer_gain", "affinity", "linear_affinity", "mean_cos", "conflict_rate", "cka"):
            matrix = relmap[name]
            assert len(matrix) == 2 and matrix[0][0] is None and matrix[1][1] is None
            assert matrix[0][1] is not None, name
        proxies = {"affinity", "linear_affinity", "mean_cos", "cka"}
        assert set(relmap["proxy_rank_correlation"]) == proxies
        assert set(relmap["proxy_scores"]) == proxies  # ρ and regret@k per proxy
        assert relmap["groups"] and relmap["sources"]["affinity"] == "pair runs"
    assert off_diagonal_mean(related["mean_cos"]) > 0 > off_diagonal_mean(unrelated["mean_cos"])
    (pair,) = experiment_summary(Store(store_path), related["experiment_id"])["configurations"]
    assert related["transfer_gain"][0][1] == pytest.approx(pair["tasks"]["synth_2"]["delta_pct"])
    assert related["transfer_gain"][1][0] == pytest.approx(pair["tasks"]["synth_1"]["delta_pct"])

    out = subprocess.run([sys.executable, "-m", "mtl_core", "map", "export", related["experiment_id"], "--out",
                          str(tmp_path / "csv"), "--store", str(store_path)], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert {p.name for p in (tmp_path / "csv").iterdir()} >= {"transfer_gain.csv", "affinity.csv", "mean_cos.csv",
                                                             "linear_affinity.csv", "conflict_rate.csv", "cka.csv",
                                                             "map.json"}
    shown = cli("show", related["experiment_id"], env_store=store_path)
    assert shown.returncode == 0 and "transfer gain" in shown.stdout and "synth_2" in shown.stdout
    assert "regret@1" in shown.stdout
