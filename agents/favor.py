"""FAVOR-style selector (Wang, Kantarci, Li, Liang, "Optimizing federated learning on non-IID data
with reinforcement learning", INFOCOM 2020).

A double DQN (van Hasselt, Guez, Silver, AAAI 2016: the online network picks the next action,
the target network values it) is trained with one-vehicle actions (the ``DiscreteSelection``
wrapper) and FAVOR's reward ``Xi^(acc - target) - 1``; deployed, it selects the top K vehicles by
Q value in one shot.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from stable_baselines3 import DQN

from agents.base import observed_eligible, scores_from_ranking
from agents.registry import register_selector
from bcfl_env.envs import unwrap, with_picked_column

__all__ = ["DoubleDQN", "FavorSelector", "train_favor"]


class DoubleDQN(DQN):
    """SB3's DQN with the double-DQN target."""

    def train(self, gradient_steps: int, batch_size: int = 100) -> None:
        self.policy.set_training_mode(True)
        self._update_learning_rate(self.policy.optimizer)
        losses = []
        for _ in range(gradient_steps):
            assert self.replay_buffer is not None  # built by learn() before any training step
            batch = self.replay_buffer.sample(batch_size, env=self._vec_normalize_env)
            discount = batch.discounts if batch.discounts is not None else self.gamma
            with torch.no_grad():
                best_next = self.q_net(batch.next_observations).argmax(dim=1, keepdim=True)
                next_value = self.q_net_target(batch.next_observations).gather(1, best_next)
                target = batch.rewards + (1 - batch.dones) * discount * next_value
            current = self.q_net(batch.observations).gather(1, batch.actions.long())
            loss = F.smooth_l1_loss(current, target)
            losses.append(float(loss.item()))
            self.policy.optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.policy.parameters(), self.max_grad_norm)
            self.policy.optimizer.step()
        self._n_updates += gradient_steps
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        self.logger.record("train/loss", float(np.mean(losses)) if losses else 0.0)


def train_favor(
    env: gym.Env[Any, Any], timesteps: int = 2000, seed: int = 0, **dqn_kwargs: Any
) -> DoubleDQN:
    """Train on ``DiscreteSelection(env)``; ``env`` should use ``reward__kind='favor'``."""
    from bcfl_env import DiscreteSelection

    kwargs: dict[str, Any] = {
        "learning_starts": 200, "buffer_size": 20_000, "exploration_fraction": 0.3,
        "target_update_interval": 250, "gamma": 0.95, "policy_kwargs": {"net_arch": [128, 128]},
    }  # fmt: skip
    kwargs.update(dqn_kwargs)
    model = DoubleDQN("MlpPolicy", DiscreteSelection(env), seed=seed, device="cpu", **kwargs)
    model.learn(timesteps)
    return model


_TRAINED: dict[tuple[str, int, int], DoubleDQN] = {}


# trains a short double DQN in the env unless given model=PATH: not a fixed baseline row
@register_selector("favor", baseline=False, needs_env=True)
class FavorSelector:
    """Deploy a trained double DQN: top K slots by Q value (ineligible slots last).

    Without ``model`` it trains one on a twin of the env's configuration (FAVOR reward, seed
    ``train_seed`` + 10,000 for the twin's world) and caches it per configuration, so evaluating
    many episodes trains once. ``seed`` is accepted for the selector interface; deployment is
    deterministic.
    """

    name = "favor"

    def __init__(
        self,
        env: gym.Env[Any, Any],
        model: DQN | str | Path | None = None,
        timesteps: int = 2000,
        seed: int = 0,
        train_seed: int = 0,
    ) -> None:
        base = unwrap(env)
        self.base = base
        self.n = int(base.num_slots)
        if model is None:
            from bcfl_env import BCFLEnv
            from bcfl_env.config import with_overrides

            config = with_overrides(base.config, reward__kind="favor")
            key = (repr(config), timesteps, train_seed)
            if key not in _TRAINED:
                twin = BCFLEnv(config=config)
                twin.reset(seed=train_seed + 10_000)
                _TRAINED[key] = train_favor(twin, timesteps, train_seed)
            model = _TRAINED[key]
        elif not isinstance(model, DQN):  # a path; any trained DQN deploys the same way
            from stable_baselines3.dqn.policies import DQNPolicy

            from agents.safe_load import safe_custom_objects
            from bcfl_env import DiscreteSelection

            # nothing pickled in a shared file is unpickled (agents.safe_load)
            picks = DiscreteSelection(env)
            # entries only training reads (train_freq) come from a fresh, untrained model
            trusted = safe_custom_objects(
                Path(model), picks, DQNPolicy, {}, lambda v: v,
                fresh=lambda: DoubleDQN("MlpPolicy", picks, buffer_size=1, device="cpu"),
            )  # fmt: skip
            try:
                model = DoubleDQN.load(model, device="cpu", custom_objects=trusted)
            except Exception as exc:  # SB3 raises many types for a corrupt zip
                raise ValueError(
                    f"{model} is not a readable FAVOR (double DQN) model: {exc}"
                ) from exc
        self.model: DQN = model

    def q_values(self, observation: np.ndarray) -> np.ndarray:
        """Q value of picking each slot first, from one base-env observation (either layout)."""
        rows = self.base.as_matrix(observation)
        obs = with_picked_column(rows, [], self.base.observation_layout)
        with torch.no_grad():
            return self.model.q_net(torch.as_tensor(obs[None]))[0, : self.n].numpy()

    def predict(
        self,
        observation: np.ndarray,
        state: Any = None,
        episode_start: Any = None,
        deterministic: bool = True,
    ) -> tuple[np.ndarray, Any]:
        rows = self.base.as_matrix(observation)
        if rows.ndim == 3:
            return np.stack([self.predict(r)[0] for r in rows]), None
        eligible = observed_eligible(rows, self.base.feature_names)
        return scores_from_ranking(self.q_values(rows), eligible), None
