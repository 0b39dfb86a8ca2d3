"""The one place where gym ids are registered (idempotent): one per registered preset.

:data:`ENV_IDS` maps each id to its preset's name and follows the preset registry: a preset
registered after ``import bcfl_env`` (``@register_preset``) gets its id at once.
``bcfl/Custom-v1`` (:data:`CUSTOM_ENV_ID`) is not a preset: it runs a scenario file
(:mod:`bcfl_env.scenario`).
"""

from __future__ import annotations

import gymnasium as gym

from bcfl_env.config import Preset, on_preset_registered
from bcfl_env.scenario import CUSTOM_ENV_ID

__all__ = ["CUSTOM_ENV_ID", "ENV_IDS", "register_envs"]

ENV_IDS: dict[str, str] = {}


def _register(preset: Preset) -> None:
    ENV_IDS[preset.env_id] = preset.name
    if preset.env_id in gym.registry:
        return
    gym.register(
        id=preset.env_id,
        entry_point="bcfl_env.envs.core:BCFLEnv",
        # gymnasium.make_vec steps B worlds in one call (bcfl_env.envs.vector)
        vector_entry_point="bcfl_env.envs.vector:BCFLVectorEnv",
        kwargs={"preset": preset.name},
        disable_env_checker=True,
        # the env enforces reset-before-step itself; without Gymnasium's OrderEnforcing
        # wrapper, action_masks() (which MaskablePPO calls) is reachable on what make returns
        order_enforce=False,
    )


_STARTED: list[bool] = []


def register_envs() -> None:
    """Register every preset's id now and every later preset's as it registers, and
    ``bcfl/Custom-v1`` (the env of a scenario file: ``scenario=PATH``)."""
    if not _STARTED:
        _STARTED.append(True)
        on_preset_registered(_register)
        if CUSTOM_ENV_ID not in gym.registry:
            gym.register(
                id=CUSTOM_ENV_ID,
                entry_point="bcfl_env.scenario:custom_env",
                vector_entry_point="bcfl_env.scenario:custom_vector_env",
                disable_env_checker=True,
                order_enforce=False,
            )
