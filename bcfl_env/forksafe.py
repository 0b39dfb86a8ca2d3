"""Forked children start with one torch thread, so async vector envs never hang after ``fork``.

Once a process has run torch work on its OpenMP thread pool, a child made by ``fork`` inherits
the pool's bookkeeping but not its threads, and its first parallel region waits forever for
them (``gymnasium.make_vec(..., vectorization_mode="async")`` and SB3's ``SubprocVecEnv`` fork
by default on Linux). PyTorch's own DataLoader sets one thread in its workers for the same
reason. One thread per worker is also the fastest layout for this env's small models; the
parent's thread count is left untouched.
"""

from __future__ import annotations

import os

import torch

__all__ = ["install_fork_guard"]

_installed = False


def _one_thread_in_child() -> None:
    torch.set_num_threads(1)


def install_fork_guard() -> None:
    """Register :func:`_one_thread_in_child` to run in every child forked from now on (idempotent)."""
    global _installed
    if not _installed and hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_one_thread_in_child)
        _installed = True
