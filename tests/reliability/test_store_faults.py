"""A store or output file that cannot be used ends as one line naming the file and what is wrong, exit code 2.

Each case is a store as a user's machine may have it (a text file, a truncated database, a directory, a
read-only file, a store in a read-only data home, a store on a full disk) under `status`, `submit`, `show`
and `export`. A command that only needs to read works where the store can be read; nothing is ever
written to a store that cannot take it (its bytes are the same afterwards), and an export that cannot
be written leaves no partial file.
"""
from __future__ import annotations

import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mtl_core.cli import main
from mtl_core.store import Store
from mtl_core.train.runner import execute_run, prepare_experiment
from tests.reliability.helpers import digest, read_only, small_disk, small_spec  # noqa: F401 (small_disk: a fixture)

# Its module fixture trains once per pytest-xdist worker: the module's tests stay on one worker.
pytestmark = pytest.mark.xdist_group("test_store_faults")

ROOT = Path(__file__).resolve().parents[2]
COMMANDS = ("status", "submit", "show", "export")
SUBMIT = ["--tasks", "synth_1,synth_2", "--steps", "20", "--max-train-examples", "200", "--hidden-size", "8"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(a complete store file with one trained experiment, its id); the store's WAL is folded into the file."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MTL_EXPLORER_HOME", str(tmp_path_factory.mktemp("home")))
        path = tmp_path_factory.mktemp("trained") / "runs.sqlite"
        store = Store(path)
        spec = small_spec()
        experiment_id, [run_id] = store.create_experiment(spec.to_json(), prepare_experiment(spec))
        assert execute_run(store, run_id, threads=1) == "completed"
        store.connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        yield path, experiment_id


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("MTL_EXPLORER_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MTL_EXPLORER_BACKEND", raising=False)


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    """The CLI in this process: a traceback would surface here as the exception itself."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def command_line(command: str, store: Path, experiment_id: str, out: Path) -> list[str]:
    return {"status": ["status"],
            "submit": ["submit", *SUBMIT],
            "show": ["show", experiment_id],
            "export": ["export", experiment_id, "--out", str(out)]}[command] + ["--store", str(store)]


def assert_one_line(code: int, err: str, *phrases: str) -> None:
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err, err
    for phrase in phrases:
        assert phrase in err, err


# ---- stores that are not stores: every command says so -------------------------------------------------
def not_a_database(folder: Path, trained_path: Path) -> Path:
    path = folder / "notes.sqlite"
    path.write_text("my notes, not a store\n")
    return path


def truncated(folder: Path, trained_path: Path) -> Path:
    path = folder / "runs.sqlite"
    data = trained_path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 5])
    return path


def directory(folder: Path, trained_path: Path) -> Path:
    path = folder / "runs.sqlite"
    path.mkdir()
    return path


BROKEN = {not_a_database: "is not a run store", truncated: "is damaged", directory: "is a directory"}


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("make", list(BROKEN), ids=lambda make: make.__name__)
def test_a_broken_store_is_one_line_naming_it(make, command, trained, tmp_path, capsys):
    trained_path, experiment_id = trained
    store = make(tmp_path, trained_path)
    before = digest(store) if store.is_file() else None
    code, out, err = run_cli(capsys, *command_line(command, store, experiment_id, tmp_path / "out.csv"))
    assert_one_line(code, err, str(store), BROKEN[make])
    assert (digest(store) if store.is_file() else None) == before  # not repaired, emptied or overwritten
    assert not (tmp_path / "out.csv").exists()


# ---- stores that cannot be written: reading works, writing says why ---------------------------------------
def assert_reads(command: str, code: int, out: str, err: str, experiment_id: str, out_file: Path) -> None:
    assert code == 0 and err == "", err
    if command == "export":
        assert out_file.read_text().startswith("series,run_id")
    else:
        assert experiment_id in out and "completed" in out


@pytest.mark.parametrize("command", COMMANDS)
def test_a_read_only_store_file_reads_and_refuses_writes(command, trained, tmp_path, capsys):
    trained_path, experiment_id = trained
    store = tmp_path / "runs.sqlite"
    shutil.copy(trained_path, store)
    before = digest(store)
    with read_only(store):
        code, out, err = run_cli(capsys, *command_line(command, store, experiment_id, tmp_path / "out.csv"))
    if command == "submit":
        assert_one_line(code, err, str(store), "read-only")
    else:
        assert_reads(command, code, out, err, experiment_id, tmp_path / "out.csv")
    assert digest(store) == before


@pytest.mark.parametrize("command", COMMANDS)
def test_a_store_in_a_read_only_data_home_reads_and_refuses_writes(command, trained, tmp_path, capsys):
    trained_path, experiment_id = trained
    home = tmp_path / "home"  # $MTL_EXPLORER_HOME, used before: it has its user_tasks folder
    (home / "user_tasks").mkdir(parents=True)
    store = home / "runs.sqlite"
    shutil.copy(trained_path, store)
    before = digest(store)
    with read_only(home):
        code, out, err = run_cli(capsys, *command_line(command, store, experiment_id, tmp_path / "out.csv"))
        assert sorted(p.name for p in home.iterdir()) == ["runs.sqlite", "user_tasks"]  # no SQLite side files
    if command == "submit":
        assert_one_line(code, err, str(store), "cannot write", str(home))
    else:
        assert_reads(command, code, out, err, experiment_id, tmp_path / "out.csv")
    assert digest(store) == before


@pytest.mark.parametrize("command", COMMANDS)
def test_a_store_on_a_full_disk_reads_and_refuses_writes(command, trained, small_disk, tmp_path, capsys):
    trained_path, experiment_id = trained
    store = small_disk.folder / "runs.sqlite"
    shutil.copy(trained_path, store)
    before = digest(store)
    small_disk.fill()
    code, out, err = run_cli(capsys, *command_line(command, store, experiment_id, tmp_path / "out.csv"))
    if command == "submit":
        assert_one_line(code, err, str(store), "the disk is full")
    else:
        assert_reads(command, code, out, err, experiment_id, tmp_path / "out.csv")
    assert digest(store) == before


@pytest.mark.parametrize("command", COMMANDS)
def test_a_file_size_limit_reads_and_refuses_writes(command, trained, tmp_path):
    """The full disk of a machine where no tmpfs can be mounted: the command's file-size limit is 0 (EFBIG)."""
    trained_path, experiment_id = trained
    store = tmp_path / "runs.sqlite"
    shutil.copy(trained_path, store)
    before = digest(store)
    out = tmp_path / "exports" / "series.csv"
    done = subprocess.run([sys.executable, "-m", "mtl_core", *command_line(command, store, experiment_id, out)],
                          capture_output=True, text=True, timeout=120, cwd=ROOT,
                          preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (0, resource.RLIM_INFINITY)))
    if command in ("submit", "export"):
        assert_one_line(done.returncode, done.stderr, str(out if command == "export" else store), "file-size limit")
        assert not out.parent.exists() or list(out.parent.iterdir()) == []
    else:
        assert done.returncode == 0 and experiment_id in done.stdout and "completed" in done.stdout, done.stderr
    assert digest(store) == before


def test_reading_an_up_to_date_store_never_writes_it(trained, tmp_path):
    trained_path, experiment_id = trained
    store_path = tmp_path / "runs.sqlite"
    shutil.copy(trained_path, store_path)
    before = digest(store_path)
    for readonly in (False, True):
        store = Store(store_path, readonly=readonly)
        assert store.experiment(experiment_id) is not None and len(store.metrics([r["id"] for r in store.runs()]))
        store.connection.close()
    assert digest(store_path) == before


def test_reading_a_missing_store_read_only_creates_nothing(tmp_path, capsys):
    store = tmp_path / "nothing-here.sqlite"
    code, _, err = run_cli(capsys, "show", "exp-x", "--store", str(store))
    assert_one_line(code, err, "no experiment 'exp-x'")
    assert not store.exists()


# ---- --store and --spec naming a directory --------------------------------------------------------------
@pytest.mark.parametrize("command", ["run", "submit"])
def test_a_spec_that_is_a_directory_is_one_line(command, tmp_path, capsys):
    code, _, err = run_cli(capsys, command, "--spec", str(tmp_path), "--store", str(tmp_path / "runs.sqlite"))
    assert_one_line(code, err, f"--spec: cannot read '{tmp_path}'", "directory")


# ---- export --out: never a partial file ------------------------------------------------------------------
def test_export_to_a_directory_is_one_line(trained, tmp_path, capsys):
    trained_path, experiment_id = trained
    code, _, err = run_cli(capsys, "export", experiment_id, "--out", str(tmp_path), "--store", str(trained_path))
    assert_one_line(code, err, f"--out {tmp_path} is a directory")


@pytest.mark.parametrize("format", ["csv", "json"])
def test_export_to_a_read_only_folder_is_one_line_and_leaves_nothing(format, trained, tmp_path, capsys):
    trained_path, experiment_id = trained
    folder = tmp_path / "exports"
    folder.mkdir()
    out = folder / f"series.{format}"
    with read_only(folder):
        code, _, err = run_cli(capsys, "export", experiment_id, "--format", format, "--out", str(out),
                               "--store", str(trained_path))
    assert_one_line(code, err, f"cannot write --out {out}")
    assert list(folder.iterdir()) == []


@pytest.mark.parametrize("format", ["csv", "json"])
def test_export_to_a_full_disk_keeps_the_previous_file_whole(format, trained, small_disk, capsys):
    trained_path, experiment_id = trained
    out = small_disk.folder / f"series.{format}"
    out.write_text("the previous export\n")
    small_disk.fill()
    code, _, err = run_cli(capsys, "export", experiment_id, "--format", format, "--out", str(out),
                           "--store", str(trained_path))
    assert_one_line(code, err, f"cannot write --out {out}", "the disk is full")
    assert out.read_text() == "the previous export\n"
    assert sorted(p.name for p in small_disk.folder.iterdir()) == ["filler", out.name]

    small_disk.free()
    code, _, err = run_cli(capsys, "export", experiment_id, "--format", format, "--out", str(out),
                           "--store", str(trained_path))
    assert code == 0, err
    assert out.read_text() != "the previous export\n"
