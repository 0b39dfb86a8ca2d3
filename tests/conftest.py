import numpy as np
import pytest

import bcfl_env  # noqa: F401  (registers the ids)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)
