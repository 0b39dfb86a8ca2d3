"""The one place where gym ids are registered (idempotent): one per registered preset.

:data:`ENV_IDS` maps each id to its preset's name and follows the preset registry: a preset
registered after ``import bcfl_env`` (``@register_preset``) gets its id at once.
"""

from __future__ import annotations

import gymnasium as gym

from bcfl_env.config import Preset, on_preset_registered

__all__ = ["ENV_IDS", "register_envs"]

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
    """Register every preset's id now and every later preset's as it registers."""
    if not _STARTED:
        _STARTED.append(True)
        on_preset_registered(_register)
