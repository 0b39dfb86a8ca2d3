"""Selectors by name: one registry that the CLI, the leaderboard and the docs read.

A selector is one module: a class (or factory) decorated with :func:`register_selector`. Its name
then appears in ``bcfl evaluate --policy``'s choices, in the leaderboard's baseline rows (unless
``baseline=False``) and in :func:`agents.load_selector`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import gymnasium as gym

from agents.base import Selector, SlotSpec

__all__ = [
    "SELECTORS",
    "SHIPPED_SELECTOR",
    "SelectorEntry",
    "baseline_names",
    "make_selector",
    "register_selector",
]

# PPO with the slot-set policy, trained on bcfl/IoV-v1 with the shipped hyperparameters
# (training/hyperparams/ppo.yml, 40,000 steps, seed 0); see agents/models/README.md
SHIPPED_SELECTOR = Path(__file__).parent / "models" / "ppo-iov-v1.zip"

_F = TypeVar("_F", bound=Callable[..., Any])


@dataclass(frozen=True)
class SelectorEntry:
    """One registered selector: ``factory(env_or_spec, seed=..., **kwargs)`` builds it.

    Attributes:
        baseline: a fixed rule (no training) that the leaderboard evaluates as a baseline row.
        needs_env: it trains or simulates inside a bcfl env, so it cannot run from a
            :class:`SlotSpec`.
        doc: one line for help texts (the factory's docstring's first line by default).
    """

    name: str
    factory: Callable[..., Selector]
    kwargs: dict[str, Any] = field(default_factory=dict)
    baseline: bool = True
    needs_env: bool = False
    doc: str = ""

    def __call__(self, env: gym.Env[Any, Any] | SlotSpec, **kwargs: Any) -> Selector:
        return self.factory(env, **{**self.kwargs, **kwargs})


SELECTORS: dict[str, SelectorEntry] = {}


def register_selector(
    name: str, *, baseline: bool = True, needs_env: bool = False, **kwargs: Any
) -> Callable[[_F], _F]:
    """Decorator: register a selector class or factory under ``name`` (keyword arguments are
    bound, so one class can serve several names, as ``greedy-rate`` and ``greedy-data`` do).

    Raises:
        ValueError: ``name`` is taken by another selector, or is not a safe identifier.
    """
    if not name or not all(c.isalnum() or c in "-_" for c in name) or name == "shipped":
        raise ValueError(
            f"selector name {name!r} is not allowed: letters, digits, '-' and '_', not 'shipped'"
        )

    def decorate(factory: _F) -> _F:
        old = SELECTORS.get(name)
        if old is not None and (old.factory is not factory or old.kwargs != kwargs):
            raise ValueError(f"selector {name!r} is already registered ({old.factory!r})")
        doc = (factory.__doc__ or "").strip().splitlines()
        SELECTORS[name] = SelectorEntry(
            name, factory, dict(kwargs), baseline, needs_env, doc[0] if doc else ""
        )
        return factory

    return decorate


def baseline_names() -> list[str]:
    """The registered fixed rules, in registration order: the leaderboard's baseline rows."""
    return [name for name, entry in SELECTORS.items() if entry.baseline]


def make_selector(name: str, env: gym.Env[Any, Any] | SlotSpec, **kwargs: Any) -> Selector:
    """A registered selector bound to ``env`` (or a :class:`SlotSpec`); ``name`` is a key of
    :data:`SELECTORS`. For names or model files alike, use :func:`agents.load_selector`."""
    entry = SELECTORS.get(name)
    if entry is None:
        raise ValueError(f"selector {name!r} is not allowed: choose one of {sorted(SELECTORS)}")
    if entry.needs_env and isinstance(env, SlotSpec):
        raise ValueError(
            f"selector {name!r} needs a bcfl env (it trains or simulates in one) and cannot run "
            "from a SlotSpec: choose "
            f"one of {sorted(n for n, e in SELECTORS.items() if not e.needs_env)}, 'shipped' or "
            "a model file"
        )
    return entry(env, **kwargs)
