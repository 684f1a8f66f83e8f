"""Task metrics: accuracy, macro-F1, span-level F1 for BIO tags, per-token accuracy, MSE and Pearson r.

`score(kind, metric, labels, y_true, y_pred)` returns every metric that applies to the task kind,
with the task's primary metric among them.
"""
from __future__ import annotations

import numpy as np
from sklearn.metrics import f1_score

from mtl_core.tasks.base import TaskKind


def bio_spans(tags: list[str]) -> set[tuple[str, int, int]]:
    """(type, start, end) spans of a BIO sequence; an I- without a matching open span starts a new one."""
    spans, start, kind = set(), None, None
    for i, tag in enumerate(list(tags) + ["O"]):
        prefix, _, label = tag.partition("-")
        if prefix == "I" and start is not None and label == kind:
            continue
        if start is not None:
            spans.add((kind, start, i))
            start, kind = None, None
        if prefix in ("B", "I"):
            start, kind = i, label
    return spans


def span_f1(true_tags: list[list[str]], pred_tags: list[list[str]]) -> float:
    """Micro F1 over exact (type, start, end) spans, as conlleval computes it."""
    true_total = pred_total = correct = 0
    for sentence_true, sentence_pred in zip(true_tags, pred_tags):
        t, p = bio_spans(sentence_true), bio_spans(sentence_pred)
        true_total += len(t)
        pred_total += len(p)
        correct += len(t & p)
    if true_total == 0 and pred_total == 0:
        return 1.0
    precision = correct / pred_total if pred_total else 0.0
    recall = correct / true_total if true_total else 0.0
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def pearson(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    y_true, y_pred = np.asarray(y_true, float), np.asarray(y_pred, float)
    if len(y_true) < 2 or y_true.std() == 0 or y_pred.std() == 0:
        return 0.0  # a constant prediction carries no linear information
    return float(np.corrcoef(y_true, y_pred)[0, 1])


def score(kind: TaskKind, labels: list[str] | None, y_true, y_pred) -> dict[str, float]:
    """All metrics of one task on one split. Token tasks take lists of per-word id lists (no padding)."""
    if kind is TaskKind.TOKEN_TAGGING:
        flat_true = np.concatenate([np.asarray(s) for s in y_true]) if y_true else np.array([])
        flat_pred = np.concatenate([np.asarray(s) for s in y_pred]) if y_pred else np.array([])
        out = {"accuracy": float((flat_true == flat_pred).mean()) if len(flat_true) else 0.0}
        if labels and any(label.startswith(("B-", "I-")) for label in labels):
            out["span_f1"] = span_f1([[labels[i] for i in s] for s in y_true], [[labels[i] for i in s] for s in y_pred])
        return out
    if kind.is_regression:
        y_true, y_pred = np.asarray(y_true, float), np.asarray(y_pred, float)
        return {"mse": float(np.mean((y_true - y_pred) ** 2)), "pearson": pearson(y_true, y_pred)}
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    return {"accuracy": float((y_true == y_pred).mean()),
            "macro_f1": float(f1_score(y_true, y_pred, average="macro", labels=np.unique(y_true), zero_division=0))}


# ---- generation (seq2seq) ------------------------------------------------------------------------
# Computed by the libraries the papers use, never re-implemented here: corpus BLEU and chrF by sacrebleu with
# its default settings (BLEU: 13a tokenisation, exponential smoothing; chrF: character 6-grams, β = 2), whose
# signature is kept with every score; ROUGE-1/2/L F-measure by rouge-score with Porter stemming (its tokeniser
# keeps a–z and 0–9 only, so it is computed for English targets alone); the character and word error rates by
# jiwer (the word error rate of G2P's space-separated phonemes is the phoneme error rate).
# Scales: BLEU, chrF and ROUGE 0–100 (as published); exact_match, cer and wer 0–1.
ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")
GENERATION_METRICS = ("bleu", "chrf", "exact_match", "cer", "wer") + ROUGE_TYPES
LOWER_IS_BETTER = ("mse", "cer", "wer")


def corpus_bleu(hypotheses: list[str], references: list[str]) -> tuple[float, str]:
    """(sacrebleu corpus BLEU, its signature) of one reference per hypothesis."""
    from sacrebleu.metrics import BLEU

    bleu = BLEU()
    score = bleu.corpus_score(list(hypotheses), [list(references)]).score
    return float(score), str(bleu.get_signature())


def corpus_chrf(hypotheses: list[str], references: list[str]) -> tuple[float, str]:
    """(sacrebleu corpus chrF, its signature)."""
    from sacrebleu.metrics import CHRF

    chrf = CHRF()
    score = chrf.corpus_score(list(hypotheses), [list(references)]).score
    return float(score), str(chrf.get_signature())


def rouge_f(hypotheses: list[str], references: list[str]) -> dict[str, float]:
    """Mean ROUGE-1/2/L F-measure over examples (rouge-score, stemming on), × 100."""
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=True)
    totals = dict.fromkeys(ROUGE_TYPES, 0.0)
    for hypothesis, reference in zip(hypotheses, references):
        scores = scorer.score(reference, hypothesis)  # rouge-score's order: (target, prediction)
        for name in ROUGE_TYPES:
            totals[name] += scores[name].fmeasure
    n = max(1, len(hypotheses))
    return {name: 100.0 * total / n for name, total in totals.items()}


def character_error_rate(hypotheses: list[str], references: list[str]) -> float:
    """Σ Levenshtein(hypothesis, reference) / Σ len(reference) over characters, as jiwer computes it (corpus
    level, leading and trailing spaces stripped)."""
    import jiwer

    if not references:
        return 0.0
    return float(jiwer.cer(list(references), list(hypotheses)))


def word_error_rate(hypotheses: list[str], references: list[str]) -> float:
    """Σ word-level Levenshtein / Σ reference words over whitespace-separated words, as jiwer computes it: for
    grapheme → phoneme targets (phonemes separated by spaces) it is the phoneme error rate."""
    import jiwer

    if not references:
        return 0.0
    return float(jiwer.wer(list(references), list(hypotheses)))


def generation_scores(hypotheses: list[str], references: list[str], *, rouge: bool = False
                      ) -> tuple[dict[str, float], dict[str, str]]:
    """(metrics, signatures) of detokenised outputs against their references: bleu, chrf, exact_match, cer, wer, and
    with `rouge` rouge1 / rouge2 / rougeL; signatures name how BLEU and chrF were computed."""
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses for {len(references)} references")
    bleu, bleu_signature = corpus_bleu(hypotheses, references)
    chrf, chrf_signature = corpus_chrf(hypotheses, references)
    out = {"bleu": bleu, "chrf": chrf,
           "exact_match": float(np.mean([h == r for h, r in zip(hypotheses, references)])) if references else 0.0,
           "cer": character_error_rate(hypotheses, references),
           "wer": word_error_rate(hypotheses, references)}
    if rouge:
        out.update(rouge_f(hypotheses, references))
    return out, {"bleu": bleu_signature, "chrf": chrf_signature}
