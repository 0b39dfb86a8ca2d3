"""Stable-Baselines3's ``VecEnv`` over the native vector env: SB3 trains on B worlds per call.

SB3 resets a finished environment within the step that ended it and hands its last observation
over as ``info["terminal_observation"]``; the adapter runs :class:`BCFLVectorEnv` with
``autoreset_mode=SAME_STEP`` for that. ``env_method`` and ``get_attr`` reach each world's
:class:`BCFLEnv` (``action_masks`` for MaskablePPO, ``snapshot``/``restore`` for checkpoints).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode
from stable_baselines3.common.vec_env.base_vec_env import (
    VecEnv,
    VecEnvIndices,
    VecEnvObs,
    VecEnvStepReturn,
)

import bcfl_env  # noqa: F401  (registers the ids)
from bcfl_env.envs.core import BCFLEnv
from bcfl_env.envs.vector import BCFLVectorEnv

__all__ = ["SB3VecEnv", "make_sb3_vec_env"]


class SB3VecEnv(VecEnv):
    """SB3's vectorised-environment API over a :class:`BCFLVectorEnv` (``SAME_STEP`` autoreset).

    Args:
        venv: the vector env; its ``autoreset_mode`` must be ``SAME_STEP``.
    """

    def __init__(self, venv: BCFLVectorEnv) -> None:
        if venv.autoreset_mode is not AutoresetMode.SAME_STEP:
            raise ValueError(
                "SB3VecEnv needs a vector env with autoreset_mode='SameStep' (SB3 resets in the "
                f"step that ended an episode), got {venv.autoreset_mode.value!r}"
            )
        self.venv = venv
        super().__init__(venv.num_envs, venv.single_observation_space, venv.single_action_space)
        self.render_mode = venv.render_mode
        self.metadata = dict(BCFLEnv.metadata)
        self._actions: np.ndarray | None = None

    @property
    def envs(self) -> list[BCFLEnv]:
        """Each world's env (what ``env_method`` and ``get_attr`` reach)."""
        return self.venv.envs

    def reset(self) -> VecEnvObs:
        if any(self._options):
            raise ValueError(
                f"reset options are not supported (got {self._options}); the env takes none"
            )
        observations = self.reset_worlds(list(self._seeds))
        self._reset_seeds()
        self._reset_options()
        return observations

    def reset_worlds(self, seeds: list[int | None]) -> np.ndarray:
        """Reset every world with one seed each (None: fresh entropy); returns the observations
        and keeps the infos in ``reset_infos``."""
        pairs = self.venv.reset_each(seeds)
        self.reset_infos = [info for _, info in pairs]
        return np.stack([obs for obs, _ in pairs])

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = actions

    def step_wait(self) -> VecEnvStepReturn:
        if self._actions is None:
            raise RuntimeError("step_wait() without step_async()")
        results = self.venv.step_each(self._actions)
        self._actions = None
        observations = np.stack([r[0] for r in results])
        rewards = np.array([float(r[1]) for r in results], dtype=np.float32)
        dones = np.array([r[2] or r[3] for r in results], dtype=bool)
        infos: list[dict[str, Any]] = []
        for i, (_, _, terminated, truncated, info) in enumerate(results):
            if terminated or truncated:
                step_info = dict(info["final_info"])
                step_info["terminal_observation"] = info["final_obs"]
                self.reset_infos[i] = {
                    k: v for k, v in info.items() if k not in ("final_obs", "final_info")
                }
                info = step_info
            else:
                info = dict(info)
            info["TimeLimit.truncated"] = bool(truncated and not terminated)
            infos.append(info)
        return observations, rewards, dones, infos

    def close(self) -> None:
        self.venv.close()

    def get_images(self) -> Sequence[np.ndarray | None]:
        if self.render_mode != "rgb_array":
            return [None for _ in self.envs]
        return [env.render() for env in self.envs]

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        return [getattr(env, attr_name) for env in self._targets(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        for env in self._targets(indices):
            setattr(env, attr_name, value)

    def env_method(
        self,
        method_name: str,
        *method_args: Any,
        indices: VecEnvIndices = None,
        **method_kwargs: Any,
    ) -> list[Any]:
        return [
            getattr(env, method_name)(*method_args, **method_kwargs)
            for env in self._targets(indices)
        ]

    def env_is_wrapped(
        self, wrapper_class: type[gym.Wrapper[Any, Any, Any, Any]], indices: VecEnvIndices = None
    ) -> list[bool]:
        return [False for _ in self._targets(indices)]  # the worlds' envs are unwrapped

    def _targets(self, indices: VecEnvIndices) -> list[BCFLEnv]:
        return [self.envs[i] for i in self._get_indices(indices)]


def make_sb3_vec_env(env_id: str, num_envs: int, seed: int | None = None, **kwargs: Any) -> VecEnv:
    """SB3's ``VecEnv`` of ``num_envs`` worlds of ``env_id`` (seeds ``seed + i``) in this process,
    with config overrides ``kwargs`` as for ``gymnasium.make``.

    :class:`bcfl_env.envs.sb3_workers.SB3WorkerVecEnv` splits the same worlds over worker
    processes, to step them on as many cores.
    """
    venv = gym.make_vec(
        env_id,
        num_envs=num_envs,
        vectorization_mode="vector_entry_point",
        autoreset_mode=AutoresetMode.SAME_STEP,
        **kwargs,
    )
    native = venv.unwrapped
    if not isinstance(native, BCFLVectorEnv):
        raise ValueError(f"{env_id} has no native vector env (got {type(native).__name__})")
    adapter = SB3VecEnv(native)
    adapter.seed(seed)
    return adapter
