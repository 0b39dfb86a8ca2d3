"""The Selector protocol: SB3's ``predict`` signature, so baselines and trained agents share one path."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import gymnasium as gym
import numpy as np

__all__ = ["BaseSelector", "Selector", "observed_eligible", "scores_from_ranking"]


@runtime_checkable
class Selector(Protocol):
    def predict(
        self,
        observation: np.ndarray,
        state: tuple[np.ndarray, ...] | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = True,
    ) -> tuple[np.ndarray, tuple[np.ndarray, ...] | None]: ...


def observed_eligible(rows: Any, feature_names: list[str]) -> Any:
    """Slots an (N + 1, F) observation shows as selectable: present, idle, with energy left.

    ``rows`` may carry leading batch axes and be a numpy array or a torch tensor (the slot policy
    uses the same rule); the result is a boolean (..., N) of the same kind. The env's
    ``action_masks()`` may exclude more (enrolment, contract rules); it has the final say.
    """
    col = {name: i for i, name in enumerate(feature_names)}
    slots = rows[..., :-1, :]
    return (
        (slots[..., col["present"]] > 0)
        & (slots[..., col["in_flight"]] == 0)
        & (slots[..., col["energy_left"]] > 0)
    )


def scores_from_ranking(priority: np.ndarray, eligible: np.ndarray) -> np.ndarray:
    """Map a priority per slot to scores in [-1, 1] (rank order kept; ineligible slots get -1)."""
    n = priority.size
    scores = np.full(n, -1.0, dtype=np.float32)
    idx = np.flatnonzero(eligible)
    if idx.size:
        order = idx[np.argsort(-priority[idx], kind="stable")]
        scores[order] = (
            np.linspace(1.0, -0.999, num=order.size, dtype=np.float32) if order.size > 1 else 1.0
        )
    return scores


class BaseSelector:
    """A baseline bound to one env: reads the observation's named columns, returns scores.

    ``predict`` takes an observation in either layout (flat or matrix) or a batch of them;
    subclasses see the (N + 1, F) rows.

    Args:
        env: the (possibly wrapped) environment the selector acts in; it must be a bcfl env.
        seed: seeds the selector's own generator (exploration, sampling).
    """

    name = "base"

    def __init__(self, env: gym.Env[Any, Any], seed: int | None = 0) -> None:
        base = env.unwrapped
        if not hasattr(base, "feature_names"):
            raise ValueError("selectors need a bcfl_env environment (with feature_names)")
        if getattr(base.config.env, "action_mode", "scores") == "weights":  # type: ignore[attr-defined]
            raise ValueError(
                "baseline selectors rank slots: use action_mode 'scores' or 'binary', not 'weights'"
            )
        self.env = env
        self.base = base
        self.col = {name: i for i, name in enumerate(base.feature_names)}
        self.n = int(base.num_slots)  # type: ignore[attr-defined]
        self.k = int(base.budget)  # type: ignore[attr-defined]
        self.rng = np.random.default_rng(seed)

    def eligible(self, obs: np.ndarray) -> np.ndarray:
        return observed_eligible(obs, self.base.feature_names)

    def priority(self, obs: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def predict(
        self,
        observation: np.ndarray,
        state: tuple[np.ndarray, ...] | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = True,
    ) -> tuple[np.ndarray, tuple[np.ndarray, ...] | None]:
        obs = self.base.as_matrix(observation)  # type: ignore[attr-defined]
        if obs.ndim == 3:  # a batch from a vector env
            return np.stack([self.predict(o, None, None, deterministic)[0] for o in obs]), None
        eligible = self.eligible(obs)
        action = scores_from_ranking(self.priority(obs), eligible)
        if getattr(self.base.config.env, "action_mode", "scores") == "binary":  # type: ignore[attr-defined]
            return (action >= np.sort(action)[-self.k]).astype(np.int8) * eligible, None
        return action, None
