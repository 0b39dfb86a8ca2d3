# Every target creates or reuses .venv. torch is installed first, pinned, so that no later install
# pulls a multi-GB CUDA build in its place.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
TORCH := torch==2.13.0
HASH := $(shell cat pyproject.toml Makefile | cksum | cut -d' ' -f1)
STAMP := $(VENV)/.installed-$(HASH)
STAMP_TEST := $(VENV)/.installed-test-$(HASH)
CHECK_TORCH := $(BIN)/python -c "import torch, sys; v = torch.__version__; sys.exit(0 if v.startswith('2.13.0') else 'torch was replaced: ' + v)"

.PHONY: venv venv-test demo test check lint format type bench reliability leaderboard clean

# what the demo needs: the package and its required dependencies
$(STAMP):
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH)
	$(BIN)/python -m pip install -q -e . $(TORCH)
	$(CHECK_TORCH)
	rm -f $(VENV)/.installed-[0-9]*
	touch $(STAMP)

# what the tests need on top: dev tools and the optional backends they exercise
$(STAMP_TEST): $(STAMP)
	$(BIN)/python -m pip install -q -e ".[dev,contrib,sumo,ray,zoo,flower,marl,tune]" $(TORCH)
	$(CHECK_TORCH)
	rm -f $(VENV)/.installed-test-*
	touch $(STAMP_TEST)

venv: $(STAMP)

venv-test: $(STAMP_TEST)

demo: venv
	$(BIN)/python -m training.demo

test: venv-test
	PYTHONHASHSEED=0 OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -n 2 --dist loadfile

check: venv-test lint type

lint: venv-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: venv-test
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

type: venv-test
	$(BIN)/mypy

# LEADERBOARD.md from the committed results (seconds); add ARGS=--evaluate to re-run the baselines
leaderboard: venv
	$(BIN)/python -m training.leaderboard_page $(ARGS)

# every speed benchmark; writes benchmarks/RESULTS.md and benchmarks/results.json (ARGS=--quick: smoke)
bench: venv-test
	PYTHONHASHSEED=0 $(BIN)/python benchmarks/run_all.py $(ARGS)

# attacks the product and writes benchmarks/RELIABILITY.md (about 15 minutes on 2 cores)
reliability: venv-test
	PYTHONHASHSEED=0 OMP_NUM_THREADS=1 $(BIN)/python benchmarks/reliability.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
