"""Tasks users add from their own CSV or JSONL files, kept under data_home()/user_tasks/<name>/.

Columns by kind: text + label (sentence_classification), text + score (sentence_regression),
tokens + tags (token_tagging; in CSV both are space-separated strings, in JSONL lists or strings).
A file is validated completely before anything is written, then its copy and a small manifest are
moved into place with one rename, so a task is either fully registered or not at all.
"""
from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from mtl_core.errors import UserError
from mtl_core.paths import data_home
from mtl_core.tasks.base import Availability, TaskCard, TaskData, TaskKind, TaskSource
from mtl_core.tasks.loading import CachedTaskLoader, Example, split_examples, text_task_data
from mtl_core.tasks.registry import builtin_ids
from mtl_core.text import simple_tokenize

USER_TASK_MAX_BYTES = 20 * 1024 * 1024
MIN_ROWS = 10  # enough for a non-empty train, validation and test split
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
COLUMNS = {
    TaskKind.SENTENCE_CLASSIFICATION: ("text", "label"),
    TaskKind.SENTENCE_REGRESSION: ("text", "score"),
    TaskKind.TOKEN_TAGGING: ("tokens", "tags"),
}
FORMATS = (".csv", ".jsonl")
MANIFEST = "manifest.json"


def user_tasks_dir() -> Path:
    path = data_home() / "user_tasks"
    path.mkdir(parents=True, exist_ok=True)
    return path


# ------------------------------------------------------------------------------------- validation


def _check_kind(kind: str | TaskKind) -> TaskKind:
    allowed = ", ".join(k.value for k in COLUMNS)
    try:
        parsed = TaskKind(kind)
    except ValueError:
        raise UserError(f"kind: must be one of {allowed}, got {kind!r}", "kind") from None
    if parsed not in COLUMNS:
        raise UserError(f"kind: must be one of {allowed}, got {kind!r}", "kind")
    return parsed


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise UserError(
            f"name: use 1-40 lowercase letters, digits and underscores, starting with a letter; got {name!r}", "name"
        )
    if name in builtin_ids():
        raise UserError(f"name: {name!r} is a built-in task id; choose another name", "name")
    if (user_tasks_dir() / name).exists():
        raise UserError(
            f"name: a user task {name!r} already exists; remove it first with "
            f"`python -m mtl_core tasks remove {name}`",
            "name",
        )
    return name


def _decode(data: bytes, filename: str) -> str:
    if len(data) > USER_TASK_MAX_BYTES:
        raise UserError(
            f"{filename}: file is {len(data) / 2**20:.1f} MB; the limit is {USER_TASK_MAX_BYTES // 2**20} MB", "file"
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise UserError(
            f"{filename}: not UTF-8 text: byte 0x{data[exc.start]:02x} at byte offset {exc.start} (line {line}); "
            "save the file as UTF-8",
            "file",
        ) from None
    if not text.strip():
        raise UserError(f"{filename}: the file is empty", "file")
    return text


def _records(text: str, filename: str, columns: tuple[str, ...]) -> list[tuple[str, dict]]:
    """(where, record) pairs, `where` naming the row for error messages."""
    suffix = Path(filename).suffix.lower()
    if suffix == ".csv":
        reader = csv.DictReader(io.StringIO(text))
        header = [c.strip() for c in reader.fieldnames or []]
        missing = [c for c in columns if c not in header]
        if missing:
            raise UserError(
                f"{filename}: missing column(s) {', '.join(missing)}; found {', '.join(header) or 'none'}, "
                f"need {', '.join(columns)}",
                "file",
            )
        reader.fieldnames = header
        return [(f"row {i} (line {reader.line_num})", row) for i, row in enumerate(reader, start=1)]
    if suffix == ".jsonl":
        records = []
        for line_number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise UserError(f"{filename}: line {line_number} is not valid JSON ({exc.msg})", "file") from None
            if not isinstance(record, dict):
                raise UserError(f"{filename}: line {line_number} must be a JSON object with {', '.join(columns)}", "file")
            missing = [c for c in columns if c not in record]
            if missing:
                raise UserError(f"{filename}: line {line_number} lacks field(s) {', '.join(missing)}", "file")
            records.append((f"line {line_number}", record))
        return records
    raise UserError(f"{filename}: unsupported file type {suffix or '(none)'!r}; use {' or '.join(FORMATS)}", "file")


def _words(value, where: str, column: str, filename: str) -> list[str]:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        words = [v.strip() for v in value]
    elif isinstance(value, str):
        words = value.split()
    else:
        raise UserError(f"{filename}: {where}: {column} must be a list of strings or a space-separated string", "file")
    if not words or not all(words):
        raise UserError(f"{filename}: {where}: {column} is empty", "file")
    return words


def _example(kind: TaskKind, record: dict, where: str, filename: str) -> Example:
    if kind is TaskKind.TOKEN_TAGGING:
        tokens = _words(record["tokens"], where, "tokens", filename)
        tags = _words(record["tags"], where, "tags", filename)
        if len(tokens) != len(tags):
            raise UserError(f"{filename}: {where}: {len(tokens)} tokens but {len(tags)} tags; need one tag per token", "file")
        return tokens, tags
    tokens = simple_tokenize(str(record["text"] or ""))
    if not tokens:
        raise UserError(f"{filename}: {where}: text is empty", "file")
    if kind is TaskKind.SENTENCE_REGRESSION:
        try:
            score = float(record["score"])
        except (TypeError, ValueError):
            score = math.nan
        if not math.isfinite(score):
            raise UserError(f"{filename}: {where}: score must be a finite number, got {record['score']!r}", "file")
        return tokens, score
    label = str(record["label"] if record["label"] is not None else "").strip()
    if not label:
        raise UserError(f"{filename}: {where}: label is empty", "file")
    return tokens, label


def parse_user_file(data: bytes, filename: str, kind: str | TaskKind) -> list[Example]:
    """Every row as a (tokens, target) example, or a UserError naming the file, row and problem."""
    kind = _check_kind(kind)
    text = _decode(data, filename)
    examples = [_example(kind, record, where, filename) for where, record in _records(text, filename, COLUMNS[kind])]
    if len(examples) < MIN_ROWS:
        raise UserError(f"{filename}: has {len(examples)} rows; a task needs at least {MIN_ROWS}", "file")
    if kind is TaskKind.SENTENCE_REGRESSION:
        if len({score for _, score in examples}) < 2:
            raise UserError(f"{filename}: every score is the same; a regression target must vary", "file")
    else:
        classes = {t for _, target in examples for t in (target if isinstance(target, list) else [target])}
        if len(classes) < 2:
            what = "tag" if kind is TaskKind.TOKEN_TAGGING else "label"
            raise UserError(f"{filename}: only one {what} ({classes.pop()!r}); a task needs at least two", "file")
    return examples


def _metric(kind: TaskKind, examples: list[Example]) -> str:
    if kind is TaskKind.SENTENCE_REGRESSION:
        return "pearson"
    if kind is TaskKind.TOKEN_TAGGING:
        tags = {tag for _, target in examples for tag in target}
        is_bio = all(tag == "O" or tag[:2] in ("B-", "I-") for tag in tags)
        return "span_f1" if is_bio else "accuracy"  # POS-like tags: per-token accuracy
    return "accuracy"


# ------------------------------------------------------------------------------------- storage


def _card(manifest: dict) -> TaskCard:
    return TaskCard(
        id=manifest["name"],
        name=manifest["name"].replace("_", " "),
        family="user",
        kind=TaskKind(manifest["kind"]),
        metric=manifest["metric"],
        higher_is_better=True,
        source=f"user upload: {manifest['filename']}",
        licence="provided by the user",
        description=f"Added from {manifest['filename']} ({manifest['rows']} rows).",
    )


def add_user_task_from_bytes(data: bytes, filename: str, name: str, kind: str | TaskKind) -> TaskCard:
    """Validate the file completely, then register it in one atomic step; returns its card."""
    kind = _check_kind(kind)
    name = _check_name(name)
    examples = parse_user_file(data, filename, kind)
    manifest = {
        "name": name,
        "kind": kind.value,
        "metric": _metric(kind, examples),
        "filename": Path(filename).name,
        "data_file": "data" + Path(filename).suffix.lower(),
        "rows": len(examples),
        "added": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    staging = Path(tempfile.mkdtemp(dir=user_tasks_dir(), prefix=f".{name}."))
    try:
        (staging / manifest["data_file"]).write_bytes(data)
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        os.replace(staging, user_tasks_dir() / name)
    except OSError as exc:
        raise UserError(f"name: could not register {name!r}: {exc}", "name") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return _card(manifest)


def add_user_task(path: str | Path, name: str, kind: str | TaskKind) -> TaskCard:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"file: {path} does not exist or is not a file", "file")
    size = path.stat().st_size
    if size > USER_TASK_MAX_BYTES:
        raise UserError(f"{path.name}: file is {size / 2**20:.1f} MB; the limit is {USER_TASK_MAX_BYTES // 2**20} MB", "file")
    return add_user_task_from_bytes(path.read_bytes(), path.name, name, kind)


def _manifests() -> list[dict]:
    manifests = []
    for folder in sorted(user_tasks_dir().iterdir()):
        if folder.name.startswith(".") or not (folder / MANIFEST).is_file():
            continue  # a staging folder or a foreign file
        try:
            manifests.append(json.loads((folder / MANIFEST).read_text(encoding="utf-8")))
        except (OSError, ValueError):
            continue
    return manifests


def remove_user_task(name: str) -> None:
    folder = user_tasks_dir() / str(name)
    if not NAME_PATTERN.match(str(name)) or not (folder / MANIFEST).is_file():
        known = ", ".join(m["name"] for m in _manifests()) or "none"
        raise UserError(f"name: no user task {name!r}; user tasks: {known}", "name")
    # Rename first so the task disappears at once, then delete at leisure.
    doomed = Path(tempfile.mkdtemp(dir=user_tasks_dir(), prefix=f".removed-{name}."))
    os.replace(folder, doomed / name)
    shutil.rmtree(doomed, ignore_errors=True)


def _source(manifest: dict) -> TaskSource:
    card = _card(manifest)
    data_file = user_tasks_dir() / manifest["name"] / manifest["data_file"]

    def build(seed: int) -> TaskData:
        examples = parse_user_file(data_file.read_bytes(), data_file.name, card.kind)
        return text_task_data(card, *split_examples(examples, seed))

    def availability() -> Availability:
        if data_file.is_file():
            return Availability(True)
        return Availability(False, f"its file {data_file} is missing", f"python -m mtl_core tasks remove {card.id}")

    return TaskSource(card, availability, CachedTaskLoader(f"user_{card.id}", lambda: [data_file], build))


def user_task_sources() -> list[TaskSource]:
    """User tasks in name order, read from disk on every call."""
    return [_source(m) for m in _manifests()]
