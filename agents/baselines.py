"""Baseline selection rules."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from agents.base import BaseSelector
from agents.registry import register_selector

__all__ = ["GreedySelector", "OortSelector", "PowerOfChoiceSelector", "RandomSelector"]


@register_selector("random")
class RandomSelector(BaseSelector):
    """Uniform random K of the eligible vehicles: FedAvg's client sampling (McMahan et al., AISTATS 2017)."""

    name = "random"

    def priority(self, obs: np.ndarray) -> np.ndarray:
        return self.rng.random(self.n)


@register_selector("greedy-compute", by="compute")
@register_selector("greedy-data", by="data")
@register_selector("greedy-rate", by="rate")
class GreedySelector(BaseSelector):
    """Greedy by one observed quantity: uplink rate, reported data size, or compute speed.

    ``compute`` ranks by CPU frequency when the observation carries it (``observation_features=
    "oracle"``), otherwise by the fastest measured round trip (what a server can know).

    The classic resource-aware heuristics (e.g. Nishio and Yonetani, "Client selection for
    federated learning with heterogeneous resources in mobile edge", ICC 2019, picks by rate and
    compute); ties broken by lower slot.
    """

    COLUMNS = {"rate": "uplink_rate", "data": "data_size", "compute": "cpu_frequency"}

    def __init__(self, env: gym.Env[Any, Any], by: str = "rate", seed: int | None = 0) -> None:
        super().__init__(env, seed)
        if by not in self.COLUMNS:
            raise ValueError(f"by={by!r} is not allowed: choose one of {sorted(self.COLUMNS)}")
        self.by = by
        self.name = f"greedy-{by}"

    def priority(self, obs: np.ndarray) -> np.ndarray:
        column = self.COLUMNS[self.by]
        if column not in self.col:  # server observation: no CPU frequency
            return -obs[: self.n, self.col["round_trip"]].astype(np.float64)
        return obs[: self.n, self.col[column]].astype(np.float64)


@register_selector("oort")
class OortSelector(BaseSelector):
    """Oort (Lai et al., "Oort: efficient federated learning via guided participant selection", OSDI 2021).

    Utility = statistical utility x system utility. Statistical utility is |B_i| sqrt(mean loss^2)
    (here: data size x last local loss, the loss read from the observation), plus the UCB-style
    staleness bonus sqrt(0.1 log R / L_i); system utility is (T / t_i)^alpha when the vehicle's
    predicted round trip t_i exceeds the developer's preferred duration T (the pacer widens T by
    ``pacer_delta`` when utility stalls). Exploration: a fraction epsilon (0.9 decaying by 0.98 to
    0.2, the public implementation's defaults) of the K slots goes to unexplored vehicles, fastest
    first; the rest exploits the top utilities, sampled in proportion from the top ``cut_off``
    (0.95) of the utility range.
    """

    name = "oort"

    def __init__(
        self,
        env: gym.Env[Any, Any],
        seed: int | None = 0,
        alpha: float = 2.0,
        epsilon: float = 0.9,
        epsilon_decay: float = 0.98,
        epsilon_min: float = 0.2,
        cut_off: float = 0.95,
        pacer_delta: float = 0.05,
        pacer_step: int = 20,
    ) -> None:
        super().__init__(env, seed)
        self.alpha, self.epsilon, self.decay, self.min_eps = (
            alpha,
            epsilon,
            epsilon_decay,
            epsilon_min,
        )
        self.cut_off, self.pacer_delta, self.pacer_step = cut_off, pacer_delta, pacer_step
        self.preferred = 0.5  # T as a fraction of the normalised round trip
        self.rounds = 0
        self._history: list[float] = []

    def utilities(self, obs: np.ndarray) -> np.ndarray:
        rows = obs[: self.n]
        loss = rows[:, self.col["last_loss"]]
        loss = loss / np.maximum(1 - loss, 1e-6)  # undo l / (l + 1)
        size = rows[:, self.col["data_size"]]
        stat = size * np.sqrt(loss**2)
        stale = rows[:, self.col["staleness"]]
        stat = stat + np.sqrt(
            0.1 * np.log(max(self.rounds, 1) + 1) / np.maximum(1 - stale, 1e-3)
        ) * (stat > 0)
        trip = rows[:, self.col["round_trip"]]
        system = np.where(
            trip > self.preferred, (self.preferred / np.maximum(trip, 1e-6)) ** self.alpha, 1.0
        )
        return stat * system

    def priority(self, obs: np.ndarray) -> np.ndarray:
        self.rounds += 1
        rows = obs[: self.n]
        eligible = self.eligible(obs)
        util = self.utilities(obs)
        explored = rows[:, self.col["last_loss"]] > 0
        self._pace(util[eligible & explored])
        prio = np.full(self.n, -np.inf)
        n_explore = int(round(self.epsilon * self.k))
        self.epsilon = max(self.epsilon * self.decay, self.min_eps)
        fresh = np.flatnonzero(eligible & ~explored)
        if fresh.size and n_explore:
            speed = -rows[fresh, self.col["round_trip"]]
            chosen = fresh[np.argsort(-speed, kind="stable")[:n_explore]]
            prio[chosen] = 2.0 + speed[np.argsort(-speed, kind="stable")[: chosen.size]]
        known = np.flatnonzero(eligible & explored)
        if known.size:
            u = util[known]
            floor = u.max() * self.cut_off if u.max() > 0 else -np.inf
            top = known[u >= floor] if np.isfinite(floor) else known
            weights = np.maximum(util[top], 1e-9)
            order = self.rng.choice(top, size=top.size, replace=False, p=weights / weights.sum())
            prio[order] = 1.0 - np.arange(order.size) / max(order.size, 1)
            rest = np.setdiff1d(known, top)
            if rest.size:
                prio[rest] = util[rest] / (util[rest].max() + 1e-9) * 0.5 - 0.5
        # fill with unexplored vehicles if nothing else is left
        left = np.flatnonzero(eligible & ~np.isfinite(prio))
        prio[left] = -1.0 - rows[left, self.col["round_trip"]]
        return np.where(np.isfinite(prio), prio, -10.0)

    def _pace(self, util: np.ndarray) -> None:
        """Pacer: when the summed utility of the last window stops growing, relax T."""
        self._history.append(float(util.sum()) if util.size else 0.0)
        w = self.pacer_step
        if len(self._history) >= 2 * w and sum(self._history[-w:]) < sum(
            self._history[-2 * w : -w]
        ):
            self.preferred = min(self.preferred + self.pacer_delta, 1.0)
            self._history.clear()


@register_selector("power-of-choice")
class PowerOfChoiceSelector(BaseSelector):
    """Power-of-choice (Cho, Wang, Joshi, AISTATS 2022): sample d candidates, take the K with the
    highest local loss. Candidates are drawn in proportion to data size; ``d`` defaults to 2K."""

    name = "power-of-choice"

    def __init__(self, env: gym.Env[Any, Any], d: int | None = None, seed: int | None = 0) -> None:
        super().__init__(env, seed)
        self.d = d if d is not None else 2 * self.k
        if self.d < self.k:
            raise ValueError(f"d={self.d} is out of range: allowed [{self.k}, {self.n}]")

    def candidates(self, obs: np.ndarray) -> np.ndarray:
        eligible = np.flatnonzero(self.eligible(obs))
        if eligible.size <= self.d:
            return eligible
        size = obs[eligible, self.col["data_size"]].astype(np.float64) + 1e-9
        return self.rng.choice(eligible, size=self.d, replace=False, p=size / size.sum())

    def priority(self, obs: np.ndarray) -> np.ndarray:
        prio = np.full(self.n, -np.inf)
        cand = self.candidates(obs)
        loss = obs[cand, self.col["last_loss"]]
        # a vehicle never trained has unknown loss: treat as maximal (it must be tried)
        loss = np.where(loss > 0, loss, 1.0)
        prio[cand] = loss
        return np.where(np.isfinite(prio), prio, -10.0)
