"""User task uploads and their manifests: a bad file gets one line naming the file, the line and what is allowed,
and registers nothing; a broken manifest hides only its own task, with one warning naming it."""
from __future__ import annotations

import csv
import json
import logging
import os
import shutil
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mtl_core.errors import UserError
from mtl_core.spec import ExperimentSpec
from mtl_core.store import Store
from mtl_core.tasks import card_dict, list_tasks
from mtl_core.tasks.user import MIN_ROWS, add_user_task_from_bytes, parse_user_file, user_tasks_dir
from tests.reliability.helpers import home  # noqa: F401 - the module's data home (autouse)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLASSIFICATION = "sentence_classification"
REGRESSION = "sentence_regression"
TAGGING = "token_tagging"
FIELD_LIMIT_KB = csv.field_size_limit() // 1024


@pytest.fixture(autouse=True)
def no_user_tasks(home):
    """Each test starts and must end with its own user tasks only."""
    for folder in user_tasks_dir().iterdir():
        shutil.rmtree(folder)


def csv_rows(rows: int = 12) -> list[str]:
    return [f"the film was number {i},{'pos' if i % 2 else 'neg'}" for i in range(rows)]


def csv_file(*lines: str) -> bytes:
    return ("\n".join(lines) + "\n").encode()


def jsonl_file(records: list[dict]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in records).encode()


def labelled(label, rows: int = 12, bad_row: int = 3) -> bytes:
    """A valid classification JSONL file whose line `bad_row` has `label`."""
    return jsonl_file([{"text": f"sentence {i}", "label": label if i == bad_row - 1 else f"c{i % 2}"}
                       for i in range(rows)])


def scored(score, rows: int = 12, bad_row: int = 3) -> bytes:
    return jsonl_file([{"text": f"sentence {i}", "score": score if i == bad_row - 1 else i / 10} for i in range(rows)])


LONG_FIELD = "x" * (csv.field_size_limit() + 1)

BAD_FILES = {
    "label-list": (labelled(["pos", "neg"]), "f.jsonl", CLASSIFICATION,
                   "f.jsonl: line 3: label must be a string or a number, got a list ['pos', 'neg']"),
    "label-object": (labelled({"value": "pos"}), "f.jsonl", CLASSIFICATION,
                     "f.jsonl: line 3: label must be a string or a number, got an object {'value': 'pos'}"),
    "text-list": (jsonl_file([{"text": ["a", "b"], "label": "x"}] * 12), "f.jsonl", CLASSIFICATION,
                  "f.jsonl: line 1: text must be a string or a number, got a list ['a', 'b']"),
    "score-list": (scored([0.5]), "f.jsonl", REGRESSION, "f.jsonl: line 3: score must be a finite number, got [0.5]"),
    "score-object": (scored({"mean": 0.5}), "f.jsonl", REGRESSION,
                     "f.jsonl: line 3: score must be a finite number, got {'mean': 0.5}"),
    "score-boolean": (scored(True), "f.jsonl", REGRESSION, "f.jsonl: line 3: score must be a finite number, got True"),
    "score-beyond-float": (scored(10**400), "f.jsonl", REGRESSION,
                           "f.jsonl: line 3: score must be a finite number, got 1000"),
    "repeated-header": (csv_file("text,label", *csv_rows(6), "text,label", *csv_rows(6)), "f.csv", CLASSIFICATION,
                        ("f.csv: line 8 repeats the header row; keep one header line, at the top "
                         "(were two files pasted together?)")),
    "duplicate-columns": (csv_file("text,label,label", *[r + ",x" for r in csv_rows()]), "f.csv", CLASSIFICATION,
                          ("f.csv: line 1: column(s) 'label' appear more than once in the header; "
                           "name each column once")),
    "nul-in-csv": (csv_file("text,label", "hello\x00there,pos", *csv_rows()), "f.csv", CLASSIFICATION,
                   ("f.csv: NUL byte at byte offset 16 (line 2); a task file is UTF-8 text without NUL bytes "
                    "(UTF-16 and binary files have them): save it as UTF-8 CSV or JSONL")),
    "utf16": ("text,label\n".encode("utf-16"), "f.csv", CLASSIFICATION, "f.csv: NUL byte at byte offset 3 (line 1)"),
    "nul-in-jsonl": (labelled("a\x00b"), "f.jsonl", CLASSIFICATION, None),  # JSON escapes it: allowed text
    "field-too-long": (csv_file("text,label", *csv_rows(3), f"{LONG_FIELD},pos", *csv_rows()), "f.csv", CLASSIFICATION,
                       (f"f.csv: line 5: a field is longer than {FIELD_LIMIT_KB} KB, the most a CSV field may hold; "
                        f"keep each field under {FIELD_LIMIT_KB} KB")),
    "empty": (b"", "f.csv", CLASSIFICATION,
              f"f.csv: the file is empty; a task needs at least {MIN_ROWS} rows with text, label"),
    "blank-lines-only": (b"\xef\xbb\xbf\n \n", "f.jsonl", TAGGING,
                         f"f.jsonl: the file is empty; a task needs at least {MIN_ROWS} rows with tokens, tags"),
    "header-only": (b"text,score\n", "f.csv", REGRESSION, f"f.csv: has 0 rows; a task needs at least {MIN_ROWS}"),
    "not-utf8": (b'{"text": "caf\xe9", "label": "x"}\n', "f.jsonl", CLASSIFICATION,
                 "f.jsonl: not UTF-8 text: byte 0xe9 at byte offset 13 (line 1); save the file as UTF-8"),
    "jsonl-too-deep": (b"[" * 100_000 + b"]" * 100_000 + b"\n", "f.jsonl", CLASSIFICATION,
                       "f.jsonl: line 1 is nested too deeply to read; each line is one JSON object with text, label"),
    "jsonl-huge-number": (b'{"text": "a", "score": ' + b"9" * 5000 + b"}\n", "f.jsonl", REGRESSION,
                          "f.jsonl: line 1 is not valid JSON (a number with more than 4300 digits)"),
}


@pytest.mark.parametrize("case", sorted(set(BAD_FILES) - {"nul-in-jsonl"}))
def test_a_bad_upload_gets_one_line_naming_file_and_line_and_registers_nothing(case):
    data, filename, kind, message = BAD_FILES[case]
    with pytest.raises(UserError) as error:
        add_user_task_from_bytes(data, filename, "upload", kind)
    assert str(error.value).startswith(message) and "\n" not in str(error.value)
    assert list(user_tasks_dir().iterdir()) == []


def test_an_escaped_nul_inside_a_json_string_is_text_not_a_nul_byte():
    data, filename, kind, _ = BAD_FILES["nul-in-jsonl"]
    assert b"\x00" not in data and len(parse_user_file(data, filename, kind)) == 12


def test_a_row_repeating_only_the_needed_column_names_is_still_a_repeated_header():
    data = csv_file("id,text,label", *[f"{i},{r}" for i, r in enumerate(csv_rows(6))], "n,text,label",
                    *[f"{i},{r}" for i, r in enumerate(csv_rows(6))])
    with pytest.raises(UserError, match=r"^f.csv: line 8 repeats the header row"):
        parse_user_file(data, "f.csv", CLASSIFICATION)


def test_empty_column_names_from_trailing_commas_may_repeat():
    data = csv_file("text,label,,", *[r + ",," for r in csv_rows()])
    assert [label for _, label in parse_user_file(data, "f.csv", CLASSIFICATION)][:2] == ["neg", "pos"]


def test_a_jsonl_string_holding_a_line_separator_stays_one_line():
    records = [{"text": f"sentence {i}\u2028continued", "label": f"c{i % 2}"} for i in range(12)]
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    assert len(parse_user_file(text.encode(), "f.jsonl", CLASSIFICATION)) == 12


@pytest.mark.parametrize("case", ["label-list", "repeated-header", "nul-in-csv", "field-too-long", "empty"])
def test_cli_tasks_add_of_a_bad_file_is_one_line_and_exit_2(tmp_path, home, case):
    data, filename, kind, message = BAD_FILES[case]
    path = tmp_path / filename
    path.write_bytes(data)
    result = subprocess.run([sys.executable, "-m", "mtl_core", "tasks", "add", str(path), "--name", "upload",
                             "--kind", kind], capture_output=True, text=True, cwd=ROOT, timeout=120,
                            env={**os.environ, "MTL_EXPLORER_HOME": str(home)})
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [result.stderr.strip()] and result.stderr.startswith(f"error: {message}")
    assert list(user_tasks_dir().iterdir()) == []


# ---- fuzzing the validator: UserError or a task, never another exception ------------------------------
KINDS = [CLASSIFICATION, REGRESSION, TAGGING]
filenames = st.sampled_from(["f.csv", "f.jsonl", "f.CSV", "f.txt"])
csv_fields = st.sampled_from(["good film", "bad", '"quoted, comma"', '"two\nlines"', "", " ", "text", "label",
                              "score", "tokens", "tags", "1", "0.5", "-3e2", "nan", "inf", "B-PER O", "O", "é",
                              '"unterminated', '""', "\x00", "\r", "\ufeff"])
random_csv = st.builds(
    lambda header, rows, ending: (header + ending + ending.join(",".join(row) for row in rows)).encode(),
    st.sampled_from(["text,label", "label,text", "text,label,label", "text,score", "tokens,tags", "text,label,,",
                     "text", ""]),
    st.lists(st.lists(csv_fields, min_size=1, max_size=3), max_size=14),
    st.sampled_from(["\n", "\r\n", "\r"]),
)
# Files that are valid for their header but for at most a few random lines, so that the checks after the
# first row (classes, scores, tags, metrics) are reached too.
VALID_ROWS = {  # kind: (header, rows)
    CLASSIFICATION: ("text,label", ["good film,pos", "bad day,neg", '"a quiet, fine evening",pos', "grim,neg"]),
    REGRESSION: ("text,score", ["good film,0.9", "bad day,-1", "fine,0.5", '"so, so",3e-1']),
    TAGGING: ("tokens,tags", ["John said hi,B-PER O O", "hi,O", "Ann Lee left,B-PER I-PER O"]),
}
mostly_valid_csv = st.sampled_from(sorted(VALID_ROWS)).flatmap(lambda kind: st.builds(
    lambda rows, noise, at: ((VALID_ROWS[kind][0] + "\n" + "\n".join(rows[:at] + noise + rows[at:])).encode(), kind),
    st.lists(st.sampled_from(VALID_ROWS[kind][1]), min_size=MIN_ROWS, max_size=14),
    st.lists(st.lists(csv_fields, min_size=1, max_size=3).map(",".join), max_size=2),
    st.integers(0, 14),
))
csv_cases = st.tuples(random_csv, st.sampled_from(KINDS)) | mostly_valid_csv
# No subnormal floats: a run trained earlier in the same process turned on flush-to-zero
# (torch.set_flush_denormal), under which hypothesis cannot draw them.
json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_subnormal=False) | st.text(max_size=10)
json_cells = st.recursive(json_scalars, lambda children: st.lists(children, max_size=3)
                          | st.dictionaries(st.text(max_size=5), children, max_size=3), max_leaves=6)
random_records = st.lists(
    st.dictionaries(st.sampled_from(["text", "label", "score", "tokens", "tags", "other"]),
                    st.sampled_from(["a film", "pos", "neg", "B-PER O", 0.5, 3]) | json_cells, max_size=4),
    max_size=14,
)
VALID_RECORDS = {
    CLASSIFICATION: [{"text": "good film", "label": "pos"}, {"text": "bad day", "label": "neg"},
                     {"text": "fine", "label": 1}],
    REGRESSION: [{"text": "good film", "score": 0.9}, {"text": "bad day", "score": -1},
                 {"text": "fine", "score": "0.5"}],
    TAGGING: [{"tokens": ["John", "said", "hi"], "tags": "B-PER O O"}, {"tokens": "hi", "tags": ["O"]}],
}


def jsonl_bytes(records: list) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in records).encode()


mostly_valid_jsonl = st.sampled_from(sorted(VALID_RECORDS)).flatmap(lambda kind: st.builds(
    lambda records, noise, at: (jsonl_bytes(records[:at] + noise + records[at:]), kind),
    st.lists(st.sampled_from(VALID_RECORDS[kind]), min_size=MIN_ROWS, max_size=14),
    st.lists(st.dictionaries(st.sampled_from(sorted(VALID_RECORDS[kind][0])), json_cells, max_size=2), max_size=2),
    st.integers(0, 14),
))
jsonl_cases = st.tuples(random_records.map(jsonl_bytes), st.sampled_from(KINDS)) | mostly_valid_jsonl


def validates_or_refuses(data: bytes, filename: str, kind: str) -> None:
    try:
        examples = parse_user_file(data, filename, kind)
    except UserError as error:
        message = str(error)
        assert "\n" not in message and message.startswith(("kind:", filename)), message
        return
    assert len(examples) >= MIN_ROWS
    assert all(tokens and all(isinstance(t, str) and t for t in tokens) for tokens, _ in examples)


@settings(max_examples=100, deadline=None)
@given(data=st.binary(max_size=600), filename=filenames, kind=st.sampled_from(KINDS))
def test_random_bytes_are_a_task_or_a_user_error(data, filename, kind):
    validates_or_refuses(data, filename, kind)


@settings(max_examples=100, deadline=None)
@given(case=csv_cases)
def test_random_csv_like_text_is_a_task_or_a_user_error(case):
    data, kind = case
    validates_or_refuses(data, "f.csv", kind)


@settings(max_examples=100, deadline=None)
@given(case=jsonl_cases)
def test_random_jsonl_records_are_a_task_or_a_user_error(case):
    data, kind = case
    validates_or_refuses(data, "f.jsonl", kind)


# ---- a broken manifest hides only its own task ------------------------------------------------------------
GOOD_CSV = csv_file("text,label", *csv_rows(20))


def break_manifest(name: str, change) -> None:
    path = user_tasks_dir() / name / "manifest.json"
    manifest = json.loads(path.read_text())
    path.write_text(change(manifest) if callable(change) else change)


BROKEN_MANIFESTS = {
    "missing-kind": (lambda m: json.dumps({k: v for k, v in m.items() if k != "kind"}), "lacks kind"),
    "unknown-kind": (lambda m: json.dumps({**m, "kind": "translation"}), "has kind 'translation'; allowed: "),
    "not-json": ("{not json", "cannot be read as JSON"),
    "not-an-object": ("[]", "is not a JSON object"),
    "other-name": (lambda m: json.dumps({**m, "name": "atis_intent"}),
                   "names the task 'atis_intent', not its folder's name 'broken'"),
    "data-file-outside": (lambda m: json.dumps({**m, "data_file": "../../secret.csv"}),
                          "has data_file '../../secret.csv'; allowed: data.csv, data.jsonl"),
}


@pytest.mark.parametrize("case", sorted(BROKEN_MANIFESTS))
def test_a_broken_manifest_is_skipped_with_one_warning_naming_it(case, caplog):
    change, problem = BROKEN_MANIFESTS[case]
    add_user_task_from_bytes(GOOD_CSV, "good.csv", "good", CLASSIFICATION)
    add_user_task_from_bytes(GOOD_CSV, "broken.csv", "broken", CLASSIFICATION)
    break_manifest("broken", change)
    with caplog.at_level(logging.WARNING, logger="mtl_core.tasks.user"):
        for _ in range(3):  # the catalog is read again and again: one warning is enough
            assert [s.card.id for s in list_tasks() if s.card.family == "user"] == ["good"]
    assert len(caplog.records) == 1
    message = caplog.records[0].getMessage()
    assert message.startswith("warning: user task 'broken' skipped: its ") and problem in message
    assert message.endswith("; fix the file or remove it with `python -m mtl_core tasks remove broken`")
    assert ExperimentSpec.from_dict({"tasks": ["good"]}).tasks == ["good"]


def test_cli_lists_the_good_tasks_warns_once_and_submits_them(tmp_path, home):
    add_user_task_from_bytes(GOOD_CSV, "good.csv", "good", CLASSIFICATION)
    add_user_task_from_bytes(GOOD_CSV, "broken.csv", "broken", CLASSIFICATION)
    break_manifest("broken", BROKEN_MANIFESTS["missing-kind"][0])
    env = {**os.environ, "MTL_EXPLORER_HOME": str(home)}

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "mtl_core", *args], capture_output=True, text=True, cwd=ROOT,
                              timeout=300, env=env)

    listed = cli("tasks", "--json")
    assert listed.returncode == 0, listed.stderr
    ids = [card["id"] for card in json.loads(listed.stdout)]
    assert "good" in ids and "broken" not in ids and "synth_1" in ids
    assert len(listed.stderr.splitlines()) == 1 and "user task 'broken' skipped" in listed.stderr
    store = tmp_path / "runs.sqlite"
    submitted = cli("submit", "--tasks", "good", "--steps", "2", "--eval-every", "1", "--device", "cpu",
                    "--store", str(store), "--wait", "--json")
    assert submitted.returncode == 0, submitted.stderr
    assert "user task 'broken' skipped" in submitted.stderr and "Traceback" not in submitted.stderr
    experiment_id = json.loads(submitted.stdout.strip().splitlines()[-1])["experiment_id"]
    assert [run["status"] for run in Store(store).runs(experiment_id)] == ["completed"]
    removed = cli("tasks", "remove", "broken")
    assert removed.returncode == 0 and not (user_tasks_dir() / "broken").exists()


def test_a_user_file_that_no_longer_parses_is_listed_unavailable_with_its_reason():
    add_user_task_from_bytes(GOOD_CSV, "good.csv", "good", CLASSIFICATION)
    add_user_task_from_bytes(GOOD_CSV, "edited.csv", "edited", CLASSIFICATION)
    with open(user_tasks_dir() / "edited" / "data.csv", "ab") as handle:  # edited on disk after registration
        handle.write(b"a NUL\x00 byte,pos\n")
    cards = {card["id"]: card for card in map(card_dict, ("good", "edited"))}
    assert cards["good"]["available"] and cards["good"]["sizes"]["train"] == 16
    assert not cards["edited"]["available"] and cards["edited"]["reason"].startswith("data.csv: NUL byte at byte")
    assert cards["edited"]["fix"] == "python -m mtl_core tasks remove edited"
