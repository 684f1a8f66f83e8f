"""VADER sentiment intensity (Hutto & Gilbert 2014): sentence regression on [-4, 4], each target the
mean of ~20 human ratings, in four domains (tweets, movie reviews, Amazon reviews, NYT editorials).

The sentence ratings come from the vaderSentiment sdist, fetched once by `python -m mtl_core fetch`.
Until they are fetched the task falls back to the word-level lexicon shipped in the wheel (7,520
words and emoticons, one token each), and says so in its availability reason and in TaskData.notes.
"""
from __future__ import annotations

from pathlib import Path

from mtl_core.tasks.base import Availability, TaskCard, TaskData, TaskKind
from mtl_core.tasks.fetch import FETCH_COMMAND, VADER_SENTENCE_FILES, vader_sentences_dir, vader_sentences_present
from mtl_core.tasks.loading import PHONOLOGY_CONTROLS, package_files, split_examples, task_source, text_task_data
from mtl_core.tasks.registry import register
from mtl_core.text import simple_tokenize

SOURCE = "vaderSentiment==3.3.2"
FALLBACK_REASON = (
    "the VADER sentence ratings are not fetched, so this task uses the word-level lexicon "
    "(one word per example) instead"
)

_lexicon_files = package_files("vaderSentiment", "vader_lexicon.txt")


def _files() -> list[Path]:
    if vader_sentences_present():
        return [vader_sentences_dir() / name for name in VADER_SENTENCE_FILES]
    return [path for path in _lexicon_files() if path.exists()]


def _availability() -> Availability:
    if vader_sentences_present():
        return Availability(True)
    if _files():
        return Availability(True, FALLBACK_REASON, FETCH_COMMAND)
    return Availability(
        False,
        f"neither the VADER sentence ratings nor the {SOURCE} lexicon are here",
        f"python -m pip install {SOURCE} && {FETCH_COMMAND}",
    )


def _read_rows(path: Path) -> list[list[str]]:
    """Tab-separated rows: `id, mean rating, sentence` (sentences) or `word, mean, sd, ratings` (lexicon)."""
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    return [line.split("\t") for line in lines if line.count("\t") >= 1]


def _build(seed: int) -> TaskData:
    examples, notes = [], []
    if vader_sentences_present():
        for path in _files():
            rows = [r for r in _read_rows(path) if len(r) >= 3]  # id, mean rating, sentence
            domain = [(tokens, float(r[1])) for r in rows if (tokens := simple_tokenize("\t".join(r[2:])))]
            examples += domain
            notes.append(f"{path.name.removesuffix('_GroundTruth.txt')}: {len(domain)} sentences")
    else:
        examples = [([r[0]], float(r[1])) for r in _read_rows(_files()[0]) if len(r) >= 2 and r[0]]
        notes.append(f"{FALLBACK_REASON}; run `{FETCH_COMMAND}` for the 23,700 sentence ratings")
    return text_task_data(CARD, *split_examples(examples, seed), notes=notes)


CARD = TaskCard(
    id="sentiment_intensity",
    name="Sentiment intensity (VADER)",
    family="VADER",
    kind=TaskKind.SENTENCE_REGRESSION,
    metric="pearson",
    higher_is_better=True,
    source=f"{SOURCE} (sdist: hutto_ICWSM_2014 sentence ratings)",
    licence="MIT",
    description="How negative or positive a sentence is, from -4 to 4 (mean of ~20 human ratings), "
    "across tweets, movie and product reviews and NYT editorials.",
    related=("tweet_sentiment",),
    unrelated=PHONOLOGY_CONTROLS,
)

register(task_source(CARD, _files, _build, _availability))
