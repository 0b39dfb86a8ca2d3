"""The one place where ids are registered (idempotent)."""

from __future__ import annotations

import gymnasium as gym

__all__ = ["ENV_IDS", "register_envs"]

ENV_IDS = {"bcfl/IoV-v1": "iov", "bcfl/IIoT-v1": "iiot", "bcfl/IoHT-v1": "ioht"}


def register_envs() -> None:
    for env_id, preset in ENV_IDS.items():
        if env_id in gym.registry:
            continue
        gym.register(
            id=env_id,
            entry_point="bcfl_env.envs.core:BCFLEnv",
            kwargs={"preset": preset},
            disable_env_checker=True,
            # the env enforces reset-before-step itself; without Gymnasium's OrderEnforcing
            # wrapper, action_masks() (which MaskablePPO calls) is reachable on what make returns
            order_enforce=False,
        )
