"""Run the env's torch work with a fixed thread count and give the caller's setting back.

The env trains and scores small models: on a 2-core machine torch's default of one thread per
core made a step 3-9x slower than one thread (threads contend with each other and with whatever
else runs, a vector env's workers included). The setting is process-wide in torch, so the env
sets it for the duration of its own calls only.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

__all__ = ["torch_threads"]


@contextmanager
def torch_threads(count: int | None) -> Iterator[None]:
    """Within the block, torch uses ``count`` threads (None: unchanged)."""
    before = torch.get_num_threads()
    if count is None or count == before:
        yield
        return
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)
