"""Tasks users add from their own CSV or JSONL files, kept under data_home()/user_tasks/<name>/.

Columns by kind: text + label (sentence_classification), text + score (sentence_regression),
tokens + tags (token_tagging; in CSV both are space-separated strings, in JSONL lists or strings),
source + target (seq2seq: a text and the text to generate from it; targets are decoded word by word, or
character by character when nearly every target is one word).
A file is validated completely before anything is written, then its copy and a small manifest are
moved into place with one rename, so a task is either fully registered or not at all.
"""
from __future__ import annotations

import csv
import io
import itertools
import json
import logging
import math
import os
import re
import shutil
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from mtl_core.errors import UserError
from mtl_core.paths import data_home
from mtl_core.spec import short_repr
from mtl_core.tasks.base import Availability, TaskCard, TaskData, TaskKind, TaskSource
from mtl_core.tasks.loading import CachedTaskLoader, Example, split_examples, text_task_data
from mtl_core.tasks.registry import builtin_ids
from mtl_core.tasks.seq2seq import seq2seq_task_data
from mtl_core.text import simple_tokenize

USER_TASK_MAX_BYTES = 20 * 1024 * 1024
MIN_ROWS = 10  # enough for a non-empty train, validation and test split
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
COLUMNS = {
    TaskKind.SENTENCE_CLASSIFICATION: ("text", "label"),
    TaskKind.SENTENCE_REGRESSION: ("text", "score"),
    TaskKind.TOKEN_TAGGING: ("tokens", "tags"),
    TaskKind.SEQ2SEQ: ("source", "target"),
}
FORMATS = (".csv", ".jsonl")
MANIFEST = "manifest.json"
METRICS = ("accuracy", "span_f1", "pearson", "chrf")  # what _metric can choose
# A seq2seq upload whose targets are one word in at least this share of rows is decoded character by character.
CHARACTER_TARGETS_SHARE = 0.9

log = logging.getLogger(__name__)


def user_tasks_dir(create: bool = True) -> Path:
    """The folder of uploaded tasks; listing them passes create=False, so reading a read-only data home
    never tries to write to it."""
    path = data_home() / "user_tasks"
    if create:
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


def _decode(data: bytes, filename: str, columns: tuple[str, ...]) -> str:
    if len(data) > USER_TASK_MAX_BYTES:
        raise UserError(
            f"{filename}: file is {len(data) / 2**20:.1f} MB; the limit is {USER_TASK_MAX_BYTES // 2**20} MB", "file"
        )
    nul = data.find(b"\x00")
    if nul >= 0:  # UTF-8 allows NUL, but no text file holds one: it is UTF-16 or binary, saved under a text name
        line = data[:nul].count(b"\n") + 1
        raise UserError(
            f"{filename}: NUL byte at byte offset {nul} (line {line}); a task file is "
            "UTF-8 text without NUL bytes (UTF-16 and binary files have them): save it as UTF-8 CSV or JSONL",
            "file",
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
        raise UserError(
            f"{filename}: the file is empty; a task needs at least {MIN_ROWS} rows with {', '.join(columns)}", "file"
        )
    return text


def _records(text: str, filename: str, columns: tuple[str, ...]) -> list[tuple[str, dict]]:
    """(where, record) pairs, `where` naming the row for error messages."""
    suffix = Path(filename).suffix.lower()
    if suffix == ".csv":
        return _csv_records(text, filename, columns)
    if suffix == ".jsonl":
        records = []
        # Lines end at "\n" only: str.splitlines() would also cut at U+2028 and other separators that a JSON
        # string may hold, and number lines differently from an editor.
        for line_number, line in enumerate(text.split("\n"), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except RecursionError:  # json recurses once per [ or {; Python's stack ends near 1000 levels
                raise UserError(f"{filename}: line {line_number} is nested too deeply to read; each line is one "
                                f"JSON object with {', '.join(columns)}", "file") from None
            except json.JSONDecodeError as exc:
                raise UserError(f"{filename}: line {line_number} is not valid JSON ({exc.msg})", "file") from None
            except ValueError:  # json hands a number's digits to int(), which stops at a digit limit
                raise UserError(f"{filename}: line {line_number} is not valid JSON (a number with more than "
                                f"{sys.get_int_max_str_digits()} digits)", "file") from None
            if not isinstance(record, dict):
                raise UserError(f"{filename}: line {line_number} must be a JSON object with {', '.join(columns)}", "file")
            missing = [c for c in columns if c not in record]
            if missing:
                raise UserError(f"{filename}: line {line_number} lacks field(s) {', '.join(missing)}", "file")
            records.append((f"line {line_number}", record))
        return records
    raise UserError(f"{filename}: unsupported file type {suffix or '(none)'!r}; use {' or '.join(FORMATS)}", "file")


def _csv_records(text: str, filename: str, columns: tuple[str, ...]) -> list[tuple[str, dict]]:
    # newline="": lines end at \n, \r\n or a lone \r (old Mac files), and a quoted field keeps its own line breaks.
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [name.strip() for name in next(reader, [])]
        header_line = reader.line_num
        missing = [c for c in columns if c not in header]
        if missing:
            found = ", ".join(map(short_repr, header)) or "none"
            raise UserError(f"{filename}: missing column(s) {', '.join(missing)}; found {found}, "
                            f"need {', '.join(columns)}", "file")
        # A second column of the same name would silently win over the first; empty names (the trailing
        # commas some spreadsheets write) hold nothing and may repeat.
        named = [name for name in header if name]
        repeated = sorted({name for name in named if named.count(name) > 1})
        if repeated:
            raise UserError(f"{filename}: line {header_line}: column(s) {', '.join(map(short_repr, repeated))} "
                            f"appear more than once in the header; name each column once", "file")
        records = []
        for values in reader:
            if not values:  # a blank line
                continue
            row = dict(itertools.zip_longest(header, values))  # a short row's missing fields are None
            if all((row.get(c) or "").strip() == c for c in columns):
                raise UserError(f"{filename}: line {reader.line_num} repeats the header row; keep one header "
                                "line, at the top (were two files pasted together?)", "file")
            records.append((f"row {len(records) + 1} (line {reader.line_num})", row))
        return records
    except csv.Error as exc:
        limit = csv.field_size_limit()
        if "field limit" in str(exc):  # csv's only way to say so: "field larger than field limit (131072)"
            raise UserError(f"{filename}: line {reader.line_num}: a field is longer than {limit // 1024} KB, the "
                            f"most a CSV field may hold; keep each field under {limit // 1024} KB", "file") from None
        raise UserError(f"{filename}: line {reader.line_num} is not valid CSV ({exc})", "file") from None


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


def _scalar_text(value, where: str, column: str, filename: str) -> str:
    """A text or label cell as a string: JSONL may hold numbers and booleans there, never a list or an object
    (whose printed form would silently become one label or sentence)."""
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        what = "a list" if isinstance(value, list) else "an object"
        raise UserError(f"{filename}: {where}: {column} must be a string or a number, got {what} "
                        f"{short_repr(value)}", "file")
    return str(value)


def _example(kind: TaskKind, record: dict, where: str, filename: str) -> Example:
    if kind is TaskKind.TOKEN_TAGGING:
        tokens = _words(record["tokens"], where, "tokens", filename)
        tags = _words(record["tags"], where, "tags", filename)
        if len(tokens) != len(tags):
            raise UserError(f"{filename}: {where}: {len(tokens)} tokens but {len(tags)} tags; need one tag per token", "file")
        return tokens, tags
    if kind is TaskKind.SEQ2SEQ:
        source = simple_tokenize(_scalar_text(record["source"], where, "source", filename))
        if not source:
            raise UserError(f"{filename}: {where}: source is empty; every row needs a source text", "file")
        target = " ".join(_scalar_text(record["target"], where, "target", filename).split())
        if not target:
            raise UserError(f"{filename}: {where}: target is empty; every row needs the text to generate", "file")
        return source, target
    tokens = simple_tokenize(_scalar_text(record["text"], where, "text", filename))
    if not tokens:
        raise UserError(f"{filename}: {where}: text is empty", "file")
    if kind is TaskKind.SENTENCE_REGRESSION:
        score = record["score"]
        try:
            number = math.nan if isinstance(score, bool) else float(score)  # float(true) would be 1.0
        except (TypeError, ValueError, OverflowError):  # a list, a word, an int beyond float's range
            number = math.nan
        if not math.isfinite(number):
            raise UserError(f"{filename}: {where}: score must be a finite number, got {short_repr(score)}", "file")
        return tokens, number
    label = _scalar_text(record["label"], where, "label", filename).strip()
    if not label:
        raise UserError(f"{filename}: {where}: label is empty", "file")
    return tokens, label


def parse_user_file(data: bytes, filename: str, kind: str | TaskKind) -> list[Example]:
    """Every row as a (tokens, target) example, or a UserError naming the file, row and problem."""
    kind = _check_kind(kind)
    text = _decode(data, filename, COLUMNS[kind])
    examples = [_example(kind, record, where, filename) for where, record in _records(text, filename, COLUMNS[kind])]
    if len(examples) < MIN_ROWS:
        raise UserError(f"{filename}: has {len(examples)} rows; a task needs at least {MIN_ROWS}", "file")
    if kind is TaskKind.SENTENCE_REGRESSION:
        if len({score for _, score in examples}) < 2:
            raise UserError(f"{filename}: every score is the same; a regression target must vary", "file")
    elif kind is TaskKind.SEQ2SEQ:
        if len({target for _, target in examples}) < 2:
            raise UserError(f"{filename}: every target is the same; a generation task needs at least two", "file")
    else:
        classes = {t for _, target in examples for t in (target if isinstance(target, list) else [target])}
        if len(classes) < 2:
            what = "tag" if kind is TaskKind.TOKEN_TAGGING else "label"
            raise UserError(f"{filename}: only one {what} ({classes.pop()!r}); a task needs at least two", "file")
    return examples


def _metric(kind: TaskKind, examples: list[Example]) -> str:
    if kind is TaskKind.SEQ2SEQ:
        return "chrf"
    if kind is TaskKind.SENTENCE_REGRESSION:
        return "pearson"
    if kind is TaskKind.TOKEN_TAGGING:
        tags = {tag for _, target in examples for tag in target}
        is_bio = all(tag == "O" or tag[:2] in ("B-", "I-") for tag in tags)
        return "span_f1" if is_bio else "accuracy"  # POS-like tags: per-token accuracy
    return "accuracy"


# ------------------------------------------------------------------------------------- storage


def _target_tokens(examples: list[Example]) -> str:
    single = sum(1 for _, target in examples if len(target.split()) == 1)
    return "char" if single >= CHARACTER_TARGETS_SHARE * len(examples) else "word"


def _card(manifest: dict) -> TaskCard:
    generation = manifest["kind"] == TaskKind.SEQ2SEQ.value
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
        target_tokens=(manifest.get("target_tokens") if manifest.get("target_tokens") in ("char", "word")
                       else "word") if generation else "",
        source_tokens="word" if generation else "",
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
        **({"target_tokens": _target_tokens(examples)} if kind is TaskKind.SEQ2SEQ else {}),
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
    try:
        data = path.read_bytes()
    except OSError as exc:  # e.g. no permission to read it
        raise UserError(f"file: cannot read {path}: {exc.strerror or exc}", "file") from None
    return add_user_task_from_bytes(data, path.name, name, kind)


def _manifests() -> list[dict]:
    """The manifests of every user task that can be listed; a broken one is skipped with a warning, so that
    one damaged folder hides only its own task, not the catalog."""
    manifests = []
    folder_of_tasks = user_tasks_dir(create=False)
    for folder in sorted(folder_of_tasks.iterdir()) if folder_of_tasks.is_dir() else []:
        if folder.name.startswith(".") or not (folder / MANIFEST).is_file():
            continue  # a staging folder or a foreign file
        try:
            manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError) as exc:  # ValueError: not UTF-8 or not JSON
            _warn_skipped(folder, f"cannot be read as JSON ({short_repr(str(exc))})")
            continue
        problem = _manifest_problem(manifest, folder.name)
        if problem:
            _warn_skipped(folder, problem)
            continue
        manifests.append(manifest)
    return manifests


def _manifest_problem(manifest, folder_name: str) -> str | None:
    """What makes a manifest unusable, or None. Every value is checked because each reaches the catalog, and
    data_file names the file that is read: only the two names add_user_task_from_bytes writes are allowed."""
    if not isinstance(manifest, dict):
        return "is not a JSON object"
    missing = [key for key in ("name", "kind", "metric", "filename", "data_file", "rows") if key not in manifest]
    if missing:
        return f"lacks {', '.join(missing)}"
    if manifest["name"] != folder_name:
        return f"names the task {short_repr(manifest['name'])}, not its folder's name {folder_name!r}"
    if not NAME_PATTERN.match(folder_name):
        return "names the task with characters a task id may not hold (lowercase letters, digits, underscores)"
    if folder_name in builtin_ids():
        return "names a built-in task, which keeps its id"
    kinds = [k.value for k in COLUMNS]
    if manifest["kind"] not in kinds:
        return f"has kind {short_repr(manifest['kind'])}; allowed: {', '.join(kinds)}"
    if manifest["metric"] not in METRICS:
        return f"has metric {short_repr(manifest['metric'])}; allowed: {', '.join(METRICS)}"
    data_files = ["data" + suffix for suffix in FORMATS]
    if manifest["data_file"] not in data_files:
        return f"has data_file {short_repr(manifest['data_file'])}; allowed: {', '.join(data_files)}"
    if not isinstance(manifest["filename"], str):
        return f"has filename {short_repr(manifest['filename'])}; expected a string"
    if not isinstance(manifest["rows"], int) or isinstance(manifest["rows"], bool) or manifest["rows"] < 0:
        return f"has rows {short_repr(manifest['rows'])}; expected a whole number ≥ 0"
    return None


_warned: set[tuple[str, str]] = set()  # (folder, problem): the catalog is read often; one warning each suffices


def _warn_skipped(folder: Path, problem: str) -> None:
    if (str(folder), problem) in _warned:
        return
    _warned.add((str(folder), problem))
    fix = (f"remove it with `python -m mtl_core tasks remove {folder.name}`" if NAME_PATTERN.match(folder.name)
           else f"delete the folder {folder}")
    # With no logging set up (the CLI), Python prints a warning as its bare message on stderr: one line.
    log.warning("warning: user task %s skipped: its %s %s; fix the file or %s",
                short_repr(folder.name), folder / MANIFEST, problem, fix)


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
        if card.kind is TaskKind.SEQ2SEQ:
            return seq2seq_task_data(card, *split_examples(examples, seed))
        return text_task_data(card, *split_examples(examples, seed))

    def availability() -> Availability:
        if data_file.is_file():
            return Availability(True)
        return Availability(False, f"its file {data_file} is missing", f"python -m mtl_core tasks remove {card.id}")

    return TaskSource(card, availability, CachedTaskLoader(f"user_{card.id}", lambda: [data_file], build))


def user_task_sources() -> list[TaskSource]:
    """User tasks in name order, read from disk on every call."""
    return [_source(m) for m in _manifests()]
