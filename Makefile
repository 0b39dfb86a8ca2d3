# Every target creates or reuses .venv. torch is installed first, pinned, so that no later install
# pulls a multi-GB CUDA build in its place.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
TORCH := torch==2.13.0
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml Makefile | cksum | cut -d' ' -f1)

.PHONY: venv demo test check lint format type bench clean

$(STAMP):
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH)
	$(BIN)/python -m pip install -q -e ".[dev,contrib,sumo,ray]" $(TORCH)
	$(BIN)/python -c "import torch, sys; v = torch.__version__; sys.exit(0 if v.startswith('2.13.0') else 'torch was replaced: ' + v)"
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

venv: $(STAMP)

demo: venv
	$(BIN)/python -m training.demo

test: venv
	PYTHONHASHSEED=0 OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -n 2 --dist loadfile

check: venv lint type

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

type: venv
	$(BIN)/mypy

bench: venv
	$(BIN)/python benchmarks/bench_world.py
	$(BIN)/python benchmarks/bench_chain.py
	$(BIN)/python benchmarks/bench_fl.py
	$(BIN)/python benchmarks/bench_env.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
