"""Faults made from the outside, the way a user's machine has them: a read-only file or folder, a full disk.

Root ignores file permissions, so a read-only file is made with the immutable attribute (chattr +i) when
chmod is not enough, and a full disk is a small tmpfs mounted for the test; where neither works here the
test that needs it is skipped, saying why.
"""
from __future__ import annotations

import errno
import hashlib
import os
import subprocess
from contextlib import contextmanager
from pathlib import Path

import pytest

from mtl_core.spec import ExperimentSpec

TASKS = ["synth_1", "synth_2"]


def small_spec(steps: int = 20, **kw) -> ExperimentSpec:
    """The small synthetic experiment every reliability test trains."""
    kw.setdefault("baselines", False)
    kw.setdefault("max_train_examples", 200)
    kw.setdefault("hidden_size", 8)
    return ExperimentSpec(tasks=list(TASKS), steps=steps, **kw).validated()


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

    def __init__(self, folder: Path, size: str = "8m"):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.filler = self.folder / "filler"
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(self.folder)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a small tmpfs here to fill a disk: {done.stderr.strip()}")

    def fill(self) -> None:
        with open(self.filler, "ab", buffering=0) as fh:
            for chunk in (65536, 512):  # then what the large writes left, until not even 512 bytes fit
                try:
                    while True:
                        fh.write(b"\0" * chunk)
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC, exc

    def free(self) -> None:
        self.filler.unlink(missing_ok=True)

    def unmount(self) -> None:
        subprocess.run(["umount", "-l", str(self.folder)], check=True)


@pytest.fixture
def small_disk(tmp_path):
    disk = SmallDisk(tmp_path / "small-disk")
    yield disk
    disk.unmount()
