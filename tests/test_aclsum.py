"""ACLSum aspect summaries: three generation tasks on the package's own papers and splits, each target the
package's summary of one aspect, and a two-aspect run through the engine scored by ROUGE-L against its
single-task baselines."""
from __future__ import annotations

import json

import pytest

from mtl_core.tasks import card_dict, get_task, load_task
from mtl_core.tasks import aclsum
from mtl_core.tasks.base import TaskKind
from mtl_core.tasks.loading import package_folder
from mtl_core.text import simple_tokenize

# Its module fixture trains once per pytest-xdist worker: the module's tests stay on one worker.
pytestmark = pytest.mark.xdist_group("test_aclsum")

ASPECTS = ("challenge", "approach", "outcome")
TASKS = tuple(f"aclsum_{aspect}" for aspect in ASPECTS)
SIZES = {"train": 100, "validation": 50, "test": 100}
PACKAGE_FILES = {"train": "train.jsonl", "validation": "val.jsonl", "test": "test.jsonl"}


@pytest.fixture(scope="module")
def package_papers() -> dict[str, list[dict]]:
    """The package's papers per split, read here straight from its files (not through the task module)."""
    availability = get_task("aclsum_challenge").availability()
    assert availability.available, f"{availability.reason}: {availability.fix}"
    folder = package_folder("aclsum") / "dataset"
    return {split: [json.loads(line) for line in (folder / name).read_text(encoding="utf-8").splitlines()
                    if line.strip()]
            for split, name in PACKAGE_FILES.items()}


def abstract_key(tokens) -> str:
    return " ".join(tokens)


def test_the_three_aspects_load_with_the_packages_split_sizes_and_cards(package_papers):
    assert {split: len(rows) for split, rows in package_papers.items()} == SIZES
    for task in TASKS:
        data = load_task(task)
        assert data.sizes == SIZES and data.notes == []
        card = data.card
        assert (card.kind, card.metric, card.higher_is_better, card.family) == (
            TaskKind.SEQ2SEQ, "rougeL", True, "ACL papers")
        assert (card.target_tokens, card.source_tokens, card.target_language) == ("word", "word", "en")
        assert set(card.related) == (set(TASKS) - {task}) | {"bbc_headline"}
        assert {"cmu_syllables", "cmu_stress"} <= set(card.unrelated)
        assert card_dict(task)["sizes"] == SIZES
        for split in (data.train, data.validation, data.test):
            assert all(0 < len(tokens) <= aclsum.MAX_SOURCE_TOKENS for tokens in split.inputs)


def test_every_aspect_has_the_same_papers_in_the_same_order_and_no_paper_is_in_two_splits(package_papers):
    tasks = [load_task(task) for task in TASKS]
    for split in SIZES:
        inputs = [getattr(data, split).inputs for data in tasks]
        assert inputs[0] == inputs[1] == inputs[2]
    ids = {split: [paper["id"] for paper in papers] for split, papers in aclsum.papers(seed=0).items()}
    assert {split: len(set(v)) for split, v in ids.items()} == SIZES
    assert not set(ids["train"]) & set(ids["validation"])
    assert not set(ids["train"]) & set(ids["test"]) and not set(ids["validation"]) & set(ids["test"])
    sources = {split: {abstract_key(t) for t in getattr(tasks[0], split).inputs} for split in SIZES}
    assert not sources["train"] & sources["test"] and not sources["validation"] & sources["test"]
    # each split holds exactly the package's papers of that split
    for split, papers in package_papers.items():
        assert sorted(ids[split]) == sorted(paper["id"] for paper in papers)


def test_a_target_is_the_packages_summary_of_that_aspect_and_the_source_its_abstract(package_papers):
    for split, papers in package_papers.items():
        by_abstract = {}
        for paper in papers:
            tokens = simple_tokenize(" ".join(paper["sentences"]["abstract"]))[: aclsum.MAX_SOURCE_TOKENS]
            by_abstract[abstract_key(tokens)] = paper
        assert len(by_abstract) == len(papers)
        for aspect, task in zip(ASPECTS, TASKS):
            part = getattr(load_task(task), split)
            for tokens, target in zip(part.inputs, part.targets):
                assert target == " ".join(by_abstract[abstract_key(tokens)]["summary"][aspect].split())
    challenge, outcome = load_task("aclsum_challenge").test, load_task("aclsum_outcome").test
    assert challenge.targets[0] != outcome.targets[0]  # one paper, two aspects, two different sentences


def test_the_seed_orders_the_papers_of_a_split_but_never_moves_one_to_another_split():
    first, other = load_task("aclsum_outcome", seed=0), load_task("aclsum_outcome", seed=1)
    assert other.sizes == first.sizes
    for split in SIZES:
        a, b = getattr(first, split), getattr(other, split)
        assert sorted(map(abstract_key, a.inputs)) == sorted(map(abstract_key, b.inputs))
    assert first.train.inputs != other.train.inputs
    cut = load_task("aclsum_challenge", max_train_examples=10)
    assert cut.train.inputs == load_task("aclsum_challenge").train.inputs[:10] and cut.sizes["test"] == 100


def test_two_aspects_train_together_and_store_rouge_l_against_their_single_task_baselines(tmp_path):
    from mtl_core.analysis.summary import experiment_summary
    from mtl_core.spec import ExperimentSpec
    from mtl_core.store import Store
    from mtl_core.train.runner import execute_run, prepare_experiment

    store = Store(tmp_path / "runs.sqlite")
    tasks = ["aclsum_challenge", "aclsum_outcome"]
    spec = ExperimentSpec(tasks=tasks, steps=6, eval_every=3, max_train_examples=24, hidden_size=32,
                          encoder_layers=1, dropout=0.0, max_tokens=48, max_target_length=12,
                          max_decode_examples=8, conflict_every=2).validated()
    experiment_id, run_ids = store.create_experiment(spec.to_json(), prepare_experiment(spec))
    assert len(run_ids) == 3  # the multi-task run and one baseline per aspect
    for run_id in run_ids:
        assert execute_run(store, run_id) == "completed", store.run(run_id)["error"]
    runs = [store.run(run_id) for run_id in run_ids]
    mtl = next(r for r in runs if r["kind"] == "mtl")
    summary = experiment_summary(store, experiment_id)
    for task in tasks:
        baseline = next(r for r in runs if r["kind"] == "stl" and r["tasks"] == [task])
        for run in (mtl, baseline):
            test = run["result"]["test"][task]
            assert 0 <= test["rougeL"] <= 100 and {"bleu", "chrf", "copy_bleu", "frequent_bleu"} <= set(test)
        entry = summary["tasks"][task]
        assert entry["metric"] == "rougeL"
        assert entry["mtl"] == pytest.approx(mtl["result"]["test"][task]["rougeL"])
        assert entry["stl"] == pytest.approx(baseline["result"]["test"][task]["rougeL"])
        assert set(entry["other_metrics"]) == {"bleu", "chrf"}
        validation = store.metrics([mtl["id"]], names=["rougeL"]).query("split == 'validation' and task == @task")
        assert len(validation) == 2  # steps 3 and 6
    # the outputs shown beside the scores are decoded validation papers, each with its aspect's summary
    samples = store.generation_samples([mtl["id"]])
    assert set(samples["task"]) == set(tasks) and len(samples) == 2 * 8
    for task, reference in zip(samples["task"], samples["reference"]):
        assert reference in load_task(task).validation.targets
    assert "aclsum_challenge|aclsum_outcome" in summary["conflict"]
