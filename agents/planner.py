"""A ceiling, not a selector a server could run: a rollout planner that looks ahead in the simulator.

At each decision the planner proposes candidate selections (the choices of Oort, the greedy rules
and power-of-choice, and random K-subsets of the eligible vehicles), simulates each on a clone of
the world for ``horizon`` epochs (the candidate first, then the base policy, Oort), and keeps the
candidate whose rollout went best: the target reached soonest, else the highest accuracy at the
horizon. This is Bertsekas' rollout algorithm ("Rollout algorithms for discrete optimization: a
survey", 2013) with Oort as the base policy, and like any rollout it is at least as good as its
base policy up to the noise of one sampled future (every candidate sees the same future: the
clones share the world's generators' states, common random numbers).

``foresight=False`` (registered as ``planner-no-foresight``) takes the realised future away: each
decision reseeds every random generator of the clones (mobility, channel, compute, data batches,
DP noise, the chain's draws, failures) from the planner's own generator, the same seeds for every
candidate (common random numbers still). It still reads the true present state, so the two
planners split the headroom: what a perfect model of the world buys, and what seeing the future
adds on top. One sampled future per candidate favours the candidate that was lucky in it;
``planner-no-foresight-x4`` spends the same simulation on 8 candidates with 4 futures each,
``planner-no-foresight-16x8`` four times as much on 16 candidates with 8 futures each.

It reads the env itself: true compute speeds, the data, the channel's future, the committee's
verdicts. So it is a reference for how much better selection can be, never an agent's input: it
reaches no observation (the clones are deep copies; the real world is only stepped by the
caller), and the leaderboard labels it as the planner. The candidates of one decision step
together through the vector env's batched call (:func:`bcfl_env.envs.vector.step_worlds`).
"""

from __future__ import annotations

import copy
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from agents.base import BaseSelector
from agents.baselines import GreedySelector, OortSelector, PowerOfChoiceSelector
from agents.registry import register_selector
from bcfl_env.envs import BCFLEnv, Selection, unwrap
from bcfl_env.envs.vector import step_worlds

__all__ = ["RolloutPlanner"]


@register_selector("planner", baseline=False, needs_env=True)
@register_selector("planner-no-foresight", baseline=False, needs_env=True, foresight=False)
@register_selector(
    "planner-no-foresight-x4",
    baseline=False,
    needs_env=True,
    foresight=False,
    candidates=8,
    futures=4,
)
@register_selector(  # 4x the simulation of the ceiling: is the search without foresight done?
    "planner-no-foresight-16x8",
    baseline=False,
    needs_env=True,
    foresight=False,
    candidates=16,
    futures=8,
)
class RolloutPlanner(BaseSelector):
    """Rollout planner on cloned worlds (Oort as base policy): the leaderboard's ceiling; it sees the future.

    Args:
        env: the env it acts in (it clones its unwrapped world; wrappers are not cloned).
        seed: seeds the random candidates and the base policy's exploration.
        candidates: candidate selections per decision (the proposals first, then random ones).
        horizon: epochs simulated per candidate (the candidate's epoch included). The defaults
            (32 x 12) are the leaderboard's ceiling: on iov-default, 16 candidates x 8 epochs
            reached the target in 95.5 s (IQM, 0.72x random), 32 x 12 in about 80 s.
        foresight: plan on the world's own future draws (True, the ceiling) or on fresh ones
            drawn by the planner at each decision (False).
        futures: without foresight, futures sampled per candidate, its value their mean (the
            same futures for every candidate); a single sampled future favours the candidate
            that was lucky in it.
    """

    name = "planner"

    def __init__(
        self,
        env: gym.Env[Any, Any],
        seed: int | None = 0,
        candidates: int = 32,
        horizon: int = 12,
        foresight: bool = True,
        futures: int = 1,
    ) -> None:
        super().__init__(env, seed)
        if not isinstance(env, gym.Env):
            raise ValueError("the planner needs the env itself (it simulates on clones of it)")
        if candidates < 1 or horizon < 1:
            raise ValueError(
                f"candidates={candidates} and horizon={horizon}: both must be at least 1"
            )
        self.base_env: BCFLEnv = unwrap(env)
        if futures < 1 or (foresight and futures != 1):
            raise ValueError(
                f"futures={futures}: at least 1, and 1 with foresight (the world has one future)"
            )
        self.num_candidates, self.horizon, self.foresight = candidates, horizon, foresight
        self.futures = futures
        self.base = OortSelector(env, seed=seed)
        self.proposers: list[BaseSelector] = [
            GreedySelector(env, by="rate", seed=seed),
            GreedySelector(env, by="data", seed=seed),
            GreedySelector(env, by="compute", seed=seed),
            PowerOfChoiceSelector(env, seed=seed),
        ]
        self.last_values: list[tuple[float, float, float]] = []  # per candidate, last decision

    def priority(self, obs: np.ndarray) -> np.ndarray:
        env = self.base_env
        eligible = np.flatnonzero(env.eligible_slots())
        if eligible.size == 0:
            return np.zeros(self.n)
        proposals = [self.base, *self.proposers]
        options: list[tuple[int, ...]] = []
        for selector in proposals:  # the base policy's own choice is always a candidate
            action, _ = selector.predict(obs)
            picked = tuple(int(s) for s in env.slots_for(np.asarray(action)))
            if picked not in options:
                options.append(picked)
        take = min(self.k, eligible.size)
        tries = 0
        while len(options) < self.num_candidates and tries < 20 * self.num_candidates:
            tries += 1
            picked = tuple(sorted(int(s) for s in self.rng.choice(eligible, take, replace=False)))
            if picked not in options:
                options.append(picked)
        values = self._evaluate(obs, options[: self.num_candidates])
        self.last_values = values
        best = options[values.index(max(values))]
        prio = np.zeros(self.n)
        prio[list(best)] = 1.0
        return prio

    def _evaluate(
        self, obs: np.ndarray, options: list[tuple[int, ...]]
    ) -> list[tuple[float, float, float]]:
        """Each option's rollout value: (reached the target, minus the simulated time it took,
        accuracy at the end), averaged over the sampled futures; larger is better."""
        futures = self.futures
        generators = [] if self.foresight else random_generators(self.base_env)
        seeds = []  # future f of every option gets the same fresh seeds; none with foresight
        if generators:
            seeds = [self.rng.integers(2**63, size=len(generators)) for _ in range(futures)]
        clones = []
        for n in range(len(options) * futures):
            copied: dict[int, Any] = {}  # deepcopy's memo: each original's copy, by id
            clones.append(copy.deepcopy(self.base_env, copied))
            if generators:
                reseed([copied[id(g)] for g in generators], seeds[n % futures])
        runs = self._roll_out(obs, clones, [o for o in options for _ in range(futures)])
        values = []
        for i in range(len(options)):
            reached, minus_time, accuracy = np.mean(runs[i * futures : (i + 1) * futures], axis=0)
            values.append((float(reached), float(minus_time), float(accuracy)))
        return values

    def _roll_out(
        self, obs: np.ndarray, clones: list[BCFLEnv], options: list[tuple[int, ...]]
    ) -> list[tuple[float, float, float]]:
        """Step clone i with option i, then the base policy, for ``horizon`` epochs (all clones
        in one batched call per epoch); returns each clone's value."""
        rollers = [copy.deepcopy(self.base) for _ in options]
        start_s = self.base_env.world.time_s if self.base_env.world else 0.0
        done = [False] * len(options)
        values: list[tuple[float, float, float]] = [(0.0, 0.0, 0.0)] * len(options)
        actions: list[Any] = [Selection(option) for option in options]
        observations = [obs] * len(options)
        for step in range(self.horizon):
            live = [i for i in range(len(options)) if not done[i]]
            if not live:
                break
            if step > 0:
                actions = [None] * len(options)
                for i in live:
                    actions[i] = rollers[i].predict(observations[i])[0]
            results = step_worlds([clones[i] for i in live], [actions[i] for i in live])
            for i, (o, _, terminated, truncated, info) in zip(live, results, strict=True):
                observations[i] = clones[i].as_matrix(o)
                elapsed = info["sim_time_s"] - start_s
                if terminated:
                    values[i], done[i] = (1.0, -elapsed, float(info["accuracy"])), True
                else:
                    values[i] = (0.0, 0.0, float(info["accuracy"]))
                    done[i] = truncated
        return values


RandomGenerator = np.random.Generator | torch.Generator


def random_generators(root: Any) -> list[RandomGenerator]:
    """Every NumPy and torch generator reachable from ``root`` through the attributes of the
    library's own objects and the lists, tuples and dicts they hold, in a fixed order (two deep
    copies give their generators in the same order)."""
    found: list[RandomGenerator] = []
    seen: set[int] = set()
    stack: list[Any] = [root]
    while stack:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, np.random.Generator | torch.Generator):
            found.append(obj)
        elif isinstance(obj, dict):
            stack.extend(reversed(list(obj.values())))
        elif isinstance(obj, list | tuple):
            stack.extend(reversed(obj))
        elif type(obj).__module__.split(".")[0] in _OWN_PACKAGES and hasattr(obj, "__dict__"):
            stack.extend(reversed(list(vars(obj).values())))
    return found


_OWN_PACKAGES = ("bcfl_env", "agents", "gymnasium")


def reseed(generators: list[RandomGenerator], seeds: np.ndarray) -> None:
    """Give each generator a fresh state from its seed (the same kind of bit generator)."""
    if len(generators) != len(seeds):
        raise ValueError(f"{len(generators)} generators but {len(seeds)} seeds")
    for generator, seed in zip(generators, seeds, strict=True):
        if isinstance(generator, torch.Generator):
            generator.manual_seed(int(seed))
        else:
            fresh = type(generator.bit_generator)(int(seed))
            generator.bit_generator.state = fresh.state
