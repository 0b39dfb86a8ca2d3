"""Selectors by name."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym

from agents.base import Selector
from agents.baselines import GreedySelector, OortSelector, PowerOfChoiceSelector, RandomSelector
from agents.favor import FavorSelector

__all__ = ["SELECTORS", "make_selector"]

SELECTORS: dict[str, Callable[..., Selector]] = {
    "random": RandomSelector,
    "greedy-rate": lambda env, **kw: GreedySelector(env, by="rate", **kw),
    "greedy-data": lambda env, **kw: GreedySelector(env, by="data", **kw),
    "greedy-compute": lambda env, **kw: GreedySelector(env, by="compute", **kw),
    "oort": OortSelector,
    "power-of-choice": PowerOfChoiceSelector,
    "favor": FavorSelector,  # trains a short double DQN unless given model=PATH
}


def make_selector(name: str, env: gym.Env[Any, Any], **kwargs: Any) -> Selector:
    """A baseline selector bound to ``env``; ``name`` is one of :data:`SELECTORS`."""
    if name not in SELECTORS:
        raise ValueError(f"selector {name!r} is not allowed: choose one of {sorted(SELECTORS)}")
    return SELECTORS[name](env, **kwargs)
