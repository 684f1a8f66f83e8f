"""Several commands started together on one new store (two maps launched at once, parallel submits): every one
of them records its experiment; none is told the store is locked."""
from __future__ import annotations

import subprocess
import sys
import time

from mtl_core.store import Store
from tests.reliability.helpers import small_spec

ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]
OPENERS = 6
ROUNDS = 8

# Each process waits for the same instant, then creates the store and records one experiment.
OPEN_AND_RECORD = """
import sys, time
from mtl_core.store import Store
start = float(sys.argv[2])
while time.time() < start:
    pass
Store(sys.argv[1]).create_experiment(sys.argv[3], [])
print("recorded")
"""


def test_commands_started_together_on_a_new_store_all_record(tmp_path):
    spec_json = small_spec().to_json()
    for round_ in range(ROUNDS):
        path = tmp_path / f"runs-{round_}.sqlite"
        start = time.time() + 1.5  # every interpreter is up before the first one touches the file
        openers = [subprocess.Popen([sys.executable, "-c", OPEN_AND_RECORD, str(path), str(start), spec_json],
                                    cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                   for _ in range(OPENERS)]
        results = [opener.communicate(timeout=120) for opener in openers]  # a hang guard, not a speed claim
        assert all(out.strip() == "recorded" for out, _ in results), [err[-400:] for _, err in results]
        assert len(Store(path, readonly=True).experiments()) == OPENERS
