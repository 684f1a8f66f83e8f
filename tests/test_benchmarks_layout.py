"""`make bench` runs each script as `python benchmarks/X.py`, which puts benchmarks/ first on sys.path: a script
named like a standard-library module (queue.py) would be imported in its place by torch and break every other
benchmark. No benchmark may shadow one."""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_no_benchmark_shadows_a_standard_library_module():
    names = {path.stem for path in (ROOT / "benchmarks").glob("*.py")}
    assert names, "no benchmarks found"
    assert not names & set(sys.stdlib_module_names), sorted(names & set(sys.stdlib_module_names))


def test_make_bench_runs_every_benchmark_script():
    makefile = (ROOT / "Makefile").read_text()
    bench = makefile.split("\nbench:", 1)[1].split("\n\n", 1)[0]
    scripts = {path.name for path in (ROOT / "benchmarks").glob("*.py")}
    assert {name for name in scripts if f"benchmarks/{name}" in bench} == scripts
