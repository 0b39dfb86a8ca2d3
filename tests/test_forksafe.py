"""Async vector envs after the parent has stepped an env: must not hang in the forked workers."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import gymnasium as gym
    import torch
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import SubprocVecEnv

    import bcfl_env

    torch.set_num_threads(2)  # what a user's process has on a multi-core machine
    env = gym.make("bcfl/IoV-v1")
    env.reset(seed=0)
    for _ in range(3):
        env.step(env.action_space.sample())
    vec = gym.make_vec("bcfl/IoV-v1", num_envs=2, vectorization_mode="async", max_rounds=3)
    vec.reset(seed=0)
    vec.step(vec.action_space.sample())
    vec.close()
    sb3 = make_vec_env("bcfl_env:bcfl/IoV-v1", n_envs=2, vec_env_cls=SubprocVecEnv,
                       vec_env_kwargs={"start_method": "fork"}, env_kwargs={"max_rounds": 3})
    sb3.reset()
    sb3.step([sb3.action_space.sample() for _ in range(2)])
    sb3.close()
    print("parent threads", torch.get_num_threads())
    """
)


def test_async_vector_envs_after_stepping_in_the_parent_do_not_hang():
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "parent threads 2" in done.stdout  # the parent's setting is left alone
