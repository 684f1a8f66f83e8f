"""Text helpers shared by the catalog and the models: tokenisation, vocabularies and the on-disk cache.

The cache stores parsed task data under `cache_dir()`, keyed by a hash of the source files' contents,
the loading settings and CACHE_VERSION, so a second load of any task is a single pickle read.
"""
from __future__ import annotations

import gc
import hashlib
import json
import os
import pickle
import re
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Iterable

from mtl_core.paths import cache_dir

# Bump when what is cached changes shape (task loaders also hash their own code into the key).
CACHE_VERSION = 1

_TOKEN_RE = re.compile(r"\w+(?:['’\-]\w+)*|[^\w\s]", re.UNICODE)


def simple_tokenize(text: str) -> list[str]:
    """Words (with inner apostrophes/hyphens kept) and single punctuation marks, case preserved."""
    return _TOKEN_RE.findall(text)


class Vocabulary:
    """Token ↔ id mapping; id 0 is padding, id 1 stands for any token not in the vocabulary.

    `counts[i]` is how often token i occurred in the training text it was built from (0 for the two
    special ids): encoders train the unknown word on rare words with it (word dropout).
    """

    pad_id = 0
    unk_id = 1
    PAD = "<pad>"
    UNK = "<unk>"

    def __init__(self, tokens: list[str], counts: list[int], lowercase: bool = True):
        self.lowercase = lowercase
        kept = [(t, c) for t, c in zip(tokens, counts, strict=True) if t not in (self.PAD, self.UNK)]
        self.itos = [self.PAD, self.UNK] + [t for t, _ in kept]
        self.counts = [0, 0] + [c for _, c in kept]
        self.stoi = {t: i for i, t in enumerate(self.itos)}

    @classmethod
    def build(
        cls,
        token_lists: Iterable[list[str]],
        min_freq: int = 1,
        max_size: int | None = None,
        lowercase: bool = True,
    ) -> "Vocabulary":
        """Most frequent tokens first (ties alphabetical, so the result never depends on input order)."""
        counts = Counter(t.lower() if lowercase else t for tokens in token_lists for t in tokens)
        ranked = sorted((t for t, c in counts.items() if c >= min_freq), key=lambda t: (-counts[t], t))
        if max_size is not None:
            ranked = ranked[: max(0, max_size - 2)]  # the two special ids count towards max_size
        return cls(ranked, [counts[t] for t in ranked], lowercase=lowercase)

    def encode(self, tokens: list[str]) -> list[int]:
        if self.lowercase:
            tokens = [t.lower() for t in tokens]
        return [self.stoi.get(t, self.unk_id) for t in tokens]

    def __len__(self) -> int:
        return len(self.itos)

    def to_dict(self) -> dict:
        return {"tokens": self.itos[2:], "counts": self.counts[2:], "lowercase": self.lowercase}

    @classmethod
    def from_dict(cls, data: dict) -> "Vocabulary":
        return cls(list(data["tokens"]), list(data["counts"]), lowercase=bool(data["lowercase"]))


# ---------------------------------------------------------------------------------------------- cache

_file_digests: dict[tuple[str, int, int], str] = {}  # (path, size, mtime_ns) -> sha256 of contents


def file_digest(path: Path) -> str:
    """sha256 of a file's contents, remembered for the process while size and mtime are unchanged."""
    stat = path.stat()
    memo_key = (str(path), stat.st_size, stat.st_mtime_ns)
    if memo_key not in _file_digests:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        _file_digests[memo_key] = digest.hexdigest()
    return _file_digests[memo_key]


def cache_key(name: str, source_files: Iterable[Path], settings: dict) -> str:
    """Identifies one parsed dataset: what it is called, the bytes it came from and how it was loaded."""
    digest = hashlib.sha256()
    digest.update(f"v{CACHE_VERSION}\0{name}\0".encode())
    for path in sorted(Path(p) for p in source_files):
        digest.update(f"{path.name}\0{file_digest(path)}\0".encode())
    digest.update(json.dumps(settings, sort_keys=True, default=str).encode())
    return f"{name}-{digest.hexdigest()[:24]}"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary file in the same folder, then rename: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def cached(key: str, build: Callable[[], Any]) -> Any:
    """The object stored under `key` in the cache, building and storing it on a miss."""
    path = cache_dir() / f"{key}.pkl"
    if path.exists():
        gc_was_enabled = gc.isenabled()
        gc.disable()  # unpickling a million small lists triggers many useless collections: 3x slower
        try:
            return pickle.loads(path.read_bytes())
        except Exception:  # noqa: BLE001  (truncated or stale pickles fail in many ways)
            path.unlink(missing_ok=True)  # a damaged entry is rebuilt, never fatal
        finally:
            if gc_was_enabled:
                gc.enable()
    value = build()
    atomic_write_bytes(path, pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
    return value


def cached_json(key: str) -> dict | None:
    """A small JSON entry stored next to the pickles (task summaries for the catalog), or None."""
    path = cache_dir() / f"{key}.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def store_json(key: str, value: dict) -> None:
    atomic_write_bytes(cache_dir() / f"{key}.json", json.dumps(value).encode("utf-8"))
