"""The target-centred recommender: which runs each stage trains, the proxies and measured gains read back
against hand computations, the recommendation's evidence, the CLI contract, and both stages trained on
tasks whose relatedness to the target is known (the same labelling rule, p = 1, or an independent one, p = 0)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mtl_core import recommend
from mtl_core.analysis.relatedness import linear_cka
from mtl_core.errors import UserError
from mtl_core.spec import ExperimentSpec
from mtl_core.store import Store
from tests.dashboard_helpers import ROOT, dashboard_env, stop_background
from tests.test_relmap import RecordingBackend, hand_made_map

TARGET, CANDIDATES = "synth_1", ["synth_2", "synth_3", "synth_4"]
VOCAB = [f"w{i}" for i in range(20)]
RULE_WORDS = (VOCAB[0:5], VOCAB[5:10])  # the target's rule: more of the first five words than of the next five
OTHER_WORDS = (VOCAB[10:15], VOCAB[15:20])  # an independent rule on the other ten words
RULE_TASKS = {"target_rule": (RULE_WORDS, 1), "same_rule_a": (RULE_WORDS, 2), "same_rule_b": (RULE_WORDS, 3),
              "other_rule_a": (OTHER_WORDS, 4), "other_rule_b": (OTHER_WORDS[::-1], 5)}
RELATED, UNRELATED = ["same_rule_a", "same_rule_b"], ["other_rule_a", "other_rule_b"]


def rule_csv(words, seed: int, rows: int = 1000, length: int = 8) -> bytes:
    """A sentence-classification CSV: random 8-word sentences, label 'yes' when more words come from words[0]
    than from words[1], 'no' when fewer (ties are drawn again, so the classes are balanced)."""
    rng = np.random.default_rng(seed)
    lines = ["text,label"]
    while len(lines) <= rows:
        sentence = rng.choice(VOCAB, size=length)
        score = sum(w in words[0] for w in sentence) - sum(w in words[1] for w in sentence)
        if score:
            lines.append(f"{' '.join(sentence)},{'yes' if score > 0 else 'no'}")
    return ("\n".join(lines) + "\n").encode()


def add_rule_tasks() -> None:
    """Five user tasks in the current data home: a target, two with its rule (p = 1), two with another (p = 0)."""
    from mtl_core.tasks.user import add_user_task_from_bytes

    for name, (words, seed) in RULE_TASKS.items():
        add_user_task_from_bytes(rule_csv(words, seed), f"{name}.csv", name, "sentence_classification")


def spec(**kw) -> ExperimentSpec:
    return ExperimentSpec(tasks=[TARGET], steps=kw.pop("steps", 20), **kw)


# ---- which runs ---------------------------------------------------------------------------------
def test_stage1_is_one_run_of_the_target_with_every_candidate():
    runs = recommend.stage1_run_specs(spec(seeds=[4, 5]), TARGET, CANDIDATES)
    assert [(r.kind, r.tasks, r.seed) for r in runs] == [("mtl", [TARGET, *CANDIDATES], 4)]
    shared = runs[0].experiment
    assert (shared.conflict_every, shared.affinity_every) == (10, 10)  # measured as a map measures them
    with_cka = recommend.stage1_run_specs(spec(), TARGET, CANDIDATES, cka=True)
    assert [(r.kind, r.tasks) for r in with_cka[1:]] == [("stl", [t]) for t in [TARGET, *CANDIDATES]]
    assert with_cka[0].experiment.probe_examples == 64


@pytest.mark.parametrize("target, candidates, message", [
    (TARGET, ["synth_2"], "candidates: 2 to 12 candidates"),
    (TARGET, [f"synth_{i}" for i in range(2, 15)], "candidates: 2 to 12 candidates .* at most 13 tasks.*got 13"),
    (TARGET, [TARGET, "synth_2"], "candidates: 'synth_1' is the target"),
    (TARGET, ["synth_2", "synth_2"], "candidates: synth_2 given twice"),
    (TARGET, ["synth_2", "nope"], "candidates: unknown task 'nope'"),
    ("nope", ["synth_2", "synth_3"], "target: unknown task 'nope'"),
    ("", ["synth_2", "synth_3"], "target: give one task id"),
])
def test_bad_selections_name_the_field(target, candidates, message):
    with pytest.raises(UserError, match=message):
        recommend.check_selection(target, candidates)


def test_stage1_needs_a_shared_trunk_for_affinity():
    with pytest.raises(UserError, match="sharing: stage 1 measures lookahead affinity"):
        recommend.stage1_run_specs(spec(sharing="soft"), TARGET, CANDIDATES)


def test_stage2_trains_the_top_k_of_the_chosen_ranking_against_the_target_alone(tmp_path):
    store = Store(tmp_path / "runs.sqlite")
    backend = RecordingBackend(store)
    rec_id = recommend.submit_stage1(backend, spec(), TARGET, CANDIDATES)
    with pytest.raises(UserError, match="top_k: stage 1 has no affinity yet"):
        recommend.submit_stage2(backend, rec_id, top_k=2)
    (run,) = store.runs(rec_id)
    store.update_run(run["id"], status="completed", result={"best_step": 1, "test": {}})
    store.write_rows(affinity=[(run["id"], 0, c, TARGET, z) for c, z in zip(CANDIDATES, [0.1, 0.3, 0.2])])
    for bad, message in [(0, "top_k: a whole number from 1 to 3"), (4, "top_k"), (True, "top_k")]:
        with pytest.raises(UserError, match=message):
            recommend.submit_stage2(backend, rec_id, top_k=bad)
    with pytest.raises(UserError, match="rank_by: 'gain' is not a proxy"):
        recommend.submit_stage2(backend, rec_id, rank_by="gain")
    with pytest.raises(UserError, match="seeds: each seed once"):
        recommend.submit_stage2(backend, rec_id, seeds=[1, 1])
    truth_id = recommend.submit_stage2(backend, rec_id, top_k=2, seeds=[0, 1])
    assert store.experiment(truth_id)["kind"] == "recommend-truth"
    assert [(r["kind"], r["tasks"], r["seed"]) for r in store.runs(truth_id)] == [
        (kind, tasks, seed) for seed in (0, 1)
        for kind, tasks in [("stl", [TARGET]), ("mtl", [TARGET, "synth_3"]), ("mtl", [TARGET, "synth_4"])]]
    assert store.experiment_options(rec_id)["truth"] == truth_id


# ---- reading back: proxies, gains, scores, text -------------------------------------------------
def finished_recommendation(tmp_path, with_map: bool = False):
    """Stage 1 and stage 2 (all candidates, seeds 0-2) of synth_1 written by hand: affinities, cosines, test MSEs."""
    if with_map:
        store, map_id, *_ = hand_made_map(tmp_path)
    else:
        store, map_id = Store(tmp_path / "runs.sqlite"), None
    backend = RecordingBackend(store)
    rec_id = recommend.submit_stage1(backend, spec(), TARGET, CANDIDATES)
    (run,) = store.runs(rec_id)
    store.update_run(run["id"], status="completed", result={"best_step": 1, "test": {}})
    affinity = {"synth_2": [0.02, 0.04], "synth_3": [0.05, 0.05], "synth_4": [-0.01, 0.01]}
    cosines = {"synth_2": [0.3, 0.1], "synth_3": [-0.2, 0.0], "synth_4": [0.5, 0.3]}
    store.write_rows(
        affinity=[(run["id"], step, c, TARGET, z) for c, zs in affinity.items() for step, z in zip((0, 10), zs)]
        + [(run["id"], 0, TARGET, "synth_2", 0.9)],  # the other direction: not a proxy toward the target
        conflict=[(run["id"], step, "all", TARGET, c, cos, 1.0) for c, values in cosines.items()
                  for step, cos in zip((0, 10), values)])
    truth_id = recommend.submit_stage2(backend, rec_id, seeds=[0, 1, 2])
    alone = {0: 2.0, 1: 2.0, 2: 4.0}  # the target's test MSE alone, per seed
    paired = {"synth_2": {0: 1.8, 1: 1.6, 2: 4.0}, "synth_3": {0: 2.2, 1: 2.0, 2: 4.4}, "synth_4": {0: 1.0, 1: 2.0, 2: 3.0}}
    for r in store.runs(truth_id):
        mse = alone[r["seed"]] if r["kind"] == "stl" else paired[r["tasks"][1]][r["seed"]]
        test = {TARGET: {"mse": mse}, **({r["tasks"][1]: {"mse": 1.0}} if r["kind"] == "mtl" else {})}
        store.update_run(r["id"], status="completed", result={"best_step": 1, "test": test})
    return store, rec_id, truth_id, map_id, alone, paired


def test_proxies_gains_scores_and_text_equal_the_hand_computation(tmp_path):
    store, rec_id, truth_id, _, alone, paired = finished_recommendation(tmp_path)
    result = recommend.recommendation(store, rec_id)
    proxies = result["stage1"]["proxies"]
    assert proxies["affinity"] == {"synth_2": pytest.approx(0.03), "synth_3": pytest.approx(0.05),
                                   "synth_4": pytest.approx(0.0)}
    assert proxies["mean_cos"] == {"synth_2": pytest.approx(0.2), "synth_3": pytest.approx(-0.1),
                                   "synth_4": pytest.approx(0.4)}
    assert proxies["cka"] == {c: None for c in CANDIDATES}  # no single-task encoders in stage 1 without --cka
    assert result["stage1"]["rankings"] == {"affinity": ["synth_3", "synth_2", "synth_4"],
                                            "mean_cos": ["synth_4", "synth_2", "synth_3"]}
    # gain = −(MSE paired − MSE alone) / MSE alone × 100, mean over paired seeds
    gains = {c: np.mean([-(paired[c][s] - alone[s]) / alone[s] * 100 for s in (0, 1, 2)]) for c in CANDIDATES}
    assert gains == pytest.approx({"synth_2": 10.0, "synth_3": -10 / 3 - 10 / 3, "synth_4": 50 / 3 + 25 / 3})
    measured = result["stage2"]["gains"]
    for c in CANDIDATES:
        assert measured[c]["gain"] == pytest.approx(gains[c]) and measured[c]["seeds"] == 3
    assert result["stage2"]["ranking"] == ["synth_4", "synth_2", "synth_3"]
    # affinity ranks the worst candidate first. Affinity 0.03, 0.05, 0.0 -> ranks 2, 3, 1; gains 10, −6.7, 25 ->
    # ranks 2, 1, 3: ρ = 1 − 6 Σd² / (n(n² − 1)) = 1 − 6 (0 + 4 + 4) / 24 = −1
    assert result["scores"]["affinity"]["rho"] == pytest.approx(-1.0)
    assert result["scores"]["affinity"]["regret"] == {"1": pytest.approx(gains["synth_4"] - gains["synth_3"]),
                                                      "3": 0.0}
    # mean cosine orders them as the gains do: ρ = 1 and its first pick is the best, so regret@1 = 0
    assert result["scores"]["mean_cos"]["rho"] == pytest.approx(1.0)
    assert result["scores"]["mean_cos"]["regret"]["1"] == 0.0
    assert result["scores"]["cka"]["rho"] is None and result["scores"]["cka"]["regret"]["1"] is None
    assert result["evidence"] == "measured"
    assert result["text"] == ("Train synth_1 with synth_4. Candidates that improved synth_1: synth_4 (+25.0 %), "
                              "synth_2 (+10.0 %) (measured on 3 seeds).")
    json.dumps(result, allow_nan=False)


def test_without_stage_2_the_text_says_proxy_only_with_the_rho_of_the_last_map(tmp_path):
    store, map_id, *_ = hand_made_map(tmp_path)
    rec_id = recommend.submit_stage1(RecordingBackend(store), spec(), TARGET, CANDIDATES)
    (run,) = store.runs(rec_id)
    store.update_run(run["id"], status="completed", result={"best_step": 1, "test": {}})
    store.write_rows(affinity=[(run["id"], 0, c, TARGET, z) for c, z in zip(CANDIDATES, [0.1, 0.3, 0.2])])
    from mtl_core.relmap import relatedness_map

    rho = relatedness_map(store, map_id)["proxy_scores"]["affinity"]["overall"]["rho"]
    result = recommend.recommendation(store, rec_id)
    assert result["evidence"] == "proxy" and result["stage2"] is None and result["scores"] is None
    assert result["evidence_detail"]["map"] == {"rho": pytest.approx(rho), "map_id": map_id, "scope": "map"}
    assert result["text"] == (f"synth_3 ranks first by affinity toward synth_1, then synth_4, synth_2: proxy only "
                              f"(ρ on your last map: {rho:.2f}, over the whole map).")
    other = recommend.recommendation(Store(tmp_path / "empty.sqlite"), recommend.submit_stage1(
        RecordingBackend(Store(tmp_path / "empty.sqlite")), spec(), TARGET, CANDIDATES))
    assert other["text"] == "Waiting for stage 1: no affinity toward synth_1 measured yet."


def test_a_stage_2_still_training_leaves_the_text_on_the_proxy(tmp_path):
    store, rec_id, truth_id, *_ = finished_recommendation(tmp_path)
    first = store.runs(truth_id)[0]
    store.update_run(first["id"], status="running")
    result = recommend.recommendation(store, rec_id)
    assert result["evidence"] == "proxy"
    assert result["text"].endswith("Stage 2 is training: 11/12 runs finished.")
    assert "no relatedness map in this store" in result["text"]


def test_cka_between_single_task_encoders_when_stage_1_trains_them(tmp_path):
    store = Store(tmp_path / "runs.sqlite")
    rec_id = recommend.submit_stage1(RecordingBackend(store), spec(), TARGET, CANDIDATES, cka=True)
    rng = np.random.default_rng(3)
    reps = {t: rng.standard_normal((10, 4)) for t in [TARGET, *CANDIDATES]}
    for r in store.runs(rec_id):
        if r["kind"] == "stl":
            store.save_representation(r["id"], "shared", reps[r["tasks"][0]])
        store.update_run(r["id"], status="completed", result={"best_step": 1, "test": {}})
    cka = recommend.recommendation(store, rec_id)["stage1"]["proxies"]["cka"]
    assert cka == {c: pytest.approx(linear_cka(reps[TARGET], reps[c])) for c in CANDIDATES}


def test_reading_something_else_is_a_user_error(tmp_path):
    store = Store(tmp_path / "runs.sqlite")
    experiment_id, _ = RecordingBackend(store).submit(ExperimentSpec(tasks=[TARGET, "synth_2"], steps=5))
    with pytest.raises(UserError, match="is not a recommendation"):
        recommend.recommendation(store, experiment_id)
    with pytest.raises(UserError, match="no recommendation 'nope'"):
        recommend.recommendation(store, "nope")


# ---- the CLI ------------------------------------------------------------------------------------
def cli(*args, store: Path, env=None, timeout=60):
    return subprocess.run([sys.executable, "-m", "mtl_core", "recommend", *args, "--store", str(store)], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout, env=env)


@pytest.mark.parametrize("args, message", [
    (["--target", TARGET, "--candidates", "synth_2"], "candidates: 2 to 12 candidates"),
    (["--target", TARGET, "--candidates", "synth_2,nope"], "candidates: unknown task 'nope'"),
    (["--candidates", "synth_2,synth_3"], "--target: required"),
    (["--target", TARGET], "--candidates: required"),
    (["--target", TARGET, "--candidates", "synth_2,synth_3", "--top-k", "many"], "--top-k: a whole number or 'all'"),
    (["--target", TARGET, "--candidates", "synth_2,synth_3", "--top-k", "3"], "top_k: a whole number from 1 to 2"),
    (["--target", TARGET, "--candidates", "synth_2,synth_3", "--rank-by", "gain"], "rank_by: 'gain' is not a proxy"),
    (["--target", TARGET, "--candidates", "synth_2,synth_3", "--steps", "-1"], "steps"),
    (["--tasks", "synth_1,synth_2"], "give --target and --candidates instead of --tasks"),
    (["show"], "exactly one recommendation id"),
    (["show", "exp-nope"], "no recommendation 'exp-nope'"),
    (["frobnicate", "x"], "not one of show, truth"),
])
def test_cli_mistakes_are_one_line_and_exit_2_with_nothing_trained(tmp_path, args, message):
    store = tmp_path / "runs.sqlite"
    out = cli(*args, store=store)
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and message in out.stderr, out.stderr
    assert not store.exists() or not Store(store).runs()


def test_cli_show_prints_the_scores_and_the_evidence(tmp_path):
    store, rec_id, *_ = finished_recommendation(tmp_path)
    out = cli("show", rec_id, store=tmp_path / "runs.sqlite")
    assert out.returncode == 0, out.stderr
    assert "mean_cos: ρ +1.00, regret@1 0.00, regret@3 0.00 over 3 measured candidate(s)" in out.stdout
    assert "synth_4: +25.0 ± " in out.stdout and "(measured on 3 seeds)." in out.stdout
    as_json = json.loads(cli("show", rec_id, "--json", store=tmp_path / "runs.sqlite").stdout.strip().splitlines()[-1])
    assert as_json["recommendation_id"] == rec_id and as_json["evidence"] == "measured"


# ---- both stages, trained, where the truth is known ---------------------------------------------
@pytest.fixture
def rule_home(tmp_path, monkeypatch):
    store = tmp_path / "runs.sqlite"
    env = dashboard_env(tmp_path / "home", store)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    add_rule_tasks()
    yield store, env
    stop_background(store)


def test_both_stages_rank_the_same_rule_helpers_above_the_independent_ones(rule_home):
    """Two candidates label sentences by the target's rule (p = 1), two by an independent rule (p = 0).

    Stage 1's affinity and gradient cosine, and stage 2's measured gains on 2 seeds, must put both p = 1
    helpers above both p = 0 ones; the recommendation names a p = 1 helper and says it was measured.
    With 60 training sentences per task the target alone is short of data, so a helper with its rule
    adds examples (measured: +2.8 % and +4.4 % accuracy) and one with another rule takes capacity
    (−4.3 % and −2.2 %); stage 1's cosines were +0.11, +0.12 against +0.01, −0.00.
    """
    import os

    store, env = rule_home
    out = cli("--target", "target_rule", "--candidates", ",".join(RELATED + UNRELATED), "--steps", "150",
              "--max-train-examples", "60", "--hidden-size", "16", "--conflict-every", "2", "--seeds", "0,1", "--json",
              store=store,
              env={**os.environ, **env}, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    for proxy in ("affinity", "mean_cos"):
        assert set(result["stage1"]["rankings"][proxy][:2]) == set(RELATED), (proxy, result["stage1"]["proxies"])
    assert set(result["stage2"]["ranking"][:2]) == set(RELATED), result["stage2"]["gains"]
    for proxy in ("affinity", "mean_cos"):
        assert result["scores"][proxy]["candidates"] == 4 and result["scores"][proxy]["rho"] is not None
    assert result["evidence"] == "measured" and "(measured on 2 seeds)" in result["text"]
    assert result["text"].startswith(f"Train target_rule with {result['stage2']['ranking'][0]}")
    assert result["stage2"]["ranking"][0] in RELATED


# ---- the atlas ----------------------------------------------------------------------------------
def test_atlas_bad_input_is_one_line(tmp_path):
    for args, message in [(["--budget", "huge"], "budget: 'huge' is not one of tiny, small, medium"),
                          ([], "--budget: required"),
                          (["--budget", "tiny", "--tasks", "synth_1"], "a relatedness map needs 2 to 8 tasks"),
                          (["--budget", "tiny", "--tasks", "synth_1,synth_2", "--out", str(tmp_path)], "is a folder"),
                          (["show"], "atlas show MAP_ID")]:
        out = subprocess.run([sys.executable, "-m", "mtl_core", "atlas", *args, "--store", str(tmp_path / "s.sqlite")],
                             cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert out.returncode == 2 and out.stderr.count("\n") == 1 and message in out.stderr, (args, out.stderr)


def test_atlas_on_two_tasks_reports_the_gain_matrix_proxy_scores_and_wall_time(tmp_path):
    from mtl_core.commands.atlas import BUDGETS, SEEDS
    from mtl_core.relmap import relatedness_map

    store, report_path = tmp_path / "runs.sqlite", tmp_path / "atlas.json"
    out = subprocess.run([sys.executable, "-m", "mtl_core", "atlas", "--budget", "tiny", "--tasks", "synth_1,synth_2",
                          "--out", str(report_path), "--json", "--store", str(store)],
                         cwd=ROOT, capture_output=True, text=True, timeout=900)
    try:
        assert out.returncode == 0, out.stderr[-3000:]
        report = json.loads(out.stdout.strip().splitlines()[-1])
        assert json.loads(report_path.read_text()) == report
        handle = Store(store)
        relmap = relatedness_map(handle, report["map_id"])
        assert report["tasks"] == ["synth_1", "synth_2"] and report["transfer_gain"] == relmap["transfer_gain"]
        assert report["runs"] == {"completed": 9, "total": 9}  # 3 seeds × (2 single-task runs + 1 pair)
        assert report["settings"] == {**{k: v for k, v in BUDGETS["tiny"].items()}, "seeds": list(SEEDS),
                                      "encoder": "mlp"}  # the encoder synthetic tasks get
        runs = handle.runs(report["map_id"])
        assert report["wall_seconds"] == pytest.approx(max(r["finished_at"] for r in runs)
                                                       - min(r["started_at"] for r in runs))
        for name in ("affinity", "mean_cos", "cka"):
            entry = report["proxies"][name]
            # one helper per target: the proxy's pick is the only pick (regret 0); ρ needs 3 pairs, a map of 2 has 2
            assert entry["regret@1"] == 0.0 and entry["regret@3"] == 0.0 and entry["targets"] == 2
            assert entry["rho"] is None and "ρ needs 3" in entry["rho_reason"]
        assert "| affinity | — | 0.00 | 0.00 | 2 |" in out.stdout and "| synth_1 | — |" in out.stdout
        shown = subprocess.run([sys.executable, "-m", "mtl_core", "atlas", "show", report["map_id"], "--json",
                                "--store", str(store)], cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert json.loads(shown.stdout.strip().splitlines()[-1]) == report  # read back from the store alone
    finally:
        stop_background(store)


# ---- the map page: proxy scores, and the recommend mode (AppTest) -------------------------------
MAP_PAGE = str(ROOT / "dashboard" / "views" / "relatedness_map.py")


def map_page(store: Path, monkeypatch, **query):
    from streamlit.testing.v1 import AppTest

    for name, value in dashboard_env(store.parent / "home", store).items():
        monkeypatch.setenv(name, value)
    at = AppTest.from_file(MAP_PAGE, default_timeout=90)
    for name, value in query.items():
        at.query_params[name] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def figures(at) -> dict[str, dict]:
    specs = [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]
    return {(f.get("layout", {}).get("title") or {}).get("text", ""): f for f in specs}


def test_the_map_page_scores_each_proxy_and_plots_it_against_the_gain(tmp_path, monkeypatch):
    from mtl_core.relmap import proxy_points, relatedness_map

    store, map_id, *_ = hand_made_map(tmp_path)
    relmap = relatedness_map(store, map_id)
    at = map_page(tmp_path / "runs.sqlite", monkeypatch, exp=map_id)
    markdown = "\n".join(m.value for m in at.markdown)
    regret = relmap["proxy_scores"]["affinity"]["overall"]["regret"]
    assert f"regret@1 {regret['1']:.2f}, regret@3 {regret['3']:.2f} (mean over 3 target columns)" in markdown
    (table,) = [tbl.value for tbl in at.table]
    column = relmap["proxy_scores"]["affinity"]["per_target"]["synth_1"]
    assert table.loc["synth_1", "lookahead affinity: regret@1"] == f"{column['regret']['1']:.2f}"
    assert table.loc["synth_1", "lookahead affinity: ρ"] == "—"  # two helpers per target: no ρ
    scatter = figures(at)["lookahead affinity against the measured transfer gain"]
    drawn = sorted((trace["name"], helper, round(x, 9), round(y, 9)) for trace in scatter["data"] if "text" in trace
                   for helper, x, y in zip(trace["text"], trace["x"], trace["y"]))
    assert drawn == sorted((r.target, r.helper, round(r.proxy * 100, 9), round(r.gain, 9))
                           for r in proxy_points(relmap, "affinity").itertuples())  # one point per pair, in %
    assert len(drawn) == 6


def test_the_recommend_mode_shows_rankings_measured_gains_scores_and_the_evidence(tmp_path, monkeypatch):
    store, rec_id, truth_id, *_ = finished_recommendation(tmp_path)
    result = recommend.recommendation(store, rec_id)
    at = map_page(tmp_path / "runs.sqlite", monkeypatch, mode="recommend", rec=rec_id)
    assert at.radio(key="map_mode").value == "recommend" and at.query_params["rec"] == rec_id
    rankings, gains, scores = [tbl.value for tbl in at.table]
    assert list(rankings["lookahead affinity (%)"]) == ["synth_3 (+5)", "synth_2 (+3)", "synth_4 (+0)"]
    assert list(gains.index) == ["synth_4", "synth_2", "synth_3"] and list(gains["gain, %"]) == ["+25.00", "+10.00",
                                                                                                "-6.67"]
    assert scores.loc["mean gradient cosine", "ρ"] == "+1.00" and scores.loc["lookahead affinity", "regret@1"] == \
        f"{result['scores']['affinity']['regret']['1']:.2f}"
    assert at.success[0].value == f"Recommendation: {result['text']}" and "measured on 3 seeds" in at.success[0].value
    scatter = figures(at)["lookahead affinity against the measured transfer gain"]
    assert sorted(zip(scatter["data"][0]["text"], scatter["data"][0]["y"])) == sorted(
        (c, pytest.approx(g["gain"])) for c, g in result["stage2"]["gains"].items())
    assert at.code[0].value.startswith("python -m mtl_core recommend --target synth_1 --candidates "
                                       "synth_2,synth_3,synth_4 --steps 20")
    assert at.code[0].value.endswith("--seeds 0,1,2 --json") and "--name" not in at.code[0].value
    assert at.button(key="rec_stage2").disabled is False and at.button(key="rec_stage1").disabled is True


def test_the_recommendation_reads_in_chinese_with_the_same_evidence(tmp_path, monkeypatch):
    """Measured: the sentence names the best helper and the seeds; proxy only: the proxy and ρ of the last map."""
    store, rec_id, *_ = finished_recommendation(tmp_path)
    at = map_page(tmp_path / "runs.sqlite", monkeypatch, mode="recommend", rec=rec_id, lang="zh")
    assert at.success[0].value == ("推荐：将 synth_1 与 synth_4 一起训练。提升了 synth_1 的候选任务："
                                   "synth_4 (+25.0 %)、synth_2 (+10.0 %)（在 3 个种子上实测）。")

    other = tmp_path / "proxy"
    other.mkdir()
    store, map_id, *_ = hand_made_map(other)
    rec_id = recommend.submit_stage1(RecordingBackend(store), spec(), TARGET, CANDIDATES)
    (run,) = store.runs(rec_id)
    store.update_run(run["id"], status="completed", result={"best_step": 1, "test": {}})
    store.write_rows(affinity=[(run["id"], 0, c, TARGET, z) for c, z in zip(CANDIDATES, [0.1, 0.3, 0.2])])
    result = recommend.recommendation(store, rec_id)
    rho = result["evidence_detail"]["map"]["rho"]
    at = map_page(other / "runs.sqlite", monkeypatch, mode="recommend", rec=rec_id, lang="zh")
    assert at.info[-1].value == (f"推荐：按对 synth_1 的前瞻亲和度，synth_3 排第一，其后是 synth_4、synth_2："
                                 f"仅代理指标（在你最近的相关性图上 ρ = {rho:.2f}，按整张图计算）。")
    from mtl_core.recommend_text import render_message

    assert render_message(result["message"]) == result["text"]  # the CLI's English from the same message


def test_the_recommend_selection_is_read_from_the_link_and_in_chinese(tmp_path, monkeypatch):
    at = map_page(tmp_path / "runs.sqlite", monkeypatch, mode="recommend", target="synth_1",
                  candidates="synth_2,synth_3,nope", rec_steps="40", rec_cka="1")
    assert at.toggle(key="rec_cka").value is True
    assert any(c.value.startswith("Stage 1: 4 run(s)") for c in at.caption)  # 1 together + 3 alone for CKA
    at.sidebar.selectbox(key="i18n_language").set_value("zh").run()
    assert at.selectbox(key="rec_target").value == "synth_1"
    assert at.multiselect(key="rec_candidates").value == ["synth_2", "synth_3"]  # an unknown id is dropped
    assert at.number_input(key="rec_steps").value == 40
    assert at.button(key="rec_stage1").disabled is False
    assert "第 1 阶段" in at.button(key="rec_stage1").label
    assert at.query_params["candidates"] == "synth_2,synth_3"


def test_stage1_ranks_twelve_candidates_in_one_run_with_the_rule_helpers_first(tmp_path, monkeypatch):
    """The most a stage 1 takes: a target and 12 candidates (13 tasks) trained together in one run.

    Six candidates label by the target's rule, six by another rule (each drawn from its own sentences); every
    candidate gets an affinity and a cosine toward the target, and on average the same-rule candidates' cosine
    with the target is above the others'.
    """
    import os

    from mtl_core.tasks.user import add_user_task_from_bytes

    env = dashboard_env(tmp_path / "home", tmp_path / "runs.sqlite")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    same = [f"same_{i}" for i in range(6)]
    other = [f"other_{i}" for i in range(6)]
    add_user_task_from_bytes(rule_csv(RULE_WORDS, 1), "target.csv", "target", "sentence_classification")
    for i, name in enumerate(same):
        add_user_task_from_bytes(rule_csv(RULE_WORDS, 10 + i), f"{name}.csv", name, "sentence_classification")
    for i, name in enumerate(other):
        words = OTHER_WORDS if i % 2 else OTHER_WORDS[::-1]
        add_user_task_from_bytes(rule_csv(words, 20 + i), f"{name}.csv", name, "sentence_classification")
    candidates = same + other
    out = cli("--target", "target", "--candidates", ",".join(candidates), "--proxy-only", "--steps", "60",
              "--max-train-examples", "60", "--hidden-size", "16", "--conflict-every", "2", "--json",
              store=tmp_path / "runs.sqlite", env={**os.environ, **env}, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    (run,) = Store(tmp_path / "runs.sqlite").runs(result["recommendation_id"])
    assert run["tasks"] == ["target", *candidates] and run["status"] == "completed"
    for proxy in ("affinity", "mean_cos"):
        assert sorted(result["stage1"]["rankings"][proxy]) == sorted(candidates)
        assert all(result["stage1"]["proxies"][proxy][c] is not None for c in candidates)
    cosine = result["stage1"]["proxies"]["mean_cos"]
    assert np.mean([cosine[c] for c in same]) > np.mean([cosine[c] for c in other]), cosine
    assert result["evidence"] == "proxy" and "proxy only" in result["text"]
    stop_background(tmp_path / "runs.sqlite")
