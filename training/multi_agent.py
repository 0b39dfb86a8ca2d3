"""Training RSU agents: parameter-shared PPO through SuperSuit and SB3, and independent learners.

Parameter sharing (the usual baseline for cooperative agents with one observation and action
layout: Gupta, Egorov and Kochenderfer, AAMAS 2017): SuperSuit turns the PettingZoo env into a
vector env with one entry per (world, agent), and one SB3 PPO with the ``SlotSetPolicy`` acts for
every RSU of every world. Independent learners: one PPO per RSU, each trained on its own agent's
experience with the other RSUs acting by their current policies (Tan, ICML 1993).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

import gymnasium as gym
import numpy as np
from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper
from stable_baselines3.common.vec_env.base_vec_env import VecEnvObs, VecEnvStepReturn

from agents.sb3 import SlotSetPolicy
from bcfl_env.envs.rsu_agents import RSUAgentsEnv
from training.run_folders import new_run_folder

__all__ = [
    "RSUWorldsVecEnv",
    "SeededSuperSuitVecEnv",
    "OneRSUEnv",
    "act_independent",
    "act_shared",
    "per_rsu_selectors",
    "rsu_episode",
    "shared_vec_env",
    "train_shared",
    "train_independent",
    "train_shared_run",
]


# the shipped IoV recipe's PPO settings (training/hyperparams/ppo.yml) at a shorter rollout
PPO_DEFAULTS: dict[str, Any] = {
    "n_steps": 64, "batch_size": 64, "n_epochs": 10, "gamma": 0.95, "ent_coef": 0.01,
}  # fmt: skip


class SeededSuperSuitVecEnv(VecEnvWrapper):
    """SuperSuit's SB3 vector env with SB3 2.x's seeding: ``seed(s)`` seeds the next reset
    (world i of the concatenation with ``s + i``), which SuperSuit's wrapper cannot take."""

    def __init__(self, venv: Any) -> None:
        super().__init__(venv)
        self._next_seed: int | None = None

    def seed(self, seed: int | None = None) -> list[int | None]:
        self._next_seed = seed
        return [seed] * self.num_envs

    def reset(self) -> VecEnvObs:
        concat = cast(Any, self.venv).venv  # SuperSuit's SB3VecEnvWrapper around its ConcatVecEnv
        observations, infos = concat.reset(seed=self._next_seed)
        self._next_seed = None
        self.venv.reset_infos = infos
        self.reset_infos = infos
        return observations

    def step_wait(self) -> VecEnvStepReturn:
        return self.venv.step_wait()


class RSUWorldsVecEnv(VecEnv):
    """Every RSU of ``num_worlds`` worlds as one entry of SB3's ``VecEnv`` (parameter sharing),
    the worlds stepped together: one :func:`~bcfl_env.envs.vector.step_worlds` call per step, so
    the local training of every world runs in one batched call (what SuperSuit's concatenation,
    which steps worlds one after another, cannot do). Entry ``w * R + r`` is RSU ``r`` of world
    ``w``; a world whose episode ended is reset in the same step (``terminal_observation``)."""

    def __init__(self, preset: str, num_worlds: int, **overrides: Any) -> None:
        if num_worlds < 1:
            raise ValueError(f"num_worlds={num_worlds} must be at least 1")
        self.worlds = [RSUAgentsEnv(preset=preset, **overrides) for _ in range(num_worlds)]
        first = self.worlds[0]
        self.agents = list(first.possible_agents)
        agent = self.agents[0]
        super().__init__(
            num_worlds * len(self.agents), first.observation_space(agent), first.action_space(agent)
        )
        self._actions: np.ndarray | None = None

    def reset(self) -> VecEnvObs:
        rows = []
        for w, env in enumerate(self.worlds):
            seed = self._seeds[w * len(self.agents)]
            observations, infos = env.reset(seed=seed)
            rows += [observations[a] for a in self.agents]
            self.reset_infos[w * len(self.agents) : (w + 1) * len(self.agents)] = [
                infos[a] for a in self.agents
            ]
        self._reset_seeds()
        self._reset_options()
        return np.stack(rows)

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions)

    def step_wait(self) -> VecEnvStepReturn:
        from bcfl_env.envs.vector import step_worlds

        assert self._actions is not None, "step_wait() without step_async()"
        r = len(self.agents)
        plans = [
            env.begin_step({a: self._actions[w * r + k] for k, a in enumerate(self.agents)})
            for w, env in enumerate(self.worlds)
        ]
        results = step_worlds([env.world_env for env in self.worlds], [sel for _, sel in plans])
        obs, rewards, dones, infos = [], [], [], []
        for env, (picks, _), result in zip(self.worlds, plans, results, strict=True):
            o, rew, term, trunc, info = env.end_step(picks, result)
            ended = any(term.values()) or any(trunc.values())
            fresh = env.reset()[0] if ended else o
            for a in self.agents:
                entry = dict(info[a])
                entry["TimeLimit.truncated"] = bool(trunc[a] and not term[a])
                if ended:
                    entry["terminal_observation"] = o[a]
                obs.append(fresh[a])
                rewards.append(rew[a])
                dones.append(ended)
                infos.append(entry)
        self._actions = None
        return np.stack(obs), np.array(rewards, np.float32), np.array(dones), infos

    def close(self) -> None:
        for env in self.worlds:
            env.close()

    def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
        return [
            getattr(self.worlds[i // len(self.agents)], attr_name)
            for i in self._get_indices(indices)
        ]

    def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
        for i in self._get_indices(indices):
            setattr(self.worlds[i // len(self.agents)], attr_name, value)

    def env_method(
        self, method_name: str, *args: Any, indices: Any = None, **kwargs: Any
    ) -> list[Any]:
        return [
            getattr(self.worlds[i // len(self.agents)], method_name)(*args, **kwargs)
            for i in self._get_indices(indices)
        ]

    def env_is_wrapped(self, wrapper_class: Any, indices: Any = None) -> list[bool]:
        return [False for _ in self._get_indices(indices)]


class OneRSUEnv(gym.Env[np.ndarray, np.ndarray]):
    """RSU ``agent``'s own view of a :class:`RSUAgentsEnv` for an independent learner: the other
    RSUs act by ``others(observations) -> actions`` (their current policies), and this env's
    action is ``agent``'s; observation, reward and episode end are that agent's."""

    def __init__(self, env: RSUAgentsEnv, agent: str, others: Any) -> None:
        self.env, self.agent, self.others = env, agent, others
        self.observation_space = env.observation_space(agent)
        self.action_space = env.action_space(agent)
        self._observations: dict[str, np.ndarray] = {}

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self._observations, infos = self.env.reset(seed=seed)
        return self._observations[self.agent], infos[self.agent]

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        rest = {a: o for a, o in self._observations.items() if a != self.agent}
        actions = {**self.others(rest), self.agent: np.asarray(action, dtype=np.float32)}
        obs, rewards, terms, truncs, infos = self.env.step(actions)
        self._observations = obs
        a = self.agent
        return obs[a], rewards[a], terms[a], truncs[a], infos[a]


def train_independent(
    preset: str,
    timesteps_per_turn: int,
    turns: int = 2,
    seed: int = 0,
    hyperparams: dict[str, Any] | None = None,
    **overrides: Any,
) -> dict[str, PPO]:
    """Independent learners (Tan, ICML 1993): one PPO with the ``SlotSetPolicy`` per RSU, each
    trained on its own experience while the others act by their current policies; the agents
    learn in turns (``turns`` rounds of ``timesteps_per_turn`` agent steps each), so each one
    faces fixed partners while it learns."""
    from stable_baselines3.common.vec_env import DummyVecEnv

    hp: dict[str, Any] = {**PPO_DEFAULTS, **(hyperparams or {})}
    names = list(RSUAgentsEnv(preset=preset, **overrides).possible_agents)
    models: dict[str, PPO] = {}

    def others_of(me: str) -> Any:
        joint = act_independent(models)  # reads the models as they are when called
        return lambda observations: joint({a: o for a, o in observations.items() if a != me})

    def one(name: str) -> Any:
        view = OneRSUEnv(RSUAgentsEnv(preset=preset, **overrides), name, others_of(name))
        return lambda: view

    for r, name in enumerate(names):
        env = DummyVecEnv([one(name)])
        models[name] = PPO(SlotSetPolicy, env, seed=seed + r, device="cpu", verbose=0, **hp)
    for _ in range(turns):
        for name in names:
            models[name].learn(timesteps_per_turn, reset_num_timesteps=False)
    return models


def act_independent(models: dict[str, Any]) -> Any:
    """The joint policy of independent learners: each RSU by its own model (deterministic)."""

    def act(observations: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {
            a: np.asarray(models[a].predict(o, deterministic=True)[0], dtype=np.float32)
            for a, o in observations.items()
        }

    return act


def shared_vec_env(
    preset: str, num_worlds: int, seed: int | None = None, **overrides: Any
) -> VecEnv:
    """SB3's ``VecEnv`` of every RSU of ``num_worlds`` worlds (SuperSuit's Markov vector env,
    concatenated), for one parameter-shared policy."""
    import supersuit as ss

    env = RSUAgentsEnv(preset=preset, **overrides)
    markov = ss.pettingzoo_env_to_vec_env_v1(env)
    concat = ss.concat_vec_envs_v1(markov, num_worlds, num_cpus=0, base_class="stable_baselines3")
    vec = SeededSuperSuitVecEnv(concat)
    vec.seed(seed)
    return vec


def train_shared(
    preset: str,
    timesteps: int,
    seed: int = 0,
    num_worlds: int = 2,
    hyperparams: dict[str, Any] | None = None,
    backend: str = "native",
    **overrides: Any,
) -> PPO:
    """Parameter-shared PPO with the ``SlotSetPolicy`` for every RSU; ``timesteps`` counts agent
    steps (RSUs x epochs). ``backend``: ``"native"`` (:class:`RSUWorldsVecEnv`, every world in
    one call) or ``"supersuit"`` (SuperSuit's conversion and concatenation)."""
    if backend == "native":
        vec: VecEnv = RSUWorldsVecEnv(preset, num_worlds, **overrides)
        vec.seed(seed)
    elif backend == "supersuit":
        vec = shared_vec_env(preset, num_worlds, seed, **overrides)
    else:
        raise ValueError(f"backend={backend!r} is not allowed: choose 'native' or 'supersuit'")
    hp: dict[str, Any] = {**PPO_DEFAULTS, **(hyperparams or {})}
    model = PPO(SlotSetPolicy, vec, seed=seed, device="cpu", verbose=0, **hp)
    model.learn(timesteps)
    return model


def train_shared_run(
    env_id: str,
    timesteps: int | None,
    seed: int,
    num_worlds: int | None,
    env_kwargs: dict[str, Any],
    hyperparams: dict[str, Any],
    runs_dir: Path,
) -> Path:
    """``bcfl train --multi-agent``: train the shared policy and write ``model.zip`` and a
    ``manifest.json`` (what ran) into a new run folder; returns the folder."""
    from bcfl_env.envs.registration import ENV_IDS

    if env_id not in ENV_IDS:
        raise ValueError(f"env {env_id!r} is not registered: choose one of {sorted(ENV_IDS)}")
    steps = int(timesteps if timesteps is not None else 60_000)
    worlds = int(num_worlds or 4)
    if steps < 1 or worlds < 1:
        raise ValueError(f"--timesteps {steps} and --num-envs {worlds}: both must be at least 1")
    run_dir = new_run_folder(runs_dir, env_id, "shared-ppo-rsu", seed)
    model = train_shared(ENV_IDS[env_id], steps, seed, worlds, hyperparams, **env_kwargs)
    model.save(run_dir / "model")
    manifest = {
        "algo": "ppo", "policy": "SlotSetPolicy", "multi_agent": "parameter-shared RSU agents",
        "env_id": env_id, "seed": seed, "timesteps": steps, "worlds": worlds,
        "env_kwargs": env_kwargs, "hyperparams": hyperparams,
    }  # fmt: skip
    (run_dir / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str))
    return run_dir


def act_shared(
    model: Any, env: RSUAgentsEnv, observations: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Every RSU's action from one shared policy (deterministic)."""
    agents = list(observations)
    if not agents:
        return {}
    batch = np.stack([observations[a] for a in agents])
    actions, _ = model.predict(batch, deterministic=True)
    return {a: np.asarray(actions[i], dtype=np.float32) for i, a in enumerate(agents)}


def per_rsu_selectors(env: RSUAgentsEnv, name: str, seed: int = 0) -> Any:
    """A decentralised baseline: every RSU runs its own copy of the selector ``name`` (e.g.
    ``"oort"``) on its own observation; returns the joint policy ``observations -> actions``."""
    from agents import SlotSpec, make_selector

    spec = SlotSpec(
        tuple(env.world_env.feature_names), env.num_slots, env.world_env.budget, "scores"
    )
    selectors = {
        a: make_selector(name, spec, seed=seed + r) for r, a in enumerate(env.possible_agents)
    }

    def act(observations: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {a: selectors[a].predict(o)[0] for a, o in observations.items()}

    return act


def rsu_episode(env: RSUAgentsEnv, act: Any, seed: int) -> dict[str, Any]:
    """One episode of the joint policy ``act``, with the fields of a leaderboard row (return,
    time and rounds to target or None, final accuracy, simulated time, rounds, energy, poisoned
    updates, blocks, the accuracy curve) and the messages the RSUs sent the MBS per epoch
    against the reports a central selector needs."""
    observations, info0 = env.reset(seed=seed)
    target = env.config.env.target_accuracy
    first = next(iter(info0.values()))
    curve = [(0.0, float(first["accuracy"]))]
    time_to_target = rounds = None
    total = energy = 0.0
    sent = central = epochs = poisoned = caught = committed = 0
    info: dict[str, Any] = first
    while env.agents:
        observations, rewards, _, _, infos = env.step(act(observations))
        info = next(iter(infos.values()))
        epochs += 1
        total += next(iter(rewards.values()))
        energy += info["energy_j"]
        poisoned += info["poisoned_accepted"]
        caught += info["poisoned_rejected"]
        committed += int(info["block_committed"])
        sent += sum(i["messages_to_mbs"] for i in infos.values())
        central += sum(i["central_reports"] for i in infos.values())
        curve.append((info["sim_time_s"], info["accuracy"]))
        if info["accuracy"] >= target and time_to_target is None:
            time_to_target, rounds = float(info["sim_time_s"]), int(info["round"])
    return {
        "seed": seed,
        "return": total,
        "time_to_target_s": time_to_target,
        "rounds_to_target": rounds,
        "final_accuracy": float(info["accuracy"]),
        "sim_time_s": float(info["sim_time_s"]),
        "rounds": int(info["round"]),
        "energy_j": energy,
        "poisoned_accepted": poisoned,
        "poisoned_rejected": caught,
        "blocks_committed": committed,
        "curve": curve,
        "messages_per_epoch": sent / max(epochs, 1),
        "central_reports_per_epoch": central / max(epochs, 1),
    }
