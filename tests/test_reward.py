"""The default reward ranks policies the way the suite does: by simulated time to target."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

import bcfl_env  # noqa: F401
from bcfl_env.config import RewardConfig
from bcfl_env.envs.reward import StepOutcome, reward_terms


def _discounted_return(accuracies: list[float], epoch_s: float, gamma: float) -> float:
    cfg = RewardConfig()
    total, previous = 0.0, accuracies[0]
    for t, acc in enumerate(accuracies[1:]):
        # latency and energy as measured per step on IoV-v1 with random selection
        outcome = StepOutcome(acc, previous, 0.85, 2.7, 3.0, epoch_s, cfg.favor_xi)
        total += gamma**t * sum(reward_terms(cfg, outcome).values())
        previous = acc
    return total


def test_reaching_the_target_sooner_pays_more_under_sb3s_discount():
    # the same learning curve, once reaching 0.85 at step 10 and once lingering just below it for
    # ten more epochs (50 s more, +45 %): accuracy gains telescope to the same total, and under
    # gamma < 1 they even pay a little for lingering, so the costs of time must carry the signal;
    # lingering must cost more than the whole target bonus
    climb = list(np.linspace(0.1, 0.84, 10))
    fast = [*climb, 0.86]
    slow = [*climb, *([0.84] * 10), 0.86]
    bonus = RewardConfig().target_bonus
    for gamma in (0.99, 0.999, 1.0):
        assert _discounted_return(fast, 5.0, gamma) > _discounted_return(slow, 5.0, gamma) + bonus


def test_time_term_is_the_steps_simulated_time_in_both_fl_modes():
    for mode in ("async", "sync"):
        env = gym.make("bcfl/IoV-v1", fl_mode=mode)
        env.reset(seed=3)
        _, reward, _, _, info = env.step(env.action_space.sample())
        w_time = env.unwrapped.config.reward.w_time
        assert info["rewards"]["time"] == -w_time * info["epoch_s"] and info["epoch_s"] > 0
        assert np.isclose(reward, sum(info["rewards"].values()))
        env.close()
