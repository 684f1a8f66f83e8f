"""Faults made from the outside, the way a user's machine has them: a read-only file or folder, a full disk.

Root ignores file permissions, so a read-only file is made with the immutable attribute (chattr +i) when
chmod is not enough. A full disk is a small tmpfs mounted for the test (root); where none can be mounted,
a training run's full disk is a file-size limit put on its processes from outside (prlimit), and the
other tests that need a full disk are skipped, saying why.
"""
from __future__ import annotations

import errno
import hashlib
import os
import resource
import subprocess
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable

import pytest

from mtl_core.spec import ExperimentSpec

TASKS = ["synth_1", "synth_2"]


def small_spec(steps: int = 20, **kw) -> ExperimentSpec:
    """The small synthetic experiment every reliability test trains."""
    kw.setdefault("baselines", False)
    kw.setdefault("max_train_examples", 200)
    kw.setdefault("hidden_size", 8)
    return ExperimentSpec(tasks=list(TASKS), steps=steps, **kw).validated()


@pytest.fixture(autouse=True, scope="module")
def home(tmp_path_factory):
    """An empty data home for a whole module (hypothesis reruns a test body without function fixtures); a
    module takes it with `from tests.reliability.helpers import home`."""
    with pytest.MonkeyPatch.context() as patch:
        path = tmp_path_factory.mktemp("home")
        patch.setenv("MTL_EXPLORER_HOME", str(path))
        yield path


def digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _still_writable(path: Path) -> bool:
    if path.is_dir():
        probe = path / ".write-probe"
        try:
            probe.touch()
        except OSError:
            return False
        probe.unlink()
        return True
    try:
        os.close(os.open(path, os.O_WRONLY))  # no O_TRUNC: opening changes nothing
    except OSError:
        return False
    return True


@contextmanager
def read_only(path: Path):
    """`path` (a file, or a folder: no new files in it) cannot be written while the block runs."""
    path = Path(path)
    mode = path.stat().st_mode
    path.chmod(mode & ~0o222)
    immutable = False
    try:
        if _still_writable(path):  # root: permissions do not apply
            immutable = subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode == 0
            if not immutable or _still_writable(path):
                pytest.skip("cannot make a file read-only here (root without chattr +i)")
        yield path
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(path)], check=True)
        path.chmod(mode)


class SmallDisk:
    """A tmpfs of `size` mounted on `folder`; fill() takes every free byte, free() gives them back."""

    refusal = "the disk is full"  # what a refused write says here

    def __init__(self, folder: Path):
        self.folder = folder
        self.filler = folder / "filler"

    @classmethod
    def mount(cls, folder: Path, size: str = "8m") -> "SmallDisk | str":
        """The mounted disk, or why it cannot be mounted here."""
        folder.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                              capture_output=True, text=True)
        return cls(folder) if done.returncode == 0 else f"cannot mount a small tmpfs here: {done.stderr.strip()}"

    def fill(self, pids: Iterable[int] = ()) -> None:
        with open(self.filler, "ab", buffering=0) as fh:
            for chunk in (65536, 512):  # then what the large writes left, until not even 512 bytes fit
                try:
                    while True:
                        fh.write(b"\0" * chunk)
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC, exc

    def free(self) -> None:
        self.filler.unlink(missing_ok=True)

    def close(self) -> None:
        subprocess.run(["umount", "-l", str(self.folder)], check=True)


class FileSizeLimit:
    """Where no tmpfs can be mounted (not root): the same refused writes, for the given processes only, by
    lowering their RLIMIT_FSIZE to 0 (every write then fails with EFBIG; Python ignores SIGXFSZ) and raising
    it back in free()."""

    refusal = "file-size limit"

    def __init__(self, folder: Path):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.limited: dict[int, tuple[int, int]] = {}  # pid -> its limits before

    def fill(self, pids: Iterable[int] = ()) -> None:
        for pid in pids:
            soft, hard = resource.prlimit(pid, resource.RLIMIT_FSIZE)
            self.limited[pid] = (soft, hard)
            resource.prlimit(pid, resource.RLIMIT_FSIZE, (0, hard))

    def free(self) -> None:
        for pid, limits in self.limited.items():
            try:
                resource.prlimit(pid, resource.RLIMIT_FSIZE, limits)
            except ProcessLookupError:  # a limited worker that has ended
                pass
        self.limited.clear()

    def close(self) -> None:
        self.free()


@pytest.fixture
def small_disk(tmp_path):
    disk = SmallDisk.mount(tmp_path / "small-disk")
    if isinstance(disk, str):
        pytest.skip(disk)
    yield disk
    disk.close()


@pytest.fixture
def full_disk(tmp_path):
    """A small tmpfs where one can be mounted, else file-size limits on the processes that write."""
    disk = SmallDisk.mount(tmp_path / "small-disk")
    if isinstance(disk, str):
        disk = FileSizeLimit(tmp_path / "limited")
    yield disk
    disk.close()
