"""Selectors by name."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym

from agents.base import Selector, SlotSpec
from agents.baselines import GreedySelector, OortSelector, PowerOfChoiceSelector, RandomSelector
from agents.favor import FavorSelector

__all__ = ["SELECTORS", "SHIPPED_SELECTOR", "make_selector", "selector_for_spec"]

# PPO with the slot-set policy, trained on bcfl/IoV-v1 with the shipped hyperparameters
# (training/hyperparams/ppo.yml, 40,000 steps, seed 0); see agents/models/README.md
SHIPPED_SELECTOR = Path(__file__).parent / "models" / "ppo-iov-v1.zip"

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


def selector_for_spec(
    selector: str | Path | Selector, spec: SlotSpec, seed: int | None = 0
) -> Selector:
    """A selector for a deployment described by ``spec`` (no env): a baseline by name, a trained
    ``SlotSetPolicy`` model file (``"shipped"``: :data:`SHIPPED_SELECTOR`), or a selector as is.

    Raises:
        ValueError: an unknown name, FAVOR (it trains in an env), or an unreadable model file.
    """
    if not isinstance(selector, str | Path):
        return selector
    if selector == "favor":
        raise ValueError(
            "selector 'favor' trains its DQN inside a bcfl env and cannot run from a SlotSpec: "
            f"choose one of {sorted(set(SELECTORS) - {'favor'})}, 'shipped' or a model file"
        )
    if isinstance(selector, str) and selector in SELECTORS:
        return SELECTORS[selector](spec, seed=seed)
    path = SHIPPED_SELECTOR if selector == "shipped" else Path(selector)
    if not path.is_file():
        raise ValueError(
            f"selector {str(selector)!r} is neither a name ({sorted(set(SELECTORS) - {'favor'})} "
            "or 'shipped') nor a model file"
        )
    from agents.sb3 import SlotPolicySelector

    return SlotPolicySelector(path, spec)
