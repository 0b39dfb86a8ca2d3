"""RSUs as agents: a PettingZoo ``ParallelEnv`` for decentralised selection over the same world.

Each RSU is an agent that chooses which vehicles in its coverage train this epoch. The world, the
FL and the chain are those of :class:`~bcfl_env.envs.core.BCFLEnv` (this env drives one), so a
decentralised selection is judged exactly as a central one.
"""

from __future__ import annotations

import warnings
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv
from pettingzoo.utils import parallel_to_aec

from bcfl_env.config import BCFLConfig
from bcfl_env.envs.core import BCFLEnv, Selection
from bcfl_env.envs.observation import as_matrix

__all__ = [
    "RSUAgentsEnv",
    "coverage_budgets",
    "env",
    "parallel_env",
    "rsu_agents_aec",
    "rsu_agents_env",
]

# the global row's columns the RSU view replaces (see bcfl_env.envs.observation.GLOBAL_FEATURES)
_BUDGET_COLUMN, _PRESENT_COLUMN = 3, 4


def coverage_budgets(eligible_per_rsu: np.ndarray, budget: int) -> np.ndarray:
    """Split the round's K among the RSUs in proportion to the eligible vehicles each covers
    (proportional allocation, as in stratified sampling; largest remainders, ties to the lower
    RSU index), never more than an RSU covers. Every eligible vehicle covered by some RSU can be
    chosen when they number K or fewer."""
    counts = np.asarray(eligible_per_rsu, dtype=np.int64)
    total = int(counts.sum())
    if total <= budget:
        return counts.copy()
    quota = counts * budget / total
    shares = np.floor(quota).astype(np.int64)
    remainder = quota - shares
    for r in np.argsort(-remainder, kind="stable")[: budget - int(shares.sum())]:
        shares[r] += 1
    return np.minimum(shares, counts)


class RSUAgentsEnv(ParallelEnv):
    """Decentralised participant selection: one agent per RSU (``"rsu0"``, ``"rsu1"``, ...).

    ## Agents and budget
    Every RSU is an agent for the whole episode. The round's K is split among the RSUs in
    proportion to the eligible vehicles each covers (:func:`coverage_budgets`: proportional
    allocation of a fixed total, as stratified sampling allocates a sample across strata): each
    RSU reports its count, and the MBS announces the shares with the round's task (chain
    state). An RSU with no eligible vehicle in coverage gets 0, and its action is a no-op. Vehicles outside
    every RSU's coverage cannot be chosen (they could not upload). A vehicle handed over while it
    trains stays the task of the RSU that chose it: the task is on chain, and its upload goes to
    whichever RSU serves it when it finishes, as in the single-agent env.

    ## Observation Space (per agent)
    The single-agent server observation's layout and features (``Box(0, 1, ((N + 1) * F,))``,
    the rows of ``docs/mdp.md``), restricted to what the RSU knows: the rows of the slots it
    serves (every other slot row is zeros), and a global row of the chain's public state (round,
    global accuracy, simulated time, target) with its own budget ``k_r / N`` in place of
    ``K / N`` and its covered vehicles ``/ N`` in place of the fleet count. So a policy trained
    for the central env (the ``SlotSetPolicy``, which reads K and eligibility from the
    observation) acts as an RSU unchanged.

    ## Action Space (per agent)
    ``Box(-1, 1, (N,), float32)``: a score per slot; the RSU's ``k_r`` highest-scoring eligible
    slots in its coverage are selected (ties: lower slot first). Scores of other slots are
    ignored. Invalid values raise ``ValueError`` naming the agent.

    ## Rewards and episode end
    Cooperative: every agent receives the single-agent env's reward for the epoch, and all
    agents terminate (target reached) or are truncated together, then leave ``agents``.
    ``info[agent]`` holds the epoch's ``selected`` slots of that RSU and ``messages_to_mbs``:
    what it sent the MBS this epoch (its count of eligible vehicles, from which the MBS
    announces every RSU's share on chain, and one task request per selected vehicle); a central
    selector needs a report per covered vehicle instead (``central_reports``).

    Args:
        config: a whole config (else ``preset`` with ``overrides``).
        preset: the preset's name.
        render_mode: as for :class:`BCFLEnv`.
        **overrides: config overrides, as for ``gymnasium.make``.
    """

    metadata = {"name": "bcfl_rsu_agents_v1", "render_modes": ["ansi"], "is_parallelizable": True}

    def __init__(
        self,
        config: BCFLConfig | None = None,
        preset: str = "iov",
        render_mode: str | None = None,
        **overrides: Any,
    ) -> None:
        self.world_env = BCFLEnv(config, preset, render_mode, **overrides)
        cfg = self.world_env.config
        if cfg.env.action_mode != "scores":
            raise ValueError(
                f"env.action_mode={cfg.env.action_mode!r}: RSU agents score slots; use 'scores'"
            )
        self.config = cfg
        self.render_mode = render_mode
        self.num_rsus = cfg.network.infra.num_rsus
        self.possible_agents = [f"rsu{r}" for r in range(self.num_rsus)]
        self.agents: list[str] = []
        self.num_slots = self.world_env.num_slots
        self.num_features = self.world_env.num_features
        shape = self.world_env.observation_space.shape
        self._observation_spaces = {
            a: spaces.Box(0.0, 1.0, shape=shape, dtype=np.float32) for a in self.possible_agents
        }
        self._action_spaces = {
            a: spaces.Box(-1.0, 1.0, shape=(self.num_slots,), dtype=np.float32)
            for a in self.possible_agents
        }
        self._rows = np.zeros((self.num_slots + 1, self.num_features), dtype=np.float32)

    def observation_space(self, agent: str) -> gym.Space[Any]:
        self._index(agent)
        return self._observation_spaces[agent]

    def action_space(self, agent: str) -> gym.Space[Any]:
        self._index(agent)
        return self._action_spaces[agent]

    # ------------------------------------------------------------------ PettingZoo API
    def reset(
        self, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, dict[str, Any]]]:
        if options:  # PettingZoo's API test passes options; say so rather than refuse or drop
            warnings.warn(
                f"reset options {sorted(map(str, options))} are ignored: the RSU agents env takes "
                "none (configure it through its constructor's overrides)",
                stacklevel=2,
            )
        obs, info = self.world_env.reset(seed=seed)
        if seed is not None:  # as PettingZoo's own envs do: the spaces are seeded too
            for r, agent in enumerate(self.possible_agents):
                self._action_spaces[agent].seed(seed + r)
        self.agents = list(self.possible_agents)
        self._rows = as_matrix(obs, self.num_slots, self.num_features).copy()
        return self._observations(), self._agent_infos(info, {a: [] for a in self.agents})

    def step(self, actions: dict[str, Any]) -> tuple[
        dict[str, np.ndarray], dict[str, float], dict[str, bool], dict[str, bool], dict[str, dict[str, Any]]
    ]:  # fmt: skip
        picks, selection = self.begin_step(actions)
        return self.end_step(picks, self.world_env.step(selection))

    def begin_step(self, actions: dict[str, Any]) -> tuple[dict[str, list[int]], Selection]:
        """Validate the agents' actions; returns each one's picks and the joint selection (the
        first half of :meth:`step`; a vector of worlds steps them together in between)."""
        if not self.agents:
            raise RuntimeError("the episode has ended (or not started): call reset()")
        unknown = sorted(set(actions) - set(self.agents))
        if unknown:
            raise ValueError(
                f"actions for unknown or finished agents {unknown}; agents: {self.agents}"
            )
        picks = self._picks(actions)
        return picks, Selection(tuple(sorted(s for slots in picks.values() for s in slots)))

    def end_step(self, picks: dict[str, list[int]], result: tuple[Any, ...]) -> tuple[
        dict[str, np.ndarray], dict[str, float], dict[str, bool], dict[str, bool], dict[str, dict[str, Any]]
    ]:  # fmt: skip
        """The second half of :meth:`step`, from the world env's step ``result``."""
        obs, reward, terminated, truncated, info = result
        self._rows = as_matrix(obs, self.num_slots, self.num_features).copy()
        agents = list(self.agents)
        observations = self._observations()
        rewards = {a: float(reward) for a in agents}
        terminations = {a: bool(terminated) for a in agents}
        truncations = {a: bool(truncated) for a in agents}
        infos = self._agent_infos(info, picks)
        if terminated or truncated:
            self.agents = []
        return observations, rewards, terminations, truncations, infos

    def render(self) -> Any:
        return self.world_env.render()

    def close(self) -> None:
        self.world_env.close()

    # ------------------------------------------------------------------ what an RSU knows
    def state(self) -> np.ndarray:
        """The central server's observation (for centralised critics; never an RSU's input)."""
        return self._rows.reshape(-1).copy()

    def coverage(self) -> np.ndarray:
        """The RSU serving each slot (-1: none)."""
        return self.world_env._require_world().network.serving.copy()

    def budgets(self) -> np.ndarray:
        """Each RSU's share ``k_r`` of the round's K now (:func:`coverage_budgets`)."""
        return self._budgets(self.coverage(), self.world_env.eligible_slots())

    def _budgets(self, serving: np.ndarray, eligible: np.ndarray) -> np.ndarray:
        counts = np.bincount(serving[eligible & (serving >= 0)], minlength=self.num_rsus)
        return coverage_budgets(counts, self.world_env.budget)

    def observe(self, agent: str) -> np.ndarray:
        """What RSU ``agent`` would observe of the world as it is now (recomputed)."""
        self._rows = as_matrix(
            self.world_env.current_observation(), self.num_slots, self.num_features
        ).copy()
        return self._observe(self._index(agent), self.coverage(), self.budgets())

    def _observations(self) -> dict[str, np.ndarray]:
        serving = self.coverage()
        budgets = self._budgets(serving, self.world_env.eligible_slots())
        return {a: self._observe(self._index(a), serving, budgets) for a in self.agents}

    def _observe(self, r: int, serving: np.ndarray, budgets: np.ndarray) -> np.ndarray:
        n = self.num_slots
        rows = np.zeros_like(self._rows)
        mine = serving == r
        rows[:n][mine] = self._rows[:n][mine]
        rows[n] = self._rows[n]
        rows[n, _BUDGET_COLUMN] = budgets[r] / n
        rows[n, _PRESENT_COLUMN] = float((rows[:n, 0] > 0).sum()) / n
        return rows.reshape(-1) if self.config.env.observation_layout == "flat" else rows

    def _picks(self, actions: dict[str, Any]) -> dict[str, list[int]]:
        """Each agent's chosen slots: its k_r best-scored eligible slots in coverage."""
        serving, eligible = self.coverage(), self.world_env.eligible_slots()
        budgets = self._budgets(serving, eligible)
        picks: dict[str, list[int]] = {}
        for agent in self.agents:
            r = self._index(agent)
            action = actions.get(agent)
            if action is not None:  # every action given is checked, a no-op agent's too
                arr = np.asarray(action)
                if arr.shape != (self.num_slots,) or not np.issubdtype(arr.dtype, np.floating):
                    raise ValueError(
                        f"{agent}: action must be a float array of shape ({self.num_slots},), "
                        f"got {arr.dtype} {arr.shape}"
                    )
                if not np.all(np.isfinite(arr)) or arr.min() < -1.0 or arr.max() > 1.0:
                    raise ValueError(f"{agent}: action values must be finite and lie in [-1, 1]")
            mine = np.flatnonzero(eligible & (serving == r))
            if action is None or budgets[r] == 0 or mine.size == 0:
                picks[agent] = []  # no vehicle to choose (or no action): a no-op
                continue
            order = mine[np.argsort(-arr[mine], kind="stable")]
            picks[agent] = sorted(int(s) for s in order[: budgets[r]])
        return picks

    def _agent_infos(
        self, info: dict[str, Any], picks: dict[str, list[int]]
    ) -> dict[str, dict[str, Any]]:
        covered = np.bincount(self.coverage() + 1, minlength=self.num_rsus + 1)  # [0]: none
        return {
            agent: {
                **info,
                "selected_all": list(info["selected"]),  # every RSU's choice, as the world ran it
                "selected": list(picks[agent]),
                # its eligible count (for the MBS's split of K) and one task request per pick
                "messages_to_mbs": 1 + len(picks[agent]),
                # what a central selector needs: a row per vehicle it covers
                "central_reports": int(covered[self._index(agent) + 1]),
            }
            for agent in picks
        }

    def _index(self, agent: str) -> int:
        if agent not in self.possible_agents:
            raise ValueError(f"agent {agent!r} is not one of {self.possible_agents}")
        return self.possible_agents.index(agent)


def rsu_agents_env(preset: str = "iov", **overrides: Any) -> RSUAgentsEnv:
    """The parallel env of ``preset`` (PettingZoo's ``parallel_env`` convention)."""
    return RSUAgentsEnv(preset=preset, **overrides)


def rsu_agents_aec(preset: str = "iov", **overrides: Any) -> Any:
    """The same env in PettingZoo's AEC form (``parallel_to_aec``)."""
    return parallel_to_aec(rsu_agents_env(preset, **overrides))


# PettingZoo's module conventions: ``parallel_env(...)`` and ``env(...)`` (the AEC form)
parallel_env = rsu_agents_env
env = rsu_agents_aec
