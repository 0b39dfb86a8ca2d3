"""Wrappers: sequential Discrete picks for DQN-style agents."""

from __future__ import annotations

from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from bcfl_env.envs.core import Selection
from bcfl_env.envs.observation import as_matrix, in_layout, layout_shape
from bcfl_env.envs.unwrap import unwrap

__all__ = ["DiscreteSelection", "with_picked_column"]


def with_picked_column(matrix: np.ndarray, picked: Any, layout: str) -> np.ndarray:
    """DiscreteSelection's observation: the (N + 1, F) ``matrix`` plus a picked-slots column.

    Args:
        matrix: the base env's observation as rows (see ``BCFLEnv.as_matrix``).
        picked: slot indices already picked (their new column entry is 1).
        layout: ``"flat"`` or ``"matrix"``, the layout of the result.
    """
    col = np.zeros((matrix.shape[0], 1), dtype=np.float32)
    col[list(picked), 0] = 1.0
    return in_layout(np.concatenate([matrix, col], axis=1), layout)


def _one_pick(action: Any) -> int | None:
    """The pick an action names: one integer (a Python or numpy integer, or a one-element integer
    array, as SB3's DQN and MaskablePPO give); None for anything else (floats such as 1.7 or inf,
    strings, bytes, booleans, several values), which are refused, not rounded."""
    if isinstance(action, bool | np.bool_ | str | bytes):
        return None
    arr = np.asarray(action)
    if arr.size != 1 or arr.ndim > 1 or not np.issubdtype(arr.dtype, np.integer):
        return None
    return int(arr.reshape(-1)[0])


class DiscreteSelection(gym.Wrapper[np.ndarray, np.int64, np.ndarray, np.ndarray]):
    """Build a selection one vehicle at a time with ``Discrete(N + 1)`` actions.

    Rule: action ``i < N`` adds slot i to the selection being built (reward 0, the world does not
    move); action ``N`` ("done") or the K-th valid pick runs the epoch with the picks so far and
    returns its reward. Picking an ineligible or already-picked slot ends the selection too
    (counted in ``info["invalid_picks"]``), so an agent cannot stall an episode. The observation
    gains one column: 1 for slots already picked (the global row's entry is 0); it keeps the base
    env's layout (flat by default).
    FAVOR (Wang et al., INFOCOM 2020) trains with such one-vehicle actions.

    The epoch runs through the wrapped env's ``step`` with a :class:`~bcfl_env.envs.core.Selection`
    of the picked slots, so the wrappers in between see it and the bcfl env is never changed.
    """

    def __init__(self, env: gym.Env[Any, Any]) -> None:
        super().__init__(env)
        base = unwrap(env)
        if base.config.env.action_mode != "scores":
            raise ValueError("DiscreteSelection wraps an env with action_mode='scores'")
        self.base = base
        self.n = int(base.num_slots)
        self.k = int(base.budget)
        self.layout = str(base.observation_layout)
        self.num_features = int(base.num_features) + 1
        shape = layout_shape(self.n, self.num_features, self.layout)
        self.observation_space = spaces.Box(0.0, 1.0, shape=shape, dtype=np.float32)
        self.action_space = spaces.Discrete(self.n + 1)
        self._picked: list[int] = []
        self._obs: np.ndarray | None = None
        self._invalid = 0

    def as_matrix(self, observation: Any) -> np.ndarray:
        """This wrapper's observation (or a batch) as (N + 1, F + 1) rows, in either layout."""
        return as_matrix(observation, self.n, self.num_features)

    def _augment(self, obs: np.ndarray) -> np.ndarray:
        rows = self.base.as_matrix(obs)
        return with_picked_column(rows, self._picked, self.layout)

    def reset(self, **kwargs: Any) -> tuple[np.ndarray, dict[str, Any]]:
        obs, info = self.env.reset(**kwargs)
        self._picked, self._obs, self._invalid = [], obs, 0  # counters are per episode
        return self._augment(obs), info

    def snapshot(self) -> dict[str, Any]:
        """The base env's snapshot plus the picks made so far (see ``BCFLEnv.snapshot``)."""
        return {
            "base": self.base.snapshot(),
            "picked": list(self._picked),
            "invalid": self._invalid,
        }

    def restore(self, snapshot: dict[str, Any]) -> np.ndarray:
        obs = self.base.restore(snapshot["base"])
        self._picked, self._obs, self._invalid = (
            list(snapshot["picked"]),
            obs,
            int(snapshot["invalid"]),
        )
        return self._augment(obs)

    def action_masks(self) -> np.ndarray:
        mask = np.append(self.base.eligible_slots(), True)
        mask[self._picked] = False
        return mask

    def step(self, action: Any) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]:
        a = _one_pick(action)
        if a is None or not 0 <= a <= self.n:
            raise ValueError(
                f"action must be one integer in [0, {self.n}] (a slot, or {self.n} for done), "
                f"got {action!r}"
            )
        eligible = self.base.eligible_slots()
        finish = a == self.n
        if not finish:
            if eligible[a] and a not in self._picked:
                self._picked.append(a)
            else:
                self._invalid += 1
                finish = True
        if not finish and len(self._picked) < min(self.k, int(eligible.sum())):
            assert self._obs is not None
            return self._augment(self._obs), 0.0, False, False, {"picked": list(self._picked)}
        selection = Selection(tuple(self._picked))
        obs, reward, terminated, truncated, info = self.env.step(selection)  # type: ignore[arg-type]
        self._picked, self._obs = [], obs
        info["invalid_picks"] = self._invalid
        return self._augment(obs), reward, terminated, truncated, info
