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
