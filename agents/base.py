"""The Selector protocol: SB3's ``predict`` signature, so baselines and trained agents share one path."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import gymnasium as gym
import numpy as np

from bcfl_env.envs import unwrap
from bcfl_env.envs.observation import as_matrix

__all__ = ["BaseSelector", "Selector", "SlotSpec", "observed_eligible", "scores_from_ranking"]


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


@dataclass(frozen=True)
class SlotSpec:
    """What a selector needs to know about the decision, without an env: the observation's
    columns, the number of slots N, the budget K and the action mode.

    The env gives one with :meth:`of`; a deployment outside the simulator (the Flower strategy
    of :mod:`agents.flower`) builds one directly.
    """

    feature_names: tuple[str, ...]
    num_slots: int
    budget: int
    action_mode: str = "scores"

    def __post_init__(self) -> None:
        if self.num_slots < 1:
            raise ValueError(f"num_slots={self.num_slots} is out of range: allowed >= 1")
        if not 1 <= self.budget <= self.num_slots:
            raise ValueError(f"budget={self.budget} is out of range: allowed [1, {self.num_slots}]")
        if self.action_mode not in ("scores", "binary", "weights"):
            raise ValueError(
                f"action_mode={self.action_mode!r} is not allowed: choose one of "
                "['binary', 'scores', 'weights']"
            )

    @property
    def num_features(self) -> int:
        return len(self.feature_names)

    @classmethod
    def of(cls, env: gym.Env[Any, Any]) -> SlotSpec:
        """The spec of a (possibly wrapped) bcfl env."""
        try:
            base = unwrap(env)
        except TypeError as exc:
            raise ValueError(f"selectors need a bcfl_env environment: {exc}") from None
        return cls(
            tuple(base.feature_names),
            int(base.num_slots),
            int(base.budget),
            str(base.config.env.action_mode),
        )

    def as_matrix(self, observation: Any) -> np.ndarray:
        return as_matrix(observation, self.num_slots, self.num_features)


class BaseSelector:
    """A baseline bound to one env (or to a :class:`SlotSpec`): reads the observation's named
    columns, returns scores.

    ``predict`` takes an observation in either layout (flat or matrix) or a batch of them;
    subclasses see the (N + 1, F) rows.

    Args:
        env: the (possibly wrapped) environment the selector acts in, a bcfl env; or a
            :class:`SlotSpec` where there is no env (a deployment).
        seed: seeds the selector's own generator (exploration, sampling).
    """

    name = "base"

    def __init__(self, env: gym.Env[Any, Any] | SlotSpec, seed: int | None = 0) -> None:
        spec = env if isinstance(env, SlotSpec) else SlotSpec.of(env)
        if spec.action_mode == "weights":
            raise ValueError(
                "baseline selectors rank slots: use action_mode 'scores' or 'binary', not 'weights'"
            )
        self.env = env
        self.spec = spec
        self.col = {name: i for i, name in enumerate(spec.feature_names)}
        self.n = spec.num_slots
        self.k = spec.budget
        self.rng = np.random.default_rng(seed)

    def eligible(self, obs: np.ndarray) -> np.ndarray:
        return observed_eligible(obs, list(self.spec.feature_names))

    def priority(self, obs: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def predict(
        self,
        observation: np.ndarray,
        state: tuple[np.ndarray, ...] | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = True,
    ) -> tuple[np.ndarray, tuple[np.ndarray, ...] | None]:
        obs = self.spec.as_matrix(observation)
        if obs.ndim == 3:  # a batch from a vector env
            return np.stack([self.predict(o, None, None, deterministic)[0] for o in obs]), None
        eligible = self.eligible(obs)
        action = scores_from_ranking(self.priority(obs), eligible)
        if self.spec.action_mode == "binary":
            return (action >= np.sort(action)[-self.k]).astype(np.int8) * eligible, None
        return action, None
