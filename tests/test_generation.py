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
