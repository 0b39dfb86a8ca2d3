import importlib.util
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch

import bcfl_env  # noqa: F401  (registers the ids)

# Two xdist workers share 2 cores; one torch thread each avoids oversubscribing them with the
# tiny ops these models run (measured: two 2-thread trainers side by side ran ~4x slower).
torch.set_num_threads(1)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture
def benchmark_script() -> Callable[[str], ModuleType]:
    """Loads ``benchmarks/<name>.py`` as a module (the scripts are not a package)."""

    def load(name: str) -> ModuleType:
        path = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load
