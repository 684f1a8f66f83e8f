"""Text helpers shared by the catalog and the models: tokenisation, vocabularies and the on-disk cache.

The cache stores parsed task data under `cache_dir()`, keyed by a hash of the source files' contents,
the loading settings and CACHE_VERSION, so a second load of any task is a single file read. Entries are
`.npz` files read with allow_pickle=False: JSON for the structure and text, numpy arrays as themselves, and
mtl_core's own dataclasses and enums by name; reading one never runs code (no pickle).
"""
from __future__ import annotations

import dataclasses
import enum
import gc
import hashlib
import importlib
import io
import json
import os
import re
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Iterable

from mtl_core.paths import cache_dir

# Bump when what is cached changes shape (task loaders also hash their own code into the key).
CACHE_VERSION = 2

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
    # By file name and content only, never by where the files are: the same data in another data home, or the
    # code in another checkout, has the same key (the shipped catalog index relies on it).
    for file_name, content in sorted((Path(p).name, file_digest(Path(p))) for p in source_files):
        digest.update(f"{file_name}\0{content}\0".encode())
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


# Tags of the JSON tree in a cache entry; a dict with one of them as its only key stands for that value.
_ARRAY, _TUPLE, _ENUM, _DATACLASS = "__ndarray__", "__tuple__", "__enum__", "__dataclass__"
_TYPE_PACKAGE = "mtl_core."  # the only package whose dataclasses and enums an entry may name


def _type_name(value) -> str:
    name = f"{type(value).__module__}:{type(value).__qualname__}"
    if not name.startswith(_TYPE_PACKAGE):
        raise TypeError(f"cache: {name} is not one of mtl_core's own types")
    return name


def _resolve_type(name: str) -> type:
    module, _, qualname = name.partition(":")
    if not module.startswith(_TYPE_PACKAGE):
        raise ValueError(f"cache entry names a type outside mtl_core: {name}")
    value = importlib.import_module(module)
    for part in qualname.split("."):
        value = getattr(value, part)
    if not (isinstance(value, type) and (dataclasses.is_dataclass(value) or issubclass(value, enum.Enum))):
        raise ValueError(f"cache entry names {name}, neither a dataclass nor an enum")
    return value


def _encode(value, arrays: dict):
    """`value` as a JSON-ready tree; numpy arrays go to `arrays` (saved next to it without pickle)."""
    import numpy as np

    if isinstance(value, enum.Enum):
        return {_ENUM: [_type_name(value), value.value]}
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, np.ndarray):
        if value.dtype.hasobject:
            raise TypeError("cache: arrays of Python objects cannot be stored without pickle")
        name = f"a{len(arrays)}"
        arrays[name] = value
        return {_ARRAY: name}
    if isinstance(value, np.generic):
        return value.item()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: _encode(getattr(value, f.name), arrays) for f in dataclasses.fields(value)}
        return {_DATACLASS: [_type_name(value), fields]}
    if isinstance(value, tuple):
        return {_TUPLE: [_encode(v, arrays) for v in value]}
    if isinstance(value, list):
        return [_encode(v, arrays) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: _encode(v, arrays) for k, v in value.items()}
    raise TypeError(f"cache: cannot store a {type(value).__name__}")


def _decoder(arrays):
    """The json object_hook that turns the tags written by `_encode` back into values."""
    def decode(obj: dict):
        if len(obj) == 1:
            (tag, content), = obj.items()
            if tag == _ARRAY:
                return arrays[content]
            if tag == _TUPLE:
                return tuple(content)
            if tag == _ENUM:
                return _resolve_type(content[0])(content[1])
            if tag == _DATACLASS:
                return _resolve_type(content[0])(**content[1])
        return obj
    return decode


def dump_entry(value) -> bytes:
    import numpy as np

    arrays: dict = {}
    tree = json.dumps(_encode(value, arrays), ensure_ascii=False).encode("utf-8")
    buffer = io.BytesIO()
    np.savez(buffer, __tree__=np.frombuffer(tree, dtype=np.uint8), **arrays)
    return buffer.getvalue()


def load_entry(path: Path):
    import numpy as np

    with np.load(path, allow_pickle=False) as entry:
        arrays = {name: entry[name] for name in entry.files if name != "__tree__"}
        return json.loads(entry["__tree__"].tobytes().decode("utf-8"), object_hook=_decoder(arrays))


def cached(key: str, build: Callable[[], Any]) -> Any:
    """The object stored under `key` in the cache, building and storing it on a miss."""
    path = cache_dir() / f"{key}.npz"
    if path.exists():
        gc_was_enabled = gc.isenabled()
        gc.disable()  # building a million small lists triggers many useless collections: 3x slower
        try:
            return load_entry(path)
        except Exception:  # noqa: BLE001  (truncated or stale entries fail in many ways)
            path.unlink(missing_ok=True)  # a damaged entry is rebuilt, never fatal
        finally:
            if gc_was_enabled:
                gc.enable()
    value = build()
    atomic_write_bytes(path, dump_entry(value))
    return value


def cached_json(key: str) -> dict | None:
    """A small JSON entry stored next to the data entries (task summaries for the catalog), or None.
    A data home that lacks it (a fresh one) falls back to the catalog index shipped with the package, whose
    entries carry the same content-derived keys (mtl_core/tasks/index.py)."""
    path = cache_dir() / f"{key}.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        from mtl_core.tasks.index import shipped_summary

        return shipped_summary(key)


def store_json(key: str, value: dict) -> None:
    atomic_write_bytes(cache_dir() / f"{key}.json", json.dumps(value).encode("utf-8"))
