"""A typed way from any wrapped env to the bcfl env underneath."""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from bcfl_env.envs.core import BCFLEnv

__all__ = ["unwrap"]


def unwrap(env: gym.Env[Any, Any]) -> BCFLEnv:
    """The :class:`BCFLEnv` under ``env``'s wrappers, typed (``env.unwrapped`` is a plain
    ``gym.Env`` to a type checker).

    Raises:
        TypeError: ``env`` does not wrap a bcfl env.
    """
    base = env.unwrapped
    if not isinstance(base, BCFLEnv):
        raise TypeError(f"expected a bcfl env (or a wrapper of one), found {type(base).__name__}")
    return base
